"""Tables, ages and pod STATUS as kubectl prints them (plain dicts, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.printers import human_age, human_duration, kind_path, render_table, resource_name
from machinery import tables as columns
from machinery.tables import pod_columns

AT = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (AT - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (182, "3m2s"),
    (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (4 * 3600 + 60, "4h1m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"),
    (400 * 86400, "400d"), (2 * 365 * 86400, "2y"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_human_age_of_missing_timestamp() -> None:
    assert human_age(None, AT) == "<unknown>"
    assert human_age(ts(65), AT) == "65s"


def test_render_table_pads_with_three_spaces_and_not_the_last_column() -> None:
    out = render_table(["NAME", "READY", "STATUS"], [["a", "1/1", "Running"], ["longer-name", "0/1", "Pending"]])
    assert out.splitlines() == [
        "NAME          READY   STATUS",
        "a             1/1     Running",
        "longer-name   0/1     Pending",
    ]


def test_resource_names_carry_the_group() -> None:
    assert resource_name({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}) == "pod/x"
    assert kind_path({"apiVersion": "apps/v1", "kind": "Deployment"}) == "deployment.apps"


def cs(name: str = "c", *, ready: bool = False, restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


def pod(statuses: list[dict[str, Any]], *, phase: str = "Running", init: list[dict[str, Any]] | None = None,
        n_init: int = 0, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": s["name"]} for s in statuses] or [{"name": "c"}]}
    if n_init:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(n_init)]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    if init is not None:
        status["initContainerStatuses"] = init
    status.update(extra.pop("status", {}))
    return {"metadata": {"name": "p", **extra.pop("meta", {})}, "spec": spec, "status": status}


def test_running_pod() -> None:
    assert pod_columns(pod([cs(ready=True, running={"startedAt": ts(10)})]), AT) == ("1/1", "Running", "0")


def test_waiting_reasons_win_crashloop_and_image_pull() -> None:
    crash = cs(restarts=3, waiting={"reason": "CrashLoopBackOff"})
    crash["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ts(120)}}
    assert pod_columns(pod([crash]), AT) == ("0/1", "CrashLoopBackOff", "3 (2m ago)")
    assert pod_columns(pod([cs(waiting={"reason": "ImagePullBackOff"})], phase="Pending"), AT)[1] == "ImagePullBackOff"


def test_terminated_containers_completed_error_and_exit_code() -> None:
    assert pod_columns(pod([cs(terminated={"exitCode": 0, "reason": "Completed"})], phase="Succeeded"), AT)[1] == "Completed"
    assert pod_columns(pod([cs(terminated={"exitCode": 2})], phase="Failed"), AT)[1] == "ExitCode:2"
    assert pod_columns(pod([cs(terminated={"exitCode": 137, "signal": 9})], phase="Failed"), AT)[1] == "Signal:9"


def test_completed_with_a_running_sidecar_is_running_or_notready() -> None:
    statuses = [cs("a", ready=True, running={}), cs("b", terminated={"exitCode": 0, "reason": "Completed"})]
    assert pod_columns(pod(statuses), AT)[1] == "NotReady"
    assert pod_columns(pod(statuses, status={"conditions": [{"type": "Ready", "status": "False"}]}), AT)[1] == "NotReady"
    ready = pod(statuses, status={"conditions": [{"type": "Ready", "status": "True"}]})
    assert pod_columns(ready, AT)[1] == "Running"


def test_init_container_progress() -> None:
    pending = pod([cs(waiting={"reason": "PodInitializing"})], phase="Pending", n_init=2,
                  init=[cs("i0", terminated={"exitCode": 0}), cs("i1", running={})])
    assert pod_columns(pending, AT)[1] == "Init:1/2"
    failing = pod([cs()], phase="Pending", n_init=1, init=[cs("i0", restarts=2, waiting={"reason": "CrashLoopBackOff"})])
    assert pod_columns(failing, AT)[1:] == ("Init:CrashLoopBackOff", "2")
    errored = pod([cs()], phase="Pending", n_init=1, init=[cs("i0", terminated={"exitCode": 3})])
    assert pod_columns(errored, AT)[1] == "Init:ExitCode:3"


def test_terminating_and_status_reason() -> None:
    deleting = pod([cs(ready=True, running={})], meta={"deletionTimestamp": ts(1)})
    assert pod_columns(deleting, AT)[1] == "Terminating"
    done = pod([cs(terminated={"exitCode": 0, "reason": "Completed"})], phase="Succeeded", meta={"deletionTimestamp": ts(1)})
    assert pod_columns(done, AT)[1] == "Completed"
    evicted = pod([], phase="Failed", status={"reason": "Evicted"})
    evicted["status"]["containerStatuses"] = []
    assert pod_columns(evicted, AT)[1] == "Evicted"


def test_pod_table_wide_all_namespaces_and_labels() -> None:
    p = pod([cs(ready=True, running={})], meta={"namespace": "ns1", "creationTimestamp": ts(5), "labels": {"b": "2", "a": "1"}})
    p["status"]["podIP"] = "10.244.0.5"
    p["spec"]["nodeName"] = "n1"
    headers, rows = columns.table("Pod", [p], wide=True, all_namespaces=True, show_labels=True, at=AT)
    assert headers == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES", "LABELS"]
    assert rows == [["ns1", "p", "1/1", "Running", "0", "5s", "10.244.0.5", "n1", "<none>", "<none>", "a=1,b=2"]]


def test_deployment_and_replicaset_rows() -> None:
    d = {"metadata": {"name": "web", "creationTimestamp": ts(7200)},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
                  "template": {"spec": {"containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}}},
         "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    headers, rows = columns.table("Deployment", [d], wide=True, at=AT)
    assert headers == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows == [["web", "2/3", "3", "2", "120m", "c1,c2", "i1,i2", "app=web,tier in (a,b)"]]
    _, rs_rows = columns.table("ReplicaSet", [{**d, "status": {"replicas": 3, "readyReplicas": 1}}], at=AT)
    assert rs_rows == [["web", "3", "3", "1", "120m"]]


def test_service_ports_and_external_ip() -> None:
    svc = {"metadata": {"name": "s", "creationTimestamp": ts(30)},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.12", "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
    headers, rows = columns.table("Service", [svc], wide=True, at=AT)
    assert headers == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert rows == [["s", "NodePort", "10.96.0.12", "<none>", "80:30080/TCP,53/UDP", "30s", "app=web"]]
    lb = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.2", "ports": [{"port": 1}]}}
    assert columns.table("Service", [lb], at=AT)[1][0][3] == "<pending>"


def test_endpoints_are_truncated_after_three() -> None:
    ep = {"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)],
                                                  "ports": [{"port": 80}]}]}
    assert columns.format_endpoints(ep) == "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more..."
    assert columns.format_endpoints({"subsets": []}) == "<none>"


def test_node_status_roles_and_wide() -> None:
    node = {"metadata": {"name": "n1", "creationTimestamp": ts(3 * 86400),
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
                       "nodeInfo": {"kubeletVersion": "v0.1.0", "osImage": "Debian", "kernelVersion": "6.1",
                                    "containerRuntimeVersion": "docker://24"}}}
    headers, rows = columns.table("Node", [node], wide=True, at=AT)
    assert headers[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows == [["n1", "Ready,SchedulingDisabled", "control-plane", "3d", "v0.1.0", "192.168.1.2", "<none>",
                     "Debian", "6.1", "docker://24"]]
    # kubectl says NotReady for Ready=Unknown; the issue asks for Unknown (the node stopped heartbeating)
    assert columns.node_status({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}) == "Unknown"
    assert columns.node_status({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}) == "NotReady"
    assert columns.node_status({"spec": {"unschedulable": True}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}}) == "Unknown,SchedulingDisabled"
    assert columns.node_status({"status": {}}) == "Unknown"


def test_job_statuses_and_completions() -> None:
    job = {"metadata": {"name": "j", "creationTimestamp": ts(100)}, "spec": {"completions": 3},
           "status": {"succeeded": 3, "startTime": ts(90), "completionTime": ts(60),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert columns.table("Job", [job], at=AT)[1] == [["j", "Complete", "3/3", "30s", "100s"]]
    running = {"metadata": {"name": "j"}, "spec": {"parallelism": 2}, "status": {"startTime": ts(5)}}
    assert columns.table("Job", [running], at=AT)[1][0][1:4] == ["Running", "0/1 of 2", "5s"]


def test_small_kinds_and_generic() -> None:
    cm = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    assert columns.table("ConfigMap", [cm], at=AT)[1] == [["c", "2", "<unknown>"]]
    sec = {"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}}
    assert columns.table("Secret", [sec], at=AT)[1] == [["s", "Opaque", "1", "<unknown>"]]
    ns = {"metadata": {"name": "n"}, "status": {"phase": "Terminating"}}
    assert columns.table("Namespace", [ns], at=AT)[1] == [["n", "Terminating", "<unknown>"]]
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "node-1"}}
    assert columns.table("Lease", [lease], at=AT)[1] == [["l", "node-1", "<unknown>"]]
    headers, rows = columns.table("Widget", [{"metadata": {"name": "w", "creationTimestamp": ts(3)}}], at=AT)
    assert (headers, rows) == (["NAME", "AGE"], [["w", "3s"]])


def test_events_have_no_name_column() -> None:
    ev = {"metadata": {"name": "e1"}, "lastTimestamp": ts(20), "type": "Warning", "reason": "BackOff",
          "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": "Back-off restarting\n"}
    headers, rows = columns.table("Event", [ev], at=AT)
    assert headers == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows == [["20s", "Warning", "BackOff", "pod/web-1", "Back-off restarting"]]


def test_daemonset_and_statefulset() -> None:
    ds = {"metadata": {"name": "d"}, "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}},
          "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                     "updatedNumberScheduled": 2, "numberAvailable": 1}}
    assert columns.table("DaemonSet", [ds], at=AT)[1] == [["d", "2", "2", "1", "2", "1", "disk=ssd", "<unknown>"]]
    sts = {"metadata": {"name": "s"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 1}}
    assert columns.table("StatefulSet", [sts], at=AT)[1] == [["s", "1/2", "<unknown>"]]
