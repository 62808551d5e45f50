"""CertificateSigningRequest approval and signing (Kubernetes' csrapproving and csrsigning).

Contract (keys are CSR names):
- `CSRApprovingController` (NAME "csrapproving") auto-approves kubelet client certificates, as
  Kubernetes' sarapprove does for `nodeclient` and `selfnodeclient`: signerName
  `kubernetes.io/kube-apiserver-client-kubelet`, a request whose subject is exactly
  O=system:nodes and CN=system:node:<name>, no SANs, usages among {digital signature, key
  encipherment, client auth} including client auth; asked either by a bootstrap token
  (requester in `system:bootstrappers`) or by that node itself (requester == CN, a renewal).
  It appends the condition `Approved` (reason `AutoApproved`, message "Auto approving kubelet
  client certificate after SubjectAccessReview.") through the `approval` subresource. Anything
  else is left for a human (`kubectl certificate approve`). Decision: kubelite checks the
  requester's group instead of a SubjectAccessReview of certificatesigningrequests/nodeclient
  (what the default RBAC policy grants system:bootstrappers anyway). Also auto-approved, for
  `kubelite join` (as k3s issues its agents a kube-proxy certificate): signer
  `kubernetes.io/kube-apiserver-client` requests of a bootstrap token for CN `system:kube-proxy`
  or `system:kubelite-routeagent` with no O, no SANs and client usages (NODE_AGENT_USERS: read-only
  roles, weaker than the system:node identity the same token may already obtain). Also approved:
  kubelet serving certificates (signer `kubernetes.io/kubelet-serving`, the kubelet's
  --rotate-server-certificates, implied by TLS bootstrap) asked by the node itself (requester ==
  CN == system:node:<name>, in system:nodes), with subject O=system:nodes, usages among {digital
  signature, key encipherment, server auth} including server auth, and only DNS/IP SANs (at least
  one). Decision: Kubernetes' own controller-manager leaves these to an external approver
  (kubeadm docs: kubelet-csr-approver); kubelite approves them for the node's own identity, and
  does not compare the IP SANs with the Node's addresses (the node reports those itself anyway).
- `CSRSigningController` (NAME "csrsigning") signs approved, not yet signed, not failed requests
  of the signers `kubernetes.io/kube-apiserver-client-kubelet`, `kubernetes.io/kube-apiserver-client`
  and `kubernetes.io/kubelet-serving` (a serving certificate keeping the request's SANs; a request
  that is not a kubelet serving request gets `Failed`) with the cluster CA (`--cluster-signing-cert-file` /
  `--cluster-signing-key-file`, ControllerOptions.signing_ca), for `spec.expirationSeconds`
  (at least 600 s) capped by `--cluster-signing-duration` (default one year), and writes
  `status.certificate` (PEM) through `status`. A request that does not parse, or a kubelet-signer
  request that is not a kubelet client certificate (even approved by a human), gets the condition
  `Failed` (reason `SignerValidationFailure`), as Kubernetes' signer refuses it. Without a signing CA the controller does nothing.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from controllers.base import Controller, ControllerContext
from machinery import errors
from machinery.meta import now_rfc3339
from machinery.models import (
    KUBE_APISERVER_CLIENT_SIGNER,
    KUBELET_CLIENT_SIGNER,
    KUBELET_SERVING_SIGNER,
    CertificateSigningRequest,
)

log = logging.getLogger(__name__)

APPROVE_MESSAGE = "Auto approving kubelet client certificate after SubjectAccessReview."
ALLOWED_USAGES = {"digital signature", "key encipherment", "client auth"}
MIN_DURATION_S = 600
BOOTSTRAPPERS = "system:bootstrappers"
# The per-node daemons `kubelite join` starts beside the kubelet; their roles
# (system:node-proxier, system:kubelite-routeagent) only read what every node reads.
NODE_AGENT_USERS = frozenset({"system:kube-proxy", "system:kubelite-routeagent"})
AGENT_APPROVE_MESSAGE = "Auto approving a node agent's client certificate requested with a bootstrap token."


def _csr_path(name: str, sub: str) -> str:
    return f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/{sub}"


def _client_subject(csr: CertificateSigningRequest, signer: str) -> tuple[str, list[str]] | None:
    """(CN, O values) of a well-formed client-certificate request of `signer` (one CN, no SANs,
    usages among ALLOWED_USAGES including client auth); None otherwise."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    spec = csr.spec
    if spec is None or spec.signerName != signer or not spec.request:
        return None
    try:
        req = x509.load_pem_x509_csr(base64.b64decode(spec.request))
    except ValueError:
        return None
    orgs = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    cns = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if len(cns) != 1:
        return None
    try:
        req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return None  # client certificates carry no SANs
    except x509.ExtensionNotFound:
        pass
    usages = set(spec.usages or [])
    if "client auth" not in usages or not usages <= ALLOWED_USAGES:
        return None
    return cns[0], orgs


def is_node_client_request(csr: CertificateSigningRequest) -> tuple[bool, str]:
    """(is it a well-formed kubelet client CSR, its CN)."""
    subject = _client_subject(csr, KUBELET_CLIENT_SIGNER)
    if subject is None or subject[1] != ["system:nodes"] or not subject[0].startswith("system:node:"):
        return False, ""
    return True, subject[0]


def is_node_agent_request(csr: CertificateSigningRequest) -> tuple[bool, str]:
    """(is it a well-formed client CSR of one of NODE_AGENT_USERS, no groups, its CN)."""
    subject = _client_subject(csr, KUBE_APISERVER_CLIENT_SIGNER)
    if subject is None or subject[1] or subject[0] not in NODE_AGENT_USERS:
        return False, ""
    return True, subject[0]


SERVING_USAGES = {"digital signature", "key encipherment", "server auth"}
SERVING_APPROVE_MESSAGE = "Auto approving kubelet serving certificate requested by the node itself."


def is_kubelet_serving_request(csr: CertificateSigningRequest) -> tuple[bool, str]:
    """(is it a well-formed kubelet serving CSR, its CN), as Kubernetes' IsKubeletServingCSR:
    O=[system:nodes], CN=system:node:<name>, server auth among allowed usages, DNS/IP SANs only."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    spec = csr.spec
    if spec is None or spec.signerName != KUBELET_SERVING_SIGNER or not spec.request:
        return False, ""
    try:
        req = x509.load_pem_x509_csr(base64.b64decode(spec.request))
    except ValueError:
        return False, ""
    orgs = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    cns = [str(a.value) for a in req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if orgs != ["system:nodes"] or len(cns) != 1 or not cns[0].startswith("system:node:") or cns[0] == "system:node:":
        return False, ""
    try:
        sans = list(req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return False, ""
    if not sans or any(not isinstance(n, x509.DNSName | x509.IPAddress) for n in sans):
        return False, ""
    usages = set(spec.usages or [])
    if "server auth" not in usages or not usages <= SERVING_USAGES:
        return False, ""
    return True, cns[0]


class _CsrController(Controller):
    KIND = CertificateSigningRequest

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs = ctx.factory.informer(CertificateSigningRequest)
        self.csrs.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))

    async def _put(self, csr: CertificateSigningRequest, sub: str, conditions: list[dict[str, Any]] | None = None,
                   certificate: str | None = None) -> None:
        body = csr.to_dict()
        status = body.setdefault("status", {})
        if conditions is not None:
            status["conditions"] = [*(status.get("conditions") or []), *conditions]
        if certificate is not None:
            status["certificate"] = certificate
        try:
            await self.client.request("PUT", _csr_path(csr.name, sub), json=body)
        except errors.NotFound:
            return


class CSRApprovingController(_CsrController):
    NAME = "csrapproving"

    async def sync(self, key: str) -> None:
        csr = self.csrs.get(key)
        if csr is None or csr.condition("Approved") or csr.condition("Denied") or csr.spec is None:
            return
        groups = csr.spec.groups or []
        serving, cn = is_kubelet_serving_request(csr)
        if csr.spec.signerName == KUBELET_SERVING_SIGNER:
            # only the node itself, authenticated as that node, for its own serving certificate
            if not serving or csr.spec.username != cn or "system:nodes" not in groups:
                return
            await self._approve(csr, cn, SERVING_APPROVE_MESSAGE)
            return
        ok, cn = is_node_client_request(csr)
        message = APPROVE_MESSAGE
        if ok and BOOTSTRAPPERS not in groups and csr.spec.username != cn:
            return
        if not ok:
            ok, cn = is_node_agent_request(csr)
            message = AGENT_APPROVE_MESSAGE
            if not ok or BOOTSTRAPPERS not in groups:
                return
        await self._approve(csr, cn, message)

    async def _approve(self, csr: CertificateSigningRequest, cn: str, message: str) -> None:
        now = now_rfc3339()
        await self._put(csr, "approval", conditions=[{"type": "Approved", "status": "True", "reason": "AutoApproved",
                                                      "message": message, "lastUpdateTime": now,
                                                      "lastTransitionTime": now}])
        log.info("approved CSR %s for %s", csr.name, cn)


class CSRSigningController(_CsrController):
    NAME = "csrsigning"

    async def _fail(self, csr: CertificateSigningRequest, message: str) -> None:
        now = now_rfc3339()
        await self._put(csr, "status", conditions=[{"type": "Failed", "status": "True",
                                                    "reason": "SignerValidationFailure", "message": message,
                                                    "lastUpdateTime": now, "lastTransitionTime": now}])

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ca = ctx.options.signing_ca  # machinery.pki.CertificateAuthority | None
        self.max_duration_s = ctx.options.cluster_signing_duration_s

    async def sync(self, key: str) -> None:
        csr = self.csrs.get(key)
        if (self.ca is None or csr is None or csr.spec is None or not csr.condition("Approved")
                or csr.condition("Failed") or csr.condition("Denied") or (csr.status and csr.status.certificate)):
            return
        if csr.spec.signerName not in (KUBELET_CLIENT_SIGNER, KUBE_APISERVER_CLIENT_SIGNER, KUBELET_SERVING_SIGNER):
            return  # another signer's request
        serving = csr.spec.signerName == KUBELET_SERVING_SIGNER
        if serving and not is_kubelet_serving_request(csr)[0]:
            await self._fail(csr, "invalid kubelet serving certificate request: the subject must be "
                                  "O=system:nodes, CN=system:node:<name>, with DNS/IP SANs only, for server auth")
            return
        if csr.spec.signerName == KUBELET_CLIENT_SIGNER and not is_node_client_request(csr)[0]:
            # This signer issues kubelet client certificates only, whoever approved the request.
            await self._fail(csr, "invalid kubelet client certificate request: the subject must be "
                                  "O=system:nodes, CN=system:node:<name>, without SANs, for client auth")
            return
        duration = self.max_duration_s
        if csr.spec.expirationSeconds:
            duration = min(duration, max(MIN_DURATION_S, csr.spec.expirationSeconds))
        try:
            pem = self.ca.sign_csr(base64.b64decode(csr.spec.request or ""), server=serving, client=not serving,
                                   validity_s=duration)
        except ValueError as exc:
            await self._fail(csr, str(exc))
            return
        await self._put(csr, "status", certificate=base64.b64encode(pem).decode())
        log.info("signed CSR %s", csr.name)
