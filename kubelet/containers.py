"""From a pod's container spec to a runtime `ContainerSpec` (pure except for API look-ups).

Contract: `resolve_env(pod, container, fetch, pod_ip=, host_ip=)` returns the environment as
Kubernetes computes it: `envFrom` first, then `env` in order (later wins), with `valueFrom`
fieldRef (metadata.name/namespace/uid/labels['k']/annotations['k'], spec.nodeName,
spec.serviceAccountName, status.podIP, status.hostIP), configMapKeyRef, secretKeyRef, and
`$(VAR)` expansion against earlier variables. A missing required key raises `ConfigError`
(shown as CreateContainerConfigError). `build_spec(...)` adds command/args (with `$(VAR)`
expansion), workingDir, limits (cpu -> nano_cpus, memory -> bytes) and the labels.
"""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

from kubelet.runtime import ContainerSpec, Mount, labels_for
from kubelet.volumes import Fetch

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
_QTY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX: dict[str, Decimal | int] = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class ConfigError(RuntimeError):
    pass


def quantity(s: str | int | float) -> Decimal:
    m = _QTY.match(str(s).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ConfigError(f"invalid quantity {s!r}")
    return Decimal(m.group(1)) * _SUFFIX[m.group(2)]


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


async def _key_ref(fetch: Fetch, ns: str, ref: dict[str, Any], secret: bool) -> str | None:
    obj = await fetch("secrets" if secret else "configmaps", ns, ref.get("name", ""))
    what = "secret" if secret else "configmap"
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{what} "{ref.get("name")}" not found')
    data = obj.get("data") or {}
    key = ref.get("key", "")
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f'couldn\'t find key {key} in {what} {ns}/{ref.get("name")}')
    return base64.b64decode(data[key]).decode(errors="replace") if secret else str(data[key])


async def resolve_env(pod: dict[str, Any], container: dict[str, Any], fetch: Fetch, *,
                      pod_ip: str | None, host_ip: str) -> dict[str, str]:
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        secret = "secretRef" in src
        ref = src.get("secretRef" if secret else "configMapRef") or {}
        obj = await fetch("secrets" if secret else "configmaps", ns, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{"secret" if secret else "configmap"} "{ref.get("name")}" not found')
        for k, v in (obj.get("data") or {}).items():
            env[(src.get("prefix") or "") + k] = base64.b64decode(v).decode(errors="replace") if secret else str(v)
    for e in container.get("env") or []:
        name = e.get("name", "")
        if "valueFrom" not in e or e.get("valueFrom") is None:
            env[name] = expand(str(e.get("value") or ""), env)
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            env[name] = _field_ref(pod, (vf["fieldRef"] or {}).get("fieldPath", ""), pod_ip, host_ip)
        elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
            secret = "secretKeyRef" in vf
            val = await _key_ref(fetch, ns, vf["secretKeyRef" if secret else "configMapKeyRef"] or {}, secret)
            if val is not None:
                env[name] = val
        elif "resourceFieldRef" in vf:
            res = (vf["resourceFieldRef"] or {}).get("resource", "")
            kind, _, what = res.partition(".")
            val = ((container.get("resources") or {}).get(kind) or {}).get(what)
            env[name] = str(val or "0")
        else:
            raise ConfigError(f"env {name}: unsupported valueFrom")
    return env


def docker_name(pod: dict[str, Any], container: str, restarts: int) -> str:
    meta = pod.get("metadata") or {}
    return f"k8s_{container}_{meta.get('name')}_{meta.get('namespace')}_{(meta.get('uid') or '')[:8]}_{restarts}"


def build_spec(pod: dict[str, Any], container: dict[str, Any], *, cluster: str, node: str, kind: str,
               sandbox_id: str, restarts: int, backoff_steps: int, env: dict[str, str],
               mounts: list[Mount]) -> ContainerSpec:
    meta = pod.get("metadata") or {}
    name = container.get("name", "")
    limits = (container.get("resources") or {}).get("limits") or {}
    nano_cpus = int(quantity(limits["cpu"]) * 10**9) if limits.get("cpu") else None
    mem = int(quantity(limits["memory"])) if limits.get("memory") else None
    cmd = container.get("command")
    args = container.get("args")
    return ContainerSpec(
        name=docker_name(pod, name, restarts),
        image=container.get("image", ""),
        labels=labels_for(cluster=cluster, node=node, namespace=meta.get("namespace") or "default",
                          pod=meta.get("name") or "", uid=meta.get("uid") or "", container=name, kind=kind,
                          restarts=restarts, backoff_steps=backoff_steps),
        command=[expand(str(c), env) for c in cmd] if cmd else None,
        args=[expand(str(a), env) for a in args] if args else ([] if cmd else None),
        env=env,
        working_dir=container.get("workingDir"),
        network_mode=f"container:{sandbox_id}",
        mounts=mounts,
        nano_cpus=nano_cpus,
        mem_limit=mem,
    )
