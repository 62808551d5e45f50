"""`describe networkpolicy`: kubectl's describeNetworkPolicy layout (field order and wording).

Contract: `describe_networkpolicy(w, obj, related)` writes Name, Namespace, Created on
(Go's time String form), Labels, Annotations, then `Spec:` with the pod selector, each
direction's rules ("To Port: 80/TCP", "To Port Range: 80-90/TCP", "From:" peers, "----------" between rules, or kubectl's
"<none> (Selected pods are isolated ...)" / "Not affecting ... traffic") and the policy types.
"""

from __future__ import annotations

from typing import Any

from cli.describe_writer import NONE, Writer
from cli.printers import parse_ts
from machinery.tables import format_selector

Obj = dict[str, Any]
INDENT = "    "


def _created(value: Any) -> str:
    ts = parse_ts(value)
    return ts.strftime("%Y-%m-%d %H:%M:%S +0000 UTC") if ts else NONE


def _port(p: Obj) -> str:
    """kubectl: `To Port: 80/TCP`, with an endPort `To Port Range: 80-90/TCP`."""
    proto = p.get("protocol") or "TCP"
    port = p.get("port")
    shown = "<nil>" if port is None else str(port)
    if p.get("endPort") is not None:
        return f"To Port Range: {shown}-{p['endPort']}/{proto}"
    return f"To Port: {shown}/{proto}"


def _peer(w: Writer, peer: Obj) -> None:
    pod, ns, block = peer.get("podSelector"), peer.get("namespaceSelector"), peer.get("ipBlock")
    if ns is not None:
        w.text(1, f"{INDENT}NamespaceSelector: {format_selector(ns)}")
    if pod is not None:
        w.text(1, f"{INDENT}PodSelector: {format_selector(pod)}")
    if pod is None and ns is None and block is not None:
        w.text(1, f"{INDENT}IPBlock:")
        w.text(2, f"{INDENT}CIDR: {block.get('cidr', '')}")
        w.text(2, f"{INDENT}Except: {', '.join(block.get('except') or [])}")


def _rules(w: Writer, rules: list[Obj], *, ingress: bool) -> None:
    peers_key, label = ("from", "From") if ingress else ("to", "To")
    if not rules:
        w.text(0, f"{INDENT}<none> (Selected pods are isolated for {'ingress' if ingress else 'egress'} connectivity)")
        return
    for i, rule in enumerate(rules):
        ports = rule.get("ports") or []
        if not ports:
            w.text(0, f"{INDENT}To Port: <any> (traffic allowed to all ports)")
        for p in ports:
            w.text(0, f"{INDENT}{_port(p)}")
        peers = rule.get(peers_key) or []
        if not peers:
            what = "source" if ingress else "destination"
            w.text(0, f"{INDENT}{label}: <any> (traffic not restricted by {what})")
        for peer in peers:
            w.text(0, f"{INDENT}{label}:")
            _peer(w, peer)
        if i != len(rules) - 1:
            w.text(0, f"{INDENT}----------")


def describe_networkpolicy(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    meta, spec = o.get("metadata") or {}, o.get("spec") or {}
    w.line(0, "Name", meta.get("name", ""))
    w.line(0, "Namespace", meta.get("namespace", ""))
    w.line(0, "Created on", _created(meta.get("creationTimestamp")))
    w.labels(0, "Labels", meta.get("labels"))
    w.labels(0, "Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                if k != "kubectl.kubernetes.io/last-applied-configuration"}, sep=": ")
    w.text(0, "Spec:")
    selector = spec.get("podSelector") or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        w.text(1, "PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)")
    else:
        w.text(1, f"PodSelector:     {format_selector(selector)}")
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
    for direction, key in (("Ingress", "ingress"), ("Egress", "egress")):
        if direction in types:
            w.text(1, f"Allowing {key} traffic:")
            _rules(w, spec.get(key) or [], ingress=direction == "Ingress")
        else:
            w.text(1, f"Not affecting {key} traffic")
    w.text(1, f"Policy Types: {', '.join(types)}")


NETWORKING_DESCRIBERS = {"NetworkPolicy": describe_networkpolicy}

__all__ = ["NETWORKING_DESCRIBERS", "describe_networkpolicy"]
