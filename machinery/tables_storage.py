"""Table layouts of the storage and policy kinds (PersistentVolume, PersistentVolumeClaim,
StorageClass, ControllerRevision, LimitRange, ResourceQuota, PodDisruptionBudget, NetworkPolicy), as kubectl
prints them; machinery/tables.py merges `LAYOUTS` into its own."""

from __future__ import annotations

from datetime import datetime

from machinery.tablecells import (
    Layout,
    Obj,
    access_modes,
    controller_name,
    format_selector,
    human_age,
    meta_of,
    phase_cell,
    spec_of,
    status_of,
    with_age,
)

LAYOUTS: dict[str, Layout] = {}


def _pv(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp = spec_of(o)
    ref = sp.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    row = [str((sp.get("capacity") or {}).get("storage") or ""), access_modes(sp.get("accessModes")),
           str(sp.get("persistentVolumeReclaimPolicy") or ""), phase_cell(o), claim,
           str(sp.get("storageClassName") or ""), str(sp.get("volumeAttributesClassName") or "<unset>"),
           str(status_of(o).get("reason") or ""), human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + ([str(sp.get("volumeMode") or "<unset>")] if wide else [])


def _pvc(o: Obj, wide: bool, at: datetime) -> list[str]:
    sp, st = spec_of(o), status_of(o)
    bound = bool(sp.get("volumeName"))
    row = [phase_cell(o), str(sp.get("volumeName") or ""),
           str((st.get("capacity") or {}).get("storage") or "") if bound else "",
           access_modes(st.get("accessModes")) if bound else "", str(sp.get("storageClassName") or ""),
           str(sp.get("volumeAttributesClassName") or "<unset>"), human_age(meta_of(o).get("creationTimestamp"), at)]
    return row + ([str(sp.get("volumeMode") or "<unset>")] if wide else [])


def _storageclass_name(o: Obj) -> str:
    default = (meta_of(o).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    return str(meta_of(o).get("name", "")) + (" (default)" if default else "")


LAYOUTS["PersistentVolume"] = Layout(
    ["CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS",
     "REASON", "AGE"], ["VOLUMEMODE"], _pv)
LAYOUTS["PersistentVolumeClaim"] = Layout(
    ["STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"],
    ["VOLUMEMODE"], _pvc)
LAYOUTS["StorageClass"] = Layout(
    ["PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"], [],
    with_age(lambda o: str(o.get("provisioner") or ""), lambda o: str(o.get("reclaimPolicy") or "Delete"),
              lambda o: str(o.get("volumeBindingMode") or "Immediate"),
              lambda o: "true" if o.get("allowVolumeExpansion") else "false"),
    name_cell=_storageclass_name)
LAYOUTS["ControllerRevision"] = Layout(["CONTROLLER", "REVISION", "AGE"], [], with_age(
    lambda o: controller_name(o), lambda o: str(o.get("revision") or 0)))
LAYOUTS["LimitRange"] = Layout(["CREATED AT"], [], lambda o, wide, at: [str(meta_of(o).get("creationTimestamp") or "")])


def _quota(o: Obj, wide: bool, at: datetime) -> list[str]:
    """AGE, REQUEST (`pods: 1/3, requests.cpu: 0/1`), LIMIT (the limits.* ones), as kubectl."""
    hard = status_of(o).get("hard") or {}
    used = status_of(o).get("used") or {}
    cells = {n: f"{n}: {used.get(n, '0')}/{hard[n]}" for n in sorted(hard)}
    request = ", ".join(v for n, v in cells.items() if not n.startswith("limits."))
    limit = ", ".join(v for n, v in cells.items() if n.startswith("limits."))
    return [human_age(meta_of(o).get("creationTimestamp"), at), request, limit]


LAYOUTS["PodDisruptionBudget"] = Layout(["MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"], [], with_age(
    lambda o: str(spec_of(o).get("minAvailable", "N/A")), lambda o: str(spec_of(o).get("maxUnavailable", "N/A")),
    lambda o: str(status_of(o).get("disruptionsAllowed") or 0)))
LAYOUTS["ResourceQuota"] = Layout(["AGE", "REQUEST", "LIMIT"], [], _quota)
# kubectl: POD-SELECTOR is metav1.FormatLabelSelector of spec.podSelector ("<none>" when empty)
LAYOUTS["NetworkPolicy"] = Layout(["POD-SELECTOR", "AGE"], [], with_age(lambda o: format_selector(spec_of(o).get("podSelector"))))


def _slice_ports(o: Obj) -> str:
    ports = o.get("ports") or []
    if not ports:
        return "<unset>"
    cells = [str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports]
    return ",".join(cells[:3]) + (f" + {len(cells) - 3} more..." if len(cells) > 3 else "")


def _slice_endpoints(o: Obj) -> str:
    addrs = [a for ep in o.get("endpoints") or [] for a in ep.get("addresses") or []]
    if not addrs:
        return "<unset>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


# kubectl's printEndpointSlice: NAME ADDRESSTYPE PORTS ENDPOINTS AGE.
LAYOUTS["EndpointSlice"] = Layout(["ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], [], with_age(
    lambda o: str(o.get("addressType") or ""), _slice_ports, _slice_endpoints))
