"""The controller-manager process against a real API server on real etcd.

There is no kubelet here: `mark_pods_ready` patches pods Running/Ready as a kubelet would.
`ControllerManagerProcess(kubeconfig, *args)` (also used by test_leaderelection.py) runs
`python -m controllers` with its log in a temp dir: `.start()`, `.kill()` (SIGKILL),
`.stop()` (SIGTERM then SIGKILL), `.cleanup()`, `.log_text()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from controllers.deployment.rollback import find_revision, rollback_patch
from machinery import errors
from machinery.client import ApiClient
from machinery.meta import now_rfc3339
from machinery.models import Deployment, Event, Namespace, Pod, ReplicaSet
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


class ControllerManagerProcess:
    def __init__(self, kubeconfig: str, *args: str) -> None:
        self.kubeconfig = kubeconfig
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="kubelite-cm-"))
        self.log_path = self.dir / "controllers.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerManagerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "controllers", "--kubeconfig", self.kubeconfig, "--log-level", "DEBUG",
                 *self.args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


async def _ready_loop(client: ApiClient, namespace: str) -> None:
    while True:
        try:
            for pod in (await client.list(Pod, namespace=namespace)).items:
                conds = (pod.status.conditions or []) if pod.status else []
                if pod.metadata.deletionTimestamp or any(c.type == "Ready" and c.status == "True" for c in conds):
                    continue
                stamp = now_rfc3339()
                status = {"phase": "Running", "startTime": stamp,
                          "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}
                with contextlib.suppress(Exception):  # a pod deleted meanwhile
                    await client.patch(Pod, pod.name, {"status": status}, namespace=namespace, subresource="status")
        except Exception:  # noqa: BLE001 - the API restarting: try again
            pass
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def mark_pods_ready(client: ApiClient, namespace: str) -> AsyncIterator[None]:
    task = asyncio.create_task(_ready_loop(client, namespace))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def controller_manager(apiserver: Any) -> Iterator[ControllerManagerProcess]:
    cm = ControllerManagerProcess(apiserver.kubeconfig).start()
    try:
        yield cm
    finally:
        cm.cleanup()


def _template(labels: dict[str, str], image: str = "kubelite/busybox:latest") -> dict[str, Any]:
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}


async def _pods(client: ApiClient, ns: str, selector: str = "") -> list[Pod]:
    items = (await client.list(Pod, namespace=ns, label_selector=selector or None)).items
    return [p for p in items if not p.metadata.deletionTimestamp]


async def test_replicaset_creates_scales_and_reports_status(
        controller_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    rs = await api_client.create(ReplicaSet.from_dict({
        "metadata": {"name": "rs1", "namespace": namespace},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rs1"}}, "template": _template({"app": "rs1"})},
    }))

    async def count(n: int) -> bool:
        return len(await _pods(api_client, namespace, "app=rs1")) == n

    await wait_until(lambda: count(3), 20, message=f"3 pods\n{controller_manager.log_text()[-3000:]}")
    for pod in await _pods(api_client, namespace, "app=rs1"):
        ref = pod.metadata.ownerReferences[0]  # type: ignore[index]
        assert (ref.kind, ref.uid, ref.controller, ref.blockOwnerDeletion) == ("ReplicaSet", rs.uid, True, True)
    async with mark_pods_ready(api_client, namespace):
        async def ready() -> bool:
            got = await api_client.get(ReplicaSet, "rs1", namespace=namespace)
            return got.status is not None and got.status.readyReplicas == 3 and got.status.availableReplicas == 3
        await wait_until(ready, 20)
    await api_client.patch(ReplicaSet, "rs1", {"spec": {"replicas": 1}}, namespace=namespace)
    await wait_until(lambda: count(1), 20)

    async def events_recorded() -> bool:  # posted right after the API calls they describe
        reasons = {e.reason for e in (await api_client.list(Event, namespace=namespace)).items}
        return {"SuccessfulCreate", "SuccessfulDelete"} <= reasons

    await wait_until(events_recorded, 10)


async def test_replicaset_adopts_matching_orphan(
        controller_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    await api_client.create(Pod.from_dict({"metadata": {"name": "orphan", "namespace": namespace,
                                                        "labels": {"app": "rs2"}},
                                           "spec": _template({})["spec"]}))
    await asyncio.sleep(0.5)  # let the manager's pod cache see it before the ReplicaSet exists
    rs = await api_client.create(ReplicaSet.from_dict({
        "metadata": {"name": "rs2", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs2"}}, "template": _template({"app": "rs2"})},
    }))

    async def adopted() -> bool:
        pod = await api_client.get(Pod, "orphan", namespace=namespace)
        refs = pod.metadata.ownerReferences or []
        return len(refs) == 1 and refs[0].uid == rs.uid and bool(refs[0].controller)

    await wait_until(adopted, 20)
    await asyncio.sleep(1.0)  # nothing else may be created for it
    assert [p.name for p in await _pods(api_client, namespace, "app=rs2")] == ["orphan"]


async def test_deployment_rolls_out_and_rolls_back(
        controller_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    body = {"metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": _template({"app": "web"}, "img:v1")}}
    await api_client.create(Deployment.from_dict(body))

    async def settled(image: str, revision: str) -> bool:
        d = await api_client.get(Deployment, "web", namespace=namespace)
        rs_list = (await api_client.list(ReplicaSet, namespace=namespace)).items
        pods = await _pods(api_client, namespace, "app=web")
        st = d.status
        return (st is not None and st.updatedReplicas == 2 and st.availableReplicas == 2 and st.replicas == 2
                and (d.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == revision
                and len(pods) == 2 and all(p.spec.containers[0].image == image for p in pods)  # type: ignore[union-attr]
                and sum((r.spec.replicas or 0) if r.spec else 0 for r in rs_list) == 2)

    async with mark_pods_ready(api_client, namespace):
        await wait_until(lambda: settled("img:v1", "1"), 30, message=controller_manager.log_text()[-3000:])
        await api_client.patch(Deployment, "web", {"spec": {"template": _template({"app": "web"}, "img:v2")}},
                               namespace=namespace)
        await wait_until(lambda: settled("img:v2", "2"), 40, message=controller_manager.log_text()[-3000:])
        rs_list = (await api_client.list(ReplicaSet, namespace=namespace)).items
        assert len(rs_list) == 2
        for rs in rs_list:
            assert rs.metadata.labels["pod-template-hash"] == rs.name.removeprefix("web-")  # type: ignore[index]
        v1 = find_revision(rs_list, 1)
        assert v1 is not None and v1.spec.replicas == 0  # type: ignore[union-attr]
        # kubectl rollout undo: copy revision 1's template back.
        await api_client.patch(Deployment, "web", rollback_patch(v1), namespace=namespace, patch_type="json")
        await wait_until(lambda: settled("img:v1", "3"), 40, message=controller_manager.log_text()[-3000:])
        back = await api_client.get(ReplicaSet, v1.name, namespace=namespace)
        assert back.metadata.annotations["deployment.kubernetes.io/revision"] == "3"  # type: ignore[index]
        assert len((await api_client.list(ReplicaSet, namespace=namespace)).items) == 2  # no new RS
    d = await api_client.get(Deployment, "web", namespace=namespace)
    conds = {c.type: c.reason for c in d.status.conditions or []}  # type: ignore[union-attr]
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    messages = [e.message for e in (await api_client.list(Event, namespace=namespace)).items
                if e.reason == "ScalingReplicaSet"]
    assert any(m and m.startswith("Scaled up replica set web-") for m in messages)


async def _make_rs(client: ApiClient, ns: str, name: str, replicas: int = 2) -> ReplicaSet:
    rs = await client.create(ReplicaSet.from_dict({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": _template({"app": name})},
    }))
    await wait_until(lambda: _count(client, ns, name, replicas), 20)
    return rs


async def _count(client: ApiClient, ns: str, app: str, n: int) -> bool:
    return len((await client.list(Pod, namespace=ns, label_selector=f"app={app}")).items) == n


async def _gone(client: ApiClient, cls: type, name: str, ns: str) -> bool:
    try:
        await client.get(cls, name, namespace=ns)
    except errors.NotFound:
        return True
    return False


async def test_garbage_collection_background_foreground_orphan(
        controller_manager: ControllerManagerProcess, api_client: ApiClient, namespace: str) -> None:
    await _make_rs(api_client, namespace, "bg")
    await api_client.delete(ReplicaSet, "bg", namespace=namespace, propagation_policy="Background")
    await wait_until(lambda: _count(api_client, namespace, "bg", 0), 20, message="background dependents deleted")

    await _make_rs(api_client, namespace, "fg")
    await api_client.delete(ReplicaSet, "fg", namespace=namespace, propagation_policy="Foreground")
    held = await api_client.get(ReplicaSet, "fg", namespace=namespace)  # still there, waiting for its pods
    assert "foregroundDeletion" in (held.metadata.finalizers or [])
    await wait_until(lambda: _gone(api_client, ReplicaSet, "fg", namespace), 20, message="foreground owner gone")
    assert await _count(api_client, namespace, "fg", 0)

    await _make_rs(api_client, namespace, "or")
    await api_client.delete(ReplicaSet, "or", namespace=namespace, propagation_policy="Orphan")
    await wait_until(lambda: _gone(api_client, ReplicaSet, "or", namespace), 20, message="orphaning owner gone")
    pods = (await api_client.list(Pod, namespace=namespace, label_selector="app=or")).items
    assert len(pods) == 2 and all(not p.metadata.ownerReferences for p in pods)

    # A dependent whose owner uid does not exist is deleted.
    await api_client.create(Pod.from_dict({
        "metadata": {"name": "dangling", "namespace": namespace, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nope", "uid": "00000000-dead"}]},
        "spec": _template({})["spec"]}))
    await wait_until(lambda: _gone(api_client, Pod, "dangling", namespace), 20, message="dangling pod deleted")


async def test_namespace_deletion_empties_and_finalizes(
        controller_manager: ControllerManagerProcess, api_client: ApiClient) -> None:
    ns = "cm-ns-del"
    await api_client.create(Namespace.from_dict({"metadata": {"name": ns}}))
    await _make_rs(api_client, ns, "inns")
    await api_client.delete(Namespace, ns)
    await wait_until(lambda: _gone(api_client, Namespace, ns, ""), 30,
                     message=f"namespace finalized\n{controller_manager.log_text()[-3000:]}")
    assert (await api_client.list(Pod, namespace=ns)).items == []


class _Proc:
    """A helper daemon (scheduler, hollow kubelets) in its own process group, log in `log_path`."""

    def __init__(self, log_path: Path, *args: str) -> None:
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@pytest.fixture
def hollow_cluster(apiserver: Any, tmp_path: Path) -> Iterator[list[str]]:
    """The real scheduler plus two hollow kubelets (they run and report pods without Docker)."""
    if not (ROOT / "kubelet" / "hollow.py").exists():
        pytest.skip("kubelet/hollow.py is not there")
    prefix = f"cm{uuid.uuid4().hex[:6]}-"
    procs = [
        _Proc(tmp_path / "hollow.log", "-m", "kubelet", "--hollow", "--count", "2", "--prefix", prefix,
              "--run-delay-s", "0.2", "--lease-period-s", "1", "--kubeconfig", apiserver.kubeconfig,
              "--delete-on-exit"),
        _Proc(tmp_path / "scheduler.log", "-m", "scheduler", "--kubeconfig", apiserver.kubeconfig),
    ]
    try:
        yield [f"{prefix}{i}" for i in range(2)]
    finally:
        for proc in procs:
            proc.stop()


async def test_deployment_rollout_on_scheduled_hollow_nodes(
        controller_manager: ControllerManagerProcess, hollow_cluster: list[str], api_client: ApiClient,
        namespace: str) -> None:
    """The whole control loop: deployment -> RS -> pods -> scheduler -> kubelet Ready -> rollout."""
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": hollow_cluster}]}]}}}

    def template(image: str) -> dict[str, Any]:
        t = _template({"app": "hw"}, image)
        t["spec"]["affinity"] = affinity
        t["spec"]["terminationGracePeriodSeconds"] = 1
        return t

    await api_client.create(Deployment.from_dict({
        "metadata": {"name": "hw", "namespace": namespace},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "hw"}}, "template": template("img:v1"),
                 "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}))

    async def complete(image: str) -> bool:
        d = await api_client.get(Deployment, "hw", namespace=namespace)
        pods = await _pods(api_client, namespace, "app=hw")
        conds = {c.type: c.reason for c in (d.status.conditions or [])} if d.status else {}
        return (conds.get("Progressing") == "NewReplicaSetAvailable" and len(pods) == 4
                and all(p.spec.containers[0].image == image and p.spec.nodeName in hollow_cluster  # type: ignore[union-attr,operator]
                        for p in pods))

    await wait_until(lambda: complete("img:v1"), 40, message=controller_manager.log_text()[-3000:])
    await api_client.patch(Deployment, "hw", {"spec": {"template": template("img:v2")}}, namespace=namespace)
    await wait_until(lambda: complete("img:v2"), 60, message=controller_manager.log_text()[-3000:])
    await api_client.delete(Deployment, "hw", namespace=namespace)  # Background: GC takes RS and pods

    async def all_gone() -> bool:
        rs = (await api_client.list(ReplicaSet, namespace=namespace)).items
        return not rs and not (await api_client.list(Pod, namespace=namespace)).items

    await wait_until(all_gone, 40, message=controller_manager.log_text()[-3000:])
