"""e2e: the docker-compose multi-host lab, as `make lab` starts it (`kubelite lab up`).

One lab per module (a unique compose project name, API port and /24), torn down in the
fixture's finally even when a test fails, and checked to leave nothing behind. The tests run
in file order on that one lab: spreading, cross-host pod/Service/DNS traffic, NodePort on every
node, the traffic guard, node loss (`docker stop`: node lifecycle moves the pods, the lab
provider taints the node; `docker rm`: the lab provider deletes the Node), `kubelite lab scale
--nodes 4`, and a machine joining with `kubelite join`.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from machinery.kubeconfig import load_kubeconfig, ssl_context
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
KUBELITE = str(Path(sys.executable).with_name("kubelite"))
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
# Node lifecycle in minutes is Kubernetes' default; the test shortens it (lab kubelets beat every 5 s).
SHORT_TOLERATIONS = "--default-not-ready-toleration-seconds 5 --default-unreachable-toleration-seconds 5"
SHORT_LIFECYCLE = "--node-monitor-grace-period 16s --node-monitor-period 2s"

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: kubelite/busybox:latest
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "version"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@dataclass
class Lab:
    name: str
    api_port: int
    prefix: str
    env: dict[str, str]

    @property
    def kubeconfig(self) -> str:
        return str(Path(self.env["KUBELITE_HOME"]) / "labs" / self.name / "kubeconfig")

    def kubelite(self, *args: str, check: bool = True, timeout_s: float = 300.0,
                 input_text: str = "") -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([KUBELITE, *args], env={**self.env, "KUBECONFIG": self.kubeconfig}, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout_s, check=False, input=input_text)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubelite {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get(self, path: str) -> Any:
        # As the user: the lab's admin kubeconfig (CA + client certificate).
        cfg = load_kubeconfig(self.kubeconfig)
        r = httpx.get(f"https://127.0.0.1:{self.api_port}{path}", timeout=10,
                      verify=ssl_context(cfg.ca_file, cfg.cert_file, cfg.key_file))
        r.raise_for_status()
        return r.json()

    def pods(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")["items"])

    def nodes(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.get("/api/v1/nodes")["items"]]

    def container(self, node: str) -> str:
        out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.kubelite.lab={self.name}",
                              "--filter", f"label=io.kubelite.lab-node={node}"],
                             capture_output=True, text=True, timeout=30, check=True).stdout.split()
        assert len(out) == 1, f"expected one container for {node}, got {out}"
        return out[0]

    def exec_in_pod(self, pod: str, script: str) -> str:
        return self.kubelite("exec", pod, "--", "sh", "-c", script, timeout_s=60).stdout

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=io.kubelite.lab={self.name}"
        out: dict[str, list[str]] = {}
        for kind, args in (("containers", ["ps", "-aq"]), ("networks", ["network", "ls", "-q"]),
                           ("volumes", ["volume", "ls", "-q"])):
            ids = subprocess.run(["docker", *args, "--filter", label], capture_output=True, text=True,
                                 timeout=30).stdout.split()
            if ids:
                out[kind] = ids
        rules = subprocess.run(["iptables", "-w", "5", "-S", "DOCKER-USER"], capture_output=True, text=True,
                               timeout=30).stdout
        if f"kubelite lab {self.name}" in rules:
            out["rules"] = [r for r in rules.splitlines() if self.name in r]
        routes = subprocess.run(["ip", "-4", "route", "show", "match", f"{self.prefix}.0/24"], capture_output=True,
                                text=True, timeout=30).stdout
        if f"{self.prefix}.0/24" in routes:
            out["routes"] = routes.splitlines()
        return out


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, AssertionError, subprocess.SubprocessError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    raise AssertionError(f"{what}: not true after {timeout_s:.0f}s (last: {last!r})")


def ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def ready_by_node(lab: Lab) -> Counter[str]:
    return Counter(p["spec"].get("nodeName", "") for p in lab.pods() if ready(p))


def spread_when(lab: Lab, cond: Callable[[Counter[str]], bool]) -> Callable[[], Counter[str] | None]:
    """A wait_for predicate: the Ready web pods per node once `cond` holds for them."""
    def check() -> Counter[str] | None:
        c = ready_by_node(lab)
        return c if cond(c) else None
    return check


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not docker_available():
        pytest.skip("no Docker engine")
    tag = f"{random.randrange(16**6):06x}"
    home = tmp_path_factory.mktemp("labhome")
    # The lab's images are cached in the default home, so CI builds them once per machine.
    cache = Path(os.environ.get("KUBELITE_HOME") or Path.home() / ".kubelite") / "labs" / ".cache"
    (home / "labs").mkdir()
    (home / "labs" / ".cache").symlink_to(cache.resolve(), target_is_directory=True)
    cache.mkdir(parents=True, exist_ok=True)
    lab = Lab(name=f"kle2e-{tag}", api_port=free_port(), prefix=f"172.29.{random.randrange(10, 250)}",
              env={**os.environ, "KUBELITE_HOME": str(home)})
    try:
        started = time.monotonic()
        lab.kubelite("lab", "up", "--name", lab.name, "--api-port", str(lab.api_port), "--subnet-prefix", lab.prefix,
                     "--wait-s", "180", "--apiserver-flags", SHORT_TOLERATIONS, "--controller-flags", SHORT_LIFECYCLE,
                     timeout_s=900)
        print(f"lab up in {time.monotonic() - started:.1f}s")
        yield lab
    finally:
        down = lab.kubelite("lab", "down", "--name", lab.name, check=False, timeout_s=300)
        left = lab.leftovers()
        if down.returncode != 0 or left:
            force_remove(lab)  # whatever happened, this test's lab does not outlive it
        assert down.returncode == 0, down.stdout + down.stderr
        assert left == {}, f"lab down left {left}"


def force_remove(lab: Lab) -> None:
    """Last resort, with the docker CLI only: everything labelled with this lab's name."""
    label = f"label=io.kubelite.lab={lab.name}"
    for ls, rm in ((["ps", "-aq"], ["rm", "-f", "-v"]), (["network", "ls", "-q"], ["network", "rm"]),
                   (["volume", "ls", "-q"], ["volume", "rm", "-f"])):
        ids = subprocess.run(["docker", *ls, "--filter", label], capture_output=True, text=True,
                             timeout=60).stdout.split()
        if ids:
            subprocess.run(["docker", *rm, *ids], capture_output=True, timeout=120)
    for rule in subprocess.run(["iptables", "-w", "5", "-S", "DOCKER-USER"], capture_output=True, text=True,
                               timeout=30).stdout.splitlines():
        if f"kubelite lab {lab.name}" in rule:
            subprocess.run(["iptables", "-w", "5", *shlex.split(rule.replace("-A ", "-D ", 1))], capture_output=True,
                           timeout=30)


def test_deployment_spreads_over_three_nodes(lab: Lab) -> None:
    assert sorted(lab.nodes()) == ["node1", "node2", "node3"]
    lab.kubelite("apply", "-f", "-", input_text=WEB)
    spread = wait_for("6 web pods Ready", spread_when(lab, lambda c: c.total() == 6), 120)
    assert set(spread) == {"node1", "node2", "node3"}, spread
    cidrs = {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in lab.get("/api/v1/nodes")["items"]}
    assert len(set(cidrs.values())) == 3 and all(c and c.startswith("10.244.") for c in cidrs.values()), cidrs


def test_pod_on_node1_reaches_node3_by_pod_ip_cluster_ip_and_dns(lab: Lab) -> None:
    pods = [p for p in lab.pods() if ready(p)]
    client = next(p for p in pods if p["spec"]["nodeName"] == "node1")
    target = next(p for p in pods if p["spec"]["nodeName"] == "node3")
    out = lab.exec_in_pod(client["metadata"]["name"], f"timeout 5 wget -qO- {target['status']['podIP']}:8080")
    assert out.strip() == target["metadata"]["name"]
    cluster_ip = lab.get("/api/v1/namespaces/default/services/web")["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in pods}
    seen: set[str] = set()
    for _ in range(8):  # random balancing: several answers come from other hosts
        seen.add(lab.exec_in_pod(client["metadata"]["name"], f"timeout 5 wget -qO- {cluster_ip}").strip())
    assert seen <= names and len(seen) >= 2, seen
    by_dns = lab.exec_in_pod(client["metadata"]["name"], "timeout 5 wget -qO- web.default.svc.cluster.local")
    assert by_dns.strip() in names


def test_nodeport_answers_on_every_node(lab: Lab) -> None:
    node_port = lab.get("/api/v1/namespaces/default/services/web")["spec"]["ports"][0]["nodePort"]
    names = {p["metadata"]["name"] for p in lab.pods()}
    for node in lab.get("/api/v1/nodes")["items"]:
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        r = httpx.get(f"http://{ip}:{node_port}/", timeout=5)
        assert r.status_code == 200 and r.text.strip() in names, (node["metadata"]["name"], r.text)


WHOAMI = """
apiVersion: v1
kind: Pod
metadata: {name: whoami, labels: {app: whoami}}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: kubelite/busybox:latest
    imagePullPolicy: Never
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      cat > /www/cgi-bin/ip <<'EOF'
      #!/bin/sh
      printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "$REMOTE_ADDR"
      EOF
      chmod +x /www/cgi-bin/ip
      exec httpd -f -p 8080 -h /www
---
apiVersion: v1
kind: Service
metadata: {name: whoami}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: whoami}
  ports: [{port: 80, targetPort: 8080}]
"""


def _node_ips(lab: Lab) -> dict[str, str]:
    return {n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
            for n in lab.get("/api/v1/nodes")["items"]}


def test_external_traffic_policy_local_keeps_the_client_ip_and_drops_on_nodes_without_endpoints(lab: Lab) -> None:
    """As Kubernetes: the node with the endpoint answers with the client's own address (no SNAT);
    a node without one drops the packets; the healthCheckNodePort says 200 / 503 so a load
    balancer sends traffic only where it is kept."""
    lab.kubelite("apply", "-f", "-", input_text=WHOAMI)
    wait_for("whoami Ready", lambda: ready(lab.get("/api/v1/namespaces/default/pods/whoami")), 90)
    spec = lab.get("/api/v1/namespaces/default/services/whoami")["spec"]
    node_port, health_port = spec["ports"][0]["nodePort"], spec["healthCheckNodePort"]
    ips = _node_ips(lab)
    route = subprocess.run(["ip", "-4", "route", "get", ips["node1"]], capture_output=True, text=True,
                           timeout=10, check=True).stdout.split()
    client_ip = route[route.index("src") + 1]  # this host's address on the lab network

    def answer() -> str:
        r = httpx.get(f"http://{ips['node1']}:{node_port}/cgi-bin/ip", timeout=3)
        # busybox httpd listens on IPv6 and prints an IPv4 peer as [::ffff:a.b.c.d]
        return r.text.strip().removeprefix("[::ffff:").removesuffix("]") if r.status_code == 200 else ""
    assert wait_for("node1 answers on the Local NodePort", answer, 60) == client_ip

    def health(node: str) -> tuple[int, int]:
        r = httpx.get(f"http://{ips[node]}:{health_port}/healthz", timeout=3)
        return r.status_code, int(r.json()["localEndpoints"])
    assert wait_for("node1's health check says 200", lambda: health("node1") == (200, 1), 60)
    assert wait_for("node2's health check says 503", lambda: health("node2") == (503, 0), 60)
    with pytest.raises(httpx.TransportError):  # dropped (no local endpoint), not forwarded to node1
        httpx.get(f"http://{ips['node2']}:{node_port}/cgi-bin/ip", timeout=3)
    lab.kubelite("delete", "-f", "-", input_text=WHOAMI)


def test_guard_holds_on_host_and_nodes(lab: Lab) -> None:
    from kubelet.network import guard_status

    assert guard_status().complete
    for node in ("node1", "node2", "node3"):
        c = lab.container(node)
        script = "ip -4 route show default; iptables -C FORWARD -j KUBELITE-GUARD && echo guarded; ip -4 route show 10.96.0.0/16"
        out = subprocess.run(["docker", "exec", c, "sh", "-c", script], capture_output=True, text=True,
                             timeout=30).stdout
        assert "default" not in out and "guarded" in out and "kubelite0" in out, (node, out)
    pod = next(p for p in lab.pods() if ready(p))["metadata"]["name"]
    # An unused Service IP and an address outside every cluster network fail inside the lab.
    out = lab.exec_in_pod(pod, "timeout 5 wget -qO- 10.96.250.250 2>&1; timeout 5 wget -qO- 192.0.2.1 2>&1; true")
    assert "unreachable" in out.lower() or "refused" in out.lower() or "no route" in out.lower(), out


def tainted_shutdown(lab: Lab, node: str) -> bool:
    spec = lab.get(f"/api/v1/nodes/{node}")["spec"]
    return any(t["key"] == "node.cloudprovider.kubernetes.io/shutdown" for t in spec.get("taints") or [])


def test_docker_stop_moves_node2s_pods_and_docker_rm_deletes_its_node(lab: Lab) -> None:
    before = ready_by_node(lab)
    assert before["node2"] >= 1, before
    c = lab.container("node2")
    subprocess.run(["docker", "stop", "-t", "2", c], capture_output=True, timeout=60, check=True)
    stopped = time.monotonic()
    # The lab provider sees a silent node whose container still exists: shutdown taint, Node kept.
    wait_for("node2 tainted shut down", lambda: tainted_shutdown(lab, "node2"), 60)
    # Node lifecycle (short lab flags): Unknown after the grace period, unreachable NoExecute
    # taint, eviction after the 5 s default toleration; the Deployment recreates on node1/node3.
    spread = wait_for("6 web pods Ready on node1/node3",
                      spread_when(lab, lambda c: c.total() == 6 and set(c) <= {"node1", "node3"}), 150)
    print(f"pods Ready again on node1/node3 {time.monotonic() - stopped:.1f}s after docker stop")
    assert set(spread) == {"node1", "node3"}, spread
    assert "node2" in lab.nodes()  # a stopped machine keeps its Node
    subprocess.run(["docker", "rm", "-f", c], capture_output=True, timeout=60, check=True)
    removed = time.monotonic()
    wait_for("Node node2 deleted", lambda: "node2" not in lab.nodes(), 20, interval_s=0.25)
    gone_s = time.monotonic() - removed
    assert gone_s < 15.0, f"node2 disappeared only after {gone_s:.1f}s"
    print(f"Node node2 deleted {gone_s:.1f}s after docker rm")


def ready_node(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in node["status"].get("conditions") or [])


def test_scale_to_four_nodes_joins_a_node_that_receives_pods(lab: Lab) -> None:
    out = lab.kubelite("lab", "scale", "--nodes", "4", "--name", lab.name, timeout_s=300).stdout
    assert "node4 Ready" in out, out
    assert "node4" in lab.nodes()
    lab.kubelite("scale", "deployment", "web", "--replicas", "9")
    spread = wait_for("a web pod Ready on node4",
                      spread_when(lab, lambda c: c["node4"] >= 1 and c.total() == 9), 120)
    assert spread["node4"] >= 1
    pod = next(p for p in lab.pods() if ready(p) and p["spec"]["nodeName"] == "node4")
    other = next(p for p in lab.pods() if ready(p) and p["spec"]["nodeName"] == "node1")
    # The new node is routed like the others.
    out = lab.exec_in_pod(other["metadata"]["name"], f"timeout 5 wget -qO- {pod['status']['podIP']}:8080")
    assert out.strip() == pod["metadata"]["name"]
    assert json.dumps(lab.get("/api/v1/nodes/node4")["spec"]).count("lab://") == 1


JOINER_POD = """
apiVersion: v1
kind: Pod
metadata: {name: on-joiner}
spec:
  nodeSelector: {kubernetes.io/hostname: joiner}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: kubelite/busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo joined > /www/index.html && exec httpd -f -p 8080 -h /www"]
"""


def test_kubelite_join_adds_a_machine(lab: Lab) -> None:
    """A bare lab-node container runs `kubelite join --server URL --token T` (deploy/lab/join-node.sh)."""
    words = lab.kubelite("token", "create", "--print-join-command").stdout.split()
    token = words[words.index("--token") + 1]
    ca_hash = words[words.index("--discovery-token-ca-cert-hash") + 1]
    ip = f"{lab.prefix}.40"
    volume = f"{lab.name}_joiner"
    cache = (Path(lab.env["KUBELITE_HOME"]) / "labs" / ".cache").resolve()
    subprocess.run(["docker", "volume", "create", "--label", f"io.kubelite.lab={lab.name}", volume],
                   capture_output=True, timeout=60, check=True)
    subprocess.run(["docker", "run", "-d", "--name", f"{lab.name}-joiner", "--hostname", "joiner",
                    "--network", f"{lab.name}_lab", "--ip", ip, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--device-cgroup-rule", "a *:* rwm", "--tmpfs", "/run", "--tmpfs", "/tmp",
                    "--label", f"io.kubelite.lab={lab.name}", "--label", "io.kubelite.lab-node=joiner",
                    "-v", f"{ROOT}:/src:ro", "-v", f"{cache}:/lab:ro", "-v", f"{volume}:/var/lib/docker",
                    "-e", f"LAB_NAME={lab.name}", "-e", "NODE_NAME=joiner", "-e", f"NODE_IP={ip}",
                    "-e", f"API_IP={lab.prefix}.10", "-e", f"TOKEN={token}", "-e", f"CA_HASH={ca_hash}",
                    "--entrypoint", "bash", "kubelite/lab-node:latest", "/src/deploy/lab/join-node.sh"],
                   capture_output=True, timeout=120, check=True)

    def joined() -> bool:
        return "joiner" in lab.nodes() and ready_node(lab.get("/api/v1/nodes/joiner"))

    try:
        wait_for("Node joiner Ready", joined, 120)
    except AssertionError:
        logs = subprocess.run(["docker", "logs", "--tail", "40", f"{lab.name}-joiner"], capture_output=True,
                              text=True, timeout=30)
        raise AssertionError(f"join failed:\n{logs.stdout}{logs.stderr}") from None
    out = subprocess.run(["docker", "logs", f"{lab.name}-joiner"], capture_output=True, text=True, timeout=30).stdout
    assert "[preflight] Token: ok" in out, out
    lab.kubelite("apply", "-f", "-", input_text=JOINER_POD)

    def pod_ip() -> str | None:
        st = lab.get("/api/v1/namespaces/default/pods/on-joiner").get("status") or {}
        return st.get("podIP") if st.get("phase") == "Running" else None

    target = wait_for("pod on joiner Running", pod_ip, 90)
    client = next(p for p in lab.pods() if ready(p) and p["spec"]["nodeName"] == "node1")
    assert lab.exec_in_pod(client["metadata"]["name"], f"timeout 5 wget -qO- {target}:8080").strip() == "joined"


def test_docker_rm_of_a_running_node_deletes_it_within_15s(lab: Lab) -> None:
    """The lab provider on a node that was heartbeating until its container vanished."""
    assert ready_node(lab.get("/api/v1/nodes/node3"))
    subprocess.run(["docker", "rm", "-f", lab.container("node3")], capture_output=True, timeout=60, check=True)
    removed = time.monotonic()
    wait_for("Node node3 deleted", lambda: "node3" not in lab.nodes(), 20, interval_s=0.25)
    gone_s = time.monotonic() - removed
    print(f"Node node3 deleted {gone_s:.1f}s after docker rm of its running container")
    assert gone_s < 15.0, f"node3 disappeared only after {gone_s:.1f}s"
