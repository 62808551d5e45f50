"""Validation of PodSpec (pods and pod templates) and of pod updates.

Contract: `validate_pod_spec(errs, spec, path, restart_policies=...)` appends Kubernetes
causes for everything wrong in `spec` (containers, ports, env, resources, probes, volumes,
scheduling constraints); `validate_pod_update(errs, new, old)` forbids changing a pod's spec
except container images, activeDeadlineSeconds (set or lowered), additions to tolerations and
terminationGracePeriodSeconds, as Kubernetes does.
"""

from __future__ import annotations

from collections.abc import Sequence

from apiserver.admission.validation_common import (
    Errs,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    ip_errors,
    port_name_errors,
)
from machinery.models import (
    Container,
    EnvVar,
    NodeSelectorTerm,
    PodSpec,
    Probe,
    ResourceRequirements,
    Volume,
    VolumeMount,
)
from machinery.quantity import parse_quantity

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PROTOCOLS = ("TCP", "UDP", "SCTP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NODE_OPS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
_STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)


def _validate_probe(errs: Errs, probe: Probe | None, path: str, *, success_must_be_one: bool) -> None:
    if probe is None:
        return
    handlers = probe.handlers()
    if not handlers:
        errs.required(path, "must specify a handler type")
    elif len(handlers) > 1:
        errs.forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type")
    errs.min_value(f"{path}.initialDelaySeconds", probe.initialDelaySeconds, 0)
    for name in ("timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs.min_value(f"{path}.{name}", getattr(probe, name), 1)
    if success_must_be_one and probe.successThreshold not in (None, 1):
        errs.invalid(f"{path}.successThreshold", probe.successThreshold, "must be 1")
    if probe.terminationGracePeriodSeconds is not None:
        errs.min_value(f"{path}.terminationGracePeriodSeconds", probe.terminationGracePeriodSeconds, 1)
    if probe.httpGet is not None:
        _validate_probe_port(errs, probe.httpGet.port, f"{path}.httpGet.port")
        errs.enum(f"{path}.httpGet.scheme", probe.httpGet.scheme, ("HTTP", "HTTPS"))
    if probe.tcpSocket is not None:
        _validate_probe_port(errs, probe.tcpSocket.port, f"{path}.tcpSocket.port")
    if probe.exec is not None and not probe.exec.command:
        errs.required(f"{path}.exec.command")


def _validate_probe_port(errs: Errs, port: int | str, path: str) -> None:
    if isinstance(port, int):
        errs.port_range(path, port)
    else:
        for why in port_name_errors(port):
            errs.invalid(path, port, why)


def _validate_resources(errs: Errs, res: ResourceRequirements | None, path: str) -> None:
    if res is None:
        return
    parsed: dict[str, dict[str, object]] = {}
    for kind in ("limits", "requests"):
        values: dict[str, object] = {}
        for name, value in (getattr(res, kind) or {}).items():
            field = f"{path}.{kind}[{name}]"
            if "/" not in name and name not in _STANDARD_RESOURCES and not name.startswith("hugepages-"):
                errs.invalid(field, name, "must be a standard resource for containers")
            try:
                quantity = parse_quantity(value)
            except ValueError as exc:
                errs.invalid(field, value, str(exc))
                continue
            if quantity < 0:
                errs.invalid(field, value, "must be greater than or equal to 0")
                continue
            values[name] = quantity
        parsed[kind] = values
    limits, requests = parsed.get("limits", {}), parsed.get("requests", {})
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is not None and request > limit:  # type: ignore[operator]
            raw_limit = (res.limits or {})[name]
            errs.invalid(f"{path}.requests[{name}]", (res.requests or {})[name],
                         f"must be less than or equal to {name} limit of {raw_limit}")


def _validate_container(errs: Errs, c: Container, path: str, volumes: set[str], *, init: bool) -> None:  # noqa: C901 - a flat list of Kubernetes field checks
    if not c.name:
        errs.required(f"{path}.name")
    else:
        for why in dns1123_label_errors(c.name):
            errs.invalid(f"{path}.name", c.name, why)
    if not c.image:
        errs.required(f"{path}.image")
    elif c.image != c.image.strip():
        errs.invalid(f"{path}.image", c.image, "must not have leading or trailing whitespace")
    errs.enum(f"{path}.imagePullPolicy", c.imagePullPolicy, PULL_POLICIES)
    errs.enum(f"{path}.terminationMessagePolicy", c.terminationMessagePolicy, ("File", "FallbackToLogsOnError"))
    port_names: set[str] = set()
    for i, port in enumerate(c.ports or []):
        ppath = f"{path}.ports[{i}]"
        errs.port_range(f"{ppath}.containerPort", port.containerPort)
        if port.hostPort is not None:
            errs.port_range(f"{ppath}.hostPort", port.hostPort, allow_zero=True)
        errs.enum(f"{ppath}.protocol", port.protocol, PROTOCOLS)
        if port.name:
            for why in port_name_errors(port.name):
                errs.invalid(f"{ppath}.name", port.name, why)
            if port.name in port_names:
                errs.duplicate(f"{ppath}.name", port.name)
            port_names.add(port.name)
    for i, env in enumerate(c.env or []):
        epath = f"{path}.env[{i}]"
        if not env.name:
            errs.required(f"{epath}.name")
        elif "=" in env.name:
            errs.invalid(f"{epath}.name", env.name, "a valid environment variable name must consist "
                         "of printable ASCII characters other than '='")
        if env.valueFrom is not None:
            sources = [n for n in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                       if getattr(env.valueFrom, n) is not None]
            if not sources:
                errs.required(f"{epath}.valueFrom", "must specify one of: `fieldRef`, "
                              "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")
            elif len(sources) > 1:
                errs.invalid(f"{epath}.valueFrom", "", "may not have more than one field specified at a time")
            if env.value:
                errs.invalid(f"{epath}.valueFrom", "", "may not be specified when `value` is not empty")
    _validate_resources(errs, c.resources, f"{path}.resources")
    mount_paths: set[str] = set()
    for i, mount in enumerate(c.volumeMounts or []):
        mpath = f"{path}.volumeMounts[{i}]"
        if not mount.name:
            errs.required(f"{mpath}.name")
        elif mount.name not in volumes:
            errs.not_found(f"{mpath}.name", mount.name)
        if not mount.mountPath:
            errs.required(f"{mpath}.mountPath")
        elif mount.mountPath in mount_paths:
            errs.invalid(f"{mpath}.mountPath", mount.mountPath, "must be unique")
        mount_paths.add(mount.mountPath)
    if init:
        for name in ("livenessProbe", "readinessProbe", "startupProbe"):
            if getattr(c, name) is not None and c.restartPolicy != "Always":
                errs.forbidden(f"{path}.{name}", "may not be set for init containers without restartPolicy=Always")
    _validate_probe(errs, c.livenessProbe, f"{path}.livenessProbe", success_must_be_one=True)
    _validate_probe(errs, c.readinessProbe, f"{path}.readinessProbe", success_must_be_one=False)
    _validate_probe(errs, c.startupProbe, f"{path}.startupProbe", success_must_be_one=True)


def _validate_volumes(errs: Errs, spec: PodSpec, path: str) -> set[str]:
    names: set[str] = set()
    for i, vol in enumerate(spec.volumes or []):
        vpath = f"{path}.volumes[{i}]"
        if not vol.name:
            errs.required(f"{vpath}.name")
        else:
            for why in dns1123_label_errors(vol.name):
                errs.invalid(f"{vpath}.name", vol.name, why)
            if vol.name in names:
                errs.duplicate(f"{vpath}.name", vol.name)
            names.add(vol.name)
        sources = vol.sources()
        if not sources:
            errs.required(vpath, "must specify a volume type")
        elif len(sources) > 1:
            errs.forbidden(f"{vpath}.{sources[1]}", "may not specify more than 1 volume type")
        if vol.hostPath is not None and not vol.hostPath.path:
            errs.required(f"{vpath}.hostPath.path")
        if vol.configMap is not None and not vol.configMap.name:
            errs.required(f"{vpath}.configMap.name")
        if vol.secret is not None and not vol.secret.secretName:
            errs.required(f"{vpath}.secret.secretName")
    return names


def _validate_node_term(errs: Errs, term: NodeSelectorTerm, path: str) -> None:
    for kind in ("matchExpressions", "matchFields"):
        for i, req in enumerate(getattr(term, kind) or []):
            rpath = f"{path}.{kind}[{i}]"
            errs.enum(f"{rpath}.operator", req.operator, _NODE_OPS, required=True)
            values = req.values or []
            if req.operator in ("In", "NotIn") and not values:
                errs.required(f"{rpath}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            elif req.operator in ("Exists", "DoesNotExist") and values:
                errs.forbidden(f"{rpath}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            elif req.operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
                errs.required(f"{rpath}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")


def _validate_scheduling(errs: Errs, spec: PodSpec, path: str) -> None:
    errs.labels(f"{path}.nodeSelector", spec.nodeSelector)
    for i, tol in enumerate(spec.tolerations or []):
        tpath = f"{path}.tolerations[{i}]"
        errs.enum(f"{tpath}.operator", tol.operator, ("Exists", "Equal"))
        if not tol.key and tol.operator != "Exists":
            errs.invalid(f"{tpath}.operator", tol.operator or "", "operator must be Exists when `key` is "
                         'empty, which means "match all values and all keys"')
        if tol.operator == "Exists" and tol.value:
            errs.invalid(f"{tpath}.operator", tol.value, "value must be empty when `operator` is 'Exists'")
        errs.enum(f"{tpath}.effect", tol.effect, TAINT_EFFECTS)
        if tol.tolerationSeconds is not None and tol.effect != "NoExecute":
            errs.invalid(f"{tpath}.effect", tol.effect or "",
                         "effect must be 'NoExecute' when `tolerationSeconds` is set")
    node_aff = spec.affinity.nodeAffinity if spec.affinity else None
    if node_aff is not None:
        apath = f"{path}.affinity.nodeAffinity"
        required = node_aff.requiredDuringSchedulingIgnoredDuringExecution
        if required is not None:
            rpath = f"{apath}.requiredDuringSchedulingIgnoredDuringExecution"
            if not required.nodeSelectorTerms:
                errs.required(f"{rpath}.nodeSelectorTerms", "must have at least one node selector term")
            for i, term in enumerate(required.nodeSelectorTerms):
                _validate_node_term(errs, term, f"{rpath}.nodeSelectorTerms[{i}]")
        for i, pref in enumerate(node_aff.preferredDuringSchedulingIgnoredDuringExecution or []):
            ppath = f"{apath}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            if not 1 <= pref.weight <= 100:
                errs.invalid(f"{ppath}.weight", pref.weight, "must be in the range 1-100")
            _validate_node_term(errs, pref.preference, f"{ppath}.preference")


def validate_pod_spec(errs: Errs, spec: PodSpec, path: str,  # noqa: C901 - a flat list of Kubernetes field checks
                      restart_policies: Sequence[str] = RESTART_POLICIES) -> None:
    """All PodSpec rules; `restart_policies` narrows the allowed restartPolicy (templates)."""
    volumes = _validate_volumes(errs, spec, path)
    if not spec.containers:
        errs.required(f"{path}.containers")
    seen: set[str] = set()
    for kind, containers in (("initContainers", spec.initContainers or []), ("containers", spec.containers)):
        for i, c in enumerate(containers):
            _validate_container(errs, c, f"{path}.{kind}[{i}]", volumes, init=kind == "initContainers")
            if c.name in seen:
                errs.duplicate(f"{path}.{kind}[{i}].name", c.name)
            seen.add(c.name)
    errs.enum(f"{path}.restartPolicy", spec.restartPolicy, restart_policies, required=True)
    errs.enum(f"{path}.dnsPolicy", spec.dnsPolicy, DNS_POLICIES)
    if spec.dnsPolicy == "None" and not (spec.dnsConfig and spec.dnsConfig.nameservers):
        errs.required(f"{path}.dnsConfig.nameservers", "must provide at least one DNS nameserver when "
                      "dnsPolicy is None")
    for i, ns in enumerate((spec.dnsConfig.nameservers or []) if spec.dnsConfig else []):
        for why in ip_errors(ns):
            errs.invalid(f"{path}.dnsConfig.nameservers[{i}]", ns, why)
    errs.min_value(f"{path}.terminationGracePeriodSeconds", spec.terminationGracePeriodSeconds, 0)
    if spec.activeDeadlineSeconds is not None and not 1 <= spec.activeDeadlineSeconds <= 2**31 - 1:
        errs.invalid(f"{path}.activeDeadlineSeconds", spec.activeDeadlineSeconds,
                     "must be between 1 and 2147483647, inclusive")
    if spec.hostname:
        for why in dns1123_label_errors(spec.hostname):
            errs.invalid(f"{path}.hostname", spec.hostname, why)
    if spec.subdomain:
        for why in dns1123_label_errors(spec.subdomain):
            errs.invalid(f"{path}.subdomain", spec.subdomain, why)
    if spec.nodeName:
        for why in dns1123_subdomain_errors(spec.nodeName):
            errs.invalid(f"{path}.nodeName", spec.nodeName, why)
    if spec.serviceAccountName:
        for why in dns1123_subdomain_errors(spec.serviceAccountName):
            errs.invalid(f"{path}.serviceAccountName", spec.serviceAccountName, why)
    _validate_scheduling(errs, spec, path)


def validate_pod_update(errs: Errs, new: PodSpec, old: PodSpec) -> None:
    """Forbid spec changes Kubernetes forbids on a running pod (see module docstring)."""
    if new.activeDeadlineSeconds != old.activeDeadlineSeconds:
        if new.activeDeadlineSeconds is None:
            errs.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")
        elif old.activeDeadlineSeconds is not None and new.activeDeadlineSeconds > old.activeDeadlineSeconds:
            errs.invalid("spec.activeDeadlineSeconds", new.activeDeadlineSeconds,
                         "must be less than or equal to previous value")
    # Compare with the mutable fields copied over from the old spec: any remaining
    # difference is a forbidden change.
    candidate = new.model_copy(deep=True)
    for kind in ("containers", "initContainers"):
        new_list, old_list = getattr(candidate, kind) or [], getattr(old, kind) or []
        if len(new_list) == len(old_list):
            for nc, oc in zip(new_list, old_list, strict=True):
                nc.image = oc.image
    candidate.activeDeadlineSeconds = old.activeDeadlineSeconds
    candidate.terminationGracePeriodSeconds = old.terminationGracePeriodSeconds
    old_tols = [t.to_dict() for t in old.tolerations or []]
    new_tols = [t.to_dict() for t in candidate.tolerations or []]
    if all(t in new_tols for t in old_tols):
        candidate.tolerations = old.tolerations
    if candidate.to_dict() != old.to_dict():
        errs.forbidden("spec", _UPDATE_FORBIDDEN)


__all__ = ["RESTART_POLICIES", "validate_pod_spec", "validate_pod_update"]


def validate_pod_fragment(errs: Errs, *, volumes: list[Volume] | None, env: list[EnvVar] | None,
                          volume_mounts: list[VolumeMount] | None, path: str) -> None:
    """Volumes, env and volume mounts outside a pod (a PodPreset's), checked with the pod rules
    at `path` (`spec.volumes[0].name`, `spec.env[1].name`, `spec.volumeMounts[0].name`: a
    mount must name one of these volumes, as Kubernetes' ValidatePodPresetSpec)."""
    names = _validate_volumes(errs, PodSpec.model_construct(containers=[], volumes=volumes), path)
    fragment = Container.model_construct(name="fragment", image="fragment", env=env, volumeMounts=volume_mounts)
    _validate_container(errs, fragment, path, names, init=False)
