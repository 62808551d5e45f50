"""ServiceAccounts against the real API server: the kind (kubectl get sa), TokenRequest with
the real kubectl (`kubectl create token`) and `kubelite create token`, JWT authentication
(audience, expiry, bound objects: a token of a deleted pod or ServiceAccount stops working),
SelfSubjectReview (`kubectl auth whoami`), and the ServiceAccount admission on pods."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from machinery.kubeconfig import write_kubeconfig
from tests.integration.conftest import ApiServerProcess
from tests.support import admin_http_sync, session_pki, tls_context

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(scope="module")
def server(etcd_server: Any) -> Iterator[ApiServerProcess]:
    """An API server with every admission plugin (the shared fixture disables ServiceAccount)."""
    srv = ApiServerProcess(etcd_server.url, service_account_admission=True)
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def ns(server: ApiServerProcess) -> Iterator[str]:
    name = f"sa-{uuid.uuid4().hex[:8]}"
    with server.http_sync() as http:
        assert http.post("/api/v1/namespaces", json={"metadata": {"name": name}}).status_code == 201
        yield name
        http.delete(f"/api/v1/namespaces/{name}")


def run(*argv: str, kubeconfig: str, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["-n", ns] if ns else []
    return subprocess.run([*argv[:1], "--kubeconfig", kubeconfig, *extra, *argv[1:]], capture_output=True,
                          text=True, timeout=60)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def as_token(server: ApiServerProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=tls_context(None), trust_env=False, timeout=10.0,
                        headers={"Authorization": f"Bearer {token}"})


def whoami(server: ApiServerProcess, token: str) -> tuple[int, dict[str, Any]]:
    with as_token(server, token) as http:
        r = http.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        return r.status_code, r.json()


def wait_for(what: str, fn: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not fn():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s}s"
        time.sleep(0.1)


def test_kubectl_create_token_authenticates_as_the_service_account(server: ApiServerProcess, ns: str,
                                                                    tmp_path: Path) -> None:
    kc = server.kubeconfig
    created = run(str(BIN / "kubectl"), "create", "sa", "robot", kubeconfig=kc, ns=ns)
    assert created.returncode == 0, created.stderr
    got = run(str(BIN / "kubectl"), "get", "sa", kubeconfig=kc, ns=ns)
    assert got.returncode == 0 and got.stdout.split()[:3] == ["NAME", "SECRETS", "AGE"], got.stdout + got.stderr
    assert "robot" in got.stdout
    out = run(str(BIN / "kubectl"), "create", "token", "robot", "--duration", "10m", kubeconfig=kc, ns=ns)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    c = claims(token)
    assert c["sub"] == f"system:serviceaccount:{ns}:robot" and c["exp"] - c["iat"] == 600
    assert c["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    code, review = whoami(server, token)
    assert code == 201, review
    info = review["status"]["userInfo"]
    assert info["username"] == f"system:serviceaccount:{ns}:robot"
    assert info["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
    # kubectl auth whoami with that token, through a kubeconfig that carries it.
    tok_kc = write_kubeconfig(tmp_path / "sa.kubeconfig", server.url, user="robot", token=token,
                              ca_file=str(session_pki().ca_cert))
    who = run(str(BIN / "kubectl"), "auth", "whoami", "-o", "json", kubeconfig=str(tok_kc))
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:robot"
    # The same token through kubelite's own verb.
    ours = run(str(BIN / "kubelite"), "create", "token", "robot", "--duration", "15m", kubeconfig=kc, ns=ns)
    assert ours.returncode == 0, ours.stderr
    assert claims(ours.stdout.strip())["exp"] - claims(ours.stdout.strip())["iat"] == 900
    # Too short, or no such account: kubectl prints the server's Status.
    short = run(str(BIN / "kubectl"), "create", "token", "robot", "--duration", "5m", kubeconfig=kc, ns=ns)
    assert short.returncode != 0 and "may not specify a duration less than 10 minutes" in short.stderr
    missing = run(str(BIN / "kubectl"), "create", "token", "nobody", kubeconfig=kc, ns=ns)
    assert missing.returncode != 0 and 'serviceaccounts "nobody" not found' in missing.stderr
    # Deleting the ServiceAccount revokes its tokens at once (bound to its uid).
    assert run(str(BIN / "kubectl"), "delete", "sa", "robot", kubeconfig=kc, ns=ns).returncode == 0
    assert whoami(server, token)[0] == 401
    # Recreated under the same name: a new uid, the old token stays dead.
    assert run(str(BIN / "kubectl"), "create", "sa", "robot", kubeconfig=kc, ns=ns).returncode == 0
    assert whoami(server, token)[0] == 401


def test_pod_bound_tokens_audience_and_tampering(server: ApiServerProcess, ns: str) -> None:
    with server.http_sync() as http:
        assert http.post(f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": "app"}}).status_code == 201
        pod = http.post(f"/api/v1/namespaces/{ns}/pods", json={"metadata": {"name": "p"}, "spec": {
            "serviceAccountName": "app", "containers": [{"name": "c", "image": "kubelite/busybox:latest"}]}}).json()
        uid = pod["metadata"]["uid"]

        def request(spec: dict[str, Any]) -> httpx.Response:
            return http.post(f"/api/v1/namespaces/{ns}/serviceaccounts/app/token",
                             json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})

        r = request({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": uid}})
        assert r.status_code == 201, r.text
        token = r.json()["status"]["token"]
        assert claims(token)["kubernetes.io"]["pod"] == {"name": "p", "uid": uid}
        code, review = whoami(server, token)
        assert code == 201 and review["status"]["userInfo"]["extra"][
            "authentication.kubernetes.io/pod-name"] == ["p"]
        assert request({"boundObjectRef": {"kind": "Pod", "name": "p", "uid": "other"}}).status_code == 409
        assert request({"boundObjectRef": {"kind": "Pod", "name": "nope"}}).status_code == 404
        assert request({"boundObjectRef": {"kind": "ConfigMap", "name": "x"}}).status_code == 422
        # Another audience is not this API server's: refused.
        other = request({"audiences": ["vault"]}).json()["status"]["token"]
        assert whoami(server, other)[0] == 401
        # A changed payload breaks the signature.
        head, _, sig = token.split(".")
        body = claims(token)
        body["sub"] = "system:serviceaccount:kube-system:admin"
        forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
        assert whoami(server, f"{head}.{forged}.{sig}")[0] == 401
        # The pod goes away: its token stops working.
        http.delete(f"/api/v1/namespaces/{ns}/pods/p", params={"gracePeriodSeconds": "0"})
        wait_for("pod gone", lambda: http.get(f"/api/v1/namespaces/{ns}/pods/p").status_code == 404)
        assert whoami(server, token)[0] == 401


def test_service_account_admission(server: ApiServerProcess, ns: str) -> None:
    with admin_http_sync(server.url) as http:
        def create(name: str, **spec: Any) -> httpx.Response:
            return http.post(f"/api/v1/namespaces/{ns}/pods", json={"metadata": {"name": name}, "spec": {
                "containers": [{"name": "c", "image": "kubelite/busybox:latest"}], **spec}})

        p = create("plain").json()["spec"]
        assert p["serviceAccountName"] == "default"
        vol = next(v for v in p["volumes"] if v["name"].startswith("kube-api-access-"))
        sources = vol["projected"]["sources"]
        assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
        assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
        assert p["containers"][0]["volumeMounts"] == [{"name": vol["name"], "readOnly": True, "mountPath": MOUNT}]
        off = create("off", automountServiceAccountToken=False).json()["spec"]
        assert not off.get("volumes") and not off["containers"][0].get("volumeMounts")
        r = create("ghost", serviceAccountName="ghost")
        assert r.status_code == 403
        assert r.json()["message"] == (f'pods "ghost" is forbidden: error looking up service account {ns}/ghost: '
                                       'serviceaccount "ghost" not found')
        http.post(f"/api/v1/namespaces/{ns}/serviceaccounts",
                  json={"metadata": {"name": "quiet"}, "automountServiceAccountToken": False})
        quiet = create("quiet", serviceAccountName="quiet").json()["spec"]
        assert not quiet.get("volumes")


def test_token_review_with_the_official_client(server: ApiServerProcess, ns: str) -> None:
    """TokenReview (what a webhook or the kubelet asks): a ServiceAccount token is reviewed as its
    account with the API audiences; a tampered token and a foreign audience are not
    authenticated; an empty token is 400; nothing is stored (create-only, in discovery)."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    api = k8s_config.new_client_from_config(config_file=server.kubeconfig)
    try:
        core, authn = k8s.CoreV1Api(api), k8s.AuthenticationV1Api(api)
        core.create_namespaced_service_account(ns, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="robot")))
        requested = core.create_namespaced_service_account_token(
            "robot", ns, k8s.AuthenticationV1TokenRequest(spec=k8s.V1TokenRequestSpec(audiences=[],
                                                                                      expiration_seconds=600)))
        assert requested.status is not None
        token = str(requested.status.token)

        def review(tok: str, audiences: list[str] | None = None) -> Any:
            answer = authn.create_token_review(k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=tok,
                                                                                           audiences=audiences)))
            assert answer.status is not None
            return answer.status

        ok = review(token)
        assert ok.authenticated is True
        assert ok.user.username == f"system:serviceaccount:{ns}:robot"
        assert ok.user.groups == ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
        assert ok.audiences == ["https://kubernetes.default.svc.cluster.local"]
        tampered = review(token[:-4] + "AAAA")
        assert tampered.authenticated is False and tampered.error
        foreign = review(token, ["vault"])
        assert foreign.authenticated is False and "vault" in foreign.error
    finally:
        api.close()
    with server.http_sync() as http:
        r = http.post("/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {}})
        assert r.status_code == 400 and r.json()["message"] == "token is required for TokenReview in authentication"
        resources = http.get("/apis/authentication.k8s.io/v1").json()["resources"]
        assert {x["name"]: x["verbs"] for x in resources}.get("tokenreviews") == ["create"]
