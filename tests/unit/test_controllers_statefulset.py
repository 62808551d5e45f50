"""StatefulSet controller: sync(key) on preloaded caches with the recording fake client.

Each test drives the controller like the cluster would: `sync`, then `_feed` copies what the
fake API server now holds into the informers (the watch catching up), `_ready` plays the
kubelet. The assertions are the exact API calls of each sync (Events left aside).
"""

from __future__ import annotations

from typing import Any

from controllers.statefulset import identity
from controllers.statefulset.controller import StatefulSetController
from machinery.clock import FakeClock
from machinery.informer import Informer
from machinery.meta import Resource
from machinery.models import ControllerRevision, PersistentVolumeClaim, Pod, StatefulSet
from tests.unit.builders import NS, make_context, preload, unpreload
from tests.unit.fake_client import FakeClient

Calls = list[tuple[str, str, str]]


def _sts(*, replicas: int = 3, policy: str = "OrderedReady", image: str = "img:1", partition: int | None = 0,
         on_delete: bool = False, retention: dict[str, str] | None = None, claims: bool = True) -> StatefulSet:
    strategy: dict[str, Any] = {"type": "OnDelete"} if on_delete else {
        "type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    spec: dict[str, Any] = {
        "replicas": replicas, "serviceName": "nginx", "podManagementPolicy": policy, "updateStrategy": strategy,
        "selector": {"matchLabels": {"app": "web"}}, "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": retention or {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image}]}},
    }
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return StatefulSet.from_dict({"metadata": {"name": "web", "namespace": NS, "uid": "sts-uid",
                                               "resourceVersion": "1", "generation": 1}, "spec": spec})


def _setup(sts: StatefulSet) -> tuple[FakeClient, StatefulSetController]:
    client = FakeClient(namespace=NS)
    client.add(sts)
    c = StatefulSetController(make_context(client))
    preload(c.set_informer, sts)
    for inf in (c.pod_informer, c.claim_informer, c.revision_informer):
        preload(inf)
    return client, c


def _feed(client: FakeClient, c: StatefulSetController) -> None:
    """The watch catches up: every informer holds exactly what the fake server holds."""
    kinds: dict[str, tuple[type[Resource], Informer[Any]]] = {"Pod": (Pod, c.pod_informer), "PersistentVolumeClaim": (PersistentVolumeClaim, c.claim_informer),
             "ControllerRevision": (ControllerRevision, c.revision_informer),
             "StatefulSet": (StatefulSet, c.set_informer)}
    for _cls, inf in kinds.values():
        unpreload(inf, *list(inf.keys()))
    for (kind, _ns, _name), data in client.objects.items():
        if kind in kinds:
            cls, inf = kinds[kind]
            preload(inf, cls.model_validate(data))


def _respec(client: FakeClient, sts: StatefulSet) -> None:
    """A spec change (kubectl apply): the stored status stays."""
    status = client.objects[("StatefulSet", NS, "web")].get("status")
    client.add(sts)
    if status is not None:
        client.objects[("StatefulSet", NS, "web")]["status"] = status


def _ready(client: FakeClient, *names: str, phase: str = "Running", ready: bool = True) -> None:
    for name in names:
        data = client.objects[("Pod", NS, name)]
        conds = [{"type": "Ready", "status": "True" if ready else "False",
                  "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        data["status"] = {"phase": phase, "conditions": conds}


def _finish_deletes(client: FakeClient, c: StatefulSetController) -> None:
    """Pods deleted by the controller vanish (the kubelet confirmed), then the watch catches up."""
    _feed(client, c)


async def _sync(client: FakeClient, c: StatefulSetController) -> Calls:
    client.calls.clear()
    await c.sync(f"{NS}/web")
    return [(call.verb, call.kind, call.name) for call in client.calls if call.kind != "Event"]


def _revision_names(client: FakeClient) -> list[str]:
    return sorted(n for (k, _ns, n) in client.objects if k == "ControllerRevision")


async def test_ordered_ready_creates_web_1_only_after_web_0_is_ready() -> None:
    client, c = _setup(_sts())
    calls = await _sync(client, c)
    [rev] = _revision_names(client)
    assert calls == [("create", "ControllerRevision", rev), ("create", "PersistentVolumeClaim", "www-web-0"),
                     ("create", "Pod", "web-0"), ("patch/status", "StatefulSet", "web")]
    _feed(client, c)
    assert await _sync(client, c) == []  # web-0 not Running and Ready: nothing more
    _ready(client, "web-0", ready=False)
    _feed(client, c)
    assert await _sync(client, c) == []  # Running but not Ready: still waiting, status unchanged
    _ready(client, "web-0")
    _feed(client, c)
    assert await _sync(client, c) == [("create", "PersistentVolumeClaim", "www-web-1"), ("create", "Pod", "web-1"),
                                      ("patch/status", "StatefulSet", "web")]
    status = client.objects[("StatefulSet", NS, "web")]["status"]
    assert status["replicas"] == 2 and status["readyReplicas"] == 1 and status["currentRevision"] == rev


async def test_pod_identity_storage_and_revision_labels() -> None:
    client, c = _setup(_sts())
    await _sync(client, c)
    pod = client.stored(Pod, "web-0", NS)
    [rev] = _revision_names(client)
    assert pod.spec.hostname == "web-0" and pod.spec.subdomain == "nginx"
    assert pod.metadata.labels == {"app": "web", identity.POD_NAME_LABEL: "web-0", identity.POD_INDEX_LABEL: "0",
                                   identity.REVISION_LABEL: rev}
    assert [v.to_dict() for v in pod.spec.volumes] == [{"name": "www", "persistentVolumeClaim": {
        "claimName": "www-web-0"}}]
    ref = pod.metadata.ownerReferences[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("StatefulSet", "web", "sts-uid", True)
    claim = client.stored(PersistentVolumeClaim, "www-web-0", NS)
    assert claim.metadata.labels == {"app": "web"} and claim.metadata.ownerReferences is None
    assert claim.spec.resources.requests == {"storage": "1Gi"}


async def test_parallel_creates_every_pod_at_once_and_deletes_all_condemned() -> None:
    client, c = _setup(_sts(policy="Parallel", claims=False))
    calls = await _sync(client, c)
    assert [x for x in calls if x[1] == "Pod"] == [("create", "Pod", f"web-{i}") for i in range(3)]
    _feed(client, c)
    sts = _sts(policy="Parallel", claims=False, replicas=1)
    _respec(client, sts)
    _feed(client, c)
    calls = await _sync(client, c)
    assert [x for x in calls if x[1] == "Pod"] == [("delete", "Pod", "web-2"), ("delete", "Pod", "web-1")]


async def test_ordered_scale_down_from_the_highest_ordinal_one_at_a_time() -> None:
    client, c = _setup(_sts(replicas=3, claims=False))
    for _ in range(3):
        await _sync(client, c)
        _ready(client, *[n for (k, _ns, n) in client.objects if k == "Pod"])
        _feed(client, c)
    assert sorted(n for (k, _ns, n) in client.objects if k == "Pod") == ["web-0", "web-1", "web-2"]
    _respec(client, _sts(replicas=1, claims=False))
    _feed(client, c)
    calls = await _sync(client, c)
    assert [x for x in calls if x[1] == "Pod"] == [("delete", "Pod", "web-2")]
    # web-2 still terminating in the cache: the next sync waits for it.
    terminating = client.stored(Pod, "web-1", NS).model_copy(deep=True)
    terminating.metadata.name = "web-2"
    terminating.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    preload(c.pod_informer, terminating)
    assert [x for x in await _sync(client, c) if x[1] == "Pod"] == []
    _finish_deletes(client, c)
    assert [x for x in await _sync(client, c) if x[1] == "Pod"] == [("delete", "Pod", "web-1")]


async def test_rolling_update_with_partition_updates_only_high_ordinals_from_the_top() -> None:
    client, c = _setup(_sts(replicas=4, claims=False, partition=2))
    for _ in range(4):
        await _sync(client, c)
        _ready(client, *[n for (k, _ns, n) in client.objects if k == "Pod"])
        _feed(client, c)
    [old_rev] = _revision_names(client)
    _respec(client, _sts(replicas=4, claims=False, partition=2, image="img:2"))
    _feed(client, c)
    calls = await _sync(client, c)
    [new_rev] = [r for r in _revision_names(client) if r != old_rev]
    assert calls == [("create", "ControllerRevision", new_rev), ("delete", "Pod", "web-3"),
                     ("patch/status", "StatefulSet", "web")]
    _feed(client, c)
    calls = await _sync(client, c)  # web-3 is re-created at the update revision
    assert [x for x in calls if x[1] == "Pod"] == [("create", "Pod", "web-3")]
    pod = client.stored(Pod, "web-3", NS)
    assert pod.spec.containers[0].image == "img:2" and identity.revision_of(pod) == new_rev
    _feed(client, c)
    assert [x for x in await _sync(client, c) if x[1] == "Pod"] == []  # waits for web-3 to be Ready
    _ready(client, "web-3")
    _feed(client, c)
    assert [x for x in await _sync(client, c) if x[1] == "Pod"] == [("delete", "Pod", "web-2")]
    _feed(client, c)
    await _sync(client, c)
    _ready(client, "web-2")
    _feed(client, c)
    assert [x for x in await _sync(client, c) if x[1] == "Pod"] == []  # partition 2 keeps web-0, web-1
    status = client.objects[("StatefulSet", NS, "web")]["status"]
    assert status["updatedReplicas"] == 2 and status["currentReplicas"] == 2
    assert (status["currentRevision"], status["updateRevision"]) == (old_rev, new_rev)
    # A pod below the partition that is deleted comes back at the CURRENT revision.
    del client.objects[("Pod", NS, "web-1")]
    _feed(client, c)
    await _sync(client, c)
    pod1 = client.stored(Pod, "web-1", NS)
    assert pod1.spec.containers[0].image == "img:1" and identity.revision_of(pod1) == old_rev


async def test_on_delete_replaces_only_deleted_pods() -> None:
    client, c = _setup(_sts(replicas=2, claims=False, on_delete=True))
    for _ in range(2):
        await _sync(client, c)
        _ready(client, *[n for (k, _ns, n) in client.objects if k == "Pod"])
        _feed(client, c)
    _respec(client, _sts(replicas=2, claims=False, on_delete=True, image="img:2"))
    _feed(client, c)
    calls = await _sync(client, c)
    assert [x for x in calls if x[1] == "Pod"] == []
    del client.objects[("Pod", NS, "web-0")]
    _feed(client, c)
    await _sync(client, c)
    assert client.stored(Pod, "web-0", NS).spec.containers[0].image == "img:2"
    assert client.stored(Pod, "web-1", NS).spec.containers[0].image == "img:1"


async def test_failed_pod_is_deleted_then_recreated_with_the_same_claim() -> None:
    client, c = _setup(_sts(replicas=1))
    await _sync(client, c)
    _ready(client, "web-0", phase="Failed", ready=False)
    _feed(client, c)
    calls = await _sync(client, c)
    assert [x for x in calls if x[1] == "Pod"] == [("delete", "Pod", "web-0")]
    _feed(client, c)
    calls = await _sync(client, c)
    # The claim exists: only the pod is created, and it mounts the same claim.
    assert [x for x in calls if x[0] == "create"] == [("create", "Pod", "web-0")]
    assert client.stored(Pod, "web-0", NS).spec.volumes[0].persistentVolumeClaim == {"claimName": "www-web-0"}


async def test_retention_when_deleted_delete_owns_claims_by_the_set() -> None:
    client, c = _setup(_sts(replicas=1, retention={"whenDeleted": "Delete", "whenScaled": "Retain"}))
    await _sync(client, c)  # the claim is created before the pod; the informer has not seen it
    _ready(client, "web-0")  # OrderedReady: the invariants of a pod are enforced once it is Ready
    _feed(client, c)
    calls = await _sync(client, c)
    assert calls == [("patch", "PersistentVolumeClaim", "www-web-0"), ("patch/status", "StatefulSet", "web")]
    refs = client.objects[("PersistentVolumeClaim", NS, "www-web-0")]["metadata"]["ownerReferences"]
    assert refs == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-uid"}]


async def test_set_being_deleted_writes_status_only_and_claims_stay() -> None:
    client, c = _setup(_sts(replicas=2))
    await _sync(client, c)
    _feed(client, c)
    sts = _sts(replicas=2)
    sts.metadata.deletionTimestamp = "2026-01-01T00:00:00Z"
    preload(c.set_informer, sts)
    calls = await _sync(client, c)
    assert all(verb not in ("create", "delete") or kind == "ControllerRevision" for verb, kind, _ in calls)
    assert client.stored(PersistentVolumeClaim, "www-web-0", NS) is not None


async def test_empty_selector_is_refused_with_an_event() -> None:
    sts = _sts()
    assert sts.spec is not None and sts.spec.selector is not None
    sts.spec.selector.matchLabels = {}
    client, c = _setup(sts)
    client.calls.clear()
    await c.sync(f"{NS}/web")
    assert [(x.verb, x.kind) for x in client.calls] == [("create", "Event")]
    assert client.calls[0].body["reason"] == "SelectingAll"


async def test_retention_when_scaled_delete_gives_condemned_claims_to_their_pod() -> None:
    policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    client, c = _setup(_sts(replicas=2, policy="Parallel", retention=policy))
    await _sync(client, c)
    _ready(client, "web-0", "web-1")
    _feed(client, c)
    _respec(client, _sts(replicas=1, policy="Parallel", retention=policy))
    _feed(client, c)
    calls = await _sync(client, c)
    # The claim of web-1 is owned by web-1 first, then web-1 goes (the GC then deletes the claim).
    assert calls[:2] == [("patch", "PersistentVolumeClaim", "www-web-1"), ("delete", "Pod", "web-1")]
    refs = client.objects[("PersistentVolumeClaim", NS, "www-web-1")]["metadata"]["ownerReferences"]
    assert [(r["kind"], r["name"]) for r in refs] == [("Pod", "web-1")]
    assert "ownerReferences" not in client.objects[("PersistentVolumeClaim", NS, "www-web-0")]["metadata"]
    # Scaled up again before the GC ran: the stale claim (owned by the old web-1) makes web-1 wait.
    _feed(client, c)
    _respec(client, _sts(replicas=2, policy="Parallel", retention=policy))
    _feed(client, c)
    calls = await _sync(client, c)
    assert ("create", "Pod", "web-1") not in calls


async def test_min_ready_seconds_holds_the_next_ordinal_until_available() -> None:
    clock = FakeClock()  # wall time 2026-01-01T00:00:00Z, when _ready marks pods Ready
    sts = _sts(replicas=2, claims=False)
    assert sts.spec is not None
    sts.spec.minReadySeconds = 10
    client = FakeClient(namespace=NS)
    client.add(sts)
    c = StatefulSetController(make_context(client), clock=clock)
    preload(c.set_informer, sts)
    for inf in (c.pod_informer, c.claim_informer, c.revision_informer):
        preload(inf)
    await _sync(client, c)
    _ready(client, "web-0")
    _feed(client, c)
    clock.advance(5)
    calls = await _sync(client, c)
    assert ("create", "Pod", "web-1") not in calls  # Ready 5 s, not yet available for 10 s
    status = client.objects[("StatefulSet", NS, "web")]["status"]
    assert (status["readyReplicas"], status["availableReplicas"]) == (1, 0)
    clock.advance(6)
    _feed(client, c)
    calls = await _sync(client, c)
    assert ("create", "Pod", "web-1") in calls
    assert client.objects[("StatefulSet", NS, "web")]["status"]["availableReplicas"] == 1
