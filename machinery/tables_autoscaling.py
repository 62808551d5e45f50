"""Table layout of HorizontalPodAutoscaler as kubectl prints it (NAME REFERENCE TARGETS MINPODS
MAXPODS REPLICAS AGE; TARGETS like `cpu: 42%/80%`, at most two metrics then `+ N more...`);
machinery/tables.py merges `LAYOUTS` into its own."""

from __future__ import annotations

from machinery.tablecells import Layout, Obj, spec_of, status_of, with_age

LAYOUTS: dict[str, Layout] = {}


def _hpa_target(spec: Obj, status: Obj | None) -> str:
    """One metric of kubectl's TARGETS column: `cpu: 42%/80%`, `memory: <unknown>/64Mi`."""
    kind = "containerResource" if spec.get("type") == "ContainerResource" else "resource"
    src = spec.get(kind) or {}
    target = src.get("target") or {}
    current = ((status or {}).get(kind) or {}).get("current") or {}
    if target.get("type") in ("AverageValue", "Value"):
        want = target.get("averageValue") or target.get("value") or "<auto>"
        have = current.get("averageValue") or current.get("value") or "<unknown>"
    else:
        want = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
        have = f"{current['averageUtilization']}%" if current.get("averageUtilization") is not None else "<unknown>"
    return f"{src.get('name', '')}: {have}/{want}"


def hpa_targets(o: Obj) -> str:
    specs = spec_of(o).get("metrics") or []
    statuses = status_of(o).get("currentMetrics") or []
    cells = [_hpa_target(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(specs)]
    if not cells:
        return "<none>"
    return ", ".join(cells[:2]) + (f" + {len(cells) - 2} more..." if len(cells) > 2 else "")


def _reference(o: Obj) -> str:
    ref = spec_of(o).get("scaleTargetRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


LAYOUTS["HorizontalPodAutoscaler"] = Layout(
    ["REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"], [],
    with_age(_reference, hpa_targets, lambda o: str(spec_of(o).get("minReplicas", "<unset>")),
             lambda o: str(spec_of(o).get("maxReplicas", 0)), lambda o: str(status_of(o).get("currentReplicas") or 0)))
