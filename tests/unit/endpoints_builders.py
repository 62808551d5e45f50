"""Service and Pod builders shared by the Endpoints and EndpointSlice controller tests."""

from __future__ import annotations

from typing import Any

from machinery.models import Pod, Service
from tests.unit.builders import NS


def svc(name: str = "web", *, selector: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None,
        cluster_ip: str = "10.96.0.20", labels: dict[str, str] | None = None, **spec: Any) -> Service:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": NS, "uid": f"svc-{name}", "resourceVersion": "7",
                     "labels": labels},
        "spec": {"clusterIP": cluster_ip, "selector": selector if selector is not None else {"app": "web"},
                 "ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP",
                                                           "targetPort": "web"}], **spec},
    }
    if not body["spec"]["selector"]:
        del body["spec"]["selector"]
    return Service.from_dict(body)


def pod(name: str, ip: str | None, *, ready: bool = True, labels: dict[str, str] | None = None,
        deleting: bool = False, phase: str = "Running", hostname: str | None = None,
        subdomain: str | None = None, port_name: str = "web", port: int = 8080) -> Pod:
    spec: dict[str, Any] = {"nodeName": "n1", "containers": [
        {"name": "c", "image": "kubelite/busybox:latest",
         "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: dict[str, Any] = {"phase": phase,
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "3",
                            "labels": labels if labels is not None else {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Pod.from_dict({"metadata": meta, "spec": spec, "status": status})


__all__ = ["pod", "svc"]
