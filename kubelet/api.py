"""The kubelet's narrow view of the API server, as a Protocol plus its ApiClient version.

Contract: the pod workers and the node agent only need these calls; unit tests fake them.
Everything is plain wire dicts (the kubelet reads pods as dicts so that fields the typed
models do not know yet still reach Docker). `ClientApi` maps them onto
`machinery.client.ApiClient.request` (raw JSON) so it depends on nothing but the REST paths.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from machinery import errors

if TYPE_CHECKING:
    from machinery.client import KubeClient


class KubeletApi(Protocol):
    async def patch_pod_status(self, ns: str, name: str, status: dict[str, Any]) -> None: ...
    async def delete_pod_now(self, ns: str, name: str, uid: str) -> None: ...
    async def fetch(self, plural: str, ns: str, name: str) -> dict[str, Any] | None: ...


MERGE = {"Content-Type": "application/merge-patch+json"}


class ClientApi:
    """`KubeletApi` (and the node agent's calls) over an `ApiClient`."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def _req(self, method: str, path: str, **kw: Any) -> Any:
        return await self.client.request(method, path, **kw)

    async def patch_pod_status(self, ns: str, name: str, status: dict[str, Any]) -> None:
        await self._req("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                        content=json.dumps({"status": status}).encode(), headers=MERGE)

    async def delete_pod_now(self, ns: str, name: str, uid: str) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid}}
        # NotFound: already gone; Conflict: a new pod of the same name, not ours to delete.
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self._req("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}", json=body)

    async def fetch(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        try:
            path = f"/api/v1/namespaces/{ns}/{plural}/{name}" if ns else f"/api/v1/{plural}/{name}"
            obj = await self._req("GET", path)
        except errors.NotFound:
            return None
        return dict(obj)

    async def request_token(self, ns: str, sa: str, audiences: list[str] | None, expiration_s: int,
                            pod_name: str, pod_uid: str) -> tuple[str, float]:
        """A TokenRequest for `sa` bound to the pod: (token, expiry as a Unix time)."""
        spec: dict[str, Any] = {"expirationSeconds": expiration_s,
                                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod_name, "uid": pod_uid}}
        if audiences:
            spec["audiences"] = audiences
        answer = await self._req("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
                                 json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        status = answer.get("status") or {}
        expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00")).timestamp()
        return str(status["token"]), expires

    # --- node agent ---------------------------------------------------------------------
    async def get_node(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self._req("GET", f"/api/v1/nodes/{name}"))
        except errors.NotFound:
            return None

    async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._req("POST", path, json=obj))

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._req("PATCH", path, content=json.dumps(patch).encode(), headers=MERGE))

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return dict(await self._req("GET", path))
        except errors.NotFound:
            return None

    async def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._req("PUT", path, json=obj))
