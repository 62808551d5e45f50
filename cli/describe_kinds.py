"""Per-kind bodies of `describe` (pods, deployments, replicasets, replicationcontrollers, nodes,
services, generic).

Contract: `KINDS[kind](w, obj, related)` writes the kubectl-like description of `obj` (a JSON
dict) into `w` (cli/describe.py's `describe_object` picks the describer); `related` holds what the command fetched beforehand: "pods" (a node's, or
the pods a ReplicaSet/ReplicationController controls), "replicasets" (a deployment's), "endpoints" (a service's). Kinds without a
layout get the common metadata plus a YAML-ish tree of spec and status.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cli.describe_writer import NONE, Writer, format_time
from cli.printers import human_age, now, render_table
from machinery.tables import format_endpoints, format_selector, node_roles, pod_columns

Obj = dict[str, Any]


def _common(w: Writer, o: Obj, *, namespaced: bool = True) -> None:
    meta = o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    if namespaced and meta.get("namespace"):
        w.line(0, "Namespace", meta["namespace"])
    w.labels(0, "Labels", meta.get("labels"))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    w.labels(0, "Annotations", annotations, sep=": ")


def _controller(o: Obj) -> str | None:
    for ref in (o.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def _state(w: Writer, level: int, title: str, state: Obj) -> None:
    if "running" in state:
        w.line(level, title, "Running")
        w.line(level + 1, "Started", format_time((state["running"] or {}).get("startedAt")))
    elif "terminated" in state:
        t = state["terminated"] or {}
        w.line(level, title, "Terminated")
        w.line(level + 1, "Reason", t.get("reason") or "")
        if t.get("message"):
            w.line(level + 1, "Message", t["message"])
        w.line(level + 1, "Exit Code", t.get("exitCode", 0))
        w.line(level + 1, "Started", format_time(t.get("startedAt")))
        w.line(level + 1, "Finished", format_time(t.get("finishedAt")))
    elif "waiting" in state:
        wt = state["waiting"] or {}
        w.line(level, title, "Waiting")
        w.line(level + 1, "Reason", wt.get("reason") or "")
        if wt.get("message"):
            w.line(level + 1, "Message", wt["message"])


def _probe(p: Obj) -> str:
    if "httpGet" in p:
        h = p["httpGet"]
        what = f"http-get {str(h.get('scheme', 'HTTP')).lower()}://{h.get('host', '')}:{h.get('port')}{h.get('path', '/')}"
    elif "tcpSocket" in p:
        what = f"tcp-socket {p['tcpSocket'].get('host', '')}:{p['tcpSocket'].get('port')}"
    elif "exec" in p:
        what = f"exec [{' '.join((p['exec'] or {}).get('command') or [])}]"
    else:
        what = "unknown"
    return (f"{what} delay={p.get('initialDelaySeconds', 0)}s timeout={p.get('timeoutSeconds', 1)}s "
            f"period={p.get('periodSeconds', 10)}s #success={p.get('successThreshold', 1)} "
            f"#failure={p.get('failureThreshold', 3)}")


def _env_value(e: Obj) -> str:
    if "value" in e:
        return str(e["value"])
    src = e.get("valueFrom") or {}
    if "fieldRef" in src:
        return f"({src['fieldRef'].get('apiVersion', 'v1')}:{src['fieldRef'].get('fieldPath')})"
    for key, label in (("configMapKeyRef", "config map"), ("secretKeyRef", "secret")):
        if key in src:
            ref = src[key]
            return f"<set to the key '{ref.get('key')}' of {label} '{ref.get('name')}'>"
    return ""


def _containers(w: Writer, title: str, specs: list[Obj], statuses: list[Obj], level: int = 0) -> None:  # noqa: C901 - one flat sequence of cases, read best in one place
    w.line(level, title)
    by_name = {s.get("name"): s for s in statuses}
    for c in specs:
        st = by_name.get(c.get("name"), {})
        w.line(level + 1, c.get("name", ""))
        if st.get("containerID"):
            w.line(level + 2, "Container ID", st["containerID"])
        w.line(level + 2, "Image", c.get("image", ""))
        if st:
            w.line(level + 2, "Image ID", st.get("imageID") or "")
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in c.get("ports") or []]
        w.line(level + 2, "Port" if len(ports) < 2 else "Ports", ", ".join(ports) or NONE)
        for key, label in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                w.line(level + 2, label)
                for part in c[key]:
                    w.text(level + 3, str(part))
        if st.get("state"):
            _state(w, level + 2, "State", st["state"])
        if (st.get("lastState") or {}):
            _state(w, level + 2, "Last State", st["lastState"])
        if st:
            w.line(level + 2, "Ready", "True" if st.get("ready") else "False")
            w.line(level + 2, "Restart Count", st.get("restartCount", 0))
        res = c.get("resources") or {}
        for key, label in (("limits", "Limits"), ("requests", "Requests")):
            if res.get(key):
                w.line(level + 2, label)
                for k, v in sorted(res[key].items()):
                    w.line(level + 3, k, v)
        for key, label in (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"), ("startupProbe", "Startup")):
            if c.get(key):
                w.line(level + 2, label, _probe(c[key]))
        env = c.get("env") or []
        if env:
            w.line(level + 2, "Environment")
            for e in env:
                w.line(level + 3, e.get("name", ""), _env_value(e))
        else:
            w.line(level + 2, "Environment", NONE)
        mounts = c.get("volumeMounts") or []
        if mounts:
            w.line(level + 2, "Mounts")
            for m in mounts:
                w.text(level + 3, f"{m.get('mountPath')} from {m.get('name')} ({'ro' if m.get('readOnly') else 'rw'})")
        else:
            w.line(level + 2, "Mounts", NONE)


def _volumes(w: Writer, volumes: list[Obj]) -> None:
    if not volumes:
        w.line(0, "Volumes", NONE)
        return
    w.line(0, "Volumes")
    for v in volumes:
        w.line(1, v.get("name", ""))
        if "emptyDir" in v:
            w.line(2, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
        elif "hostPath" in v:
            w.line(2, "Type", "HostPath (bare host directory volume)")
            w.line(2, "Path", (v["hostPath"] or {}).get("path", ""))
        elif "configMap" in v:
            w.line(2, "Type", "ConfigMap (a volume populated by a ConfigMap)")
            w.line(2, "Name", (v["configMap"] or {}).get("name", ""))
        elif "secret" in v:
            w.line(2, "Type", "Secret (a volume populated by a Secret)")
            w.line(2, "SecretName", (v["secret"] or {}).get("secretName", ""))
        else:
            w.line(2, "Type", ", ".join(k for k in v if k != "name"))


def _conditions(w: Writer, conds: list[Obj], columns: tuple[str, ...] = ("Type", "Status")) -> None:
    if not conds:
        return
    w.line(0, "Conditions")
    keys = {"Type": "type", "Status": "status", "Reason": "reason", "Message": "message",
            "LastHeartbeatTime": "lastHeartbeatTime", "LastTransitionTime": "lastTransitionTime"}
    times = ("LastHeartbeatTime", "LastTransitionTime")
    rows = [list(columns), ["-" * len(c) for c in columns]]
    rows += [[format_time(c.get(keys[col])) if col in times else str(c.get(keys[col]) or "") for col in columns]
             for c in conds]
    for row in render_table(rows[0], rows[1:]).splitlines():
        w.text(1, row)


def describe_pod(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status, meta = o.get("spec") or {}, o.get("status") or {}, o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Namespace", meta.get("namespace", ""))
    w.line(0, "Priority", spec.get("priority", 0))
    w.line(0, "Service Account", spec.get("serviceAccountName") or "default")
    node = spec.get("nodeName")
    w.line(0, "Node", f"{node}/{status.get('hostIP', '')}" if node and status.get("hostIP") else (node or NONE))
    if status.get("startTime"):
        w.line(0, "Start Time", format_time(status["startTime"]))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                if k != "kubectl.kubernetes.io/last-applied-configuration"}, sep=": ")
    _, display, _ = pod_columns(o, now())
    w.line(0, "Status", "Terminating (lasts " + str(meta.get("deletionGracePeriodSeconds", 0)) + "s)"
           if meta.get("deletionTimestamp") else (status.get("phase") or display))
    if status.get("reason"):
        w.line(0, "Reason", status["reason"])
    if status.get("message"):
        w.line(0, "Message", status["message"])
    w.line(0, "IP", status.get("podIP") or "")
    ctrl = _controller(o)
    if ctrl:
        w.line(0, "Controlled By", ctrl)
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses") or [])
    _containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses") or [])
    _conditions(w, status.get("conditions") or [])
    _volumes(w, spec.get("volumes") or [])
    w.line(0, "QoS Class", status.get("qosClass") or "BestEffort")
    w.labels(0, "Node-Selectors", spec.get("nodeSelector"))
    tols = [f"{t.get('key', '')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect', '')}"
            f"{' op=Exists' if t.get('operator') == 'Exists' else ''}" for t in spec.get("tolerations") or []]
    w.line(0, "Tolerations", tols[0] if tols else NONE)
    for t in tols[1:]:
        w.line(0, "", t)


def _revision(rs: Obj) -> int:
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
    return int(raw) if str(raw).isdigit() else 0


def describe_deployment(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status, meta = o.get("spec") or {}, o.get("status") or {}, o.get("metadata") or {}
    _common(w, o)
    w.line(0, "CreationTimestamp", format_time(meta.get("creationTimestamp")))
    w.line(0, "Selector", format_selector(spec.get("selector")))
    w.line(0, "Replicas", f"{spec.get('replicas', 0)} desired | {status.get('updatedReplicas', 0)} updated | "
           f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
           f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    w.line(0, "StrategyType", strategy.get("type", "RollingUpdate"))
    w.line(0, "MinReadySeconds", spec.get("minReadySeconds", 0))
    ru = strategy.get("rollingUpdate")
    if ru:
        w.line(0, "RollingUpdateStrategy", f"{ru.get('maxUnavailable', '25%')} max unavailable, "
               f"{ru.get('maxSurge', '25%')} max surge")
    template = spec.get("template") or {}
    w.line(0, "Pod Template")
    w.labels(1, "Labels", (template.get("metadata") or {}).get("labels"))
    tspec = template.get("spec") or {}
    _containers(w, "Containers", tspec.get("containers") or [], [], level=1)
    _conditions(w, status.get("conditions") or [], ("Type", "Status", "Reason"))
    rss = related.get("replicasets", [])
    # The newest revision is the new ReplicaSet, as the deployment controller numbers them.
    new_rs = max(rss, key=_revision) if rss else None
    old = [rs for rs in rss if rs is not new_rs and int((rs.get("spec") or {}).get("replicas") or 0) > 0]

    def rs_text(rs: Obj) -> str:
        rmeta, rstatus = rs.get("metadata") or {}, rs.get("status") or {}
        return f"{rmeta.get('name')} ({rstatus.get('replicas', 0)}/{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"

    w.line(0, "OldReplicaSets", ", ".join(rs_text(rs) for rs in old) or NONE)
    w.line(0, "NewReplicaSet", rs_text(new_rs) if new_rs else NONE)


def describe_replicas(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    """ReplicaSet and ReplicationController, as kubectl's describers (same shape for both);
    `related["pods"]` are the pods the object controls."""
    spec, status = o.get("spec") or {}, o.get("status") or {}
    selector = spec.get("selector")
    if o.get("kind") == "ReplicationController":
        selector = {"matchLabels": selector or {}}
    meta = o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Namespace", meta.get("namespace", ""))
    w.line(0, "Selector", format_selector(selector))
    w.labels(0, "Labels", meta.get("labels"))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    w.labels(0, "Annotations", annotations, sep=": ")
    controller = _controller(o)
    if controller:
        w.line(0, "Controlled By", controller)
    w.line(0, "Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 0)} desired")
    phases = [(p.get("status") or {}).get("phase") for p in related.get("pods", [])]
    w.line(0, "Pods Status", f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
           f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed")
    template = spec.get("template") or {}
    w.line(0, "Pod Template")
    w.labels(1, "Labels", (template.get("metadata") or {}).get("labels"))
    _containers(w, "Containers", (template.get("spec") or {}).get("containers") or [], [], level=1)
    _conditions(w, status.get("conditions") or [], ("Type", "Status", "Reason"))


def describe_node(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec, status, meta = o.get("spec") or {}, o.get("status") or {}, o.get("metadata") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Roles", node_roles(o))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", meta.get("annotations"), sep=": ")
    w.line(0, "CreationTimestamp", format_time(meta.get("creationTimestamp")))
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}" for t in spec.get("taints") or []]
    w.line(0, "Taints", taints[0] if taints else NONE)
    for t in taints[1:]:
        w.line(0, "", t)
    w.line(0, "Unschedulable", "true" if spec.get("unschedulable") else "false")
    _conditions(w, status.get("conditions") or [],
                ("Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"))
    w.line(0, "Addresses")
    for a in status.get("addresses") or []:
        w.line(1, a.get("type", ""), a.get("address", ""))
    for key, label in (("capacity", "Capacity"), ("allocatable", "Allocatable")):
        w.line(0, label)
        for k, v in sorted((status.get(key) or {}).items()):
            w.line(1, k, v)
    info = status.get("nodeInfo") or {}
    if info:
        w.line(0, "System Info")
        for k in ("machineID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion",
                  "operatingSystem", "architecture"):
            if info.get(k):
                w.line(1, k[0].upper() + k[1:], info[k])
    if spec.get("podCIDR"):
        w.line(0, "PodCIDR", spec["podCIDR"])
    pods = [p for p in related.get("pods", []) if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    w.line(0, "Non-terminated Pods", f"({len(pods)} in total)")
    if pods:
        rows = [[(p.get("metadata") or {}).get("namespace", ""), (p.get("metadata") or {}).get("name", ""),
                 human_age((p.get("metadata") or {}).get("creationTimestamp"))] for p in pods]
        hdr = ["Namespace", "Name", "Age"]
        for row in render_table(hdr, [["-" * len(h) for h in hdr], *rows]).splitlines():
            w.text(1, row)


def describe_service(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    spec = o.get("spec") or {}
    _common(w, o)
    w.labels(0, "Selector", spec.get("selector"))
    w.line(0, "Type", spec.get("type", "ClusterIP"))
    w.line(0, "IP", spec.get("clusterIP") or NONE)
    eps = related.get("endpoints", [])
    for p in spec.get("ports") or []:
        w.line(0, "Port", f"{p.get('name') or '<unset>'}  {p.get('port')}/{p.get('protocol', 'TCP')}")
        w.line(0, "TargetPort", f"{p.get('targetPort', p.get('port'))}/{p.get('protocol', 'TCP')}")
        if p.get("nodePort"):
            w.line(0, "NodePort", f"{p.get('name') or '<unset>'}  {p['nodePort']}/{p.get('protocol', 'TCP')}")
        w.line(0, "Endpoints", format_endpoints(eps[0]) if eps else NONE)
    w.line(0, "Session Affinity", spec.get("sessionAffinity", "None"))


def _tree(w: Writer, level: int, key: str, value: Any) -> None:
    if isinstance(value, dict):
        w.line(level, key)
        for k, v in value.items():
            _tree(w, level + 1, k, v)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        w.line(level, key)
        for item in value:
            if isinstance(item, dict):
                for i, (k, v) in enumerate(item.items()):
                    _tree(w, level + 1, ("- " if i == 0 else "  ") + k, v)
            else:
                w.text(level + 1, f"- {item}")
    elif isinstance(value, list):
        w.line(level, key, ", ".join(str(v) for v in value) or NONE)
    else:
        w.line(level, key, value)


def describe_generic(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    _common(w, o)
    w.line(0, "API Version", o.get("apiVersion", ""))
    w.line(0, "Kind", o.get("kind", ""))
    for section in ("spec", "status", "data"):
        if o.get(section):
            _tree(w, 0, section.capitalize(), o[section])


def describe_secret(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    """Sizes only: a describe must never print secret values."""
    _common(w, o)
    w.line(0, "Type", o.get("type") or "Opaque")
    w.line(0, "Data")
    for key, value in sorted((o.get("data") or {}).items()):
        try:
            size = len(base64.b64decode(str(value), validate=False))
        except (ValueError, binascii.Error):
            size = len(str(value))
        w.line(1, key, f"{size} bytes")


KINDS = {"Secret": describe_secret, "Pod": describe_pod, "Deployment": describe_deployment, "Node": describe_node,
         "Service": describe_service, "ReplicaSet": describe_replicas, "ReplicationController": describe_replicas}
