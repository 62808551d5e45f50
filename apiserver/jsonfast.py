"""JSON for the hot paths (request bodies, responses, watch lines, etcd values): orjson when it
is installed (several times faster than the standard library), `json` otherwise.

Contract:
- `dumps(obj) -> bytes`: compact UTF-8 JSON, the same document as
  `json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()` (floats may be spelled
  differently, e.g. `1e-05` / `1e-5`; NaN and infinities, which are not JSON, become null with
  orjson). What orjson refuses (integers beyond 64 bits, ...) goes through `json`; text that is not valid
  UTF-8 (lone surrogates) is replaced rather than failing.
- `loads(raw) -> Any`: parses bytes or str. Input orjson rejects is parsed again by `json`, so a
  malformed body raises json's `ValueError` with the message clients have always seen, and
  whatever `json` accepts (UTF-16 bodies, NaN) still parses. Integers beyond 64 bits become
  floats with orjson (no Kubernetes field holds one; validation rejects them either way).
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson as orjson  # re-exported: apiserver.bodies uses jsonfast.orjson
except ImportError:  # optional: the standard library does the same, slower
    orjson = None  # type: ignore[assignment]


def dumps(obj: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except TypeError:  # orjson.JSONEncodeError: let json encode it (or explain why not)
            pass
    # "replace": a lone surrogate (which no decoder here lets in) must not fail an answer.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace")


def loads(raw: bytes | str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:  # json gives the familiar error, or accepts it
            pass
    return json.loads(raw)
