"""Node status / lease builders and the node agent's calls through ClientApi on the fake clientset."""

from typing import Any

from kubelet.api import ClientApi
from kubelet.node import HostFacts, NodeAgent, lease_body, node_status
from machinery import errors
from machinery.models import Lease, Namespace, Node
from tests.unit.fake_client import FakeClient

FACTS = HostFacts(cpus=4, memory_bytes=8 * 2**30, mem_available_bytes=4 * 2**30, disk_bytes=100 * 2**30,
                  disk_free_bytes=50 * 2**30, kernel="6.1.0", os_image="Debian GNU/Linux 12", arch="amd64",
                  hostname="h1")


def test_node_status_capacity_addresses_conditions() -> None:
    st = node_status(FACTS, node_ip="10.0.0.5", port=10250, docker_version="20.10.24", old=None, now="T1")
    assert st["capacity"] == {"cpu": "4", "memory": f"{8 * 2**20}Ki", "pods": "110",
                              "ephemeral-storage": f"{100 * 2**20}Ki"}
    assert st["allocatable"] == st["capacity"]
    assert st["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "h1"}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert st["nodeInfo"]["containerRuntimeVersion"] == "docker://20.10.24"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False"}


def test_pressure_and_transition_times() -> None:
    first = node_status(FACTS, node_ip="x", port=1, docker_version="v", old=None, now="T1")
    low = HostFacts(**{**FACTS.__dict__, "mem_available_bytes": 10 * 2**20, "disk_free_bytes": 2**30})
    second = node_status(low, node_ip="x", port=1, docker_version="v", old=first, now="T2")
    by = {c["type"]: c for c in second["conditions"]}
    assert by["MemoryPressure"]["status"] == "True" and by["MemoryPressure"]["lastTransitionTime"] == "T2"
    assert by["DiskPressure"]["status"] == "True"
    assert by["Ready"]["lastTransitionTime"] == "T1" and by["Ready"]["lastHeartbeatTime"] == "T2"


def test_lease_body() -> None:
    lease = lease_body("n1", node_uid="u1", now="2026-01-01T00:00:00.000000Z")
    assert lease["metadata"] == {"name": "n1", "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "u1"}]}
    assert lease["spec"]["holderIdentity"] == "n1" and lease["spec"]["leaseDurationSeconds"] == 40


def calls(fake: FakeClient) -> list[tuple[str, str]]:
    return [(c.kind, c.name) for c in fake.calls_of("request")]


async def test_register_then_renew_lease(tmp_path: Any) -> None:
    fake = FakeClient()
    fake.store({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-node-lease"}})
    api = ClientApi(fake)
    agent = NodeAgent(api, node="n1", node_ip="127.0.0.1", port=10250, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr="10.244.3.0/24")
    assert await agent.register() == "10.244.3.0/24"
    node = fake.stored(Node, "n1")
    assert agent.uid == node.uid
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
    # The Lease exists before the Node (never Ready without a Lease); then it gets its owner.
    assert calls(fake) == [("GET", lease_path), ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"),
                           ("POST", "/api/v1/nodes"), ("GET", lease_path), ("PUT", lease_path),
                           ("GET", "/api/v1/nodes/n1"), ("PATCH", "/api/v1/nodes/n1/status")]
    lease = fake.stored(Lease, "n1", "kube-node-lease")
    assert [r.to_dict() for r in lease.metadata.ownerReferences] == [
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": node.uid}]
    # A restarted kubelet adopts the existing node.
    assert await NodeAgent(api, node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                           docker_version="v", pod_cidr=None).register() == "10.244.3.0/24"
    fake.calls.clear()
    before = fake.stored(Lease, "n1", "kube-node-lease").metadata.resourceVersion
    await agent.renew_lease()
    assert calls(fake) == [("GET", lease_path), ("PUT", lease_path)]
    put = fake.calls_of("request", "PUT")[0].body
    assert put["metadata"]["resourceVersion"] == before  # the PUT carries the version it read


async def test_lease_namespace_created_when_missing(tmp_path: Any) -> None:
    fake = FakeClient()
    fake.fail("create", "Lease", errors.NotFound('namespaces "kube-node-lease" not found'), times=1)
    agent = NodeAgent(ClientApi(fake), node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr=None)
    await agent.renew_lease()
    assert fake.stored(Namespace, "kube-node-lease") is not None
    assert fake.stored(Lease, "n1", "kube-node-lease") is not None  # created in the same call, not a beat later


async def test_ready_after_unknown_gets_a_new_transition_time(tmp_path: Any) -> None:
    fake = FakeClient()
    agent = NodeAgent(ClientApi(fake), node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr="10.244.3.0/24")
    await agent.register()
    node = fake.objects[("Node", None, "n1")]
    # While the kubelet was frozen the node lifecycle controller marked it Unknown.
    fake.store({**node, "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                                                   "lastHeartbeatTime": "2020-01-01T00:00:00Z",
                                                   "lastTransitionTime": "2020-01-01T00:01:00Z"}]}})
    fake.calls.clear()
    await agent.patch_status()
    sent = [c.body for c in fake.calls_of("request", "PATCH") if c.name == "/api/v1/nodes/n1/status"]
    ready = next(c for c in sent[0]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] != "2020-01-01T00:01:00Z"
    assert ready["lastTransitionTime"] > "2020-01-01T00:01:00Z"
