"""py-spy around a bench phase, and where a request's time goes in its samples.

Contract:
- `start(pid, out, log, rate_hz=250)` runs py-spy (a dev dependency, next to this interpreter)
  recording `pid` at `rate_hz` into `out` as raw collapsed stacks, its own output appended to `log` (`flamegraph.pl out > f.svg`, or
  speedscope); `stop(proc)` makes it write the file and exit (SIGINT).
- `phases(path, rules)` reads such a file and returns [(phase, samples)] largest first plus the
  total: each sample goes to the rule whose frame is deepest in its stack (a rule is
  (phase, the start of a frame such as "EtcdStorage.create ("); "other" when none matches).
  `API_SERVER_PHASES` are the rules for one API server create, `top_self(path, n)` the frames
  that were running (leaf frames) with their sample counts.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
from pathlib import Path

Rule = tuple[str, str]

# Deepest match wins, so a broad frame (the request handler) only gets what its more specific
# children (admission, validation, the etcd txn) do not claim.
API_SERVER_PHASES: list[Rule] = [
    ("event loop + TLS (uvloop, C)", "Runner.run ("),
    ("gRPC completion thread (C)", "Thread.run ("),
    ("HTTP protocol (httptools, uvicorn)", "HttpToolsProtocol."),
    ("HTTP protocol (httptools, uvicorn)", "RequestResponseCycle."),
    ("HTTP protocol (httptools, uvicorn)", "ProxyHeadersMiddleware."),
    ("middleware: metrics, limits, audit, authn", "_App.__call__ ("),
    ("middleware: metrics, limits, audit, authn", "instrument ("),
    ("routing", "Dispatcher."),
    ("routing", "ApiRoutes.resolve ("),
    ("request body: read + JSON decode", "ApiRoutes._body ("),
    ("request body: read + JSON decode", "read_body ("),
    ("query parameters, fieldValidation", "FieldValidation."),
    ("query parameters, fieldValidation", "HTTPConnection.query_params ("),
    ("authorization (RBAC)", "Authorization.check ("),
    ("authorization (RBAC)", "Union.authorize ("),
    ("handler (create)", "create (apiserver/handlers.py"),
    ("metadata (uid, timestamps)", "_prepare_create_meta ("),
    ("validation (pydantic parse + checks)", "parse_object ("),
    ("validation (pydantic parse + checks)", "validate (apiserver/admission/validation.py"),
    ("validation (pydantic parse + checks)", "KubeModel.to_dict ("),
    ("defaulting", "apply_defaults ("),
    ("admission (SA, PodPreset, priority, limits, quota)", "_admit_create ("),
    ("admission: etcd read", "EtcdStorage.get ("),
    ("etcd txn (create)", "EtcdStorage.create ("),
    ("response encode + send", "json_response ("),
    ("response encode + send", "send_wrapper ("),
    ("response encode + send", "Response.__call__ ("),
    ("watch cache: etcd event decode + fan-out", "WatchCache._run ("),
    ("watch cache: etcd event decode + fan-out", "EtcdStorage.stream ("),
    ("gRPC call completion (aio, C)", "UnaryUnaryCall."),
    ("gRPC stream read (aio, C)", "_StreamResponseMixin."),
]


def start(pid: int, out: Path, log: Path, *, rate_hz: int = 250) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "py-spy"
    with open(log, "ab") as f:
        return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", str(rate_hz), "--format", "raw",
                                 "--nonblocking", "-o", str(out)], stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT makes py-spy write its file and exit (killed if it has not within 30 s)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    out: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def phases(path: Path, rules: list[Rule]) -> tuple[list[tuple[str, int]], int]:
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, n in _stacks(path):
        total += n
        phase = "other"
        for frame in frames:
            for name, needle in rules:
                if frame.startswith(needle):
                    phase = name  # later (deeper) frames override
                    break
        shares[phase] += n
    return shares.most_common(), total


def top_self(path: Path, n: int = 15) -> list[tuple[str, int]]:
    leaves: collections.Counter[str] = collections.Counter()
    for frames, count in _stacks(path):
        leaves[frames[-1]] += count
    return leaves.most_common(n)


def report(path: Path, title: str) -> None:
    """Print the phase shares and the top leaf frames of one recording."""
    shares, total = phases(path, API_SERVER_PHASES)
    print(f"\n{title}: {total} samples (250 Hz, busy threads only)")
    for name, count in shares:
        print(f"  {100 * count / max(total, 1):5.1f}%  {name}")
    print("  top frames running (leaf):")
    for frame, count in top_self(path, 12):
        print(f"  {100 * count / max(total, 1):5.1f}%  {frame}")
