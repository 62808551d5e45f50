"""ServiceAccount token authentication (Kubernetes' serviceaccount JWT authenticator, bound tokens).

Contract: `ServiceAccountTokens(verifier, audiences, storage_of)`; `await authenticate_token(t)`:
- not a JWT of our issuers: None (the next authenticator may know it);
- the signature, `exp`/`nbf` (apiserver/auth/satokens.py) and the audience (at least one of the
  token's `aud` in the server's `--api-audiences`) must hold, else None (401);
- the bound objects must still exist with the same uid: the ServiceAccount (and not being
  deleted), the pod or secret the token is bound to (a pod being deleted still authenticates
  during its grace period, as in Kubernetes); a token of a deleted pod or ServiceAccount, or of
  one recreated under the same name, stops working at once;
- then the user is `system:serviceaccount:NS:NAME` (uid: the ServiceAccount's) in
  `system:serviceaccounts`, `system:serviceaccounts:NS`, `system:authenticated`, with extra
  `authentication.kubernetes.io/pod-name`, `.../pod-uid`, `.../node-name`, `.../node-uid`,
  `.../credential-id` (`JTI=<jti>`) as Kubernetes sets them.
The reason a token is refused is logged at debug level without the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from apiserver.auth.authn import with_authenticated
from apiserver.auth.satokens import InvalidToken, NotAJwt, TokenVerifier
from apiserver.auth.user import UserInfo
from apiserver.storage import Storage, keys
from machinery import errors

log = logging.getLogger(__name__)

SA_GROUP = "system:serviceaccounts"
EXTRA = "authentication.kubernetes.io/"


async def _uid_of(storage: Storage, plural: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    try:
        return await storage.get(keys.object_key(plural, name, namespace))
    except (errors.NotFound, errors.BadRequest):
        return None


class ServiceAccountTokens:
    def __init__(self, verifier: TokenVerifier, audiences: Sequence[str],
                 storage_of: Callable[[], Storage], clock: Callable[[], float] = time.time) -> None:
        self.verifier = verifier
        self.audiences = frozenset(audiences)
        self._storage_of = storage_of
        self._clock = clock

    async def authenticate_token(self, token: str) -> UserInfo | None:
        try:
            claims = self.verifier.verify(token, self._clock())
        except NotAJwt:
            return None
        except InvalidToken as exc:
            log.debug("service account token refused: %s", exc)
            return None
        aud = claims.get("aud")
        token_aud = {aud} if isinstance(aud, str) else set(aud or [])
        if not token_aud & self.audiences:
            log.debug("service account token refused: audience %s not accepted", sorted(token_aud))
            return None
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            return None
        return await self._bound_user(private, str(claims.get("jti") or ""))

    async def _bound_user(self, private: dict[str, Any], jti: str) -> UserInfo | None:
        ns = str(private.get("namespace") or "")
        sa_ref = private.get("serviceaccount") or {}
        sa_name, sa_uid = str(sa_ref.get("name") or ""), str(sa_ref.get("uid") or "")
        if not ns or not sa_name:
            return None
        storage = self._storage_of()
        sa = await _uid_of(storage, "serviceaccounts", sa_name, ns)
        meta = (sa or {}).get("metadata") or {}
        if sa is None or meta.get("uid") != sa_uid or meta.get("deletionTimestamp"):
            log.debug("service account token refused: ServiceAccount %s/%s gone or replaced", ns, sa_name)
            return None
        extra: dict[str, tuple[str, ...]] = {}
        for kind, plural, namespaced in (("pod", "pods", True), ("secret", "secrets", True), ("node", "nodes", False)):
            ref = private.get(kind)
            if not isinstance(ref, dict):
                continue
            obj = await _uid_of(storage, plural, str(ref.get("name") or ""), ns if namespaced else None)
            if obj is None or (obj.get("metadata") or {}).get("uid") != ref.get("uid"):
                log.debug("service account token refused: bound %s %s gone or replaced", kind, ref.get("name"))
                return None
            if kind in ("pod", "node"):
                extra[f"{EXTRA}{kind}-name"] = (str(ref.get("name")),)
                extra[f"{EXTRA}{kind}-uid"] = (str(ref.get("uid")),)
        if jti:
            extra[f"{EXTRA}credential-id"] = (f"JTI={jti}",)
        return with_authenticated(f"system:serviceaccount:{ns}:{sa_name}", sa_uid,
                                  [SA_GROUP, f"{SA_GROUP}:{ns}"], extra)
