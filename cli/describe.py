"""`kubelite describe KIND [NAME_PREFIX]`: kubectl's key/value description plus Events.

Contract: an exact name is described; otherwise every object whose name starts with the
argument (kubectl's prefix match); no argument describes all objects of the kind in the
namespace. Events come from the `events` collection filtered by fieldSelector
involvedObject.name/namespace/uid (filtered again here, should the server ignore a field).
Nothing matching -> `Error from server (NotFound): pods "x" not found`, exit 1.
"""

from __future__ import annotations

from typing import Any

from cli.describe_batch import BATCH_DESCRIBERS
from cli.describe_kinds import KINDS, describe_generic
from cli.describe_netpol import NETWORKING_DESCRIBERS
from cli.describe_storage import STORAGE_DESCRIBERS
from cli.describe_writer import Writer, events_table
from cli.printers import now
from cli.session import Globals, coll_path, obj_path, open_client, resolve_kind, with_type
from machinery import errors
from machinery.client import ApiClient

Obj = dict[str, Any]


def describe_object(w: Writer, o: Obj, related: dict[str, list[Obj]]) -> None:
    """The describer of the object's kind (cli/describe_kinds.py, describe_batch.py,
    describe_storage.py), else the generic one."""
    kind = str(o.get("kind"))
    describer = (KINDS.get(kind) or BATCH_DESCRIBERS.get(kind) or NETWORKING_DESCRIBERS.get(kind)
                 or STORAGE_DESCRIBERS.get(kind, describe_generic))
    describer(w, o, related)


async def _list(client: ApiClient, kind: str, namespace: str | None, field_selector: str | None = None) -> list[Obj]:
    cls = resolve_kind(kind)
    params = {"fieldSelector": field_selector} if field_selector else None
    try:
        body = await client.request("GET", coll_path(cls, namespace), params=params)
    except errors.BadRequest:
        if not field_selector:
            raise
        body = await client.request("GET", coll_path(cls, namespace))  # field not selectable here
    return [with_type(cls, o) for o in body.get("items") or []]


async def events_for(client: ApiClient, obj: Obj) -> list[Obj]:
    meta = obj.get("metadata") or {}
    name, ns, uid = meta.get("name", ""), meta.get("namespace"), meta.get("uid")
    sel = [f"involvedObject.name={name}"]
    if ns:
        sel.append(f"involvedObject.namespace={ns}")
    if uid:
        sel.append(f"involvedObject.uid={uid}")
    found = await _list(client, "events", ns, ",".join(sel))

    def mine(ev: Obj) -> bool:
        inv = ev.get("involvedObject") or {}
        return (inv.get("name") == name and (not ns or inv.get("namespace") in (None, "", ns))
                and (not uid or not inv.get("uid") or inv.get("uid") == uid)
                and (not inv.get("kind") or inv.get("kind") == obj.get("kind")))

    return [ev for ev in found if mine(ev)]


async def related_for(client: ApiClient, obj: Obj) -> dict[str, list[Obj]]:
    kind, meta = obj.get("kind"), obj.get("metadata") or {}
    if kind == "Node":
        return {"pods": await _list(client, "pods", None, f"spec.nodeName={meta.get('name')}")}
    if kind in ("ReplicaSet", "ReplicationController"):
        pods = await _list(client, "pods", meta.get("namespace"))
        return {"pods": [p for p in pods if any(r.get("uid") == meta.get("uid") and r.get("controller")
                                                for r in (p.get("metadata") or {}).get("ownerReferences") or [])]}
    if kind == "Deployment":
        owned = [rs for rs in await _list(client, "replicasets", meta.get("namespace"))
                 if any(r.get("uid") == meta.get("uid") for r in (rs.get("metadata") or {}).get("ownerReferences") or [])]
        return {"replicasets": owned}
    if kind == "PersistentVolumeClaim":
        users = [p for p in await _list(client, "pods", meta.get("namespace"))
                 if any((v.get("persistentVolumeClaim") or {}).get("claimName") == meta.get("name")
                        for v in (p.get("spec") or {}).get("volumes") or [])]
        return {"pods": users}
    if kind in ("DaemonSet", "Job", "StatefulSet"):
        owned = [p for p in await _list(client, "pods", meta.get("namespace"))
                 if any(r.get("uid") == meta.get("uid") and r.get("controller")
                        for r in (p.get("metadata") or {}).get("ownerReferences") or [])]
        return {"pods": owned}
    if kind == "Service":
        try:
            ep = await client.request("GET", obj_path(resolve_kind("endpoints"), meta.get("name", ""), meta.get("namespace")))
            return {"endpoints": [ep]}
        except errors.NotFound:
            return {"endpoints": []}
    return {}


async def describe(g: Globals, kind: str, name: str | None) -> int:
    cls = resolve_kind(kind)
    client, namespace = open_client(g)
    async with client:
        objs: list[Obj] = []
        if name:
            try:
                objs = [with_type(cls, await client.request("GET", obj_path(cls, name, namespace)))]
            except errors.NotFound as exc:
                body = await client.request("GET", coll_path(cls, namespace))
                objs = [with_type(cls, o) for o in body.get("items") or []
                        if str((o.get("metadata") or {}).get("name", "")).startswith(name)]
                if not objs:
                    raise exc from None
        else:
            body = await client.request("GET", coll_path(cls, namespace))
            objs = [with_type(cls, o) for o in body.get("items") or []]
            if not objs:
                print(f"No resources found in {namespace} namespace." if cls.NAMESPACED else "No resources found")
                return 0
        blocks = []
        for obj in objs:
            w = Writer()
            describe_object(w, obj, await related_for(client, obj))
            events_table(w, await events_for(client, obj), now())
            blocks.append(w.render())
        print("\n\n\n".join(blocks))
    return 0
