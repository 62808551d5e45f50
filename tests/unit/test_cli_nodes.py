"""taint arithmetic (kubectl's reorganizeTaints) and drain's sorting of a node's pods."""

from __future__ import annotations

from typing import Any

import pytest

from cli.drain import DrainOptions, sort_pods
from cli.errors import CliError
from cli.nodes import TaintSpec, new_taints, parse_taints


def test_parse_taints() -> None:
    adds, removes = parse_taints(["a=b:NoSchedule", "c:NoExecute", "d-", "e:PreferNoSchedule-"])
    assert adds == [TaintSpec("a", "b", "NoSchedule"), TaintSpec("c", None, "NoExecute")]
    assert removes == [TaintSpec("d", None, ""), TaintSpec("e", None, "PreferNoSchedule")]
    for bad in (["a=b"], ["a=b:Never"], []):
        with pytest.raises(CliError):
            parse_taints(bad)


def test_new_taints_words_and_order() -> None:
    old = [{"key": "x", "value": "1", "effect": "NoSchedule"}]
    taints, word = new_taints("n", old, [TaintSpec("y", "2", "NoSchedule")], [], overwrite=False)
    assert (word, [t["key"] for t in taints]) == ("tainted", ["y", "x"])
    with pytest.raises(CliError, match="already has x taint"):
        new_taints("n", old, [TaintSpec("x", "9", "NoSchedule")], [], overwrite=False)
    taints, word = new_taints("n", old, [TaintSpec("x", "9", "NoSchedule")], [], overwrite=True)
    assert (word, taints) == ("modified", [{"key": "x", "value": "9", "effect": "NoSchedule"}])
    assert new_taints("n", old, [], [TaintSpec("x", None, "")], overwrite=False) == ([], "untainted")
    with pytest.raises(CliError, match='taint "x:NoExecute" not found'):
        new_taints("n", old, [], [TaintSpec("x", None, "NoExecute")], overwrite=False)


def _pod(name: str, *, owner: str | None = None, empty_dir: bool = False, phase: str = "Running",
         mirror: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": f"{name}-o", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "x"}
    spec = {"volumes": [{"name": "v", "emptyDir": {}}]} if empty_dir else {}
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def test_sort_pods_follows_kubectls_filters() -> None:
    pods = [_pod("rs", owner="ReplicaSet"), _pod("ds", owner="DaemonSet"), _pod("lone"),
            _pod("tmp", owner="ReplicaSet", empty_dir=True), _pod("done", phase="Succeeded"), _pod("m", mirror=True)]
    plan = sort_pods(pods, DrainOptions())
    assert [p["metadata"]["name"] for p in plan.evict] == ["rs", "done"]
    assert sorted(r for refs in plan.errors.values() for r in refs) == ["ns/ds", "ns/lone", "ns/tmp"]
    plan = sort_pods(pods, DrainOptions(ignore_daemonsets=True, delete_emptydir_data=True, force=True))
    assert [p["metadata"]["name"] for p in plan.evict] == ["rs", "lone", "tmp", "done"]
    assert plan.warnings == {"ignoring DaemonSet-managed Pods": ["ns/ds"],
                             "deleting Pods that declare no controller": ["ns/lone"]}
    orphan = sort_pods([_pod("ds", owner="DaemonSet")], DrainOptions(force=True),
                       {"ns/ds-o": 'daemonsets.apps "ds-o" not found'})
    assert [p["metadata"]["name"] for p in orphan.evict] == ["ds"]
