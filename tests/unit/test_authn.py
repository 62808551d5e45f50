"""Authentication pieces without a server: the PKI, the static token file, the authenticator's
order and anonymous rules, bootstrap tokens on a fake store, and cluster-info signatures."""

from __future__ import annotations

import base64
import os
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apiserver.auth.authn import PEER_KEY, Authenticator, bearer_token
from apiserver.auth.authn_bootstrap import BootstrapTokens
from apiserver.auth.authn_tokens import StaticTokens
from apiserver.auth.user import ANONYMOUS_USER, AUTHENTICATED
from machinery import clusterinfo, errors, pki


def scope(path: str = "/api/v1/pods", *, token: str | None = None, peer: Any = None,
          method: str = "GET") -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token is not None else []
    return {"type": "http", "path": path, "method": method, "headers": headers,
            "state": {PEER_KEY: peer} if peer else {}}


def test_cluster_pki_files_identities_and_modes(tmp_path: Path) -> None:
    p = pki.ensure_cluster_pki(tmp_path / "pki", ip_sans=["10.96.0.1"], nodes=["n1"])
    assert pki.subject_of(p.cert("admin").read_bytes()) == ("kubernetes-admin", ("system:masters",))
    assert pki.subject_of(p.cert("node-n1").read_bytes()) == ("system:node:n1", ("system:nodes",))
    assert pki.subject_of(p.cert("scheduler").read_bytes()) == ("system:kube-scheduler", ())
    for key in p.dir.glob("*.key"):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, key
    before = p.cert("admin").read_bytes()
    pki.ensure_cluster_pki(tmp_path / "pki", nodes=["n2"])  # kept, and n2 added
    assert p.cert("admin").read_bytes() == before and p.cert("node-n2").exists()
    # The serving certificate verifies for 127.0.0.1 and the kubernetes Service IP.
    ctx = ssl.create_default_context(cafile=str(p.ca_cert))
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(p.cert("apiserver").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.96.0.1"}
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)


def test_sign_csr_keeps_subject_and_refuses_garbage(tmp_path: Path) -> None:
    ca = pki.CertificateAuthority.create()
    csr, _ = pki.make_csr("system:node:n9", ["system:nodes"])
    cert = ca.sign_csr(csr)
    assert pki.subject_of(cert) == ("system:node:n9", ("system:nodes",))
    with pytest.raises(ValueError, match="not a PEM certificate request"):
        ca.sign_csr(b"nope")


def test_static_token_file_parses_kubernetes_csv() -> None:
    tokens = StaticTokens.parse('# comment\nt1,alice,uid1,"dev,ops"\n\nt2,bob,uid2\n')
    assert len(tokens) == 2
    with pytest.raises(ValueError, match=":1: expected token,user,uid"):
        StaticTokens.parse("t1,alice\n")
    with pytest.raises(ValueError, match="duplicate token"):
        StaticTokens.parse("t1,a,1\nt1,b,2\n")


async def test_authenticator_order_and_anonymous_paths() -> None:
    a = Authenticator([StaticTokens.parse('t1,alice,uid1,"dev"\n')])
    cert_user = await a.authenticate(scope(peer=("kubernetes-admin", ("system:masters",)), token="wrong"))
    assert cert_user is not None and cert_user.name == "kubernetes-admin"
    assert cert_user.groups == ("system:masters", AUTHENTICATED)
    alice = await a.authenticate(scope(token="t1"))
    assert alice is not None and (alice.name, alice.uid, alice.groups) == ("alice", "uid1", ("dev", AUTHENTICATED))
    assert await a.authenticate(scope(token="t2")) is None  # a bad token is never anonymous
    assert await a.authenticate(scope("/healthz", token="t2")) is None
    assert await a.authenticate(scope()) is None  # no credential outside the public paths: 401
    for path in ("/healthz", "/readyz", "/livez", "/version", "/readyz/etcd"):
        assert await a.authenticate(scope(path)) is ANONYMOUS_USER, path
    assert await a.authenticate(scope("/api/v1/namespaces/kube-public/configmaps/cluster-info")) is ANONYMOUS_USER
    assert await a.authenticate(scope("/api/v1/namespaces/kube-public/configmaps/cluster-info",
                                      method="DELETE")) is None
    assert await a.authenticate(scope("/healthzz")) is None
    assert await a.authenticate(scope(peer=("", ("system:masters",)))) is None  # no CN: nobody
    closed = Authenticator([], anonymous_paths=False)
    assert await closed.authenticate(scope("/healthz")) is None
    assert bearer_token({"headers": [(b"authorization", b"Basic abc")]}) is None


class FakeStore:
    def __init__(self, objs: dict[str, dict[str, Any]]) -> None:
        self.objs = objs

    async def get(self, key: str) -> dict[str, Any]:
        if key not in self.objs:
            raise errors.NotFound(key)
        return self.objs[key]


def bootstrap_secret(token_id: str, secret: str, **extra: str) -> dict[str, Any]:
    data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true", **extra}
    return {"type": "bootstrap.kubernetes.io/token", "metadata": {"name": f"bootstrap-token-{token_id}"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


async def test_bootstrap_tokens() -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    store = FakeStore({
        "/registry/secrets/kube-system/bootstrap-token-abcdef": bootstrap_secret(
            "abcdef", "0123456789abcdef", expiration=later,
            **{"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token,system:masters"}),
        "/registry/secrets/kube-system/bootstrap-token-old000": bootstrap_secret(
            "old000", "0123456789abcdef", expiration=past),
    })
    b = BootstrapTokens(lambda: store)
    user = await b.authenticate_token("abcdef.0123456789abcdef")
    assert user is not None and user.name == "system:bootstrap:abcdef"
    # Extra groups outside system:bootstrappers: are dropped (no way to become system:masters).
    assert user.groups == ("system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", AUTHENTICATED)
    assert await b.authenticate_token("abcdef.0123456789abcdee") is None
    assert await b.authenticate_token("old000.0123456789abcdef") is None
    assert await b.authenticate_token("zzzzzz.0123456789abcdef") is None
    assert await b.authenticate_token("not-a-bootstrap-token") is None


def test_cluster_info_signature_and_ca_pin() -> None:
    ca = pki.CertificateAuthority.create()
    content = clusterinfo.cluster_info_kubeconfig("https://10.0.0.1:6443", ca.cert_pem)
    cm = {"data": {"kubeconfig": content,
                   "jws-kubeconfig-abcdef": clusterinfo.jws_sign(content, "abcdef", "0123456789abcdef")}}
    assert clusterinfo.ca_from_cluster_info(cm, "abcdef.0123456789abcdef") == ca.cert_pem
    pin = clusterinfo.ca_cert_hash(ca.cert_pem)
    assert clusterinfo.ca_from_cluster_info(cm, "abcdef.0123456789abcdef", pin) == ca.cert_pem
    with pytest.raises(ValueError, match="public key hash"):
        clusterinfo.ca_from_cluster_info(cm, "abcdef.0123456789abcdef", "sha256:" + "0" * 64)
    with pytest.raises(ValueError, match="JWS signature"):
        clusterinfo.ca_from_cluster_info(cm, "abcdef.0000000000000000")
    tampered = {"data": {**cm["data"], "kubeconfig": content.replace("10.0.0.1", "10.6.6.6")}}
    with pytest.raises(ValueError, match="JWS signature"):
        clusterinfo.ca_from_cluster_info(tampered, "abcdef.0123456789abcdef")
