"""From a pod's container spec to a runtime `ContainerSpec` (pure except for API look-ups).

Contract: `resolve_env(pod, container, fetch, pod_ip=, host_ip=)` returns the environment as
Kubernetes computes it: `envFrom` first, then `env` in order (later wins), with `valueFrom`
fieldRef (metadata.name/namespace/uid/labels['k']/annotations['k'], spec.nodeName,
spec.serviceAccountName, status.podIP, status.hostIP), configMapKeyRef, secretKeyRef, and
`$(VAR)` expansion against earlier variables. A missing required key raises `ConfigError`
(shown as CreateContainerConfigError). `build_spec(...)` adds command/args (with `$(VAR)`
expansion), workingDir, limits (cpu -> nano_cpus, memory -> bytes), requests (cpu -> Docker
cpu_shares = millicores*1024/1000, at least 2, as the kubelet's milliCPUToShares, falling back
to the cpu limit like Kubernetes and giving BestEffort containers 2; memory -> a memory
reservation, never above the limit) and the labels. `port_bindings(pod)` lists the hostPorts the
pod's sandbox publishes (app containers share its network namespace, so only the sandbox can).
The container is typed: `container_of(raw)` parses the fields of a pod's container dict that
this module reads into machinery.models.Container (what the model refuses is a ConfigError);
`resolve_env`, `build_spec` and `cpu_shares` read the model, not the dict.
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from kubelet.runtime import ContainerSpec, Mount, PortBinding, labels_for
from kubelet.volumesource import Fetch
from machinery.models import Container, ResourceRequirements
from machinery.quantity import parse_quantity

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ConfigError(RuntimeError):
    pass


_READ = ("name", "image", "command", "args", "workingDir", "env", "envFrom", "resources", "stdin", "tty")
"""The fields of a container this module reads (probes, volume mounts, ports... are read elsewhere)."""


def container_of(raw: dict[str, Any]) -> Container:
    """The typed view of a pod's container dict (the `_READ` fields); what the model refuses is a
    ConfigError."""
    try:
        return Container.model_validate({k: raw[k] for k in _READ if k in raw})
    except ValidationError as exc:
        errs = exc.errors()
        what = (".".join(str(p) for p in errs[0]["loc"]) + ": " + errs[0]["msg"]) if errs else str(exc)
        raise ConfigError(f"container {raw.get('name', '')!r}: {what}") from None


def quantity(s: str | int | float) -> Decimal:
    """machinery.quantity's exact value; a bad quantity is a ConfigError (CreateContainerConfigError)."""
    try:
        return parse_quantity(s)
    except ValueError as exc:
        raise ConfigError(f"invalid quantity {s!r}: {exc}") from exc


def expand(s: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: unknown references stay as written, `$$` escapes."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(sub, s)


def _field_ref(pod: dict[str, Any], path: str, pod_ip: str | None, host_ip: str) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"), "status.podIP": pod_ip,
        "status.hostIP": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    m = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldRef {path!r}")


async def _key_ref(fetch: Fetch, ns: str, name: str, key: str, optional: bool, secret: bool) -> str | None:
    obj = await fetch("secrets" if secret else "configmaps", ns, name)
    what = "secret" if secret else "configmap"
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{what} "{name}" not found')
    data = obj.get("data") or {}
    if key not in data:
        if optional:
            return None
        raise ConfigError(f'couldn\'t find key {key} in {what} {ns}/{name}')
    return base64.b64decode(data[key]).decode(errors="replace") if secret else str(data[key])


async def resolve_env(pod: dict[str, Any], container: Container, fetch: Fetch, *,
                      pod_ip: str | None, host_ip: str) -> dict[str, str]:
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = {}
    for src in container.envFrom or []:
        secret = src.secretRef is not None
        ref = src.secretRef if src.secretRef is not None else src.configMapRef
        ref_name, optional = (ref.name or "", bool(ref.optional)) if ref is not None else ("", False)
        obj = await fetch("secrets" if secret else "configmaps", ns, ref_name)
        if obj is None:
            if optional:
                continue
            raise ConfigError(f'{"secret" if secret else "configmap"} "{ref_name}" not found')
        for k, v in (obj.get("data") or {}).items():
            env[(src.prefix or "") + k] = base64.b64decode(v).decode(errors="replace") if secret else str(v)
    for e in container.env or []:
        vf = e.valueFrom
        if vf is None:
            env[e.name] = expand(e.value or "", env)
        elif vf.fieldRef is not None:
            env[e.name] = _field_ref(pod, vf.fieldRef.fieldPath, pod_ip, host_ip)
        elif vf.secretKeyRef is not None or vf.configMapKeyRef is not None:
            key_ref = vf.secretKeyRef if vf.secretKeyRef is not None else vf.configMapKeyRef
            assert key_ref is not None
            val = await _key_ref(fetch, ns, key_ref.name or "", key_ref.key, bool(key_ref.optional),
                                 secret=vf.secretKeyRef is not None)
            if val is not None:
                env[e.name] = val
        elif vf.resourceFieldRef is not None:
            kind, _, what = vf.resourceFieldRef.resource.partition(".")
            resources = container.resources or ResourceRequirements()
            values = resources.limits if kind == "limits" else resources.requests if kind == "requests" else None
            env[e.name] = str((values or {}).get(what) or "0")
        else:
            raise ConfigError(f"env {e.name}: unsupported valueFrom")
    return env


def docker_name(pod: dict[str, Any], container: str, restarts: int) -> str:
    meta = pod.get("metadata") or {}
    return f"k8s_{container}_{meta.get('name')}_{meta.get('namespace')}_{(meta.get('uid') or '')[:8]}_{restarts}"


MIN_SHARES = 2  # Kubernetes' MinShares: the kernel's smallest cpu.shares
SHARES_PER_CPU = 1024


def cpu_shares(resources: ResourceRequirements | None) -> int:
    """Docker CpuShares for a container's resources (Kubernetes' milliCPUToShares)."""
    resources = resources or ResourceRequirements()
    cpu = (resources.requests or {}).get("cpu") or (resources.limits or {}).get("cpu")
    if not cpu:
        return MIN_SHARES  # BestEffort: lowest weight, as the kubelet does
    millis = math.ceil(quantity(cpu) * 1000)  # Kubernetes' MilliValue rounds up (as cpu_millis)
    return max(MIN_SHARES, millis * SHARES_PER_CPU // 1000)


def port_bindings(pod: dict[str, Any]) -> list[PortBinding]:
    """The hostPort mappings of all the pod's containers (none for hostNetwork pods: there the
    container port already is the host port)."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return []
    out: list[PortBinding] = []
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for p in c.get("ports") or []:
            if not p.get("hostPort"):
                continue
            b = PortBinding(container_port=int(p["containerPort"]), host_port=int(p["hostPort"]),
                            protocol=str(p.get("protocol") or "TCP").lower(), host_ip=str(p.get("hostIP") or ""))
            if b not in out:
                out.append(b)
    return out


def build_spec(pod: dict[str, Any], container: Container, *, cluster: str, node: str, kind: str,
               sandbox_id: str, restarts: int, backoff_steps: int, env: dict[str, str],
               mounts: list[Mount]) -> ContainerSpec:
    meta = pod.get("metadata") or {}
    name = container.name
    resources = container.resources or ResourceRequirements()
    limits, requests = resources.limits or {}, resources.requests or {}
    nano_cpus = int(quantity(limits["cpu"]) * 10**9) if limits.get("cpu") else None
    mem = math.ceil(quantity(limits["memory"])) if limits.get("memory") else None  # Value() rounds up
    reservation = math.ceil(quantity(requests["memory"])) if requests.get("memory") else None
    if reservation is not None and mem is not None:
        reservation = min(reservation, mem)  # Docker refuses a reservation above the limit
    cmd, args = container.command, container.args
    return ContainerSpec(
        name=docker_name(pod, name, restarts),
        image=container.image or "",
        labels=labels_for(cluster=cluster, node=node, namespace=meta.get("namespace") or "default",
                          pod=meta.get("name") or "", uid=meta.get("uid") or "", container=name, kind=kind,
                          restarts=restarts, backoff_steps=backoff_steps),
        command=[expand(str(c), env) for c in cmd] if cmd else None,
        args=[expand(str(a), env) for a in args] if args else ([] if cmd else None),
        env=env,
        working_dir=container.workingDir,
        network_mode=f"container:{sandbox_id}",
        mounts=mounts,
        nano_cpus=nano_cpus,
        mem_limit=mem,
        cpu_shares=cpu_shares(container.resources),
        mem_reservation=reservation,
        stdin=bool(container.stdin),
        tty=bool(container.tty),
    )
