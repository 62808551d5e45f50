"""Node status / lease builders and the node agent's calls against a recording API."""

from typing import Any

from kubelet.node import HostFacts, NodeAgent, lease_body, node_status
from machinery import errors

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


class RecordingApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.objects: dict[str, dict[str, Any]] = {}

    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", path))
        key = f"{path}/{obj['metadata']['name']}"
        if key in self.objects:
            raise errors.AlreadyExists("exists")
        obj = {**obj, "metadata": {**obj["metadata"], "uid": "uid-1", "resourceVersion": "1"}}
        self.objects[key] = obj
        return obj

    async def get_node(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(f"/api/v1/nodes/{name}")

    async def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("get", path))
        return self.objects.get(path)

    async def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("put", path))
        self.objects[path] = obj
        return obj

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch", path))
        return patch


async def test_register_then_renew_lease(tmp_path: Any) -> None:
    api = RecordingApi()
    agent = NodeAgent(api, node="n1", node_ip="127.0.0.1", port=10250, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr="10.244.3.0/24")
    assert await agent.register() == "10.244.3.0/24"
    assert agent.uid == "uid-1"
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
    # The Lease exists before the Node (never Ready without a Lease); then it gets its owner.
    assert api.calls == [("get", lease_path), ("create", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"),
                         ("create", "/api/v1/nodes"), ("get", lease_path), ("put", lease_path),
                         ("patch", "/api/v1/nodes/n1/status")]
    assert api.objects[lease_path]["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "uid-1"}]
    # A restarted kubelet adopts the existing node.
    assert await NodeAgent(api, node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                           docker_version="v", pod_cidr=None).register() == "10.244.3.0/24"
    api.calls.clear()
    await agent.renew_lease()
    assert api.calls == [("get", lease_path), ("put", lease_path)]
    assert api.objects[lease_path]["metadata"]["resourceVersion"] == "1"  # PUT carries the version


async def test_lease_namespace_created_when_missing(tmp_path: Any) -> None:
    api = RecordingApi()
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    real_create = api.create

    async def create(path: str, obj: dict[str, Any]) -> dict[str, Any]:
        if path == leases and "/api/v1/namespaces/kube-node-lease" not in api.objects:
            api.calls.append(("create", path))
            raise errors.NotFound("namespaces \"kube-node-lease\" not found")
        return await real_create(path, obj)

    api.create = create  # type: ignore[method-assign]
    agent = NodeAgent(api, node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr=None)
    await agent.renew_lease()
    assert f"{leases}/n1" in api.objects  # created in the same call, not a beat later


async def test_ready_after_unknown_gets_a_new_transition_time(tmp_path: Any) -> None:
    api = RecordingApi()
    agent = NodeAgent(api, node="n1", node_ip="127.0.0.1", port=1, root_dir=str(tmp_path),
                      docker_version="v", pod_cidr="10.244.3.0/24")
    await agent.register()
    node = api.objects["/api/v1/nodes/n1"]
    # While the kubelet was frozen the node lifecycle controller marked it Unknown.
    node["status"] = {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                                      "lastHeartbeatTime": "2020-01-01T00:00:00Z",
                                      "lastTransitionTime": "2020-01-01T00:01:00Z"}]}
    sent: list[dict[str, Any]] = []

    async def merge_patch(path: str, patch: dict[str, Any]) -> dict[str, Any]:
        sent.append(patch)
        return patch

    api.merge_patch = merge_patch  # type: ignore[method-assign]
    await agent.patch_status()
    ready = next(c for c in sent[0]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] != "2020-01-01T00:01:00Z"
    assert ready["lastTransitionTime"] > "2020-01-01T00:01:00Z"
