"""The serviceaccounts/token subresource (TokenRequest, authentication.k8s.io/v1).

Contract: `await create_token(ctx, namespace, sa_name, body, now=None) -> dict` answers
`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (201) as Kubernetes does:
- the body is a TokenRequest (kind TokenRequest or absent); `spec.expirationSeconds` defaults to
  3600 and must be at least 600 (422 `spec.expirationSeconds: Invalid value: N: may not
  specify a duration less than 10 minutes`); a server `--service-account-max-token-expiration`
  caps it; `spec.audiences` default to the server's API audiences;
- the ServiceAccount must exist (404 NotFound serviceaccounts "NAME");
- `spec.boundObjectRef` may name a Pod, Secret (same namespace) or Node, which must exist, and
  whose uid, if given, must match (a missing object or uid mismatch: 404 / 409 Conflict); the
  token is bound to it (machinery of apiserver/auth/authn_sa.py); a pod binding also records
  the pod's node;
- the answer is the request with `metadata` (name: the ServiceAccount's, namespace,
  creationTimestamp) and `status: {token, expirationTimestamp}`; nothing is stored;
- no signing key configured: 503 ServiceUnavailable naming the missing flag.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from apiserver.auth.satokens import TokenSigner, bound_claims
from apiserver.authn_setup import audiences
from apiserver.handlers_common import Ctx
from apiserver.storage import keys
from machinery import errors
from machinery.meta import now_rfc3339

DEFAULT_EXPIRATION_S = 3600
MIN_EXPIRATION_S = 600
_BOUND_KINDS = {"Pod": ("pods", True), "Secret": ("secrets", True), "Node": ("nodes", False)}


def _invalid(name: str, field: str, message: str) -> errors.Invalid:
    return errors.Invalid(f'TokenRequest.authentication.k8s.io "{name}" is invalid: {field}: {message}',
                          name=name, kind="TokenRequest", group="authentication.k8s.io",
                          causes=[{"reason": "FieldValueInvalid", "field": field, "message": message}])


async def _get(ctx: Ctx, plural: str, name: str, namespace: str | None, what: str) -> dict[str, Any]:
    try:
        return await ctx.storage.get(keys.object_key(plural, name, namespace))
    except (errors.NotFound, ValueError):
        raise errors.NotFound(f'{what} "{name}" not found', name=name, kind=plural) from None


async def create_token(ctx: Ctx, signer: TokenSigner | None, namespace: str, sa_name: str, body: Any,
                       *, now: float | None = None) -> dict[str, Any]:
    if signer is None:
        raise errors.ServiceUnavailable("token requests need --service-account-signing-key-file on the API server")
    if not isinstance(body, dict) or body.get("kind") not in (None, "TokenRequest"):
        raise errors.BadRequest("the body must be a TokenRequest object")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.BadRequest("spec must be an object")
    expiration = spec.get("expirationSeconds")
    expiration = DEFAULT_EXPIRATION_S if expiration is None else expiration
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        raise _invalid(sa_name, "spec.expirationSeconds", f"Invalid value: {expiration!r}: must be an integer")
    if expiration < MIN_EXPIRATION_S:
        raise _invalid(sa_name, "spec.expirationSeconds",
                       f"Invalid value: {expiration}: may not specify a duration less than 10 minutes")
    if expiration > 2**32:
        raise _invalid(sa_name, "spec.expirationSeconds",
                       f"Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds")
    cap = ctx.config.service_account_max_token_expiration_s
    if cap and expiration > cap:
        expiration = int(cap)
    auds = spec.get("audiences") or audiences(ctx.config)
    if not isinstance(auds, list) or not all(isinstance(a, str) and a for a in auds):
        raise _invalid(sa_name, "spec.audiences", "Invalid value: audiences must be non-empty strings")
    sa = await _get(ctx, "serviceaccounts", sa_name, namespace, "serviceaccounts")
    bound: dict[str, tuple[str, str]] = {}
    ref = spec.get("boundObjectRef")
    if ref:
        if not isinstance(ref, dict) or ref.get("kind") not in _BOUND_KINDS:
            raise _invalid(sa_name, "spec.boundObjectRef.kind",
                           'Unsupported value: must be one of "Pod", "Secret", "Node"')
        plural, namespaced = _BOUND_KINDS[str(ref["kind"])]
        obj = await _get(ctx, plural, str(ref.get("name") or ""), namespace if namespaced else None, plural)
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.Conflict(f'the UID in the bound object reference ({ref["uid"]}) does not match the UID '
                                  f"in record. The object might have been deleted and then recreated")
        bound[str(ref["kind"]).lower()] = (str(ref.get("name")), uid)
        node_name = (obj.get("spec") or {}).get("nodeName") if ref["kind"] == "Pod" else None
        if node_name:
            node = await _get(ctx, "nodes", str(node_name), None, "nodes")
            bound["node"] = (str(node_name), str((node.get("metadata") or {}).get("uid") or ""))
    t = time.time() if now is None else now
    claims = bound_claims(issuer=signer.issuer, audiences=auds, namespace=namespace, sa_name=sa_name,
                          sa_uid=str((sa.get("metadata") or {}).get("uid") or ""), now=t, expiration_s=expiration,
                          pod=bound.get("pod"), node=bound.get("node"), secret=bound.get("secret"))
    exp = datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": sa_name, "namespace": namespace, "creationTimestamp": now_rfc3339()},
            "spec": {**spec, "audiences": auds, "expirationSeconds": expiration},
            "status": {"token": signer.sign(claims), "expirationTimestamp": exp}}
