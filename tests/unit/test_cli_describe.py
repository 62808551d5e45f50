"""describe's layout: tabwriter-like alignment, events table, per-kind bodies (plain dicts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cli.describe import describe_object
from cli.describe_writer import Writer, events_table

AT = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return (AT - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_writer_aligns_a_run_of_key_values_and_headings_break_runs() -> None:
    w = Writer()
    w.line(0, "Name", "x")
    w.line(0, "Service Account", "default")
    w.labels(0, "Labels", {"b": "2", "a": "1"})
    w.line(0, "Containers")
    w.line(1, "c")
    w.line(2, "Image", "busybox")
    w.line(2, "State", "Running")
    w.line(3, "Started", "then")
    assert w.render().splitlines() == [
        "Name:             x",
        "Service Account:  default",
        "Labels:           a=1",
        "                  b=2",
        "Containers:",
        "  c:",
        "    Image:      busybox",
        "    State:      Running",
        "      Started:  then",
    ]


def test_events_table_with_counts_and_none() -> None:
    w = Writer()
    events_table(w, [], AT)
    assert w.render() == "Events:  <none>"
    w = Writer()
    events_table(w, [{"type": "Warning", "reason": "BackOff", "count": 4, "firstTimestamp": ts(600),
                      "lastTimestamp": ts(30), "source": {"component": "kubelet", "host": "n1"},
                      "message": "Back-off restarting failed container"}], AT)
    lines = w.render().splitlines()
    assert lines[0] == "Events:"
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[3].split()[:4] == ["Warning", "BackOff", "30s", "(x4"]
    assert "over 10m)" in lines[3] and "kubelet, n1" in lines[3]


def render(obj: dict[str, Any], related: dict[str, list[dict[str, Any]]] | None = None) -> str:
    w = Writer()
    describe_object(w, obj, related or {})
    return w.render()


def test_pod_description() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"},
                                       "ownerReferences": [{"kind": "ReplicaSet", "name": "rs1", "controller": True}]},
           "spec": {"nodeName": "n1", "containers": [{
               "name": "c", "image": "img", "ports": [{"containerPort": 80, "protocol": "TCP"}],
               "resources": {"limits": {"cpu": "100m"}},
               "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5},
               "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
               "volumes": [{"name": "data", "emptyDir": {}}]},
           "status": {"phase": "Running", "podIP": "10.244.0.3", "hostIP": "192.168.1.2",
                      "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": "c", "ready": True, "restartCount": 2,
                                             "state": {"running": {"startedAt": ts(60)}},
                                             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}
    text = render(pod)
    for expected in ("Node:             n1/192.168.1.2", "Status:           Running", "Controlled By:    ReplicaSet/rs1",
                     "IP:               10.244.0.3", "80/TCP", "State:", "Last State:", "Reason:", "Error",
                     "Restart Count:", "cpu:", "100m",
                     "http-get http://:80/ delay=0s timeout=1s period=5s #success=1 #failure=3",
                     "POD:", "(v1:metadata.name)", "/data from data (rw)", "EmptyDir", "Ready   True"):
        assert expected in text, f"{expected!r} not in\n{text}"


def test_deployment_description_picks_newest_revision() -> None:
    dep = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "d"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
           "status": {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                      "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}}

    def rs(name: str, rev: str, replicas: int) -> dict[str, Any]:
        return {"metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": rev}},
                "spec": {"replicas": replicas}, "status": {"replicas": replicas}}

    text = render(dep, {"replicasets": [rs("web-new", "2", 2), rs("web-old", "1", 1), rs("web-older", "0", 0)]})
    assert "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in text
    assert "StrategyType:           RollingUpdate" in text
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in text
    assert "NewReplicaSet:   web-new (2/2 replicas created)" in text
    assert "OldReplicaSets:  web-old (1/1 replicas created)" in text
    assert "MinimumReplicasAvailable" in text


def test_secret_values_are_never_printed_and_generic_tree() -> None:
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "type": "Opaque",
              "data": {"password": "c2VjcmV0"}}
    text = render(secret)
    assert "c2VjcmV0" not in text and "password:  6 bytes" in text
    cm = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert "Data:\n  k:  v" in render(cm)


def test_node_description_shows_taints_and_condition_times() -> None:
    node = {"kind": "Node", "metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"podCIDR": "10.244.3.0/24", "taints": [
                {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2026-01-01T00:01:00Z"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-01T00:01:05Z"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                                       "message": "Kubelet stopped posting node status.",
                                       "lastHeartbeatTime": "2026-01-01T00:00:10Z",
                                       "lastTransitionTime": "2026-01-01T00:01:00Z"}]}}
    text = render(node)
    for expected in ("Taints:             node.kubernetes.io/unreachable:NoSchedule",
                     "                    node.kubernetes.io/unreachable:NoExecute",
                     "LastHeartbeatTime", "LastTransitionTime", "Thu, 01 Jan 2026 00:00:10 +0000",
                     "Thu, 01 Jan 2026 00:01:00 +0000", "NodeStatusUnknown", "Kubelet stopped posting node status.",
                     "PodCIDR:", "10.244.3.0/24"):
        assert expected in text, f"{expected!r} not in\n{text}"


def test_secret_describe_hides_values_in_annotations_too() -> None:
    applied = '{"apiVersion":"v1","kind":"Secret","stringData":{"password":"hunter2"}}'
    secret = {"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
              "metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied,
                                                        "team": "a"}},
              "data": {"password": "aHVudGVyMg=="}}
    text = render(secret)
    assert "hunter2" not in text and "aHVudGVyMg==" not in text
    assert "password:  7 bytes" in text and "team: a" in text
