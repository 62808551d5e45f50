"""Server-side table columns per kind: ONE definition for the API server's `as=Table`
answers and the CLI's `get` output.

Contract (everything works on plain JSON dicts as the server stores them, no models):
- `human_duration(s)`, `human_age(ts, at)`: kubectl's HumanDuration (5s, 3m2s, 4h, 2d).
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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from machinery.clock import parse_time

Obj = dict[str, Any]
NONE = "<none>"


def now() -> datetime:
    return datetime.now(UTC)


def parse_ts(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        dt = parse_time(value)
    except ValueError:
        return None
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def human_duration(seconds_f: float) -> str:
    """kubectl's duration.HumanDuration, to the same breakpoints."""
    seconds = int(seconds_f)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m" if seconds % 60 == 0 else f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def human_age(timestamp: Any, at: datetime | None = None) -> str:
    """Age of an RFC 3339 timestamp; `<unknown>` when absent, like kubectl."""
    ts = parse_ts(timestamp)
    if ts is None:
        return "<unknown>"
    return human_duration(((at or now()) - ts).total_seconds())


def labels_string(labels: dict[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _terminated_label(term: dict[str, Any], prefix: str = "") -> str:
    return (prefix + str(term["reason"]) if term.get("reason") else f"{prefix}Signal:{term['signal']}"
            if term.get("signal") else f"{prefix}ExitCode:{term.get('exitCode', 0)}")


def _condition_true(status: dict[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in status.get("conditions") or [])


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
            reason = _terminated_label(term, "Init:")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
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
                reason = _terminated_label(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    phase = status.get("phase")
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((at - last_restart).total_seconds())} ago)"
    return f"{ready}/{total}", reason or "Unknown", restarts_text


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def _status(o: Obj) -> Obj:
    return o.get("status") or {}


def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


_SELECTOR_OPS = {"In": "{k} in ({v})", "NotIn": "{k} notin ({v})", "Exists": "{k}", "DoesNotExist": "!{k}"}


def format_selector(sel: Obj | None) -> str:
    if not sel:
        return NONE
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        fmt = _SELECTOR_OPS.get(expr.get("operator", ""))
        if fmt is not None:
            parts.append(fmt.format(k=expr.get("key", ""), v=",".join(expr.get("values") or [])))
    return ",".join(parts) or NONE


def _containers_images(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def _template_spec(o: Obj) -> Obj:
    return ((_spec(o).get("template") or {}).get("spec")) or {}


def _wide_ci(o: Obj) -> list[str]:
    """CONTAINERS IMAGES SELECTOR of the workload kinds."""
    return [*_containers_images(_template_spec(o)), format_selector(_spec(o).get("selector"))]


def _pod(o: Obj, wide: bool, at: datetime) -> list[str]:
    ready, status, restarts = pod_columns(o, at)
    row = [ready, status, restarts, human_age(_meta(o).get("creationTimestamp"), at)]
    if wide:
        gates = _spec(o).get("readinessGates") or []
        conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        row += [_status(o).get("podIP") or NONE, _spec(o).get("nodeName") or NONE,
                _status(o).get("nominatedNodeName") or NONE, f"{ok}/{len(gates)}" if gates else NONE]
    return row


def _deployment(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = _status(o)
    row = [f"{_int(st.get('readyReplicas'))}/{_int(_spec(o).get('replicas'))}", str(_int(st.get("updatedReplicas"))),
           str(_int(st.get("availableReplicas"))), human_age(_meta(o).get("creationTimestamp"), at)]
    return row + (_wide_ci(o) if wide else [])


def _replicaset(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = _status(o)
    row = [str(_int(_spec(o).get("replicas"))), str(_int(st.get("replicas"))), str(_int(st.get("readyReplicas"))),
           human_age(_meta(o).get("creationTimestamp"), at)]
    return row + (_wide_ci(o) if wide else [])


def _replicationcontroller(o: Obj, wide: bool, at: datetime) -> list[str]:
    """As a ReplicaSet's row; the selector is a plain label map (kubectl's FormatLabels)."""
    row = _replicaset(o, False, at)
    if not wide:
        return row
    selector = _spec(o).get("selector") or {}
    return [*row, *_containers_images(_template_spec(o)), format_selector({"matchLabels": selector})]


def _statefulset(o: Obj, wide: bool, at: datetime) -> list[str]:
    row = [f"{_int(_status(o).get('readyReplicas'))}/{_int(_spec(o).get('replicas'))}",
           human_age(_meta(o).get("creationTimestamp"), at)]
    return row + (_containers_images(_template_spec(o)) if wide else [])


def _daemonset(o: Obj, wide: bool, at: datetime) -> list[str]:
    st = _status(o)
    node_sel = _template_spec(o).get("nodeSelector") or {}
    row = [str(_int(st.get(k))) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                          "updatedNumberScheduled", "numberAvailable")]
    row += [labels_string(node_sel), human_age(_meta(o).get("creationTimestamp"), at)]
    return row + (_wide_ci(o) if wide else [])


def _job_status(o: Obj) -> str:
    """kubectl's printJob STATUS: terminal conditions first, then Terminating, Suspended, interim."""
    conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
    for ctype in ("Complete", "Failed"):
        if conds.get(ctype) == "True":
            return ctype
    if _meta(o).get("deletionTimestamp"):
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if conds.get(ctype) == "True":
            return ctype
    return "Running"


def _job(o: Obj, wide: bool, at: datetime) -> list[str]:
    st, sp = _status(o), _spec(o)
    completions = sp.get("completions")
    parallelism = _int(sp.get("parallelism") if sp.get("parallelism") is not None else 1)
    succeeded = _int(st.get("succeeded"))
    comp = (f"{succeeded}/{completions}" if completions is not None
            else f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1")
    start, end = parse_ts(st.get("startTime")), parse_ts(st.get("completionTime"))
    duration = human_duration(((end or at) - start).total_seconds()) if start else ""
    row = [_job_status(o), comp, duration, human_age(_meta(o).get("creationTimestamp"), at)]
    return row + (_wide_ci(o) if wide else [])


def _cronjob(o: Obj, wide: bool, at: datetime) -> list[str]:
    st, sp = _status(o), _spec(o)
    last = st.get("lastScheduleTime")
    suspend = sp.get("suspend")
    row = [str(sp.get("schedule") or ""), sp.get("timeZone") or NONE,
           "<unset>" if suspend is None else str(bool(suspend)), str(len(st.get("active") or [])),
           human_age(last, at) if last else NONE, human_age(_meta(o).get("creationTimestamp"), at)]
    if wide:
        jspec = (sp.get("jobTemplate") or {}).get("spec") or {}
        row += [*_containers_images((jspec.get("template") or {}).get("spec") or {}),
                format_selector(jspec.get("selector"))]
    return row


def _service_ports(sp: Obj) -> str:
    out = [f"{p.get('port')}:{p['nodePort']}/{p.get('protocol') or 'TCP'}" if p.get("nodePort")
           else f"{p.get('port')}/{p.get('protocol') or 'TCP'}" for p in sp.get("ports") or []]
    return ",".join(out) or NONE


def _service(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp = _spec(o)
    stype = sp.get("type") or "ClusterIP"
    ingress = [i.get("ip") or i.get("hostname") or "" for i in (_status(o).get("loadBalancer") or {}).get("ingress") or []]
    external = ingress + list(sp.get("externalIPs") or [])
    ext = ((sp.get("externalName") or NONE) if stype == "ExternalName" else ",".join(external) if external
           else "<pending>" if stype == "LoadBalancer" else NONE)
    row = [stype, sp.get("clusterIP") or NONE, ext, _service_ports(sp), human_age(_meta(o).get("creationTimestamp"), at)]
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
    conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
    text = {"True": "Ready", "False": "NotReady"}.get(str(conds.get("Ready")), "Unknown")
    if _spec(o).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_roles(o: Obj) -> str:
    roles = set()
    for key, value in (_meta(o).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def _node_address(o: Obj, kind: str) -> str:
    return next((a.get("address", "") for a in _status(o).get("addresses") or [] if a.get("type") == kind), NONE)


def _node(o: Obj, wide: bool, at: datetime) -> list[str]:
    info = _status(o).get("nodeInfo") or {}
    row = [node_status(o), node_roles(o), human_age(_meta(o).get("creationTimestamp"), at),
           info.get("kubeletVersion") or ""]
    if wide:
        row += [_node_address(o, "InternalIP"), _node_address(o, "ExternalIP"), info.get("osImage") or "<unknown>",
                info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]
    return row


def event_time(o: Obj) -> str | None:
    return (o.get("lastTimestamp") or o.get("eventTime") or o.get("firstTimestamp")
            or _meta(o).get("creationTimestamp"))


def _event(o: Obj, wide: bool, at: datetime) -> list[str]:
    inv = o.get("involvedObject") or {}
    return [human_age(event_time(o), at), o.get("type") or "", o.get("reason") or "",
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", (o.get("message") or "").strip()]


def controller_name(o: Obj) -> str:
    """kubectl's CONTROLLER cell: `statefulset.apps/web` from the controller ownerReference."""
    for ref in _meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            kind = str(ref.get("kind") or "").lower()
            return f"{kind}.{group}/{ref.get('name', '')}" if group else f"{kind}/{ref.get('name', '')}"
    return NONE


def _with_age(*cells: Callable[[Obj], str]) -> Callable[[Obj, bool, datetime], list[str]]:
    """Row function of a kind whose columns are `cells` then AGE (no wide columns)."""
    return lambda o, wide, at: [c(o) for c in cells] + [human_age(_meta(o).get("creationTimestamp"), at)]


def _count(*fields: str) -> Callable[[Obj], str]:
    return lambda o: str(sum(len(o.get(f) or {}) for f in fields))


@dataclass(frozen=True)
class Layout:
    headers: list[str]
    wide: list[str]
    row: Callable[[Obj, bool, datetime], list[str]]
    name_header: str = "NAME"
    name_cell: Callable[[Obj], str] | None = None
    """The NAME cell when it is not just metadata.name (a default StorageClass: "x (default)")."""

    def name_of(self, o: Obj) -> str:
        return self.name_cell(o) if self.name_cell else str(_meta(o).get("name", ""))


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
    "Endpoints": Layout(["ENDPOINTS", "AGE"], [], _with_age(format_endpoints)),
    "Node": Layout(["STATUS", "ROLES", "AGE", "VERSION"],
                   ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"], _node),
    "Namespace": Layout(["STATUS", "AGE"], [], _with_age(lambda o: _status(o).get("phase") or "Active")),
    "ConfigMap": Layout(["DATA", "AGE"], [], _with_age(_count("data", "binaryData"))),
    "Secret": Layout(["TYPE", "DATA", "AGE"], [], _with_age(lambda o: o.get("type") or "Opaque",
                                                          _count("data", "stringData"))),
    "Event": Layout(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], [], _event, name_header=""),
    "Lease": Layout(["HOLDER", "AGE"], [], _with_age(lambda o: _spec(o).get("holderIdentity") or "")),
}
_ACCESS_ABBREV = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                  ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: list[str] | None) -> str:
    """kubectl's GetAccessModesAsString: RWO,ROX,RWX,RWOP in that order, each once."""
    have = set(modes or [])
    return ",".join(short for full, short in _ACCESS_ABBREV if full in have)


def _phase(o: Obj) -> str:
    return "Terminating" if _meta(o).get("deletionTimestamp") else str(_status(o).get("phase") or "")


def _pv(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp = _spec(o)
    ref = sp.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    row = [str((sp.get("capacity") or {}).get("storage") or ""), access_modes(sp.get("accessModes")),
           str(sp.get("persistentVolumeReclaimPolicy") or ""), _phase(o), claim,
           str(sp.get("storageClassName") or ""), str(sp.get("volumeAttributesClassName") or "<unset>"),
           str(_status(o).get("reason") or ""), human_age(_meta(o).get("creationTimestamp"), at)]
    return row + ([str(sp.get("volumeMode") or "<unset>")] if wide else [])


def _pvc(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp, st = _spec(o), _status(o)
    bound = bool(sp.get("volumeName"))
    row = [_phase(o), str(sp.get("volumeName") or ""),
           str((st.get("capacity") or {}).get("storage") or "") if bound else "",
           access_modes(st.get("accessModes")) if bound else "", str(sp.get("storageClassName") or ""),
           str(sp.get("volumeAttributesClassName") or "<unset>"), human_age(_meta(o).get("creationTimestamp"), at)]
    return row + ([str(sp.get("volumeMode") or "<unset>")] if wide else [])


def _storageclass_name(o: Obj) -> str:
    default = (_meta(o).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    return str(_meta(o).get("name", "")) + (" (default)" if default else "")


LAYOUTS["PersistentVolume"] = Layout(
    ["CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS",
     "REASON", "AGE"], ["VOLUMEMODE"], _pv)
LAYOUTS["PersistentVolumeClaim"] = Layout(
    ["STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
    ["VOLUMEMODE"], _pvc)
LAYOUTS["StorageClass"] = Layout(
    ["PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"], [],
    _with_age(lambda o: str(o.get("provisioner") or ""), lambda o: str(o.get("reclaimPolicy") or "Delete"),
              lambda o: str(o.get("volumeBindingMode") or "Immediate"),
              lambda o: "true" if o.get("allowVolumeExpansion") else "false"),
    name_cell=_storageclass_name)
LAYOUTS["ControllerRevision"] = Layout(["CONTROLLER", "REVISION", "AGE"], [], _with_age(
    lambda o: controller_name(o), lambda o: str(o.get("revision") or 0)))
LAYOUTS["LimitRange"] = Layout(["CREATED AT"], [], lambda o, wide, at: [str(_meta(o).get("creationTimestamp") or "")])


def _quota(o: Obj, wide: bool, at: datetime) -> list[str]:
    """AGE, REQUEST (`pods: 1/3, requests.cpu: 0/1`), LIMIT (the limits.* ones), as kubectl."""
    hard = _status(o).get("hard") or {}
    used = _status(o).get("used") or {}
    cells = {n: f"{n}: {used.get(n, '0')}/{hard[n]}" for n in sorted(hard)}
    request = ", ".join(v for n, v in cells.items() if not n.startswith("limits."))
    limit = ", ".join(v for n, v in cells.items() if n.startswith("limits."))
    return [human_age(_meta(o).get("creationTimestamp"), at), request, limit]


LAYOUTS["PodDisruptionBudget"] = Layout(["MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"], [], _with_age(
    lambda o: str(_spec(o).get("minAvailable", "N/A")), lambda o: str(_spec(o).get("maxUnavailable", "N/A")),
    lambda o: str(_status(o).get("disruptionsAllowed") or 0)))
LAYOUTS["ResourceQuota"] = Layout(["AGE", "REQUEST", "LIMIT"], [], _quota)
GENERIC = Layout(["AGE"], [], _with_age())


def table(kind: str, objects: list[Obj], *, wide: bool = False, all_namespaces: bool = False,
          show_labels: bool = False, at: datetime, name_prefix: str = "") -> tuple[list[str], list[list[str]]]:
    """Headers and rows for `objects` of one kind. `name_prefix` ("pod/") is used by `get all`."""
    layout = layout_for(kind)
    named = bool(layout.name_header)
    headers = (["NAMESPACE"] * all_namespaces + [layout.name_header] * named + layout.headers
               + (layout.wide if wide else []) + ["LABELS"] * show_labels)
    rows = []
    for o in objects:
        meta = _meta(o)
        rows.append([str(meta.get("namespace") or "")] * all_namespaces + [name_prefix + layout.name_of(o)] * named
                    + layout.row(o, wide, at) + [labels_string(meta.get("labels"))] * show_labels)
    return headers, rows


def layout_for(kind: str) -> Layout:
    return LAYOUTS.get(kind, GENERIC)
