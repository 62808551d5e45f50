"""Which CertificateSigningRequests the csrapproving controller may approve on its own."""

from __future__ import annotations

import base64

import pytest

from controllers.certificates import is_kubelet_serving_request, is_node_agent_request, is_node_client_request
from machinery.models import (
    KUBE_APISERVER_CLIENT_SIGNER,
    KUBELET_CLIENT_SIGNER,
    KUBELET_SERVING_SIGNER,
    CertificateSigningRequest,
)
from machinery.pki import make_csr


def _csr(cn: str, orgs: list[str], signer: str, usages: tuple[str, ...] = ("digital signature", "client auth"),
         dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> CertificateSigningRequest:
    pem, _ = make_csr(cn, orgs, dns_names=dns, ip_addresses=ips)
    return CertificateSigningRequest.model_validate({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "x"},
        "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer, "usages": list(usages)}})


def test_node_client_requests() -> None:
    assert is_node_client_request(_csr("system:node:n1", ["system:nodes"], KUBELET_CLIENT_SIGNER)) == (
        True, "system:node:n1")
    for bad in (_csr("system:node:n1", ["system:masters"], KUBELET_CLIENT_SIGNER),
                _csr("system:node:n1", ["system:nodes"], KUBE_APISERVER_CLIENT_SIGNER),
                _csr("alice", ["system:nodes"], KUBELET_CLIENT_SIGNER),
                _csr("system:node:n1", ["system:nodes"], KUBELET_CLIENT_SIGNER, usages=("server auth",)),
                _csr("system:node:n1", ["system:nodes"], KUBELET_CLIENT_SIGNER, dns=("n1",))):
        assert is_node_client_request(bad) == (False, "")


@pytest.mark.parametrize("cn", ["system:kube-proxy", "system:kubelite-routeagent"])
def test_node_agent_requests(cn: str) -> None:
    assert is_node_agent_request(_csr(cn, [], KUBE_APISERVER_CLIENT_SIGNER)) == (True, cn)
    # a group would widen the identity; another signer or name is not a node agent's
    assert is_node_agent_request(_csr(cn, ["system:masters"], KUBE_APISERVER_CLIENT_SIGNER)) == (False, "")
    assert is_node_agent_request(_csr(cn, [], KUBELET_CLIENT_SIGNER)) == (False, "")
    assert is_node_agent_request(_csr("system:kube-scheduler", [], KUBE_APISERVER_CLIENT_SIGNER)) == (False, "")


SERVING = ("digital signature", "key encipherment", "server auth")


def test_kubelet_serving_requests() -> None:
    good = _csr("system:node:n1", ["system:nodes"], KUBELET_SERVING_SIGNER, SERVING, dns=("n1",), ips=("10.0.0.5",))
    assert is_kubelet_serving_request(good) == (True, "system:node:n1")
    for bad in (_csr("system:node:n1", ["system:nodes"], KUBELET_SERVING_SIGNER, SERVING),  # no SAN
                _csr("system:node:n1", ["system:masters"], KUBELET_SERVING_SIGNER, SERVING, dns=("n1",)),
                _csr("system:node:n1", ["system:nodes", "x"], KUBELET_SERVING_SIGNER, SERVING, dns=("n1",)),
                _csr("alice", ["system:nodes"], KUBELET_SERVING_SIGNER, SERVING, dns=("n1",)),
                _csr("system:node:", ["system:nodes"], KUBELET_SERVING_SIGNER, SERVING, dns=("n1",)),
                _csr("system:node:n1", ["system:nodes"], KUBELET_SERVING_SIGNER, ("client auth",), dns=("n1",)),
                _csr("system:node:n1", ["system:nodes"], KUBELET_SERVING_SIGNER,
                     ("server auth", "client auth"), dns=("n1",)),
                _csr("system:node:n1", ["system:nodes"], KUBELET_CLIENT_SIGNER, SERVING, dns=("n1",))):
        assert is_kubelet_serving_request(bad) == (False, "")
