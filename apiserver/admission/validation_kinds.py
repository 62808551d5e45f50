"""Validation of the non-workload kinds: Service, Endpoints, ConfigMap, Secret, Node, Lease,
Binding, Scale, CronJob (validation_batch.py), and their update rules (Service clusterIP, immutable ConfigMaps/Secrets).

Contract: `validate_kind(errs, obj)` and `validate_kind_update(errs, new, old)` append
Kubernetes causes for the kinds above and do nothing for other kinds.
"""

from __future__ import annotations

import base64
import binascii

from apiserver.admission.validation_batch import validate_cronjob
from apiserver.admission.validation_common import (
    Errs,
    cidr_errors,
    config_key_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    ip_errors,
    port_name_errors,
)
from apiserver.admission.validation_pod import PROTOCOLS, TAINT_EFFECTS
from machinery.meta import Resource, parse_time
from machinery.models import (
    Binding,
    ConfigMap,
    CronJob,
    Endpoints,
    Lease,
    Node,
    Scale,
    Secret,
    Service,
)
from machinery.selectors import label_key_errors, label_value_errors

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)
MAX_CONFIG_BYTES = 1024 * 1024
_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
}


def _validate_service(errs: Errs, svc: Service) -> None:  # noqa: C901 - a flat list of Kubernetes field checks
    spec = svc.spec
    if spec is None:
        errs.required("spec")
        return
    errs.enum("spec.type", spec.type, SERVICE_TYPES)
    headless = spec.clusterIP == "None"
    if spec.type == "ExternalName":
        if not spec.externalName:
            errs.required("spec.externalName")
        else:
            for why in dns1123_subdomain_errors(spec.externalName.rstrip(".")):
                errs.invalid("spec.externalName", spec.externalName, why)
        if spec.clusterIP and spec.clusterIP != "None":
            errs.forbidden("spec.clusterIP", "may not be set for ExternalName services")
    elif not spec.ports and not headless:
        errs.required("spec.ports")
    if spec.clusterIP and spec.clusterIP != "None" and spec.clusterIP != "":
        for why in ip_errors(spec.clusterIP):
            errs.invalid("spec.clusterIP", spec.clusterIP, why)
    if headless and spec.type in ("NodePort", "LoadBalancer"):
        errs.invalid("spec.clusterIP", "None", f"may not be set to 'None' for {spec.type} services")
    errs.enum("spec.sessionAffinity", spec.sessionAffinity, ("ClientIP", "None"))
    errs.enum("spec.internalTrafficPolicy", spec.internalTrafficPolicy, ("Cluster", "Local"))
    errs.enum("spec.externalTrafficPolicy", spec.externalTrafficPolicy, ("Cluster", "Local"))
    if spec.externalTrafficPolicy and spec.type not in ("NodePort", "LoadBalancer"):
        errs.invalid("spec.externalTrafficPolicy", spec.externalTrafficPolicy,
                     "may only be set when `type` is 'NodePort' or 'LoadBalancer'")
    errs.labels("spec.selector", spec.selector)
    names: set[str] = set()
    ports = spec.ports or []
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if not port.name:
            if len(ports) > 1:
                errs.required(f"{path}.name")
        else:
            # DNS-1123 (a leading digit is fine): kubectl's `create service --tcp=80:8080`
            # names its port "80-8080" (Kubernetes' validateServicePort).
            for why in dns1123_label_errors(port.name):
                errs.invalid(f"{path}.name", port.name, why)
            if port.name in names:
                errs.duplicate(f"{path}.name", port.name)
            names.add(port.name)
        errs.port_range(f"{path}.port", port.port)
        errs.enum(f"{path}.protocol", port.protocol, PROTOCOLS)
        if isinstance(port.targetPort, int):
            errs.port_range(f"{path}.targetPort", port.targetPort)
        elif port.targetPort is not None:
            for why in port_name_errors(port.targetPort):
                errs.invalid(f"{path}.targetPort", port.targetPort, why)
        if port.nodePort:
            if spec.type not in ("NodePort", "LoadBalancer"):
                errs.forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.type}'")
            elif not NODE_PORT_RANGE[0] <= port.nodePort <= NODE_PORT_RANGE[1]:
                errs.invalid(f"{path}.nodePort", port.nodePort, "provided port is not in the valid range. "
                             f"The range of valid ports is {NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}")


def _validate_endpoints(errs: Errs, ep: Endpoints) -> None:
    for i, subset in enumerate(ep.subsets or []):
        path = f"subsets[{i}]"
        for kind in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(getattr(subset, kind) or []):
                for why in ip_errors(addr.ip):
                    errs.invalid(f"{path}.{kind}[{j}].ip", addr.ip, why)
        for j, port in enumerate(subset.ports or []):
            errs.port_range(f"{path}.ports[{j}].port", port.port)
            errs.enum(f"{path}.ports[{j}].protocol", port.protocol, PROTOCOLS)


def _validate_config_data(errs: Errs, data: dict[str, str] | None, binary: dict[str, str] | None,
                          data_field: str, binary_field: str | None) -> None:
    total = 0
    for key, value in (data or {}).items():
        for why in config_key_errors(key):
            errs.invalid(f"{data_field}[{key}]", key, why)
        total += len(value)
    for key, value in (binary or {}).items():
        for why in config_key_errors(key):
            errs.invalid(f"{binary_field}[{key}]", key, why)
        if key in (data or {}):
            errs.invalid(f"{binary_field}[{key}]", key, "duplicate of key present in data")
        total += len(value)
    if total > MAX_CONFIG_BYTES:
        errs.too_long(data_field, MAX_CONFIG_BYTES)


def _validate_base64(errs: Errs, field: str, value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errs.invalid(field, "<value omitted>", "illegal base64 data")


def _validate_secret(errs: Errs, secret: Secret) -> None:
    _validate_config_data(errs, secret.data, None, "data", None)
    for key, value in (secret.data or {}).items():
        _validate_base64(errs, f"data[{key}]", value)
    for key in secret.stringData or {}:
        for why in config_key_errors(key):
            errs.invalid(f"stringData[{key}]", key, why)
    keys = set(secret.data or {}) | set(secret.stringData or {})
    for required in _SECRET_REQUIRED_KEYS.get(secret.type or "", ()):
        if required not in keys:
            errs.required(f"data[{required}]")


def _validate_node(errs: Errs, node: Node) -> None:
    spec = node.spec
    if spec is None:
        return
    for why in cidr_errors(spec.podCIDR) if spec.podCIDR else []:
        errs.invalid("spec.podCIDR", spec.podCIDR, why)
    for i, cidr in enumerate(spec.podCIDRs or []):
        for why in cidr_errors(cidr):
            errs.invalid(f"spec.podCIDRs[{i}]", cidr, why)
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(spec.taints or []):
        path = f"spec.taints[{i}]"
        for why in label_key_errors(taint.key):
            errs.invalid(f"{path}.key", taint.key, why)
        for why in label_value_errors(taint.value or ""):
            errs.invalid(f"{path}.value", taint.value, why)
        errs.enum(f"{path}.effect", taint.effect, TAINT_EFFECTS, required=True)
        if (taint.key, taint.effect) in seen:
            errs.duplicate(path, f"{taint.key}:{taint.effect}")
        seen.add((taint.key, taint.effect))


def _validate_time(errs: Errs, field: str, value: str | None) -> None:
    if value is None:
        return
    try:
        parse_time(value)
    except ValueError:
        errs.invalid(field, value, "must be an RFC 3339 timestamp (e.g. 2006-01-02T15:04:05.000000Z)")


def _validate_lease(errs: Errs, lease: Lease) -> None:
    spec = lease.spec
    if spec is None:
        return
    errs.min_value("spec.leaseDurationSeconds", spec.leaseDurationSeconds, 1)
    errs.min_value("spec.leaseTransitions", spec.leaseTransitions, 0)
    _validate_time(errs, "spec.acquireTime", spec.acquireTime)
    _validate_time(errs, "spec.renewTime", spec.renewTime)


def validate_kind(errs: Errs, obj: Resource) -> None:
    """The per-kind rules of the kinds in this module."""
    if isinstance(obj, Service):
        _validate_service(errs, obj)
    elif isinstance(obj, Endpoints):
        _validate_endpoints(errs, obj)
    elif isinstance(obj, ConfigMap):
        _validate_config_data(errs, obj.data, obj.binaryData, "data", "binaryData")
        for key, value in (obj.binaryData or {}).items():
            _validate_base64(errs, f"binaryData[{key}]", value)
    elif isinstance(obj, Secret):
        _validate_secret(errs, obj)
    elif isinstance(obj, Node):
        _validate_node(errs, obj)
    elif isinstance(obj, Lease):
        _validate_lease(errs, obj)
    elif isinstance(obj, Binding):
        if not obj.target.name:
            errs.required("target.name")
        if obj.target.kind not in (None, "", "Node"):
            errs.not_supported("target.kind", obj.target.kind, ("Node",))
    elif isinstance(obj, Scale):
        errs.min_value("spec.replicas", obj.spec.replicas if obj.spec else None, 0)
    elif isinstance(obj, CronJob):
        validate_cronjob(errs, obj)


def _node_cidrs(node: Node) -> list[str]:
    spec = node.spec
    if spec is None:
        return []
    return list(spec.podCIDRs or ([spec.podCIDR] if spec.podCIDR else []))


def _validate_node_update(errs: Errs, new: Node, old: Node) -> None:
    """As Kubernetes' ValidateNodeUpdate: a pod CIDR, once set, never changes (node IPAM and
    the kubelet's pod network rely on it)."""
    old_cidrs = _node_cidrs(old)
    if old_cidrs and _node_cidrs(new) != old_cidrs:
        errs.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid')


def validate_kind_update(errs: Errs, new: Resource, old: Resource) -> None:
    """Update rules: Service clusterIP/type, immutable ConfigMaps and Secrets, a Node's pod CIDRs."""
    if isinstance(new, Node) and isinstance(old, Node):
        _validate_node_update(errs, new, old)
    if isinstance(new, Service) and isinstance(old, Service) and new.spec and old.spec:
        old_ip, new_ip = old.spec.clusterIP, new.spec.clusterIP
        to_or_from_external = "ExternalName" in (new.spec.type, old.spec.type)
        # An omitted clusterIP is filled from the old one by the server; only a different
        # value is a change.
        if old_ip and new_ip and new_ip != old_ip and not to_or_from_external:
            errs.invalid("spec.clusterIP", new_ip, "field is immutable")
    if isinstance(new, ConfigMap | Secret) and isinstance(old, ConfigMap | Secret) and old.immutable:
        if not new.immutable:
            errs.forbidden("immutable", "field is immutable when `immutable` is set")
        new_data = {"data": new.data, "binaryData": getattr(new, "binaryData", None)}
        old_data = {"data": old.data, "binaryData": getattr(old, "binaryData", None)}
        if isinstance(new, Secret) and isinstance(old, Secret):
            new_data["stringData"] = new.stringData
            old_data["stringData"] = old.stringData
        if new_data != old_data:
            errs.forbidden("data", "field is immutable when `immutable` is set")


__all__ = ["SERVICE_TYPES", "validate_kind", "validate_kind_update"]
