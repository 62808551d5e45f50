"""Helpers of EtcdStorage: etcd/gRPC failures as API errors, and the stored value format.

Contract: `etcd_errors(what)` is a context manager turning gRPC UNAVAILABLE/DEADLINE_EXCEEDED,
timeouts and connection errors into errors.ServiceUnavailable (retry after 1 s), a compacted
revision into errors.Expired, a future one into errors.Timeout, a value over etcd's size limit into
errors.RequestEntityTooLarge (413), anything else into
errors.InternalError. `_encode(obj)` is the stored value (compact JSON without
metadata.resourceVersion); `_decode(value, revision)` reads one back with resourceVersion set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aetcd
import grpc

from apiserver import jsonfast
from apiserver.storage.interface import Obj
from machinery import errors


@contextmanager
def etcd_errors(what: str) -> Iterator[None]:
    """Translate etcd/gRPC failures into API errors (see module doc)."""
    try:
        yield
    except grpc.aio.AioRpcError as e:
        code, details = e.code(), e.details() or ""
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise errors.ServiceUnavailable(
                f"etcd is unavailable ({what}): {details or code.name}", retry_after_s=1
            ) from None
        if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
            raise errors.Expired(
                "The resourceVersion for the provided list is too old: etcd compacted it."
            ) from None
        if "request is too large" in details or code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # As Kubernetes: etcd's value size limit (1.5 MiB by default) is a 413.
            raise errors.RequestEntityTooLarge(f"the object is too large to store: {details}") from None
        if code == grpc.StatusCode.OUT_OF_RANGE and "future" in details:
            raise errors.Timeout(f"Too large resource version ({what})") from None
        raise errors.InternalError(f"etcd error ({what}): {code.name}: {details}") from None
    except (TimeoutError, OSError, aetcd.exceptions.ClientError) as e:
        raise errors.ServiceUnavailable(f"etcd is unavailable ({what}): {e!r}", retry_after_s=1) from None


def _encode(obj: Obj) -> bytes:
    return jsonfast.dumps(_without_rv(obj))


def _without_rv(obj: Obj) -> Obj:
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return {**obj, "metadata": meta}


def _decode(value: bytes, revision: int) -> Obj:
    obj: Obj = jsonfast.loads(value)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(revision)
    return obj
