"""certificates.k8s.io/v1 CertificateSigningRequest: a request for a certificate signed by the
cluster (the kubelet's TLS bootstrap uses it).

Cluster-scoped; subresources `status` (the signer writes `status.certificate`) and `approval`
(conditions Approved/Denied). `spec.username/uid/groups/extra` are set by the API server from
the requester on create (what the client sends there is replaced), as Kubernetes does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict

from machinery.meta import Resource
from machinery.models._base import StrictModel

__all__ = [
    "KUBELET_CLIENT_SIGNER",
    "KUBELET_SERVING_SIGNER",
    "KUBE_APISERVER_CLIENT_SIGNER",
    "CSRCondition",
    "CertificateSigningRequest",
    "CertificateSigningRequestSpec",
    "CertificateSigningRequestStatus",
]

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"


class CertificateSigningRequestSpec(StrictModel):
    request: str | None = None
    signerName: str | None = None
    expirationSeconds: int | None = None
    usages: list[str] | None = None
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class CSRCondition(StrictModel):
    type: str | None = None
    status: str | None = None
    reason: str | None = None
    message: str | None = None
    lastUpdateTime: str | None = None
    lastTransitionTime: str | None = None


class CertificateSigningRequestStatus(StrictModel):
    conditions: list[CSRCondition] | None = None
    certificate: str | None = None


class CertificateSigningRequest(Resource):
    model_config = ConfigDict(strict=True)

    GROUP: ClassVar[str] = "certificates.k8s.io"
    KIND: ClassVar[str] = "CertificateSigningRequest"
    PLURAL: ClassVar[str] = "certificatesigningrequests"
    SINGULAR: ClassVar[str] = "certificatesigningrequest"
    NAMESPACED: ClassVar[bool] = False
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("csr",)
    SUBRESOURCES: ClassVar[tuple[str, ...]] = ("status", "approval")

    spec: CertificateSigningRequestSpec | None = None
    status: CertificateSigningRequestStatus | None = None

    def condition(self, type_: str) -> Any:
        for c in (self.status.conditions if self.status else None) or []:
            if c.type == type_ and c.status == "True":
                return c
        return None
