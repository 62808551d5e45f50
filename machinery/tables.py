"""Server-side table columns per kind: ONE definition for the API server's `as=Table`
answers and the CLI's `get` output.

Contract (everything works on plain JSON dicts as the server stores them, no models):
- `human_duration(s)`, `human_age(ts, at)`: kubectl's HumanDuration (5s, 3m2s, 4h, 2d); these
  and the other cells (labels, selectors, `Layout`) live in machinery/tablecells.py, the storage
  and policy kinds' layouts in machinery/tables_storage.py (merged into `LAYOUTS` here).
- `pod_columns(pod, at) -> (ready, status, restarts)`: kubectl's printPod READY/STATUS/RESTARTS.
- `LAYOUTS[kind]` / `layout_for(kind)`: the column headers (default and `-o wide`) and the row
  function of a kind; kinds without a layout get `NAME AGE`.
- `table(kind, objects, wide=, all_namespaces=, show_labels=, at=)` -> (headers, rows), as the
  CLI prints them (same behaviour as the former cli/columns.table).
- The API server's Table answers (apiserver/tables.py) use `layout_for(kind)`: NAME (unless
  `name_header` is empty), `headers`, then `wide` columns (priority 1), cells from
  `layout.row(obj, True, at)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from machinery import tables_autoscaling, tables_rbac, tables_storage
from machinery.tablecells import (
    NONE,
    Layout,
    Obj,
    access_modes,
    as_int,
    condition_true,
    containers_images,
    controller_name,
    count_of,
    format_selector,
    human_age,
    human_duration,
    labels_string,
    meta_of,
    now,
    parse_ts,
    spec_of,
    status_of,
    template_spec,
    terminated_label,
    wide_ci,
    with_age,
)


def pod_columns(pod: dict[str, Any], at: datetime) -> tuple[str, str, str]:  # noqa: C901 - one flat sequence of cases, read best in one place
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    total = len(spec.get("containers") or [])
    reason = str(status.get("reason") or status.get("phase") or "")
    restarts = 0
    ready = 0
    last_restart: datetime | None = None

    def note_restart(cs: dict[str, Any]) -> None:
        nonlocal last_restart
        finished = parse_ts(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished

    init_specs = spec.get("initContainers") or []
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        note_restart(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if term is not None:
            reason = terminated_label(term, "Init:")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or condition_true(status, "Initialized"):
        restarts = 0
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            note_restart(cs)
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term is not None:
                reason = terminated_label(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if condition_true(status, "Ready") else "NotReady"

    phase = status.get("phase")
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((at - last_restart).total_seconds())} ago)"
    return f"{ready}/{total}", reason or "Unknown", restarts_text


def _pod(o: Obj, wide: bool, at: datetime) -> list[str]:
    ready, status, restarts = pod_columns(o, at)
    row = [ready, status, restarts, human_age(meta_of(o).get("creationTimestamp"), at)]
    if wide:
        gates = spec_of(o).get("readinessGates") or []
        conds = {c.get("type"): c.get("status") for c in status_of(o).get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        row += [status_of(o).get("podIP") or NONE, spec_of(o).get("nodeName") or NONE,
                status_of(o).get("nominatedNodeName") or NONE, f"{ok}/{len(gates)}" if gates else NONE]
    return row


def _deployment(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = status_of(o)
    row = [f"{as_int(st.get('readyReplicas'))}/{as_int(spec_of(o).get('replicas'))}", str(as_int(st.get("updatedReplicas"))),
           str(as_int(st.get("availableReplicas"))), human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + (wide_ci(o) if wide else [])


def _replicaset(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = status_of(o)
    row = [str(as_int(spec_of(o).get("replicas"))), str(as_int(st.get("replicas"))), str(as_int(st.get("readyReplicas"))),
           human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + (wide_ci(o) if wide else [])


def _replicationcontroller(o: Obj, wide: bool, at: datetime) -> list[str]:
    """As a ReplicaSet's row; the selector is a plain label map (kubectl's FormatLabels)."""
    row = _replicaset(o, False, at)
    if not wide:
        return row
    selector = spec_of(o).get("selector") or {}
    return [*row, *containers_images(template_spec(o)), format_selector({"matchLabels": selector})]


def _statefulset(o: Obj, wide: bool, at: datetime) -> list[str]:
    row = [f"{as_int(status_of(o).get('readyReplicas'))}/{as_int(spec_of(o).get('replicas'))}",
           human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + (containers_images(template_spec(o)) if wide else [])


def _daemonset(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = status_of(o)
    node_sel = template_spec(o).get("nodeSelector") or {}
    row = [str(as_int(st.get(k))) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                          "updatedNumberScheduled", "numberAvailable")]
    row += [labels_string(node_sel), human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + (wide_ci(o) if wide else [])


def _job_status(o: Obj) -> str:
    """kubectl's printJob STATUS: terminal conditions first, then Terminating, Suspended, interim."""
    conds = {c.get("type"): c.get("status") for c in status_of(o).get("conditions") or []}
    for ctype in ("Complete", "Failed"):
        if conds.get(ctype) == "True":
            return ctype
    if meta_of(o).get("deletionTimestamp"):
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if conds.get(ctype) == "True":
            return ctype
    return "Running"


def _job(o: Obj, wide: bool, at: datetime) -> list[str]:
    st, sp = status_of(o), spec_of(o)
    completions = sp.get("completions")
    parallelism = as_int(sp.get("parallelism") if sp.get("parallelism") is not None else 1)
    succeeded = as_int(st.get("succeeded"))
    comp = (f"{succeeded}/{completions}" if completions is not None
            else f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1")
    start, end = parse_ts(st.get("startTime")), parse_ts(st.get("completionTime"))
    duration = human_duration(((end or at) - start).total_seconds()) if start else ""
    row = [_job_status(o), comp, duration, human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + (wide_ci(o) if wide else [])


def _cronjob(o: Obj, wide: bool, at: datetime) -> list[str]:
    st, sp = status_of(o), spec_of(o)
    last = st.get("lastScheduleTime")
    suspend = sp.get("suspend")
    row = [str(sp.get("schedule") or ""), sp.get("timeZone") or NONE,
           "<unset>" if suspend is None else str(bool(suspend)), str(len(st.get("active") or [])),
           human_age(last, at) if last else NONE, human_age(meta_of(o).get("creationTimestamp"), at)]
    if wide:
        jspec = (sp.get("jobTemplate") or {}).get("spec") or {}
        row += [*containers_images((jspec.get("template") or {}).get("spec") or {}),
                format_selector(jspec.get("selector"))]
    return row


def _service_ports(sp: Obj) -> str:
    out = [f"{p.get('port')}:{p['nodePort']}/{p.get('protocol') or 'TCP'}" if p.get("nodePort")
           else f"{p.get('port')}/{p.get('protocol') or 'TCP'}" for p in sp.get("ports") or []]
    return ",".join(out) or NONE


def _service(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp = spec_of(o)
    stype = sp.get("type") or "ClusterIP"
    ingress = [i.get("ip") or i.get("hostname") or "" for i in (status_of(o).get("loadBalancer") or {}).get("ingress") or []]
    external = ingress + list(sp.get("externalIPs") or [])
    ext = ((sp.get("externalName") or NONE) if stype == "ExternalName" else ",".join(external) if external
           else "<pending>" if stype == "LoadBalancer" else NONE)
    row = [stype, sp.get("clusterIP") or NONE, ext, _service_ports(sp), human_age(meta_of(o).get("creationTimestamp"), at)]
    if wide:
        row.append(labels_string(sp.get("selector")))
    return row


def format_endpoints(o: Obj, limit: int = 3) -> str:
    items: list[str] = []
    for subset in o.get("subsets") or []:
        ports = subset.get("ports") or [{}]
        for addr in subset.get("addresses") or []:
            for port in ports:
                ip = addr.get("ip", "")
                items.append(f"{ip}:{port['port']}" if port.get("port") is not None else ip)
    if not items:
        return NONE
    text = ",".join(items[:limit])
    return text + (f" + {len(items) - limit} more..." if len(items) > limit else "")


def node_status(o: Obj) -> str:
    """Ready / NotReady / Unknown, plus ",SchedulingDisabled" when cordoned. kubectl prints
    NotReady for Ready=Unknown too; we say Unknown (the node stopped heartbeating: the node
    lifecycle controller's verdict, not the kubelet's) and keep NotReady for a kubelet that
    reports Ready=False."""
    conds = {c.get("type"): c.get("status") for c in status_of(o).get("conditions") or []}
    text = {"True": "Ready", "False": "NotReady"}.get(str(conds.get("Ready")), "Unknown")
    if spec_of(o).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(o: Obj) -> str:
    roles = set()
    for key, value in (meta_of(o).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def _node_address(o: Obj, kind: str) -> str:
    return next((a.get("address", "") for a in status_of(o).get("addresses") or [] if a.get("type") == kind), NONE)


def _node(o: Obj, wide: bool, at: datetime) -> list[str]:
    info = status_of(o).get("nodeInfo") or {}
    row = [node_status(o), node_roles(o), human_age(meta_of(o).get("creationTimestamp"), at),
           info.get("kubeletVersion") or ""]
    if wide:
        row += [_node_address(o, "InternalIP"), _node_address(o, "ExternalIP"), info.get("osImage") or "<unknown>",
                info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]
    return row


def event_time(o: Obj) -> str | None:
    return (o.get("lastTimestamp") or o.get("eventTime") or o.get("firstTimestamp")
            or meta_of(o).get("creationTimestamp"))


def _event(o: Obj, wide: bool, at: datetime) -> list[str]:
    inv = o.get("involvedObject") or {}
    return [human_age(event_time(o), at), o.get("type") or "", o.get("reason") or "",
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", (o.get("message") or "").strip()]


def _csr_duration(seconds: Any) -> str:
    return human_duration(float(seconds)) if isinstance(seconds, int) and seconds > 0 else NONE


def _csr_condition(o: Obj) -> str:
    """kubectl's CONDITION: Approved/Denied/Failed joined by commas, ",Issued" once signed, else Pending."""
    types = [str(c.get("type")) for c in status_of(o).get("conditions") or [] if c.get("status", "True") == "True"]
    out = ",".join(types) or "Pending"
    return out + ",Issued" if status_of(o).get("certificate") else out


_CI = ["CONTAINERS", "IMAGES", "SELECTOR"]
LAYOUTS: dict[str, Layout] = {
    "Pod": Layout(["READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"], _pod),
    "Deployment": Layout(["READY", "UP-TO-DATE", "AVAILABLE", "AGE"], _CI, _deployment),
    "ReplicaSet": Layout(["DESIRED", "CURRENT", "READY", "AGE"], _CI, _replicaset),
    "ReplicationController": Layout(["DESIRED", "CURRENT", "READY", "AGE"], _CI, _replicationcontroller),
    "StatefulSet": Layout(["READY", "AGE"], _CI[:2], _statefulset),
    "DaemonSet": Layout(["DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"], _CI, _daemonset),
    "Job": Layout(["STATUS", "COMPLETIONS", "DURATION", "AGE"], _CI, _job),
    "CronJob": Layout(["SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"], _CI, _cronjob),
    "Service": Layout(["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"], _service),
    "Endpoints": Layout(["ENDPOINTS", "AGE"], [], with_age(format_endpoints)),
    "Node": Layout(["STATUS", "ROLES", "AGE", "VERSION"],
                   ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"], _node),
    "Namespace": Layout(["STATUS", "AGE"], [], with_age(lambda o: status_of(o).get("phase") or "Active")),
    "ConfigMap": Layout(["DATA", "AGE"], [], with_age(count_of("data", "binaryData"))),
    "Secret": Layout(["TYPE", "DATA", "AGE"], [], with_age(lambda o: o.get("type") or "Opaque",
                                                          count_of("data", "stringData"))),
    "Event": Layout(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], [], _event, name_header=""),
    "Lease": Layout(["HOLDER", "AGE"], [], with_age(lambda o: spec_of(o).get("holderIdentity") or "")),
    "CertificateSigningRequest": Layout(
        ["AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"], [],
        lambda o, wide, at: [human_age(meta_of(o).get("creationTimestamp"), at),
                             str(spec_of(o).get("signerName") or ""), str(spec_of(o).get("username") or ""),
                             _csr_duration(spec_of(o).get("expirationSeconds")), _csr_condition(o)]),
    "ServiceAccount": Layout(["SECRETS", "AGE"], [], with_age(lambda o: str(len(o.get("secrets") or [])))),
}
LAYOUTS.update(tables_storage.LAYOUTS)
LAYOUTS.update(tables_rbac.LAYOUTS)
LAYOUTS.update(tables_autoscaling.LAYOUTS)
GENERIC = Layout(["AGE"], [], with_age())


def table(kind: str, objects: list[Obj], *, wide: bool = False, all_namespaces: bool = False,
          show_labels: bool = False, at: datetime, name_prefix: str = "") -> tuple[list[str], list[list[str]]]:
    """Headers and rows for `objects` of one kind. `name_prefix` ("pod/") is used by `get all`."""
    layout = layout_for(kind)
    named = bool(layout.name_header)
    headers = (["NAMESPACE"] * all_namespaces + [layout.name_header] * named + layout.headers
               + (layout.wide if wide else []) + ["LABELS"] * show_labels)
    rows = []
    for o in objects:
        meta = meta_of(o)
        rows.append([str(meta.get("namespace") or "")] * all_namespaces + [name_prefix + layout.name_of(o)] * named
                    + layout.row(o, wide, at) + [labels_string(meta.get("labels"))] * show_labels)
    return headers, rows


def layout_for(kind: str) -> Layout:
    return LAYOUTS.get(kind, GENERIC)


__all__ = ["LAYOUTS", "NONE", "Layout", "access_modes", "controller_name", "format_selector", "human_age",
           "human_duration", "labels_string", "layout_for", "now", "parse_ts", "pod_columns", "table"]
