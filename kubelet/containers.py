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
The pod and the container are typed (machinery.models.Pod / Container, parsed by
kubelet/typedpod.py; `container_of(raw)` turns what the model refuses into a ConfigError):
every function here reads the models, not the dicts.
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal
from typing import Any

from kubelet import typedpod
from kubelet.runtime import ContainerSpec, Mount, PortBinding, labels_for
from kubelet.volumesource import Fetch
from machinery.models import Container, Pod, ResourceRequirements
from machinery.quantity import parse_quantity

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class ConfigError(RuntimeError):
    pass


def container_of(raw: dict[str, Any]) -> Container:
    """The typed view of a pod's container dict; what the model refuses is a ConfigError."""
    try:
        return typedpod.container_of(raw)
    except typedpod.PodModelError as exc:
        raise ConfigError(str(exc)) from None


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


def _field_ref(pod: Pod, path: str, pod_ip: str | None, host_ip: str) -> str:
    try:
        return typedpod.field_value(pod, path, status={"status.podIP": pod_ip, "status.hostIP": host_ip})
    except typedpod.PodModelError:
        raise ConfigError(f"unsupported fieldRef {path!r}") from None


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


async def resolve_env(pod: Pod, container: Container, fetch: Fetch, *,
                      pod_ip: str | None, host_ip: str) -> dict[str, str]:
    ns = pod.metadata.namespace or "default"
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


def docker_name(pod: Pod, container: str, restarts: int) -> str:
    meta = pod.metadata
    return f"k8s_{container}_{meta.name}_{meta.namespace}_{(meta.uid or '')[:8]}_{restarts}"


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


def port_bindings(pod: Pod) -> list[PortBinding]:
    """The hostPort mappings of all the pod's containers (none for hostNetwork pods: there the
    container port already is the host port)."""
    spec = pod.spec
    if spec is None or spec.hostNetwork:
        return []
    out: list[PortBinding] = []
    for c in [*(spec.initContainers or []), *spec.containers]:
        for p in c.ports or []:
            if not p.hostPort:
                continue
            b = PortBinding(container_port=p.containerPort, host_port=p.hostPort,
                            protocol=(p.protocol or "TCP").lower(), host_ip=p.hostIP or "")
            if b not in out:
                out.append(b)
    return out


def build_spec(pod: Pod, container: Container, *, cluster: str, node: str, kind: str,
               sandbox_id: str, restarts: int, backoff_steps: int, env: dict[str, str],
               mounts: list[Mount]) -> ContainerSpec:
    meta = pod.metadata
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
        labels=labels_for(cluster=cluster, node=node, namespace=meta.namespace or "default",
                          pod=meta.name or "", uid=meta.uid or "", container=name, kind=kind,
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
