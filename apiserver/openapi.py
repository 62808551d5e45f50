"""OpenAPI v3 documents generated from the pydantic models, as kubectl expects them.

Contract:
- `OpenApi(kinds)` builds, once, one OpenAPI 3.0 document per group-version (`api/v1`,
  `apis/apps/v1`, ...). Component schemas come from `machinery.models` (pydantic's JSON
  schema, with `Optional` unwrapped, int-or-string fields marked
  `x-kubernetes-int-or-string`, class docstrings as descriptions). Each top-level kind carries
  `x-kubernetes-group-version-kind`; lists merged by key carry Kubernetes'
  `x-kubernetes-patch-merge-key`/`-strategy` taken from the server's own strategic merge
  (apiserver/patch.py), so kubectl computes patches the server applies the same way.
- Every kind gets collection and item paths whose operations carry
  `x-kubernetes-group-version-kind` and, for writes, the `fieldValidation` query parameter:
  that is how kubectl decides the server validates fields (`kubectl apply --validate=strict`).
- `root()` is `/openapi/v3`: `{"paths": {"apis/apps/v1": {"serverRelativeURL":
  "/openapi/v3/apis/apps/v1?hash=..."}}}`; `document(path)` is one group-version (None when
  unknown). Used by `kubectl explain` and our own /docs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from apiserver import patch
from apiserver.discovery import GIT_VERSION
from machinery.meta import Resource

Obj = dict[str, Any]
REF = "#/components/schemas/{model}"

# Extra strategies beyond "merge by key", as Kubernetes' types declare them.
_EXTRA_STRATEGY: dict[tuple[str, str], str] = {
    ("PodSpec", "volumes"): "merge,retainKeys",
    ("DeploymentSpec", "strategy"): "retainKeys",
    ("DaemonSetSpec", "updateStrategy"): "retainKeys",
}


# Where a model sits, for the merge keys that depend on it (see patch._merge_key).
_CONTEXT = {"Container": ("containers",), "EndpointSubset": ("subsets",), "NodeStatus": ("status",)}


def _patch_meta(model: str, field: str, prop: Obj) -> tuple[str, str | None] | None:
    """(strategy, merge key) of a field: the SAME merge keys the server's strategic merge uses
    (apiserver/patch.py), so kubectl computes patches the server applies as meant."""
    extra = _EXTRA_STRATEGY.get((model, field))
    if prop.get("type") == "array":
        key = patch._merge_key(field, _CONTEXT.get(model, ()))
        if key is not None and "$ref" in (prop.get("items") or {}):
            return extra or "merge", key
        if field in patch._MERGED_PRIMITIVE_LISTS:
            return "merge", None
    return (extra, None) if extra else None


def _clean(schema: Any) -> Any:
    """Unwrap `anyOf [X, null]`, mark int-or-string, drop pydantic's titles and null defaults."""
    if isinstance(schema, list):
        return [_clean(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _clean(v) for k, v in schema.items() if k not in ("title", "default") or
           (k == "default" and schema[k] is not None)}
    any_of = out.pop("anyOf", None)
    if any_of is not None:
        options = [o for o in any_of if o.get("type") != "null"]
        types = {o.get("type") for o in options}
        if types == {"integer", "string"}:
            out.update({"x-kubernetes-int-or-string": True})
        elif len(options) == 1:
            only = options[0]
            # Kubernetes wraps a $ref with siblings in allOf; kubectl follows both forms.
            out.update({"allOf": [only]} if "$ref" in only and out else only)
        else:
            out["anyOf"] = options
    return out


def _schemas(classes: list[type[Resource]]) -> Obj:
    _, doc = models_json_schema([(c, "validation") for c in classes], ref_template=REF)
    raw: Obj = doc.get("$defs", {})
    schemas: Obj = {}
    for name, schema in raw.items():
        title = schema.get("title", name)
        cleaned = _clean(schema)
        for field, prop in (cleaned.get("properties") or {}).items():
            meta = _patch_meta(title, field, prop)
            if meta is not None:
                prop["x-kubernetes-patch-strategy"] = meta[0]
                if meta[1]:
                    prop["x-kubernetes-patch-merge-key"] = meta[1]
        schemas[name] = cleaned
    for cls in classes:
        schema = schemas.get(cls.__name__)
        if schema is None:
            continue
        schema["x-kubernetes-group-version-kind"] = [
            {"group": cls.GROUP, "version": cls.VERSION, "kind": cls.KIND}]
        schema.setdefault("description", (cls.__doc__ or f"{cls.KIND} object.").strip())
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema "
                               "of this representation of an object."}
        props["kind"] = {"type": "string", "description": "Kind is a string value representing the "
                         "REST resource this object represents."}
    return schemas


def _param(name: str, where: str = "query", typ: str = "string", required: bool = False) -> Obj:
    return {"name": name, "in": where, "required": required, "schema": {"type": typ},
            "description": name, "uniqueItems": True}


_WRITE_PARAMS = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation"), _param("pretty")]
_LIST_PARAMS = [_param(n) for n in ("labelSelector", "fieldSelector", "resourceVersion",
                                    "resourceVersionMatch", "continue")] + [
    _param(n, typ="integer") for n in ("limit", "timeoutSeconds")] + [
    _param(n, typ="boolean") for n in ("watch", "allowWatchBookmarks", "sendInitialEvents")]
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _op(cls: type[Resource], action: str, op_id: str, params: list[Obj], *, body: Obj | None = None,
        content_types: Iterable[str] = ("application/json", "application/yaml"), code: str = "200") -> Obj:
    ref = {"$ref": REF.format(model=cls.__name__)}
    op: Obj = {
        "tags": [f"{cls.GROUP or 'core'}_{cls.VERSION}"], "operationId": op_id,
        "description": f"{action} {cls.KIND}", "parameters": params,
        "responses": {code: {"description": "OK", "content": {"application/json": {"schema": ref}}},
                      "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": cls.GROUP, "version": cls.VERSION, "kind": cls.KIND},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {ct: {"schema": body} for ct in content_types}}
    return op


def _paths(cls: type[Resource]) -> Obj:
    base = f"/apis/{cls.GROUP}/{cls.VERSION}" if cls.GROUP else f"/api/{cls.VERSION}"
    coll = f"{base}/namespaces/{{namespace}}/{cls.PLURAL}" if cls.NAMESPACED else f"{base}/{cls.PLURAL}"
    path_params = [_param("namespace", "path", required=True)] if cls.NAMESPACED else []
    name_params = [*path_params, _param("name", "path", required=True)]
    ref = {"$ref": REF.format(model=cls.__name__)}
    suffix = f"{cls.GROUP.split('.')[0].title() if cls.GROUP else 'Core'}{cls.VERSION.title()}" \
             f"{'Namespaced' if cls.NAMESPACED else ''}{cls.KIND}"
    return {
        coll: {
            "get": _op(cls, "list", f"list{suffix}", [*path_params, *_LIST_PARAMS]),
            "post": _op(cls, "post", f"create{suffix}", [*path_params, *_WRITE_PARAMS], body=ref, code="201"),
        },
        f"{coll}/{{name}}": {
            "get": _op(cls, "get", f"read{suffix}", name_params),
            "put": _op(cls, "put", f"replace{suffix}", [*name_params, *_WRITE_PARAMS], body=ref),
            "patch": _op(cls, "patch", f"patch{suffix}", [*name_params, *_WRITE_PARAMS, _param("force", typ="boolean")],
                         body={"type": "object"}, content_types=_PATCH_TYPES),
            "delete": _op(cls, "delete", f"delete{suffix}", [*name_params, _param("dryRun"),
                          _param("gracePeriodSeconds", typ="integer"), _param("propagationPolicy")]),
        },
    }


class OpenApi:
    def __init__(self, kinds: Iterable[type[Resource]]) -> None:
        by_gv: dict[str, list[type[Resource]]] = {}
        for cls in kinds:
            path = f"apis/{cls.GROUP}/{cls.VERSION}" if cls.GROUP else f"api/{cls.VERSION}"
            by_gv.setdefault(path, []).append(cls)
        self.documents: dict[str, bytes] = {}
        self.hashes: dict[str, str] = {}
        for path, classes in sorted(by_gv.items()):
            paths: Obj = {}
            for cls in sorted(classes, key=lambda c: c.KIND):
                paths.update(_paths(cls))
            doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes (kubelite)", "version": GIT_VERSION},
                   "paths": paths, "components": {"schemas": _schemas(classes)}}
            data = json.dumps(doc, separators=(",", ":")).encode()
            self.documents[path] = data
            self.hashes[path] = hashlib.sha512(data).hexdigest().upper()

    def root(self) -> Obj:
        return {"paths": {p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"} for p, h in self.hashes.items()}}

    def document(self, path: str) -> bytes | None:
        return self.documents.get(path.strip("/"))


def docs_page(api: OpenApi) -> str:
    """/docs: Swagger UI over the same group-version documents kubectl reads. The UI's script
    and style load in the reader's browser; the server itself serves only the documents."""
    urls = json.dumps([{"name": p, "url": f"/openapi/v3/{p}"} for p in api.documents])
    return f"""<!doctype html><html><head><title>kubelite API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div><noscript><ul>{"".join(f'<li><a href="/openapi/v3/{p}">{p}</a></li>' for p in api.documents)}</ul></noscript>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{dom_id: "#ui", urls: {urls}}});</script></body></html>"""
