"""`kubelite why`: each cause read from pod/deployment wire objects and their events."""

from __future__ import annotations

from typing import Any

from cli.why import explain_deployment, explain_pod
from cli.why_nodes import closest_node


def pod(**status: Any) -> dict[str, Any]:
    spec = status.pop("spec", {"nodeName": "n1", "containers": [{"name": "app"}]})
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec, "status": status}


def cs(name: str = "app", **kw: Any) -> dict[str, Any]:
    return {"name": name, "image": "kubelite/app:v1", "restartCount": 0, **kw}


def test_unschedulable_names_the_scheduler_message_and_a_pending_claim() -> None:
    p = pod(spec={"containers": [{"name": "app"}]}, phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
    ev = [{"reason": "FailedScheduling", "message": "0/2 nodes are available: 2 Insufficient cpu.",
           "lastTimestamp": "2026-01-01T00:00:00Z"}]
    lines = explain_pod(p, ev)
    assert lines[0] == "pod/p is Pending: no node accepted it."
    assert "2 Insufficient cpu" in lines[1] and lines[-1].startswith("Next: kubelite describe nodes")
    claim = {"status": {"phase": "Pending"}, "spec": {"storageClassName": "fast"}}
    lines = explain_pod(p, ev, claims={"data": claim})
    assert "PersistentVolumeClaim data is Pending (storageClass fast)." in lines[2]
    assert lines[-1] == "Next: kubelite describe pvc data -n ns"


def test_missing_image_says_which_and_how_to_load_it() -> None:
    p = pod(phase="Pending", containerStatuses=[cs(state={"waiting": {"reason": "ErrImageNeverPull",
                                                                        "message": "not present"}})])
    lines = explain_pod(p, [])
    assert "image kubelite/app:v1 is not on the node" in lines[0]
    assert lines[-1].startswith("Next: kubelite image load kubelite/app:v1")


def test_crash_loop_shows_exit_code_and_previous_log() -> None:
    p = pod(phase="Running", containerStatuses=[cs(
        restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 3, "reason": "Error", "finishedAt": "2026-01-01T00:00:00Z"}})])
    lines = explain_pod(p, [], logs={"app": "a\nb\nfatal: no config\n"})
    assert lines[0] == "pod/p: container app keeps crashing (CrashLoopBackOff, 4 restarts)."
    assert "last exit code 3 (Error)" in lines[1]
    assert "    | fatal: no config" in lines
    assert lines[-1] == "Next: kubelite logs pod/p -c app -n ns --previous"


def test_init_container_waiting_and_probe_failing() -> None:
    p = pod(phase="Pending", initContainerStatuses=[cs("wait-db", state={"running": {}})],
            spec={"nodeName": "n1", "containers": [{"name": "app"}],
                  "initContainers": [{"name": "wait-db", "command": ["sh", "-c", "until nslookup db; do sleep 1; done"]}]})
    lines = explain_pod(p, [], logs={"wait-db": "nslookup: can't resolve 'db'\n"})
    assert lines[0] == "pod/p waits for init container wait-db (running)."
    assert any("can't resolve 'db'" in line for line in lines)
    assert "  it runs: sh -c until nslookup db; do sleep 1; done" in lines
    ready = pod(phase="Running", containerStatuses=[cs(state={"running": {}}, ready=False)],
                conditions=[{"type": "Ready", "status": "False"}])
    ev = [{"reason": "Unhealthy", "count": 7, "message": "Readiness probe failed: HTTP probe failed with statuscode: 500"}]
    lines = explain_pod(ready, ev)
    assert lines[0] == "pod/p is Running but a probe fails (7 times):"
    assert "statuscode: 500" in lines[1]
    fine = pod(phase="Running", containerStatuses=[cs(state={"running": {}}, ready=True)],
               conditions=[{"type": "Ready", "status": "True"}])
    assert explain_pod(fine, []) == ["pod/p is Running and Ready: nothing to explain."]


def _deploy(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "d1"},
            "spec": {"replicas": 3, "progressDeadlineSeconds": 60}, "status": status}


def _rs(name: str, revision: str, ready: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "ownerReferences": [{"uid": "d1"}],
                         "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 3}, "status": {"readyReplicas": ready}}


def test_deployment_stalled_and_quota_refusal() -> None:
    d = _deploy(availableReplicas=1, unavailableReplicas=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-2" has timed out progressing.'}])
    lines, rs = explain_deployment(d, [_rs("web-1", "1", 1), _rs("web-2", "2", 0)], [])
    assert lines[0].startswith("deployment/web is stalled: no progress for 60s (ProgressDeadlineExceeded)")
    assert lines[1] == "  newest ReplicaSet web-2: 0/3 ready."
    assert rs is not None and rs["metadata"]["name"] == "web-2"
    quota = [{"reason": "FailedCreate", "involvedObject": {"name": "web-2"},
              "message": 'pods "web-2-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2'}]
    lines, rs = explain_deployment(_deploy(availableReplicas=2), [_rs("web-2", "2", 2)], quota)
    assert "exceeded quota" in lines[2] and lines[-1] == "Next: kubelite describe quota -n ns" and rs is None
    ok = _deploy(availableReplicas=3, updatedReplicas=3, conditions=[{"type": "Available", "status": "True"}])
    assert explain_deployment(ok, [], []) == (["deployment/web is Available: 3/3 replicas up to date."], None)


def _node(name: str, cpu: str = "2", *, taints: list[dict[str, str]] | None = None,
          labels: dict[str, str] | None = None, ready: str = "True", cordoned: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or [], "unschedulable": cordoned},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def _wants(cpu: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": cpu}}}], **spec}}


def test_closest_node_is_the_one_with_fewest_problems_then_smallest_shortfall() -> None:
    busy = {"spec": {"nodeName": "big", "containers": [{"resources": {"requests": {"cpu": "3"}}}]},
            "status": {"phase": "Running"}}
    done = {"spec": {"nodeName": "small", "containers": [{"resources": {"requests": {"cpu": "2"}}}]},
            "status": {"phase": "Succeeded"}}  # a finished pod frees its requests
    nodes = [_node("small", "2"), _node("big", "4"), _node("tainted", "8", taints=[
        {"key": "gpu", "value": "true", "effect": "NoSchedule"}])]
    assert closest_node(_wants("3"), nodes, [busy, done]) == (  # one problem each: the smallest one
        "tainted", ["taint gpu=true:NoSchedule not tolerated"])
    assert closest_node(_wants("2500m"), nodes[:2], [busy, done]) == (  # short by 0.5 of 2 vs 1.5 of 4
        "small", ["cpu: the pod requests 2500m, 2 of 2 is free"])
    assert closest_node(_wants("1500m"), [_node("a", "1")], []) == (
        "a", ["cpu: the pod requests 1500m, 1 of 1 is free"])
    tolerated = _wants("3", tolerations=[{"key": "gpu", "operator": "Exists"}])
    assert closest_node(tolerated, nodes, [busy]) == ("tainted", [])
    assert closest_node(_wants("9"), [nodes[2]], []) == (
        "tainted", ["taint gpu=true:NoSchedule not tolerated", "cpu: the pod requests 9, 8 of 8 is free"])
    picky = _wants("1", nodeSelector={"disk": "ssd"})
    assert closest_node(picky, [_node("c", cordoned=True, ready="False")], []) == (
        "c", ["it is cordoned (unschedulable)", "it is not Ready", "label disk=ssd missing (nodeSelector)"])
    assert closest_node(picky, [], []) is None


def test_unschedulable_lists_what_the_closest_node_lacks() -> None:
    p = pod(spec={"containers": [{"name": "app"}]}, phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
    lines = explain_pod(p, [], closest=("n1", ["cpu: the pod requests 3, 2 of 2 is free"]))
    assert lines[2:4] == ["  closest node: n1, where", "    - cpu: the pod requests 3, 2 of 2 is free"]
