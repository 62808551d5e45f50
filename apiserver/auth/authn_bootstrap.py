"""Bootstrap tokens (`kubelite token create`, used by `kubelite join`): Kubernetes' bootstrap
token authenticator.

Contract: `BootstrapTokens(storage)`; `await b.authenticate_token("abcdef.0123456789abcdef")`:
- the token must have the form `[a-z0-9]{6}.[a-z0-9]{16}`, else None (not ours: the next
  authenticator may know it);
- the Secret `kube-system/bootstrap-token-<id>` must exist, be of type
  `bootstrap.kubernetes.io/token`, not be being deleted, have `usage-bootstrap-authentication:
  "true"`, `token-secret` equal to the token's secret (constant-time comparison) and an
  `expiration` (RFC 3339) still in the future, if any;
- then the user is `system:bootstrap:<id>` in `system:bootstrappers` plus the Secret's
  `auth-extra-groups` (comma separated, each must start with `system:bootstrappers:`; others are
  ignored, as Kubernetes rejects them), and `system:authenticated`.
A token that has the form but fails any check is refused (None); the reason is logged at debug
level with the token id only, never the secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from datetime import UTC, datetime
from typing import Any

from apiserver.auth.authn import with_authenticated
from apiserver.auth.user import UserInfo
from apiserver.storage import Storage, keys
from machinery import errors

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
BOOTSTRAPPERS = "system:bootstrappers"
USER_PREFIX = "system:bootstrap:"


def _data(secret: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(str(v), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            out[k] = ""
    return out


def _expired(value: str, now: datetime) -> bool:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return True  # an unreadable expiration is treated as expired (Kubernetes does too)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= now


class BootstrapTokens:
    def __init__(self, storage_of: Any) -> None:
        # A callable returning the storage: the app connects it after construction.
        self._storage_of = storage_of

    async def authenticate_token(self, token: str) -> UserInfo | None:
        m = TOKEN_RE.match(token)
        if not m:
            return None
        token_id, token_secret = m.group(1), m.group(2)
        storage: Storage = self._storage_of()
        try:
            secret = await storage.get(keys.object_key("secrets", f"bootstrap-token-{token_id}", "kube-system"))
        except errors.NotFound:
            log.debug("bootstrap token %s: no Secret", token_id)
            return None
        if secret.get("type") != SECRET_TYPE or (secret.get("metadata") or {}).get("deletionTimestamp"):
            return None
        data = _data(secret)
        if not hmac.compare_digest(data.get("token-secret", "").encode(), token_secret.encode()):
            log.debug("bootstrap token %s: the secret part does not match", token_id)
            return None
        if data.get("token-id", token_id) != token_id or data.get("usage-bootstrap-authentication") != "true":
            return None
        if data.get("expiration") and _expired(data["expiration"], datetime.now(UTC)):
            log.debug("bootstrap token %s: expired", token_id)
            return None
        extra = [g.strip() for g in data.get("auth-extra-groups", "").split(",")
                 if g.strip().startswith(f"{BOOTSTRAPPERS}:")]
        return with_authenticated(f"{USER_PREFIX}{token_id}", groups=[BOOTSTRAPPERS, *extra])
