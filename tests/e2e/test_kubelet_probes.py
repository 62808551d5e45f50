"""Probes, restarts and the kubelet's own HTTPS endpoints (and who may call them) on real Docker."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from machinery.client import ApiClient
from machinery.podlogs import stream_logs
from tests.e2e.conftest import Cluster
from tests.e2e.test_kubelet_pods import create, delete_and_wait_gone, get_pod, wait_phase
from tests.support import session_pki, tls_context, wait_until

pytestmark = pytest.mark.e2e
BUSYBOX = "kubelite/busybox:latest"


def cond(pod: dict[str, Any], kind: str) -> str | None:
    return {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}.get(kind)


async def test_liveness_failure_restarts_container(cluster: Cluster, api: ApiClient) -> None:
    # Healthy while /tmp/alive exists; the container removes it after 1 s.
    await create(api, cluster.pod("live", [{
        "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "touch /tmp/alive; sleep 1; rm /tmp/alive; sleep 3600"],
        "livenessProbe": {"exec": {"command": ["test", "-e", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1},
    }]))
    seen: dict[str, Any] = {}

    async def restarted() -> bool:
        seen.update(await get_pod(api, "live"))
        cs = ((seen.get("status") or {}).get("containerStatuses") or [{}])[0]
        return int(cs.get("restartCount", 0)) >= 1

    await wait_until(restarted, 30, 0.3, message=f"never restarted: {seen.get('status')}")
    last = seen["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] in (137, 143)
    await delete_and_wait_gone(api, "live")


async def test_readiness_flips_and_startup_holds(cluster: Cluster, api: ApiClient) -> None:
    await create(api, cluster.pod("ready", [{
        "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "sleep 3600"],
        "startupProbe": {"exec": {"command": ["test", "-e", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30},
        "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]}, "periodSeconds": 1},
    }]))
    pod = await wait_phase(api, "ready", "Running")
    assert cond(pod, "Ready") == "False"
    assert pod["status"]["containerStatuses"][0].get("started") is False
    from machinery.podlogs import exec_in_pod

    await exec_in_pod(api, "default", "ready", ["touch", "/tmp/ready"])
    pod = await get_pod(api, "ready")
    assert cond(pod, "Ready") == "False"  # the startup probe still holds readiness
    await exec_in_pod(api, "default", "ready", ["touch", "/tmp/started"])

    async def is_ready() -> bool:
        pod.update(await get_pod(api, "ready"))
        return cond(pod, "Ready") == "True"

    await wait_until(is_ready, 15, 0.3, message="never ready")
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    await exec_in_pod(api, "default", "ready", ["rm", "/tmp/ready"])

    async def unready() -> bool:
        pod.update(await get_pod(api, "ready"))
        return cond(pod, "Ready") == "False"

    await wait_until(unready, 15, 0.3, message="never unready again")
    await delete_and_wait_gone(api, "ready")


async def test_log_rotation_and_kubelet_endpoints(cluster: Cluster, api: ApiClient) -> None:
    # --container-log-max-size 4Ki --container-log-max-files 3 in the fixture.
    await create(api, cluster.pod("chatty", [{
        "name": "c", "image": BUSYBOX,
        "command": ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done; "
                                "sleep 3600"]}]))
    pod = await wait_phase(api, "chatty", "Running")
    uid = pod["metadata"]["uid"]
    cdir = cluster.log_dir / f"default_chatty_{uid}" / "c"

    async def rotated() -> bool:
        tail = [ln async for ln in stream_logs(api, "default", "chatty", tail_lines=1)]
        return tail == ["line-399-padding-padding-padding"]

    await wait_until(rotated, 15, 0.3, message="last line never arrived")
    files = sorted(p.name for p in cdir.iterdir())
    assert files == ["0.log", "0.log.1", "0.log.2"]
    assert all((cdir / f).stat().st_size <= 4096 for f in files)
    first = (cdir / "0.log").read_text().splitlines()[0].split(" ")
    assert first[1] == "stdout" and first[2] == "F" and first[0].endswith("Z")
    base = f"https://127.0.0.1:{cluster.kubelet_port}"
    # As the API server calls the kubelet: HTTPS with its kubelet-client certificate.
    async with httpx.AsyncClient(trust_env=False, timeout=15, verify=tls_context("apiserver-kubelet-client")) as http:
        assert (await http.get(f"{base}/healthz")).text == "ok"
        entries: list[dict[str, Any]] = []

        async def sampled() -> bool:
            # The kubelet samples stats every --stats-interval-s: a new pod shows up at the next sample.
            summary = (await http.get(f"{base}/stats/summary")).json()
            entries[:] = [p for p in summary["pods"] if p["podRef"]["name"] == "chatty"]
            return bool(entries)

        await wait_until(sampled, 30, 0.5, message="the pod never appeared in /stats/summary")
        entry = entries[0]
        assert entry["containers"][0]["memory"]["workingSetBytes"] > 0
        metrics = (await http.get(f"{base}/metrics")).text
        assert "kubelet_running_pods" in metrics and 'pod="chatty"' in metrics
        r = await http.get(f"{base}/containerLogs/default/chatty/c", params={"tailLines": 2, "timestamps": "true"})
        lines = r.text.splitlines()
        assert len(lines) == 2 and lines[-1].endswith("line-399-padding-padding-padding") and "Z " in lines[-1]
        r = await http.get(f"{base}/containerLogs/default/nope/c")
        assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    await delete_and_wait_gone(api, "chatty")


async def test_kubelet_api_https_authn_and_authz(cluster: Cluster, api: ApiClient, tmp_path: Path) -> None:
    """HTTPS only, a serving certificate from the cluster CA naming 127.0.0.1; no client
    certificate: 401 (but /healthz from loopback); another CA's certificate: no handshake; each
    user authorized per path by SubjectAccessReview (nodes/proxy, nodes/stats...), RBAC deciding."""
    from machinery.pki import CertificateAuthority

    base = f"https://127.0.0.1:{cluster.kubelet_port}"
    with pytest.raises(httpx.HTTPError):  # no plain HTTP any more
        async with httpx.AsyncClient(trust_env=False, timeout=5) as plain:
            await plain.get(f"http://127.0.0.1:{cluster.kubelet_port}/stats/summary")
    async with httpx.AsyncClient(trust_env=False, timeout=10, verify=tls_context(None)) as anon:
        assert (await anon.get(f"{base}/healthz")).text == "ok"
        for path in ("/stats/summary", "/metrics", "/containerLogs/default/x/c", "/exec/default/x/c?command=id"):
            r = await anon.get(base + path)
            assert (r.status_code, r.text) == (401, "Unauthorized"), path
    pair = CertificateAuthority.create("not-the-cluster").issue("kube-apiserver-kubelet-client", ["system:masters"])
    (tmp_path / "other.crt").write_bytes(pair.cert_pem)
    (tmp_path / "other.key").write_bytes(pair.key_pem)
    forged = ssl.create_default_context(cafile=str(session_pki().ca_cert))
    forged.load_cert_chain(str(tmp_path / "other.crt"), str(tmp_path / "other.key"))
    with pytest.raises(httpx.HTTPError):
        async with httpx.AsyncClient(trust_env=False, timeout=10, verify=forged) as http:
            await http.get(f"{base}/stats/summary")

    async def status(user: str, path: str, method: str = "GET") -> tuple[int, str]:
        async with httpx.AsyncClient(trust_env=False, timeout=10, verify=tls_context(user)) as http:
            r = await http.request(method, base + path)
            return r.status_code, r.text

    # kube-proxy's identity has no nodes/* rights at all
    assert await status("kube-proxy", "/containerLogs/default/x/c") == (
        403, "Forbidden (user=system:kube-proxy, verb=get, resource=nodes, subresource(s)=[proxy])")
    assert (await status("kube-proxy", "/stats/summary"))[0] == 403
    # the metrics add-on's (system:metrics-server: get nodes/stats, nodes/metrics): stats, not exec
    assert (await status("metrics-server", "/stats/summary"))[0] == 200
    assert (await status("metrics-server", "/metrics"))[0] == 200
    assert await status("metrics-server", "/exec/default/x/c?command=id", "POST") == (
        403, "Forbidden (user=system:metrics-server, verb=create, resource=nodes, subresource(s)=[proxy])")
    # a bearer token (a ServiceAccount's, from TokenRequest) is checked by TokenReview
    await api.request("POST", "/api/v1/namespaces/default/serviceaccounts", json={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "scraper"}})
    token = (await api.request("POST", "/api/v1/namespaces/default/serviceaccounts/scraper/token", json={
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}))["status"]["token"]

    async def with_token(path: str, bearer: str) -> tuple[int, str]:
        async with httpx.AsyncClient(trust_env=False, timeout=10, verify=tls_context(None),
                                     headers={"Authorization": f"Bearer {bearer}"}) as http:
            r = await http.get(base + path)
            return r.status_code, r.text

    assert await with_token("/metrics", token) == (
        403, "Forbidden (user=system:serviceaccount:default:scraper, verb=get, resource=nodes, subresource(s)=[metrics])")
    assert await with_token("/metrics", token[:-4] + "AAAA") == (401, "Unauthorized")
    # RBAC decides: bound to system:kubelet-api-admin, the log agent's identity may read logs
    await api.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", json={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "logagent-kubelet-api"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "system:kubelite-logagent"},
                     {"kind": "ServiceAccount", "namespace": "default", "name": "scraper"}]})
    try:
        code, text = await status("logagent", "/containerLogs/default/x/c")
        assert code == 404 and '"NotFound"' in text, text  # authorized: the kubelet itself answers
        code, text = await with_token("/stats/summary", token)  # not asked before: no cached denial
        assert code == 200 and "node" in text, text
    finally:
        await api.request("DELETE", "/api/v1/namespaces/default/serviceaccounts/scraper")
        await api.request("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/logagent-kubelet-api")


async def test_node_proxy_reaches_the_kubelet_as_the_api_server(cluster: Cluster, api: ApiClient) -> None:
    """`kubectl get --raw /api/v1/nodes/N/proxy/...`: authorized as nodes/proxy by the API server,
    relayed over HTTPS with its kubelet-client certificate."""
    kubectl = str(Path(sys.executable).parent / "kubectl")
    out = await asyncio.to_thread(subprocess.run, [kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "--raw",
                                                   f"/api/v1/nodes/{cluster.node}/proxy/stats/summary"],
                                  capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["node"]["nodeName"] == cluster.node
    assert "kubelet_running_pods" in await api.request("GET", f"/api/v1/nodes/{cluster.node}/proxy/metrics")
    async with httpx.AsyncClient(base_url=cluster.server, trust_env=False, timeout=10,
                                 verify=tls_context("kube-proxy")) as http:
        r = await http.get(f"/api/v1/nodes/{cluster.node}/proxy/stats/summary")
        assert r.status_code == 403 and 'resource "nodes/proxy"' in r.json()["message"], r.text
        r = await http.get("/api/v1/nodes/no-such-node/proxy/healthz")
        assert r.status_code in (403, 404)
    missing = await asyncio.to_thread(subprocess.run, [kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "--raw",
                                                       "/api/v1/nodes/no-such-node/proxy/healthz"],
                                      capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "not found" in missing.stderr


async def test_pod_dns_config_and_secret_volume(cluster: Cluster, api: ApiClient) -> None:
    from machinery.podlogs import exec_in_pod

    await api.request("POST", "/api/v1/namespaces/default/secrets", json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "admin"}})
    await create(api, cluster.pod("dns", [{
        "name": "c", "image": BUSYBOX, "command": ["sleep", "3600"],
        "env": [{"name": "USER_NAME", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}],
        "volumeMounts": [{"name": "creds", "mountPath": "/creds"}]}],
        dnsPolicy="None", dnsConfig={"nameservers": ["10.96.0.10"], "searches": ["default.svc.cluster.local"],
                                     "options": [{"name": "ndots", "value": "5"}]},
        volumes=[{"name": "creds", "secret": {"secretName": "creds"}}]))
    await wait_phase(api, "dns", "Running")
    res = await exec_in_pod(api, "default", "dns", ["sh", "-c", "cat /etc/resolv.conf; cat /creds/user; echo; "
                                                     "echo $USER_NAME; touch /creds/x 2>/dev/null || echo ro"])
    assert res.exit_code == 0, res
    assert res.stdout.splitlines() == ["nameserver 10.96.0.10", "search default.svc.cluster.local", "options ndots:5",
                                       "admin", "admin", "ro"]
    await delete_and_wait_gone(api, "dns")
