"""CertificateSigningRequest on create: who asked, and a request that parses.

Contract: `prepare_csr_create(body, user)` (apiserver/routes.py calls it before the generic
create) replaces `spec.username`, `spec.uid`, `spec.groups` and `spec.extra` with the
authenticated requester's (a client cannot claim to be someone else, as in Kubernetes' CSR
strategy), drops any `status`, and raises 422 Invalid naming the field when `spec.request` is
not a base64 PEM `CERTIFICATE REQUEST` with a valid signature, `spec.signerName` is missing, or
`spec.usages` is missing/empty or names an unknown usage, or `spec.expirationSeconds` is under
600.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from apiserver.auth.user import ANONYMOUS_USER, UserInfo
from machinery import errors

KNOWN_USAGES = frozenset({
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"})


def _invalid(name: str, causes: list[dict[str, str]]) -> errors.Invalid:
    text = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    return errors.Invalid(f'CertificateSigningRequest.certificates.k8s.io "{name}" is invalid: {text}', name=name,
                          kind="CertificateSigningRequest", group="certificates.k8s.io", causes=causes)


def prepare_csr_create(body: Any, user: UserInfo | None) -> None:
    if not isinstance(body, dict):
        return
    user = user or ANONYMOUS_USER
    name = str((body.get("metadata") or {}).get("name") or "")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        spec = body["spec"] = {}
    causes: list[dict[str, str]] = []
    try:
        from cryptography import x509

        raw = base64.b64decode(str(spec.get("request") or ""), validate=True)
        if b"-----BEGIN CERTIFICATE REQUEST-----" not in raw:
            raise ValueError("PEM block type must be CERTIFICATE REQUEST")
        if not x509.load_pem_x509_csr(raw).is_signature_valid:
            raise ValueError("the request's signature is invalid")
    except (binascii.Error, ValueError) as exc:
        message = str(exc) if "PEM block" in str(exc) or "signature" in str(exc) else \
            "PEM block type must be CERTIFICATE REQUEST"
        causes.append({"reason": "FieldValueInvalid", "field": "spec.request", "message": f"Invalid value: {message}"})
    if not spec.get("signerName"):
        causes.append({"reason": "FieldValueRequired", "field": "spec.signerName", "message": "Required value"})
    usages = spec.get("usages")
    if not isinstance(usages, list) or not usages:
        causes.append({"reason": "FieldValueRequired", "field": "spec.usages", "message": "Required value"})
    else:
        for i, u in enumerate(usages):
            if u not in KNOWN_USAGES:
                causes.append({"reason": "FieldValueNotSupported", "field": f"spec.usages[{i}]",
                               "message": f'Unsupported value: "{u}"'})
    exp = spec.get("expirationSeconds")
    if exp is not None and (not isinstance(exp, int) or exp < 600):
        causes.append({"reason": "FieldValueInvalid", "field": "spec.expirationSeconds",
                       "message": f"Invalid value: {exp}: may not specify a duration less than 600 seconds (10 minutes)"})
    if causes:
        raise _invalid(name, causes)
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    else:
        spec.pop("uid", None)
    spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    else:
        spec.pop("extra", None)
    body.pop("status", None)
