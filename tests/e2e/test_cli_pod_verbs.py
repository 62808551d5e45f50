"""kubelite's pod verbs on a real kubelet, compared with the real kubectl doing the same: logs
across several pods (-l, --all-containers, --prefix, --tail, --timestamps, -f), cp and
port-forward. One cluster for the module; every wait polls for a condition with a deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster, is_ready
from tests.support import admin_request

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
KUBELITE = str(BIN / "kubelite")
KUBECTL = str(BIN / "kubectl")
IMAGE = "kubelite/busybox:latest"


def _env(c: Cluster) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(c.kubeconfig), "KUBELITE_DEBUG": "", "HOME": str(c.tmp)}


def tool(c: Cluster, name: str, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    argv = [KUBELITE if name == "kubelite" else KUBECTL, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=_env(c))


def both(c: Cluster, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return tool(c, "kubectl", *args), tool(c, "kubelite", *args)


def _talker(name: str, lines: int) -> dict[str, object]:
    script = f"for i in $(seq 1 {lines}); do echo {name}-$i; done; exec sleep 3600"
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script]}


@pytest.fixture(scope="module")
def pods(cluster: Cluster) -> Cluster:
    """Two pods labelled app=talk (one with two containers and an init container), Ready."""
    specs = [cluster.pod("talk-a", [_talker("main", 12)]),
             cluster.pod("talk-b", [_talker("main", 3), _talker("side", 2)],
                         initContainers=[{"name": "init", "image": IMAGE, "command": ["sh", "-c", "echo init-1"]}])]
    for pod in specs:
        pod["metadata"]["labels"] = {"app": "talk"}
        r = admin_request("POST", f"{cluster.server}/api/v1/namespaces/default/pods", json=pod)
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 90
    while True:
        r = admin_request("GET", f"{cluster.server}/api/v1/namespaces/default/pods?labelSelector=app%3Dtalk")
        items = r.json()["items"]
        if len(items) == 2 and all(is_ready(p) for p in items):
            break
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.3)
    # the last lines are written before `sleep` starts: wait until the logs hold them
    deadline = time.monotonic() + 30
    while ("main-12" not in tool(cluster, "kubelite", "logs", "talk-a").stdout
           or "side-2" not in tool(cluster, "kubelite", "logs", "talk-b", "side").stdout):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return cluster


LOG_STEPS = [
    ("logs", "talk-b"),                                   # Defaulted container ... on stderr
    ("logs", "talk-b", "--all-containers", "--prefix"),
    ("logs", "-l", "app=talk"),                           # 10 lines per stream
    ("logs", "-l", "app=talk", "--tail", "2", "--prefix", "--all-containers"),
    ("logs", "-l", "app=nobody"),
    ("logs", "talk-a", "--tail", "3", "--since", "1h"),
    ("logs", "talk-b", "-c", "nope"),
]


def test_logs_across_pods_like_kubectl(pods: Cluster) -> None:
    for step in LOG_STEPS:
        want, got = both(pods, *step)
        # kubectl reads several streams from a Go map (random order): compare the lines as sets
        assert (got.returncode, sorted(got.stdout.splitlines()), sorted(got.stderr.splitlines())) == (
            want.returncode, sorted(want.stdout.splitlines()), sorted(want.stderr.splitlines())), step
        if "-l" not in step and "--all-containers" not in step:
            assert got.stdout == want.stdout, step
    want, got = both(pods, "logs", "talk-a", "--timestamps", "--tail", "1")
    assert got.stdout.split(" ", 1)[1] == want.stdout.split(" ", 1)[1] == "main-12\n"
    assert got.stdout.split(" ", 1)[0] == want.stdout.split(" ", 1)[0]  # the same recorded time


def _follow(c: Cluster, name: str, *args: str) -> subprocess.Popen[str]:
    argv = [KUBELITE if name == "kubelite" else KUBECTL, *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(c),
                            start_new_session=True)


def test_logs_follow_several_pods_like_kubectl(pods: Cluster) -> None:
    argv = ("logs", "-f", "-l", "app=talk", "--all-containers", "--prefix", "--tail", "1")
    procs = {name: _follow(pods, name, *argv) for name in ("kubectl", "kubelite")}
    want_lines = {"[pod/talk-a/main] main-12", "[pod/talk-b/init] init-1", "[pod/talk-b/main] main-3",
                  "[pod/talk-b/side] side-2"}
    seen: dict[str, set[str]] = {name: set() for name in procs}
    try:
        for name, proc in procs.items():
            assert proc.stdout is not None
            deadline = time.monotonic() + 30
            while not want_lines <= seen[name]:
                line = proc.stdout.readline()
                assert line and time.monotonic() < deadline, (name, seen[name])
                seen[name].add(line.rstrip("\n"))
            assert proc.poll() is None  # still following
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=10)
    assert seen["kubelite"] == seen["kubectl"] == want_lines
    too_many = both(pods, "logs", "-f", "-l", "app=talk", "--all-containers", "--max-log-requests", "2")
    assert (too_many[1].returncode, too_many[1].stderr) == (too_many[0].returncode, too_many[0].stderr)


def _exec(c: Cluster, pod: str, script: str) -> str:
    r = tool(c, "kubelite", "exec", pod, "-c", "side" if pod == "talk-b" else "main", "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (p.read_text() if p.is_file() else "<dir>") for p in sorted(root.rglob("*"))}


def test_cp_both_ways_like_kubectl(pods: Cluster, tmp_path: Path) -> None:
    _exec(pods, "talk-a", "mkdir -p /tmp/d/sub && echo x > /tmp/d/sub/f && echo y > /tmp/d/g && echo one > /tmp/one")
    out = {name: tmp_path / name for name in ("kubectl", "kubelite")}
    for name, root in out.items():
        root.mkdir()
        for argv in (("talk-a:/tmp/one", str(root / "one")), ("talk-a:/tmp/d", str(root / "d")),
                     ("default/talk-a:/tmp/d/", str(root / "d2")),
                     ("--retries=2", "talk-a:/tmp/d", str(root / "d3"))):  # sh -c 'tar | tail -c+1'
            r = tool(pods, name, "cp", *argv)
            assert r.returncode == 0, (name, argv, r.stderr)
    assert _tree(out["kubelite"]) == _tree(out["kubectl"])
    assert _tree(out["kubelite"])["d/sub/f"] == "x\n" and _tree(out["kubelite"])["one"] == "one\n"
    assert _tree(out["kubelite"])["d3/sub/f"] == "x\n"
    # to the pod: a file to a path, a directory into an existing directory (under its own name)
    local = tmp_path / "up"
    (local / "inner").mkdir(parents=True)
    (local / "inner" / "a.txt").write_text("alpha\n")
    (local / "b.txt").write_text("beta\n")
    _exec(pods, "talk-b", "mkdir -p /tmp/kubectl /tmp/kubelite")
    for name in ("kubectl", "kubelite"):
        for argv in ((str(local / "b.txt"), f"talk-b:/tmp/{name}/b-copy"), (str(local), f"talk-b:/tmp/{name}")):
            r = tool(pods, name, "cp", "-c", "side", *argv)
            assert r.returncode == 0, (name, argv, r.stderr)
    listing = {name: _exec(pods, "talk-b", f"cd /tmp/{name} && find . | sort && cat b-copy up/inner/a.txt")
               for name in ("kubectl", "kubelite")}
    assert listing["kubelite"] == listing["kubectl"]
    assert "./up/inner/a.txt" in listing["kubelite"] and "alpha" in listing["kubelite"]
    # kubectl exits 0 here, printing tar's complaint or not (its main goroutine ends while the
    # exec's goroutine still writes and checks the error, a race): kubelite prints tar's stderr
    # on stdout as kubectl does and reports the failure as kubectl's exec does.
    got = tool(pods, "kubelite", "cp", "talk-a:/nope", str(tmp_path / "x"))
    assert got.stdout.startswith("tar: /nope: No such file or directory\n")
    assert (got.returncode, got.stderr) == (1, "command terminated with exit code 1\n")
    for argv in ((str(tmp_path / "missing"), "talk-a:/tmp/m"),
                 ("talk-a:/tmp/one", "talk-b:/tmp/one"), ("a", "b")):
        want, got = both(pods, "cp", *argv)
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr), (argv, want, got)


def _forwarding(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while len(lines) < count:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, (lines, proc.stderr.read() if proc.stderr else "")
        lines.append(line.rstrip("\n"))
    return lines


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:  # loopback only
        return str(r.read().decode())


def test_port_forward_pod_and_service_like_kubectl(pods: Cluster) -> None:
    web = pods.pod("web", [{"name": "httpd", "image": IMAGE, "ports": [{"name": "http", "containerPort": 8080}],
                            "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"]}])
    web["metadata"]["labels"] = {"app": "web"}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}
    for path, body in (("pods", web), ("services", svc)):
        r = admin_request("POST", f"{pods.server}/api/v1/namespaces/default/{path}", json=body)
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while not is_ready(admin_request("GET", f"{pods.server}/api/v1/namespaces/default/pods/web").json()):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    for target, port in (("pod/web", ":8080"), ("svc/web", ":web"), ("web", ":http")):
        procs = {name: _follow(pods, name, "port-forward", target, port) for name in ("kubectl", "kubelite")}
        try:
            lines = {name: _forwarding(proc, 1) for name, proc in procs.items()}
            for name, first in lines.items():
                assert first[0].startswith("Forwarding from 127.0.0.1:") and first[0].endswith(" -> 8080"), first
                local = first[0].split(" -> ")[0].rsplit(":", 1)[1]
                assert _get(f"http://127.0.0.1:{local}/hostname").strip(), name
                assert _get(f"http://127.0.0.1:{local}/passwd").startswith("root:"), name
        finally:
            for proc in procs.values():
                os.killpg(proc.pid, signal.SIGINT)
                proc.communicate(timeout=10)
    not_running = pods.pod("idle", [{"name": "c", "image": "kubelite/absent:latest"}])
    assert admin_request("POST", f"{pods.server}/api/v1/namespaces/default/pods", json=not_running).status_code == 201
    want, got = both(pods, "port-forward", "pod/idle", "8080:80")
    assert (got.returncode, got.stderr) == (want.returncode, want.stderr)


class Pty:
    """A process on a pseudo-terminal that is its controlling terminal (so a resize of the
    terminal sends it SIGWINCH, as in a real shell)."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def controlling_tty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=controlling_tty)
        os.close(slave)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def expect(self, text: str, timeout_s: float = 30.0, since: int = 0) -> None:
        import select

        deadline = time.monotonic() + timeout_s
        while text.encode() not in self.seen[since:]:
            left = deadline - time.monotonic()
            assert left > 0, (text, self.seen)
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, (text, self.seen)
                self.seen += chunk

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        os.close(self.master)


def test_exec_it_with_a_real_tty_like_kubectl(pods: Cluster) -> None:
    for name in ("kubectl", "kubelite"):
        argv = [KUBELITE if name == "kubelite" else KUBECTL, "exec", "-it", "talk-a", "--", "sh"]
        term = Pty(argv, _env(pods), rows=40, cols=100)
        try:
            term.expect("# ")  # busybox's prompt: typing before it may be eaten by its terminal query
            os.write(term.master, b"stty size; echo tty-$((6*7))\r")
            term.expect("tty-42", timeout_s=30)
            assert b"40 100" in term.seen, (name, term.seen)
            term.resize(50, 120)
            # SIGWINCH reaches the CLI, which sends the new size: ask until the shell sees it
            deadline = time.monotonic() + 30
            for attempt in range(1000):
                mark = len(term.seen)
                os.write(term.master, f"stty size; echo tty-$((7*{attempt}))\r".encode())
                term.expect(f"tty-{7 * attempt}\r", since=mark)
                if b"50 120" in term.seen[mark:]:
                    break
                assert time.monotonic() < deadline, (name, term.seen)
                time.sleep(0.2)
            os.write(term.master, b"exit 3\r")
            assert term.proc.wait(timeout=30) == 3, (name, term.seen)
        finally:
            term.close()
    for name in ("kubectl", "kubelite"):  # Ctrl-D ends the remote shell: exit 0
        argv = [KUBELITE if name == "kubelite" else KUBECTL, "exec", "-it", "talk-a", "--", "sh"]
        term = Pty(argv, _env(pods), rows=24, cols=80)
        try:
            term.expect("# ")
            os.write(term.master, b"echo ready-$((2*5))\r")
            term.expect("ready-10")
            term.expect("# ", since=term.seen.rfind(b"ready-10"))  # the next prompt: the shell reads again
            # busybox's line editor asks the terminal for the cursor position at each prompt and
            # may swallow a key typed while it waits for the answer: press Ctrl-D again if needed,
            # as a user would.
            for _ in range(6):
                os.write(term.master, b"\x04")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    term.proc.wait(timeout=5)
                    break
            assert term.proc.wait(timeout=5) == 0, (name, term.seen)
        finally:
            term.close()
    # -i without a tty: stdin is piped through and its end is the command's EOF
    for name in ("kubectl", "kubelite"):
        r = subprocess.run([KUBELITE if name == "kubelite" else KUBECTL, "exec", "-i", "talk-a", "--", "sh", "-c",
                            "wc -l; exit 4"], input="a\nb\nc\n", capture_output=True, text=True, timeout=60,
                           env=_env(pods))
        assert (r.returncode, r.stdout.strip(), r.stderr) == (4, "3", "command terminated with exit code 4\n"), name


def test_why_explains_a_missing_image_and_a_crash_loop(pods: Cluster) -> None:
    specs = [pods.pod("noimage", [{"name": "app", "image": "kubelite/not-built:v9"}]),
             pods.pod("crasher", [{"name": "app", "image": IMAGE, "command": ["sh", "-c", "echo boom-$((40+2)); exit 3"]}])]
    for body in specs:
        r = admin_request("POST", f"{pods.server}/api/v1/namespaces/default/pods", json=body)
        assert r.status_code == 201, r.text
    deadline = time.monotonic() + 90
    while True:  # the kubelet reported both: the image missing, the crasher restarted once
        noimage = tool(pods, "kubelite", "why", "noimage")
        crasher = tool(pods, "kubelite", "why", "pod/crasher")
        if "not on the node" in noimage.stdout and "boom-42" in crasher.stdout:
            break
        assert time.monotonic() < deadline, (noimage.stdout, crasher.stdout, pods.logs())
        time.sleep(1)
    assert noimage.returncode == 0
    assert noimage.stdout.splitlines()[-1] == "Next: kubelite image load kubelite/not-built:v9   # copies a local " \
                                              "image into the cluster's node(s)"
    lines = crasher.stdout.splitlines()
    assert lines[0].startswith("pod/crasher: container app keeps crashing (")
    assert "last exit code 3 (Error)" in lines[1]
    assert lines[-1] == "Next: kubelite logs pod/crasher -c app -n default --previous"
    assert tool(pods, "kubelite", "why", "talk-a").stdout == "pod/talk-a is Running and Ready: nothing to explain.\n"
