"""etcd key layout and list continue tokens.

Contract:
- An object lives at `/registry/<plural>/<namespace>/<name>` (cluster-scoped kinds:
  `/registry/<plural>/<name>`), as in Kubernetes. Non-core groups use the plural alone.
- A collection prefix always ends in "/", so `/registry/pods/` never matches
  `/registry/podtemplates/...`, and `/registry/pods/ns/` never matches namespace `ns2`.
- `resource_prefix(key)` gives the per-resource prefix (`/registry/pods/`) that owns one watch
  cache; `describe_key(key)` gives (plural, name) for Kubernetes-style error messages.
- `not_found/already_exists/conflict(key)` build Kubernetes' errors for a key (`pods "x" not
  found`, details.name and details.kind = the plural, as Kubernetes fills them).
- Continue tokens use Kubernetes' format: base64(JSON `{"v": "meta.k8s.io/v1", "rv": REV,
  "start": KEY_SUFFIX}`) where KEY_SUFFIX is the next key to read, relative to the list
  prefix. A token that does not decode, or that would leave the prefix, is a 400 BadRequest.
"""

from __future__ import annotations

import base64
import binascii
import json

from machinery import errors

REGISTRY_ROOT = "/registry/"
_TOKEN_VERSION = "meta.k8s.io/v1"


def _check_segment(value: str, what: str) -> None:
    # A "/" or an empty segment would make one object's key a prefix of another's.
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"invalid {what} for a storage key: {value!r}")


def collection_prefix(plural: str, namespace: str | None = None) -> str:
    """`/registry/<plural>/` or `/registry/<plural>/<namespace>/`."""
    _check_segment(plural, "resource")
    if namespace:
        _check_segment(namespace, "namespace")
        return f"{REGISTRY_ROOT}{plural}/{namespace}/"
    return f"{REGISTRY_ROOT}{plural}/"


def object_key(plural: str, name: str, namespace: str | None = None) -> str:
    """`/registry/<plural>/[<namespace>/]<name>`."""
    _check_segment(name, "name")
    return collection_prefix(plural, namespace) + name


def resource_prefix(key_or_prefix: str) -> str:
    """The per-resource prefix owning a key or sub-prefix: `/registry/pods/ns/x` -> `/registry/pods/`."""
    if not key_or_prefix.startswith(REGISTRY_ROOT):
        raise ValueError(f"not a registry key: {key_or_prefix!r}")
    plural = key_or_prefix[len(REGISTRY_ROOT):].split("/", 1)[0]
    _check_segment(plural, "resource")
    return f"{REGISTRY_ROOT}{plural}/"


def describe_key(key: str) -> tuple[str, str]:
    """(plural, name) of an object key, for messages like `pods "x" not found`."""
    rest = key[len(REGISTRY_ROOT):] if key.startswith(REGISTRY_ROOT) else key
    parts = rest.split("/")
    return parts[0], parts[-1]


def not_found(key: str) -> errors.NotFound:
    plural, name = describe_key(key)
    return errors.NotFound(f'{plural} "{name}" not found', name=name, kind=plural)


def already_exists(key: str) -> errors.AlreadyExists:
    plural, name = describe_key(key)
    return errors.AlreadyExists(f'{plural} "{name}" already exists', name=name, kind=plural)


def conflict(key: str) -> errors.Conflict:
    plural, name = describe_key(key)
    return errors.Conflict(
        f'Operation cannot be fulfilled on {plural} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        name=name, kind=plural,
    )


def range_end(prefix: bytes) -> bytes:
    """The etcd `range_end` covering every key that starts with `prefix`."""
    buf = bytearray(prefix)
    for i in reversed(range(len(buf))):
        if buf[i] < 0xFF:
            buf[i] += 1
            return bytes(buf[: i + 1])
    return b"\x00"  # all 0xff: etcd reads "\0" as "to the end of the keyspace"


def encode_continue(*, revision: int, next_key: str, prefix: str) -> str:
    """A continue token resuming a list of `prefix` at `next_key`, read at `revision`."""
    if not next_key.startswith(prefix):
        raise ValueError(f"continue key {next_key!r} is outside {prefix!r}")
    payload = {"v": _TOKEN_VERSION, "rv": revision, "start": next_key[len(prefix):]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    """(revision, full next key) of a token made by `encode_continue` for the same prefix."""
    bad = errors.BadRequest(
        f"invalid continue token: the token is malformed or was issued for another list ({token[:40]!r})"
    )
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
        raise bad
    rev, start = data.get("rv"), data.get("start")
    if not isinstance(rev, int) or isinstance(rev, bool) or not 0 < rev < 2**63 or not isinstance(start, str):
        raise bad  # etcd revisions are int64
    try:
        start.encode()
    except UnicodeEncodeError:  # a lone surrogate from a \ud800 escape: no key has one
        raise bad from None
    # Relative paths could otherwise walk out of the prefix the caller is allowed to list.
    if start.startswith("/") or "/../" in f"/{start}/" or "/./" in f"/{start}/":
        raise bad
    return rev, prefix + start
