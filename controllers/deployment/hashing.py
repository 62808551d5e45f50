"""Pod-template hashing: the `pod-template-hash` that names a Deployment's ReplicaSets.

Contract:
- `compute_hash(template, collision_count)` is FNV-1a 32 over a stable JSON encoding (sorted
  keys, no spaces) of the DEFAULTED template (`machinery.defaults`: the hash of what the user
  sent and of what the API server stored must agree), plus the decimal collision count when it
  is set, encoded with Kubernetes' `SafeEncodeString` alphabet (no vowels, so no words). The
  same template always gives the same hash in every process; a bumped `collisionCount`
  gives a different one (how a name collision with a foreign ReplicaSet is escaped).
- `equal_ignore_hash(a, b)`: two templates are the same rollout target when they are equal
  after defaulting, with the `pod-template-hash` label removed from both.
"""

from __future__ import annotations

import json
from typing import Any

from machinery.defaults import apply_defaults
from machinery.models import Deployment, PodTemplateSpec

HASH_LABEL = "pod-template-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in s)


def defaulted_template(template: PodTemplateSpec | None) -> dict[str, Any]:
    """The template as a dict after the API server's defaulting (empty labels dropped)."""
    holder = Deployment.from_dict({"spec": {"template": template.to_dict() if template else {}}})
    apply_defaults(holder)
    assert holder.spec is not None
    data = holder.spec.template.to_dict() if holder.spec.template else {}
    meta = data.get("metadata") or {}
    if not meta.get("labels"):
        meta.pop("labels", None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    if "metadata" in data and not meta:
        data.pop("metadata")
    return data


def compute_hash(template: PodTemplateSpec | None, collision_count: int | None = None) -> str:
    encoded = json.dumps(defaulted_template(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        encoded += str(collision_count)
    return safe_encode(str(fnv32a(encoded.encode())))


def _without_hash(template: PodTemplateSpec | None) -> dict[str, Any]:
    data = defaulted_template(template)
    labels = (data.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            data["metadata"].pop("labels")
            if not data["metadata"]:
                data.pop("metadata")
    return data


def equal_ignore_hash(a: PodTemplateSpec | None, b: PodTemplateSpec | None) -> bool:
    return _without_hash(a) == _without_hash(b)
