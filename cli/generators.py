"""The objects kubectl's imperative verbs build (`create deployment|job|...`, `run`, `expose`).

Contract: every function is pure and returns the wire dict kubectl 1.3x builds for the same
flags (`kubectl create ... --dry-run=client -o json`), key for key, including its empty
`resources: {}`, `strategy: {}` and `status` stubs, so `-o yaml` prints what kubectl prints and
the server receives what kubectl sends. Bad flag values raise CliError with kubectl's wording.
Nothing here talks to a server; `expose_service` takes the object it exposes as a dict.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cli.errors import CliError
from machinery.selectors import is_dns1123_subdomain, parse_label_selector

Obj = dict[str, Any]


def _meta(name: str, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def image_container_name(image: str) -> str:
    """kubectl names a deployment's container after its image: `nginx`, `b` for `reg/b:1`."""
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return base


def parse_key_values(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"invalid {what}: {item!r}, expected key=value")
        out[key] = value
    return out


def parse_labels(text: str) -> dict[str, str]:
    return parse_key_values([p for p in text.split(",") if p], "label spec") if text else {}


def namespace(name: str) -> Obj:
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": _meta(name), "spec": {}, "status": {}}


def deployment(name: str, images: list[str], *, replicas: int = 1, port: int = -1,
               command: list[str] | None = None) -> Obj:
    if not images:
        raise CliError("required flag(s) \"image\" not set")
    if command and len(images) > 1:
        raise CliError("cannot specify multiple --image options and command")
    labels = {"app": name}
    containers: list[Obj] = []
    for image in images:
        c: Obj = {"name": image_container_name(image), "image": image}
        if command:
            c["command"] = list(command)
        if port >= 0:
            c["ports"] = [{"containerPort": port}]
        c["resources"] = {}
        containers.append(c)
    return {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": _meta(name, labels),
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}},
                     "strategy": {}},
            "status": {}}


def _pod_template(name: str, image: str, command: list[str] | None, restart: str) -> Obj:
    c: Obj = {"name": name, "image": image}
    if command:
        c["command"] = list(command)
    c["resources"] = {}
    return {"metadata": {}, "spec": {"containers": [c], "restartPolicy": restart}}


def job(name: str, image: str, command: list[str] | None = None) -> Obj:
    if not image:
        raise CliError("either --image or --from must be specified")
    return {"kind": "Job", "apiVersion": "batch/v1", "metadata": _meta(name),
            "spec": {"template": _pod_template(name, image, command, "Never")}, "status": {}}


def cronjob(name: str, image: str, schedule: str, command: list[str] | None = None, restart: str = "") -> Obj:
    if not image:
        raise CliError('required flag(s) "image" not set')
    if not schedule:
        raise CliError('required flag(s) "schedule" not set')
    restart = restart or "OnFailure"
    if restart not in ("OnFailure", "Never"):
        raise CliError(f"restart must be one of OnFailure, Never (got {restart})")
    return {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": _meta(name),
            "spec": {"schedule": schedule,
                     "jobTemplate": {"metadata": {"name": name},
                                     "spec": {"template": _pod_template(name, image, command, restart)}}},
            "status": {}}


def _file_items(specs: list[str]) -> dict[str, str]:
    """--from-file=PATH | KEY=PATH | DIR (each regular file of the directory)."""
    out: dict[str, str] = {}
    for spec in specs:
        key, sep, path_text = spec.partition("=")
        if not sep:
            key, path_text = "", spec
        path = Path(path_text)
        if not path.exists():
            raise CliError(f"error reading {path_text}: no such file or directory")
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            k = key if key and not path.is_dir() else file.name
            if k in out:
                raise CliError(f'cannot add key "{k}", another key by that name already exists')
            out[k] = file.read_text()
    return out


def _env_file(path_text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = Path(path_text).read_text().splitlines()
    except OSError as exc:
        raise CliError(f"error reading {path_text}: {exc.strerror}") from None
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key] = value
    return out


def _data(literals: list[str], files: list[str], env_files: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for env in env_files:
        data.update(_env_file(env))
    for k, v in _file_items(files).items():
        data[k] = v
    for k, v in parse_key_values(literals, "literal source").items():
        if k in data:
            raise CliError(f'cannot add key "{k}", another key by that name already exists')
        data[k] = v
    return data


def configmap(name: str, literals: list[str], files: list[str], env_files: list[str]) -> Obj:
    obj: Obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": _meta(name)}
    data = _data(literals, files, env_files)
    if data:
        obj["data"] = dict(sorted(data.items()))  # a Go map: kubectl prints its keys sorted
    return obj


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def secret_generic(name: str, literals: list[str], files: list[str], env_files: list[str],
                   secret_type: str = "") -> Obj:
    obj: Obj = {"kind": "Secret", "apiVersion": "v1", "metadata": _meta(name)}
    data = _data(literals, files, env_files)
    if data:
        obj["data"] = {k: _b64(v) for k, v in sorted(data.items())}
    if secret_type:
        obj["type"] = secret_type
    return obj


def secret_docker_registry(name: str, server: str, username: str, password: str, email: str = "") -> Obj:
    if not username or not password:
        raise CliError('required flag(s) "docker-password", "docker-username" not set' if not username and not password
                       else f'required flag(s) "{"docker-username" if not username else "docker-password"}" not set')
    entry: Obj = {"username": username, "password": password}
    if email:
        entry["email"] = email
    entry["auth"] = _b64(f"{username}:{password}")
    config = json.dumps({"auths": {server: entry}}, separators=(",", ":"))
    return {"kind": "Secret", "apiVersion": "v1", "metadata": _meta(name),
            "data": {".dockerconfigjson": _b64(config)}, "type": "kubernetes.io/dockerconfigjson"}


def secret_tls(name: str, cert_path: str, key_path: str) -> Obj:
    if not cert_path or not key_path:
        raise CliError("key and cert must be specified")
    try:
        cert, key = Path(cert_path).read_bytes(), Path(key_path).read_bytes()
    except OSError as exc:
        raise CliError(f"open {exc.filename}: no such file or directory") from None
    if b"CERTIFICATE" not in cert or b"PRIVATE KEY" not in key:
        raise CliError("failed to load key pair tls: failed to find any PEM data in certificate input")
    return {"kind": "Secret", "apiVersion": "v1", "metadata": _meta(name),
            "data": {"tls.crt": _b64(cert), "tls.key": _b64(key)}, "type": "kubernetes.io/tls"}


def _tcp_ports(specs: list[str], node_port: int) -> list[Obj]:
    ports: list[Obj] = []
    for spec in specs:
        port_s, sep, target_s = spec.partition(":")
        name = f"{port_s}-{target_s}" if sep else port_s
        target_s = target_s or port_s
        if not port_s.isdigit():
            raise CliError(f'strconv.Atoi: parsing "{port_s}": invalid syntax')
        port: Obj = {"name": name, "protocol": "TCP", "port": int(port_s),
                     "targetPort": int(target_s) if target_s.isdigit() else target_s}
        if node_port > 0:
            port["nodePort"] = node_port
        ports.append(port)
    return ports


def service(name: str, service_type: str, tcp: list[str], *, cluster_ip: str = "", node_port: int = 0,
            external_name: str = "") -> Obj:
    """`create service clusterip|nodeport|loadbalancer|externalname` (headless is clusterip with
    clusterIP None), as kubectl's ServiceOptions: every type but ExternalName needs a --tcp."""
    if service_type == "ClusterIP" and cluster_ip != "None" and not tcp:
        raise CliError('required flag(s) "tcp" not set')
    if service_type in ("NodePort", "LoadBalancer") and not tcp:
        raise CliError("at least one tcp port specifier must be provided")
    if service_type == "ExternalName" and not external_name:
        raise CliError('required flag(s) "external-name" not set')
    if service_type == "ExternalName" and not is_dns1123_subdomain(external_name):
        raise CliError(f"invalid service external name {external_name}")
    labels = {"app": name}
    spec: Obj = {}
    if external_name:
        spec["externalName"] = external_name
    if tcp:
        spec["ports"] = _tcp_ports(tcp, node_port)
    spec["selector"] = dict(labels)
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    spec["type"] = service_type
    return {"kind": "Service", "apiVersion": "v1", "metadata": _meta(name, labels), "spec": spec,
            "status": {"loadBalancer": {}}}


def quota(name: str, hard: str, scopes: str) -> Obj:
    spec: Obj = {}
    if hard:
        spec["hard"] = dict(sorted(parse_key_values([p for p in hard.split(",") if p], "resource quota spec").items()))
    if scopes:
        spec["scopes"] = [s for s in scopes.split(",") if s]
    return {"kind": "ResourceQuota", "apiVersion": "v1", "metadata": _meta(name), "spec": spec, "status": {}}


def priorityclass(name: str, value: int, *, global_default: bool, description: str,
                  preemption_policy: str) -> Obj:
    obj: Obj = {"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": _meta(name),
                "value": value}
    if global_default:
        obj["globalDefault"] = True
    if description:
        obj["description"] = description
    obj["preemptionPolicy"] = preemption_policy or "PreemptLowerPriority"
    return obj


def _int_or_percent(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def poddisruptionbudget(name: str, selector: str, min_available: str, max_unavailable: str) -> Obj:
    if not selector:
        raise CliError('required flag(s) "selector" not set')
    if bool(min_available) == bool(max_unavailable):
        raise CliError("one of min-available or max-unavailable must be specified")
    spec: Obj = {}
    if min_available:
        spec["minAvailable"] = _int_or_percent(min_available)
    spec["selector"] = _label_selector(selector)
    if max_unavailable:
        spec["maxUnavailable"] = _int_or_percent(max_unavailable)
    return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": _meta(name), "spec": spec,
            "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}}


def _label_selector(text: str) -> Obj:
    """`app=web,tier` as a LabelSelector (equality terms in matchLabels, the rest as expressions)."""
    try:
        parse_label_selector(text)
    except ValueError as exc:
        raise CliError(f"couldn't parse the selector string \"{text}\": {exc}") from None
    match: dict[str, str] = {}
    for term in text.split(","):
        if "=" in term and "!=" not in term:
            key, _, value = term.replace("==", "=").partition("=")
            match[key.strip()] = value.strip()
        else:
            raise CliError(f"only equality selectors are supported here: {term!r}")
    return {"matchLabels": match}


def pod(name: str, image: str, *, env: list[str], port: int, labels: str, restart: str, command: bool,
        args: list[str], image_pull_policy: str = "") -> Obj:
    """`kubectl run NAME --image I`: one container named NAME, label run=NAME, dnsPolicy ClusterFirst."""
    if not image:
        raise CliError('required flag(s) "image" not set')
    restart = restart or "Always"
    if restart not in ("Always", "OnFailure", "Never"):
        raise CliError(f"invalid restart policy: {restart}")
    c: Obj = {"name": name, "image": image}
    if args:
        c["command" if command else "args"] = list(args)
    if port >= 0:
        c["ports"] = [{"containerPort": port}]
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in parse_key_values(env, "env").items()]
    c["resources"] = {}
    if image_pull_policy:
        c["imagePullPolicy"] = image_pull_policy
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": _meta(name, parse_labels(labels) if labels else {"run": name}),
            "spec": {"containers": [c], "restartPolicy": restart, "dnsPolicy": "ClusterFirst"},
            "status": {}}


def exposed_selector(obj: Obj) -> dict[str, str]:
    """The selector a Service for this object uses (kubectl's `MapBasedSelectorForObject`)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        labels = dict((obj.get("metadata") or {}).get("labels") or {})
        if not labels:
            raise CliError("the pod has no labels and cannot be exposed")
        return labels
    if kind in ("Service", "ReplicationController"):
        sel = dict(spec.get("selector") or {})
        if not sel:
            raise CliError(f"the {str(kind).lower()} has no selector and cannot be exposed")
        return sel
    sel_obj = spec.get("selector") or {}
    if sel_obj.get("matchExpressions"):
        raise CliError("couldn't convert expressions - \"" + json.dumps(sel_obj["matchExpressions"])
                       + "\" to map-based selector format")
    return dict(sel_obj.get("matchLabels") or {})


def exposed_ports(obj: Obj) -> list[Obj]:
    """Container ports of the object's pods (or the Service's ports), as kubectl reads them."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Service":
        return [{"port": p.get("port"), "protocol": p.get("protocol") or "TCP"} for p in spec.get("ports") or []]
    pod_spec = spec if kind == "Pod" else ((spec.get("template") or {}).get("spec") or {})
    return [{"port": p.get("containerPort"), "protocol": p.get("protocol") or "TCP"}
            for c in pod_spec.get("containers") or [] for p in c.get("ports") or []]


def expose_service(obj: Obj, *, name: str, port: str, target_port: str, protocol: str, service_type: str,
                   selector: str, labels: str, cluster_ip: str = "") -> Obj:
    meta = obj.get("metadata") or {}
    sel = parse_labels(selector) if selector else exposed_selector(obj)
    if port:
        found = [{"port": int(p), "protocol": protocol or "TCP"} for p in port.split(",")]
    else:
        found = exposed_ports(obj)
        if protocol:
            found = [{**p, "protocol": protocol} for p in found]
    if not found:
        raise CliError("couldn't find port via --port flag or introspection")
    ports: list[Obj] = []
    for i, p in enumerate(found):
        entry: Obj = {}
        if len(found) > 1:
            entry["name"] = f"port-{i + 1}"
        entry["protocol"] = p["protocol"]
        entry["port"] = p["port"]
        if target_port:
            entry["targetPort"] = int(target_port) if target_port.isdigit() else target_port
        else:
            entry["targetPort"] = p["port"]
        ports.append(entry)
    spec: Obj = {"ports": ports, "selector": sel}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if service_type:
        spec["type"] = service_type
    svc_labels = parse_labels(labels) if labels else dict(meta.get("labels") or {})
    return {"kind": "Service", "apiVersion": "v1", "metadata": _meta(name or str(meta.get("name") or ""), svc_labels),
            "spec": spec, "status": {"loadBalancer": {}}}
