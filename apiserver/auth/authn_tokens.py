"""Static bearer tokens: kube-apiserver's `--token-auth-file`.

Contract:
- The file is CSV, one token a line: `token,user,uid[,"group1,group2,..."]` (Kubernetes'
  format; at least 3 columns, blank lines and lines starting with `#` skipped; a quoted last
  column holds several groups). `StaticTokens.load(path)` raises ValueError naming the line for
  a malformed one (fewer than 3 columns, an empty token or user) and for a duplicate token
  (Kubernetes warns and keeps the last one; refusing is safer and the file is ours).
- `await st.authenticate_token(token)`: the user, with `system:authenticated` added, or None.
  Tokens are kept only as SHA-256 digests, and every entry is compared with
  `hmac.compare_digest`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
from pathlib import Path

from apiserver.auth.authn import with_authenticated
from apiserver.auth.user import UserInfo


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class StaticTokens:
    def __init__(self, users: dict[bytes, UserInfo]) -> None:
        self._users = users

    def __len__(self) -> int:
        return len(self._users)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StaticTokens:
        return cls.parse(Path(path).read_text(), str(path))

    @classmethod
    def parse(cls, text: str, where: str = "token file") -> StaticTokens:
        users: dict[bytes, UserInfo] = {}
        for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"{where}:{lineno}: expected token,user,uid[,groups], got {len(row)} column(s)")
            token, name, uid = (c.strip() for c in row[:3])
            if not token or not name:
                raise ValueError(f"{where}:{lineno}: the token and the user name must not be empty")
            groups = [g.strip() for c in row[3:] for g in c.split(",") if g.strip()]
            digest = _digest(token)
            if digest in users:
                raise ValueError(f"{where}:{lineno}: duplicate token (user {name!r})")
            users[digest] = with_authenticated(name, uid, groups)
        return cls(users)

    async def authenticate_token(self, token: str) -> UserInfo | None:
        digest = _digest(token)
        found: UserInfo | None = None
        # Every entry is compared, in constant time each: the time taken says nothing about
        # which entry (or how much of one) matched. Static token files are short.
        for known, user in self._users.items():
            if hmac.compare_digest(known, digest):
                found = user
        return found
