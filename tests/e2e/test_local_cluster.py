"""The whole local cluster as a user starts it: `kubelite up` ... `kubelite down --purge` (e2e).

One module-scoped cluster (`kubelite up` with a temp --home, free API/etcd ports and a unique
--cluster-name) serves every test in file order; teardown ALWAYS runs `kubelite down --purge`,
then asserts that no container of the cluster, no supervisor/component process of that home and
no KUBELITE-* iptables chain except KUBELITE-GUARD (the kubelet's traffic guard, kept on
purpose) is left. The module is skipped when another cluster seems to run here (kubelet port
10250 taken, or a Docker network already on 10.244.0.0/24): `up` always takes those, and we must
not disturb someone else's cluster.

Covered: scheduling of a pod without nodeName (issue 4); a 3-replica Deployment behind a
ClusterIP Service from the host and from a pod, spread over all replicas; readiness removing a
pod from the Endpoints and from traffic; scaling changing the Endpoints and the iptables rules;
NodePort on the node's InternalIP; cluster DNS (same namespace, other namespace, headless A
records, SRV of a named port); the proxy SIGKILLed keeps rules and established connections and
is restarted by the supervisor (issue 6).

Traffic safety: nothing goes to 10.96/12 or 10.244/16 unless `guard_status().complete`; every
address used is one of this cluster's Services, pods, DNS server or its node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from machinery.kubeconfig import load_kubeconfig, ssl_context
from tests.support import free_port, wait_until_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
KUBELITE = str(Path(sys.executable).parent / "kubelite")
BUSYBOX = "kubelite/busybox:latest"
NS, OTHER_NS = "e2e", "e2e-other"
DNS_SERVER = "10.244.0.1"
# httpd without -f binds its port, then goes to the background: /tmp/ready (the readiness probe)
# only appears once the port answers, so a Ready endpoint never refuses a connection.
WEB_CMD = "hostname > /tmp/index.html && httpd -p 8080 -h /tmp && touch /tmp/ready && exec sleep 86400"


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _default_net_in_use(dclient: docker.DockerClient) -> bool:
    return any(c.get("Subnet") == "10.244.0.0/24" for n in dclient.networks.list()
               for c in ((n.attrs.get("IPAM") or {}).get("Config") or []))


def _guard_complete() -> bool:
    try:
        from kubelet.network import guard_status

        return guard_status().complete
    except Exception:  # noqa: BLE001 - polled until the condition holds
        return False


def _kubelite_chains() -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return sorted({m.group(1) for m in re.finditer(r"^:(KUBELITE-\S+)", out, re.M)})


@dataclass
class LocalCluster:
    home: Path
    name: str
    server: str

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def api(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        # As the user would: the kubeconfig `kubelite up` wrote (CA + admin certificate).
        cfg = load_kubeconfig(self.kubeconfig)
        tls = ssl_context(cfg.ca_file, cfg.cert_file, cfg.key_file)
        r = httpx.request(method, self.server + path, json=body, headers=headers, timeout=30, trust_env=False,
                          verify=tls)
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def kl(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBELITE, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, timeout=timeout_s, env={**os.environ, "KUBELITE_DEBUG": ""})

    def exec(self, ns: str, pod: str, script: str) -> subprocess.CompletedProcess[str]:
        return self.kl("-n", ns, "exec", pod, "--", "sh", "-c", script)

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "run" / "state.json").read_text()))

    def log_tail(self, component: str) -> str:
        try:
            return (self.home / "logs" / f"{component}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def pods(self, ns: str, selector: str) -> list[dict[str, Any]]:
        items = self.api("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector={selector}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def endpoints(self, ns: str, name: str) -> tuple[set[str], set[str]]:
        """(ready addresses, notReady addresses) of Endpoints ns/name."""
        ep = self.api("GET", f"/api/v1/namespaces/{ns}/endpoints/{name}", ok=(200, 404))
        ready: set[str] = set()
        not_ready: set[str] = set()
        for subset in ep.get("subsets") or []:
            ready |= {a["ip"] for a in subset.get("addresses") or []}
            not_ready |= {a["ip"] for a in subset.get("notReadyAddresses") or []}
        return ready, not_ready


def wait(pred: Callable[[], bool], timeout_s: float, message: str) -> None:
    wait_until_sync(pred, timeout_s=timeout_s, interval_s=0.5, message=message)


@pytest.fixture(scope="module")
def lc() -> Iterator[LocalCluster]:
    if shutil.which("docker") is None or os.geteuid() != 0:
        pytest.skip("needs root and Docker")
    dclient = docker.from_env()
    try:
        if _port_taken(10250):
            pytest.skip("port 10250 is taken: another kubelet (cluster) runs here; not disturbing it")
        if _default_net_in_use(dclient):
            pytest.skip("a Docker network already uses 10.244.0.0/24: another cluster runs here")
        home = Path(tempfile.mkdtemp(prefix="kubelite-up-"))
        name = f"e2eup{uuid.uuid4().hex[:6]}"
        api_port = free_port()
        etcd_port = free_port()
        while _port_taken(etcd_port + 1) or etcd_port + 1 == api_port:  # up uses etcd_port+1 for peers
            etcd_port = free_port()
        cluster = LocalCluster(home, name, f"https://127.0.0.1:{api_port}")
        try:
            up = subprocess.run([KUBELITE, "up", "--home", str(home), "--api-port", str(api_port),
                                 "--etcd-port", str(etcd_port), "--cluster-name", name, "--wait-node-s", "60"],
                                capture_output=True, text=True, timeout=180)
            assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
            assert "Ready" in up.stdout, up.stdout
            for ns in (NS, OTHER_NS):
                cluster.api("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
            yield cluster
        finally:
            down = subprocess.run([KUBELITE, "down", "--purge", "--home", str(home)],
                                  capture_output=True, text=True, timeout=180)
            left = dclient.containers.list(all=True, filters={"label": f"io.kubelite.cluster={name}"})
            procs = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
            chains = [c for c in _kubelite_chains() if c != "KUBELITE-GUARD"]
            assert down.returncode == 0, f"down failed:\n{down.stdout}\n{down.stderr}"
            assert not left, f"containers left behind: {[c.name for c in left]}"
            assert not procs, f"processes of {home} left behind: {procs}"
            assert not chains, f"iptables chains left behind: {chains}"
            assert not home.exists(), "down --purge kept the home directory"
    finally:
        dclient.close()


@pytest.fixture(scope="module")
def traffic(lc: LocalCluster) -> LocalCluster:
    if not _guard_complete():
        pytest.skip("the traffic guard is not complete: no traffic to 10.96/10.244")
    return lc


def _pod(name: str, ns: str, command: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command]}], **spec}}


def _running(lc: LocalCluster, ns: str, name: str) -> dict[str, Any] | None:
    pod = lc.api("GET", f"/api/v1/namespaces/{ns}/pods/{name}", ok=(200, 404))
    return pod if (pod.get("status") or {}).get("phase") == "Running" else None


def _start_pod(lc: LocalCluster, ns: str, name: str, command: str = "exec sleep 3600") -> dict[str, Any]:
    lc.api("POST", f"/api/v1/namespaces/{ns}/pods", _pod(name, ns, command))
    wait(lambda: _running(lc, ns, name) is not None, 90, f"pod {ns}/{name} not Running:\n{lc.log_tail('kubelet')}")
    pod = _running(lc, ns, name)
    assert pod is not None
    return pod


def test_pod_without_node_name_is_scheduled_and_runs(lc: LocalCluster) -> None:
    pod = _start_pod(lc, NS, "client")
    assert pod["spec"].get("nodeName"), "Running without a nodeName?"
    nodes = lc.api("GET", "/api/v1/nodes")["items"]
    assert pod["spec"]["nodeName"] in {n["metadata"]["name"] for n in nodes}


@dataclass
class Web:
    cluster_ip: str
    spn: str


@pytest.fixture(scope="module")
def web(traffic: LocalCluster) -> Web:
    lc = traffic
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                           "terminationGracePeriodSeconds": 1,
                           "containers": [{"name": "httpd", "image": BUSYBOX, "command": ["sh", "-c", WEB_CMD],
                                           "ports": [{"name": "http", "containerPort": 8080}],
                                           "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]},
                                                              "periodSeconds": 1, "failureThreshold": 1}}]}}}}
    lc.api("POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deploy)
    svc = lc.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    wait(lambda: len(lc.endpoints(NS, "web")[0]) == 3, 120,
         f"web never got 3 ready endpoints: {lc.endpoints(NS, 'web')}\n{lc.log_tail('controllers')}")
    return Web(svc["spec"]["clusterIP"], f"{NS}/web:http")


def _hostnames(url: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        r = httpx.get(url, timeout=5, trust_env=False)
        assert r.status_code == 200, r.text
        out.append(r.text.strip())
    return out


def _pod_names(lc: LocalCluster) -> set[str]:
    return {p["metadata"]["name"] for p in lc.pods(NS, "app=web")}


def _rule_endpoints(spn: str) -> set[str]:
    """Endpoints the proxy's SVC chain for `spn` jumps to (one KUBELITE-SEP chain each)."""
    out = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    pat = re.compile(rf'^-A KUBELITE-SVC-\S+ .*--comment "{re.escape(spn)} -> (\S+)".*-j KUBELITE-SEP-', re.M)
    return set(pat.findall(out))


def test_cluster_ip_from_host_and_pod_reaches_all_replicas(traffic: LocalCluster, web: Web) -> None:
    lc = traffic
    names = _pod_names(lc)
    assert len(names) == 3
    wait(lambda: len(_rule_endpoints(web.spn)) == 3, 30, f"rules: {_rule_endpoints(web.spn)}")
    seen = set(_hostnames(f"http://{web.cluster_ip}/", 30))
    assert seen == names, f"from the host reached {seen}, pods are {names}"
    r = lc.exec(NS, "client", f"wget -qO- http://{web.cluster_ip}/")
    assert r.returncode == 0 and r.stdout.strip() in names, (r.returncode, r.stdout, r.stderr)


def _split(lc: LocalCluster, ip: str) -> tuple[int, bool]:
    """(number of ready web addresses, whether `ip` is among the notReady ones and not ready)."""
    ready, not_ready = lc.endpoints(NS, "web")
    return len(ready), ip in not_ready and ip not in ready


def test_unready_pod_leaves_endpoints_and_gets_no_traffic(traffic: LocalCluster, web: Web) -> None:
    lc = traffic
    victim = sorted(lc.pods(NS, "app=web"), key=lambda p: p["metadata"]["name"])[0]
    vname, vip = victim["metadata"]["name"], victim["status"]["podIP"]
    r = lc.exec(NS, vname, "rm /tmp/ready")
    assert r.returncode == 0, r.stderr
    wait(lambda: _split(lc, vip) == (2, True), 30, f"{vip} still ready: {lc.endpoints(NS, 'web')}")
    wait(lambda: vip + ":8080" not in _rule_endpoints(web.spn), 30, f"rules: {_rule_endpoints(web.spn)}")
    seen = set(_hostnames(f"http://{web.cluster_ip}/", 20))
    assert vname not in seen and len(seen) == 2, seen
    assert lc.exec(NS, vname, "touch /tmp/ready").returncode == 0
    wait(lambda: _split(lc, vip) == (3, False), 30, f"{vip} not back: {lc.endpoints(NS, 'web')}")


def test_scale_down_changes_endpoints_rules_and_traffic(traffic: LocalCluster, web: Web) -> None:
    lc = traffic
    lc.api("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web", {"spec": {"replicas": 2}})
    wait(lambda: len(_pod_names(lc)) == 2, 60, f"still {_pod_names(lc)}")
    ips = {p["status"]["podIP"] for p in lc.pods(NS, "app=web")}
    wait(lambda: lc.endpoints(NS, "web")[0] == ips, 30, f"endpoints {lc.endpoints(NS, 'web')} != {ips}")
    wait(lambda: _rule_endpoints(web.spn) == {f"{ip}:8080" for ip in ips}, 30, f"rules {_rule_endpoints(web.spn)}")
    seen = set(_hostnames(f"http://{web.cluster_ip}/", 20))
    assert seen == _pod_names(lc), seen


def test_node_port_answers_on_the_node_internal_ip(traffic: LocalCluster, web: Web) -> None:
    lc = traffic
    svc = lc.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-np", "namespace": NS},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    node = lc.api("GET", "/api/v1/nodes")["items"][0]
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    names = _pod_names(lc)

    def answers() -> bool:
        try:
            r = httpx.get(f"http://{ip}:{node_port}/", timeout=2, trust_env=False)
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and r.text.strip() in names

    wait(answers, 30, f"{ip}:{node_port} does not answer\n{lc.log_tail('proxy')}")


def test_cluster_dns_from_pods_and_srv_from_host(traffic: LocalCluster, web: Web) -> None:
    import dnslib

    lc = traffic
    names = _pod_names(lc)
    r = lc.exec(NS, "client", "wget -qO- http://web")
    assert r.returncode == 0 and r.stdout.strip() in names, (r.stdout, r.stderr)
    _start_pod(lc, OTHER_NS, "client")
    r = lc.exec(OTHER_NS, "client", f"wget -qO- http://web.{NS}")
    assert r.returncode == 0 and r.stdout.strip() in names, (r.stdout, r.stderr)

    lc.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-headless", "namespace": NS},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]}})
    ips = {p["status"]["podIP"] for p in lc.pods(NS, "app=web")}

    def headless_ips() -> set[str]:
        out = lc.exec(NS, "client", f"nslookup -type=A web-headless.{NS}.svc.cluster.local").stdout
        answer = out.split("Name:", 1)[1] if "Name:" in out else ""
        return set(re.findall(r"Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$", answer, re.M))

    wait(lambda: headless_ips() == ips, 30, f"headless resolves to {headless_ips()}, pods are {ips}")

    reply = dnslib.DNSRecord.parse(dnslib.DNSRecord.question(
        f"_http._tcp.web.{NS}.svc.cluster.local", "SRV").send(DNS_SERVER, 53, timeout=3))
    srv = [rr for rr in reply.rr if rr.rtype == dnslib.QTYPE.SRV]
    assert srv, str(reply)
    assert srv[0].rdata.port == 80
    assert str(srv[0].rdata.target).rstrip(".") == f"web.{NS}.svc.cluster.local"


def _recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(100)
        if not chunk:
            break
        data += chunk
    return data


def test_proxy_killed_keeps_rules_and_connections_and_is_restarted(traffic: LocalCluster, web: Web) -> None:
    lc = traffic
    # A persistent echo server: busybox httpd closes after each answer, so it cannot show an
    # established connection surviving.
    lc.api("POST", f"/api/v1/namespaces/{NS}/pods", _pod("echo", NS, "exec nc -ll -p 9000 -e cat"))
    svc = lc.api("POST", f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": NS},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 9000}]}})
    wait(lambda: len(_rule_endpoints(f"{NS}/echo")) == 1, 90, f"echo has no rules:\n{lc.log_tail('kubelet')}")
    before = (_rule_endpoints(f"{NS}/echo"), _rule_endpoints(web.spn))
    with socket.create_connection((svc["spec"]["clusterIP"], 9000), timeout=5) as sock:
        sock.sendall(b"one\n")
        assert _recv_line(sock) == b"one\n"
        old_pid = lc.state()["components"]["proxy"]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        wait(lambda: not Path(f"/proc/{old_pid}/cmdline").exists() or lc.state()["components"]["proxy"]["pid"]
             != old_pid, 10, "the proxy did not die")
        after = (_rule_endpoints(f"{NS}/echo"), _rule_endpoints(web.spn))
        assert after == before, f"rules changed with the proxy's death: {before} -> {after}"
        sock.sendall(b"two\n")
        assert _recv_line(sock) == b"two\n"

    def restarted() -> bool:
        pid = lc.state()["components"]["proxy"].get("pid")
        return bool(pid) and pid != old_pid and Path(f"/proc/{pid}").exists()

    wait(restarted, 30, f"the supervisor did not restart the proxy:\n{lc.log_tail('supervisor')}")
    # A change after the restart is programmed by the new proxy.
    lc.api("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web", {"spec": {"replicas": 3}})
    wait(lambda: len(lc.endpoints(NS, "web")[0]) == 3, 60, f"{lc.endpoints(NS, 'web')}")
    ips = lc.endpoints(NS, "web")[0]
    wait(lambda: _rule_endpoints(web.spn) == {f"{ip}:8080" for ip in ips}, 30,
         f"rules {_rule_endpoints(web.spn)} != {ips}\n{lc.log_tail('proxy')}")
    assert set(_hostnames(f"http://{web.cluster_ip}/", 30)) == _pod_names(lc)


def test_kubelite_up_ships_pod_logs_to_the_log_store(lc: LocalCluster) -> None:
    """`kubelite up` runs the log agent and the log store (published on the pod bridge's gateway):
    a pod's line is found by `kubelite logs --grep` through the API server's service proxy."""
    token = f"up-{uuid.uuid4().hex[:10]}"
    _start_pod(lc, NS, "chatter", f"echo {token}; exec sleep 3600")

    def found() -> bool:
        out = lc.kl("logs", "--grep", token, "-A")
        return out.returncode == 0 and out.stdout == f"[{NS}/chatter/main] {token}\n"

    wait(found, 60, f"not found: {lc.kl('logs', '--grep', token, '-A')}\n{lc.log_tail('logagent')}\n"
                    f"{lc.log_tail('logstore')}")
    assert {"logstore", "logagent", "dashboard"} <= set(lc.state()["components"])
