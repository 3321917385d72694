"""The chart on a real cluster, in the order a user meets it: install, the page through the
ingress, a pod lost mid-stream, an upgrade, an uninstall. The tests share one release."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import orjson
import yaml
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.cluster.conftest import Release
from tests.cluster.harness import (
    INGRESS_URL,
    NAMESPACE,
    RELEASE,
    cluster,
    deployments_ready,
    get_json,
    helm,
    kubectl,
    live_pods,
    repo_path,
    wait_for,
)

PATIENCE_MS = 60_000
APP_VERSION = yaml.safe_load(repo_path("charts", "leaderboard", "Chart.yaml").read_text())[
    "appVersion"
]
WS_URL = INGRESS_URL.replace("http://", "ws://")
expect.set_options(timeout=PATIENCE_MS)


def http_json(path: str, timeout: float = 10) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"{INGRESS_URL}{path}", timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body or b"null")
        except ValueError:  # the ingress controller's own error page
            return error.code, body.decode(errors="replace")


def post_scores(api_key: str, events: list[dict[str, Any]]) -> int:
    request = urllib.request.Request(
        f"{INGRESS_URL}/api/scores",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def totals_on(board: str) -> dict[str, int]:
    status, page = http_json(f"/api/leaderboards/{board}/top?limit=100")
    if status != 200:
        return {}
    return {row["player_id"]: row["score"] for row in page["entries"]}


def open_page(browser: Browser, board: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(PATIENCE_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(f"{INGRESS_URL}/#leaderboard={board}")
    return page


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_deployment_rolls_out_with_its_probes_passing(release: Release) -> None:
    deployments = get_json("deployments")["items"]
    names = {d["metadata"]["name"] for d in deployments}
    assert {
        f"{RELEASE}-{c}"
        for c in ("simulator", "ingest", "ranker", "archiver", "publisher", "closer", "gateway")
    } <= names
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in container, deployment["metadata"]["name"]
            assert "livenessProbe" in container, deployment["metadata"]["name"]
    for pod in get_json("pods", "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]:
        if pod["status"]["phase"] == "Succeeded":
            continue
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready.get("Ready") == "True", pod["metadata"]["name"]
        # The hardening the chart promises holds on a real node, not only in the rendering.
        for container in pod["spec"]["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context.get("runAsNonRoot", True)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_migration_job_completed_before_the_archiver_started(release: Release) -> None:
    """The hook Job is deleted once it succeeds; its events and the pods' times remain."""
    events = get_json("events", "--field-selector", "involvedObject.kind=Job")["items"]
    completed = [
        e
        for e in events
        if e["involvedObject"]["name"] == f"{RELEASE}-migration" and e["reason"] == "Completed"
    ]
    assert completed, "no Completed event of the migration Job"
    done = max(timestamp(e.get("lastTimestamp") or e["eventTime"]) for e in completed)
    archivers = get_json("pods", "-l", "app.kubernetes.io/component=archiver")["items"]
    assert archivers
    for pod in archivers:
        assert timestamp(pod["metadata"]["creationTimestamp"]) >= done.replace(microsecond=0)


def test_helm_test_passes(release: Release) -> None:
    result = helm("test", RELEASE, "-n", NAMESPACE, "--timeout", "5m", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_page_through_the_ingress_shows_ten_live_rows(
    release: Release, browser: Browser
) -> None:
    page = open_page(browser, "global")
    try:
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(page.locator("#board li.row")).to_have_count(10)
        # Live: the simulator keeps scoring, so newer snapshots arrive without a reload.
        version = page.locator("#updated").get_attribute("data-version")
        wait_for(
            lambda: page.locator("#updated").get_attribute("data-version") != version,
            60,
            "a newer snapshot on the page",
        )
        artifacts = repo_path("test-artifacts")
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / "cluster-page.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_the_rest_api_and_the_websocket_answer_through_the_ingress(release: Release) -> None:
    status, boards = http_json("/api/leaderboards")
    assert status == 200
    assert "global" in {b["id"] for b in boards["leaderboards"]}
    status, top = http_json("/api/leaderboards/global/top?limit=10")
    assert status == 200
    assert len(top["entries"]) == 10
    status, problem = http_json("/api/leaderboards/no-such-board/top")
    assert status == 404
    assert "no-such-board" in problem["detail"]
    with connect(f"{WS_URL}/ws/leaderboards/global", open_timeout=10) as socket:
        kinds = [orjson.loads(socket.recv(timeout=30))["type"] for _ in range(2)]
    assert kinds[0] == "hello"
    assert "snapshot" in kinds


def test_deleting_the_ranker_mid_stream_loses_and_counts_nothing_twice(release: Release) -> None:
    board = f"cluster-kill-{random.randrange(10**6)}"
    players = [f"p{n:02d}" for n in range(20)]
    sent: dict[str, int] = dict.fromkeys(players, 0)
    refused: list[int] = []
    stop = threading.Event()

    def produce() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            batch = [
                {"leaderboard": board, "player_id": p, "score": rng.randint(1, 50)}
                for p in rng.sample(players, 5)
            ]
            status = post_scores(release.api_key, batch)
            if status == 202:
                for event in batch:
                    sent[event["player_id"]] += event["score"]
            else:
                refused.append(status)
            time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_for(lambda: totals_on(board), 60, "the first scores on the board")
        (ranker,) = live_pods("ranker")
        kubectl("delete", "pod", "-n", NAMESPACE, ranker["metadata"]["name"], "--wait=false")
        wait_for(
            lambda: (
                ranker["metadata"]["name"]
                not in {
                    p["metadata"]["name"]
                    for p in get_json("pods", "-l", "app.kubernetes.io/component=ranker")["items"]
                }
                and deployments_ready()
            ),
            180,
            "a new ranker pod",
        )
        # Scores keep coming until the new ranker has applied some of them.
        ready_totals = totals_on(board)
        wait_for(lambda: totals_on(board) != ready_totals, 60, "the new ranker to apply scores")
    finally:
        stop.set()
        producer.join()
    assert refused == []
    assert sum(sent.values()) > 0
    wait_for(
        lambda: totals_on(board) == {p: s for p, s in sent.items() if s},
        120,
        "the totals in Redis to equal the sums acknowledged",
    )


def test_helm_upgrade_rolls_the_pods_and_clients_reconnect(
    release: Release, browser: Browser
) -> None:
    before = {p["metadata"]["name"] for p in live_pods("gateway")}
    page = open_page(browser, "global")
    closes: list[int | None] = []
    greeted = threading.Event()

    def listen() -> None:
        with connect(f"{WS_URL}/ws/leaderboards/global", open_timeout=10) as socket:
            try:
                while True:
                    if orjson.loads(socket.recv(timeout=300))["type"] == "hello":
                        greeted.set()
            except ConnectionClosed as closed:
                closes.append(closed.rcvd.code if closed.rcvd else None)
            except TimeoutError:
                closes.append(None)

    listener = threading.Thread(target=listen, daemon=True)
    try:
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        listener.start()
        assert greeted.wait(30), "the WebSocket client got no hello"
        # A changed value changes every pod template: everything rolls.
        cluster("install", "--set", "logLevel=DEBUG", timeout=900)
        wait_for(deployments_ready, 300, "the upgraded Deployments")
        after = {p["metadata"]["name"] for p in live_pods("gateway")}
        assert before.isdisjoint(after), "the gateway pods were not replaced"
        listener.join(60)
        assert closes == [1012]
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(page.locator("#board li.row")).to_have_count(10)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def reaches(namespace: str, host: str, port: int) -> bool:
    """Whether a pod in ``namespace`` can open a TCP connection to ``host:port``."""
    name = f"reach-{random.randrange(10**6)}"
    # Tried for a while: the policy engine admits a new pod a moment after it starts.
    script = (
        "import socket, sys, time\n"
        "deadline = time.monotonic() + 20\n"
        "while time.monotonic() < deadline:\n"
        f"    try: socket.create_connection(({host!r}, {port}), timeout=2)\n"
        "    except OSError: time.sleep(0.5); continue\n"
        "    print('open'); sys.exit(0)\n"
        "print('closed'); sys.exit(1)"
    )
    kubectl(
        "run",
        name,
        "-n",
        namespace,
        f"--image=leaderboard/gateway:{APP_VERSION}",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--command",
        "--",
        "/opt/leaderboard/venv/bin/python",
        "-c",
        script,
    )

    def finished() -> str | None:
        phase = get_json("pod", name, namespace=namespace)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    try:
        phase = wait_for(
            finished,
            60,
            f"the connection test pod in {namespace}",
            namespaces=(),
        )
    finally:
        kubectl("delete", "pod", name, "-n", namespace, "--now", "--wait=false")
    return phase == "Succeeded"


def test_network_policies_let_only_the_ingress_controller_reach_the_gateway(
    release: Release,
) -> None:
    gateway = f"{RELEASE}-gateway.{NAMESPACE}.svc.cluster.local"
    assert reaches("traefik", gateway, 80)
    assert not reaches("default", gateway, 80)


def test_helm_uninstall_leaves_only_what_the_docs_say(release: Release) -> None:
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    # The pods go with their Deployments, after their graceful stop.
    wait_for(lambda: not get_json("pods")["items"], 120, "the release's pods to be gone")
    kinds = kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    left = kubectl(
        "get", ",".join(kinds), "-n", NAMESPACE, "-o", "json", "--ignore-not-found"
    ).stdout
    names = sorted(
        f"{o['kind']}/{o['metadata']['name']}"
        for o in (json.loads(left)["items"] if left.strip() else [])
        if o["kind"] not in ("Event", "ServiceAccount", "ConfigMap")
        or o["metadata"]["name"] not in ("default", "kube-root-ca.crt")
    )
    names = [n for n in names if not n.startswith("Event/")]
    # The datastore passwords were created before the install (existingSecret): the
    # user's, not the release's. The chart keeps nothing else with external datastores.
    assert names == ["Secret/leaderboard-postgresql", "Secret/leaderboard-redis"]
