"""A pod's service account on a real cluster (e2e, full control plane): the token controller
creates `default`, the root CA publisher `kube-root-ca.crt`, the admission adds the projected
volume, the kubelet mounts token + ca.crt + namespace at /var/run/secrets/kubernetes.io/
serviceaccount, and the pod calls the API server with its token and is authenticated as
system:serviceaccount:default:default (bound to the pod)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.support import session_pki

pytestmark = pytest.mark.e2e
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _wait(what: str, fn: Any, timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not within {timeout_s}s"
        time.sleep(0.5)


def test_pod_calls_the_api_server_with_its_service_account_token(full_cluster: Cluster) -> None:
    port = full_cluster.server.rsplit(":", 1)[1]
    with full_cluster.http_sync() as http:
        _wait("default ServiceAccount", lambda: http.get("/api/v1/namespaces/default/serviceaccounts/default")
              .status_code == 200)
        ca = _wait("kube-root-ca.crt", lambda: (http.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
                                                .json().get("data") or {}).get("ca.crt"))
        assert ca == session_pki().ca_cert.read_text()
        # hostNetwork: the API server listens on the node's loopback only (no traffic leaves the
        # machine), which a host-network pod reaches; no Service IP is involved.
        script = (f"cat {SA_DIR}/namespace; echo; sha1sum {SA_DIR}/ca.crt | cut -c1-40; "
                  f'wget -qO- --header "Authorization: Bearer $(cat {SA_DIR}/token)" --post-data "{{}}" '
                  f"https://127.0.0.1:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews 2>/dev/null; echo; "
                  "exec sleep 3600")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "whoami", "namespace": "default"},
               "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": "kubelite/busybox:latest",
                                        "command": ["sh", "-c", script]}]}}
        r = http.post("/api/v1/namespaces/default/pods", json=pod)
        assert r.status_code == 201, r.text
        spec = r.json()["spec"]
        assert spec["serviceAccountName"] == "default"
        assert any(m["mountPath"] == SA_DIR for m in spec["containers"][0]["volumeMounts"])
        try:
            def logs() -> str:
                out = http.get("/api/v1/namespaces/default/pods/whoami/log")
                return out.text if out.status_code == 200 and '"username"' in out.text else ""

            text = _wait("the pod's output", logs, 120)
            lines = text.splitlines()
            assert lines[0] == "default"
            import hashlib

            assert lines[1] == hashlib.sha1(ca.encode()).hexdigest()
            # busybox wget does not verify certificates (it says so on stderr); the JSON is one line.
            review = json.loads(next(line for line in lines if line.startswith("{")))
            info = review["status"]["userInfo"]
            assert info["username"] == "system:serviceaccount:default:default"
            uid = http.get("/api/v1/namespaces/default/pods/whoami").json()["metadata"]["uid"]
            assert info["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]
        finally:
            http.delete("/api/v1/namespaces/default/pods/whoami", params={"gracePeriodSeconds": "0"})
