"""Deployment controller: rollout steps simulated over a recording fake client.

Each `step` preloads the caches from the fake's stored objects, runs `sync(key)` once and
returns the ReplicaSet scale operations it made; `settle` then plays the ReplicaSet controller
(status.replicas = spec.replicas, availability as the test says).
"""

from __future__ import annotations

from typing import Any

import pytest

from controllers.deployment.controller import DeploymentController
from controllers.deployment.hashing import HASH_LABEL, compute_hash
from controllers.deployment.util import REVISION
from machinery import errors
from machinery.defaults import apply_defaults
from machinery.models import Deployment, ReplicaSet
from tests.unit.builders import NS, TEMPLATE_SPEC, make_context, owner_ref, preload, unpreload
from tests.unit.fake_client import FakeClient

KEY = f"{NS}/web"


def make_deployment(*, replicas: int, image: str = "img:v2", surge: Any = 1, unavailable: Any = 0,
                    strategy: str = "RollingUpdate", **spec: Any) -> Deployment:
    strat: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    d = Deployment.from_dict({
        "metadata": {"name": "web", "namespace": NS, "uid": "d-uid", "generation": 1, "resourceVersion": "1"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "strategy": strat,
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {**TEMPLATE_SPEC, "containers": [{"name": "c", "image": image}]}},
                 **spec},
    })
    return apply_defaults(d)


def old_rs_for(d: Deployment, *, image: str, replicas: int, revision: int, name: str | None = None,
               created: str = "2026-01-01T00:00:00Z") -> ReplicaSet:
    """A RS the controller would have made for `d` with another image, fully available."""
    template = d.spec.template.to_dict()  # type: ignore[union-attr]
    template["spec"]["containers"][0]["image"] = image
    h = compute_hash(ReplicaSet.from_dict({"spec": {"template": template}}).spec.template)  # type: ignore[union-attr]
    template["metadata"]["labels"][HASH_LABEL] = h
    return ReplicaSet.from_dict({
        "metadata": {"name": name or f"web-{h}", "namespace": NS, "uid": f"rs-{revision}", "resourceVersion": "3",
                     "generation": 1, "creationTimestamp": created, "labels": template["metadata"]["labels"],
                     "ownerReferences": [owner_ref(d)],
                     "annotations": {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas":
                                     str(d.spec.replicas), "deployment.kubernetes.io/max-replicas":  # type: ignore[union-attr]
                                     str(replicas)}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", HASH_LABEL: h}},
                 "template": template},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                   "observedGeneration": 1},
    })


class Sim:
    def __init__(self, *objs: Any) -> None:
        self.client = FakeClient(namespace=NS)
        self.client.add(*objs)
        self.c = DeploymentController(make_context(self.client))
        self.history: list[Any] = []  # calls of every step so far

    def _reload(self) -> None:
        for inf, cls in ((self.c.d_informer, Deployment), (self.c.rs_informer, ReplicaSet)):
            unpreload(inf, *inf.keys())
            preload(inf, *(cls.model_validate(v) for (k, _, _), v in self.client.objects.items() if k == cls.KIND))

    async def step(self) -> list[tuple[str, str, int]]:
        self._reload()
        self.client.calls.clear()
        try:
            await self.c.sync(KEY)
        finally:
            self.history += self.client.calls
        ops: list[tuple[str, str, int]] = []
        for call in self.client.calls:
            if call.kind == "ReplicaSet" and call.verb in ("create", "replace"):
                ops.append((call.verb, call.name, call.body["spec"]["replicas"]))
        return ops

    def settle(self, available: bool | dict[str, int] = True) -> None:
        for (kind, _, name), data in self.client.objects.items():
            if kind != "ReplicaSet":
                continue
            n = data["spec"]["replicas"]
            avail = n if available is True else (0 if available is False else min(n, available.get(name, n)))
            data["status"] = {"replicas": n, "readyReplicas": avail, "availableReplicas": avail,
                              "observedGeneration": data["metadata"].get("generation", 1)}

    def rs(self, name: str) -> ReplicaSet:
        result: ReplicaSet = self.client.stored(ReplicaSet, name, NS)
        return result

    def deployment(self) -> Deployment:
        result: Deployment = self.client.stored(Deployment, "web", NS)
        return result

    async def run(self, steps: int, available: bool | dict[str, int] = True) -> list[tuple[str, int]]:
        seq: list[tuple[str, int]] = []
        for _ in range(steps):
            seq += [(name, n) for _, name, n in await self.step()]
            self.settle(available)
        return seq


def _names(d: Deployment, old: ReplicaSet) -> tuple[str, str]:
    return f"web-{compute_hash(d.spec.template)}", old.name  # type: ignore[union-attr]


async def test_rolling_3_replicas_surge_1_unavailable_0() -> None:
    d = make_deployment(replicas=3, surge=1, unavailable=0)
    old = old_rs_for(d, image="img:v1", replicas=3, revision=1)
    sim = Sim(d, old)
    new, o = _names(d, old)
    seq = await sim.run(8)
    assert seq == [(new, 1), (o, 2), (new, 2), (o, 1), (new, 3), (o, 0)]
    created = sim.rs(new)
    assert created.metadata.labels[HASH_LABEL] == new.removeprefix("web-")  # type: ignore[index]
    assert created.spec.selector.matchLabels[HASH_LABEL] == new.removeprefix("web-")  # type: ignore[union-attr,index]
    assert created.metadata.annotations[REVISION] == "2"  # type: ignore[index]
    assert created.metadata.ownerReferences[0].uid == "d-uid"  # type: ignore[index]
    dep = sim.deployment()
    assert dep.metadata.annotations[REVISION] == "2"  # type: ignore[index]
    st = dep.status
    assert (st.replicas, st.updatedReplicas, st.availableReplicas, st.unavailableReplicas) == (3, 3, 3, 0)  # type: ignore[union-attr]
    conds = {c.type: (c.status, c.reason) for c in st.conditions}  # type: ignore[union-attr]
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}


async def test_rolling_10_replicas_25_percent() -> None:
    d = make_deployment(replicas=10, surge="25%", unavailable="25%")  # surge 3 (up), unavailable 2 (down)
    old = old_rs_for(d, image="img:v1", replicas=10, revision=1)
    sim = Sim(d, old)
    new, o = _names(d, old)
    # The first sync creates the new RS (3 = surge) and, counting its 3 unavailable pods,
    # may already take 2 old ones down (13 - 8 min available - 3): Kubernetes' arithmetic.
    assert await sim.run(7) == [(new, 3), (o, 8), (new, 5), (o, 3), (new, 10), (o, 0)]


async def test_rolling_never_goes_below_min_available_when_new_pods_never_ready() -> None:
    d = make_deployment(replicas=10, surge="25%", unavailable="25%")
    old = old_rs_for(d, image="img:v1", replicas=10, revision=1)
    sim = Sim(d, old)
    new, o = _names(d, old)
    seq = await sim.run(6, available={new: 0})
    assert seq == [(new, 3), (o, 8), (new, 5)]  # then stuck: 8 available = 10 - 2
    assert sim.deployment().status.availableReplicas == 8  # type: ignore[union-attr]


async def test_rolling_4_replicas_surge_0_unavailable_1() -> None:
    d = make_deployment(replicas=4, surge=0, unavailable=1)
    old = old_rs_for(d, image="img:v1", replicas=4, revision=1)
    sim = Sim(d, old)
    new, o = _names(d, old)
    seq = await sim.run(10)
    assert seq == [(new, 0), (o, 3), (new, 1), (o, 2), (new, 2), (o, 1), (new, 3), (o, 0), (new, 4)]


async def test_recreate_scales_old_to_zero_before_creating_new() -> None:
    d = make_deployment(replicas=3, strategy="Recreate")
    old = old_rs_for(d, image="img:v1", replicas=3, revision=1)
    sim = Sim(d, old)
    new, o = _names(d, old)
    assert await sim.step() == [("replace", o, 0)]
    # Old pods still reported: nothing happens until they are gone.
    sim.client.objects[("ReplicaSet", NS, o)]["status"]["replicas"] = 2
    assert await sim.step() == []
    sim.settle()
    assert await sim.step() == [("create", new, 3)]
    events = [c.body["message"] for c in sim.client.calls_of("create", "Event")]
    assert f"Scaled up replica set {new} to 3" in events


async def test_new_rollout_during_rollout_stops_the_previous_one() -> None:
    d = make_deployment(replicas=4, surge=1, unavailable=0)
    v1 = old_rs_for(d, image="img:v1", replicas=3, revision=1)
    v2 = old_rs_for(d, image="img:v2b", replicas=2, revision=2, created="2026-01-02T00:00:00Z")
    sim = Sim(d, v1, v2)
    new, _ = _names(d, v1)
    # 5 pods = 4 + surge: v3 is created empty and the oldest (v1) goes down first.
    assert await sim.step() == [("create", new, 0), ("replace", v1.name, 2)]
    sim.settle()
    seq = await sim.run(12)
    final = {name: sim.rs(name).spec.replicas for name in (v1.name, v2.name, new)}  # type: ignore[union-attr]
    assert final == {v1.name: 0, v2.name: 0, new: 4}, seq


async def test_scaling_mid_rollout_is_proportional() -> None:
    d = make_deployment(replicas=10, surge=3, unavailable=2)
    v1 = old_rs_for(d, image="img:v1", replicas=8, revision=1)
    v2 = old_rs_for(d, image="img:v2", replicas=5, revision=2, created="2026-01-02T00:00:00Z")
    for rs in (v1, v2):  # both were scaled while the deployment wanted 10 (+3 surge)
        rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] = "13"  # type: ignore[index]
        rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] = "10"  # type: ignore[index]
    d.spec.replicas = 20  # type: ignore[union-attr]  # surge 3 -> allowed 23: +10 to spread
    sim = Sim(d, v1, v2)
    ops = await sim.step()
    sizes = {name: n for _, name, n in ops}
    # 8 * 23/13 = 14.15 -> 14 (+6); 5 * 23/13 = 8.8 -> 9 (+4): together +10.
    assert sizes == {v1.name: 14, v2.name: 9}


async def test_paused_deployment_scales_but_does_not_roll_out() -> None:
    d = make_deployment(replicas=5, paused=True)
    old = old_rs_for(d, image="img:v1", replicas=3, revision=1)
    sim = Sim(d, old)
    assert await sim.step() == [("replace", old.name, 5)]
    assert not sim.client.calls_of("create", "ReplicaSet")
    cond = next(c for c in sim.deployment().status.conditions if c.type == "Progressing")  # type: ignore[union-attr]
    assert (cond.status, cond.reason) == ("Unknown", "DeploymentPaused")


async def test_rollback_makes_old_rs_new_with_next_revision() -> None:
    d = make_deployment(replicas=2, image="img:v1")
    v1 = old_rs_for(d, image="img:v1", replicas=0, revision=1)
    v2 = old_rs_for(d, image="img:v2", replicas=2, revision=2, created="2026-01-02T00:00:00Z")
    sim = Sim(d, v1, v2)
    await sim.run(6)
    assert not sim.client.calls_of("create", "ReplicaSet")
    back = sim.rs(v1.name)
    assert back.metadata.annotations[REVISION] == "3"  # type: ignore[index]
    assert back.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"  # type: ignore[index]
    assert back.spec.replicas == 2 and sim.rs(v2.name).spec.replicas == 0  # type: ignore[union-attr]
    assert sim.deployment().metadata.annotations[REVISION] == "3"  # type: ignore[index]


async def test_revision_history_limit_cleanup() -> None:
    d = make_deployment(replicas=1, revisionHistoryLimit=1)
    olds = [old_rs_for(d, image=f"img:old{i}", replicas=0, revision=i + 1,
                       created=f"2026-01-0{i + 1}T00:00:00Z") for i in range(3)]
    sim = Sim(d, *olds)
    await sim.run(4)
    deleted = [c.name for c in sim.history if c.verb == "delete"]
    assert deleted == [olds[0].name, olds[1].name]


async def test_progress_deadline_exceeded() -> None:
    d = make_deployment(replicas=1, progressDeadlineSeconds=5)
    sim = Sim(d)
    await sim.run(2, available=False)
    dep = sim.deployment()
    for c in dep.status.conditions or []:  # type: ignore[union-attr]
        if c.type == "Progressing":  # pretend the last progress was long ago
            c.lastUpdateTime = "2026-01-01T00:00:00Z"
    sim.client.add(dep)
    await sim.step()
    cond = next(c for c in sim.deployment().status.conditions if c.type == "Progressing")  # type: ignore[union-attr]
    assert (cond.status, cond.reason) == ("False", "ProgressDeadlineExceeded")
    sim.c.queue.shutdown()


async def test_hash_is_stable_defaulted_and_changes_with_collision_count() -> None:
    d = make_deployment(replicas=1)
    raw = Deployment.from_dict({"spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                                      "spec": {"containers": [{"name": "c", "image": "img:v2"}]}}}})
    assert compute_hash(raw.spec.template) == compute_hash(d.spec.template)  # type: ignore[union-attr]
    assert compute_hash(d.spec.template, 1) != compute_hash(d.spec.template)  # type: ignore[union-attr]
    assert set(compute_hash(d.spec.template)) <= set("bcdfghjklmnpqrstvwxz2456789")  # type: ignore[union-attr]


async def test_name_collision_bumps_collision_count() -> None:
    d = make_deployment(replicas=1)
    h = compute_hash(d.spec.template)  # type: ignore[union-attr]
    foreign = ReplicaSet.from_dict({"metadata": {"name": f"web-{h}", "namespace": NS, "uid": "x",
                                                 "labels": {"other": "yes"}},
                                    "spec": {"selector": {"matchLabels": {"other": "yes"}},
                                             "template": {"metadata": {"labels": {"other": "yes"}},
                                                          "spec": {"containers": [{"name": "z", "image": "z"}]}}}})
    sim = Sim(d, foreign)
    with pytest.raises(errors.AlreadyExists):  # a collision fails the sync, so it is retried
        await sim.step()
    assert sim.deployment().status.collisionCount == 1  # type: ignore[union-attr]
    ops = await sim.step()
    assert ops == [("create", f"web-{compute_hash(d.spec.template, 1)}", 1)]  # type: ignore[union-attr]


async def test_unparsable_surge_is_reported_not_retried() -> None:
    d = make_deployment(replicas=2, surge="lots")
    sim = Sim(d)
    assert await sim.step() == []
    events = sim.client.calls_of("create", "Event")
    assert [e.body["reason"] for e in events] == ["InvalidStrategy"]
    assert "spec.strategy.rollingUpdate" in events[0].body["message"]
