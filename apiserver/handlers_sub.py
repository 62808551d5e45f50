"""Subresources with their own object shape: pods/binding and */scale.

Contract:
- `bind(ctx, ns, pod_name, body)`: POST of a Binding (`target.name` = node) sets the pod's
  spec.nodeName atomically, only if it is still unset (409 Conflict otherwise, or when the pod
  is being deleted), adds the PodScheduled=True condition and copies the Binding's
  annotations. Answers a Status Success with code 201. The pod's name comes from the path
  (`pods/NAME/binding`) or, for `namespaces/NS/bindings`, from the Binding's metadata.name.
- `evict(ctx, pod_cls, ns, name, body)`: pods/NAME/eviction, a graceful delete (201 Status),
  refused with 429 when the pod's PodDisruptionBudget allows no disruption.
- Scale (deployments, replicasets, replicationcontrollers, statefulsets): an autoscaling/v1 Scale view with
  spec.replicas, status.replicas and status.selector as a label-selector string. PUT and PATCH
  change only spec.replicas of the parent (a body resourceVersion is a precondition);
  generation is bumped like any spec change.
"""

from __future__ import annotations

from typing import Any

from apiserver import handlers, handlers_delete
from apiserver.handlers_common import Ctx, Obj, ResourceClass, conflict, deepcopy, invalid, meta_of
from apiserver.handlers_patch import unsupported
from apiserver.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, apply_patch
from apiserver.responses import success_status
from apiserver.storage import keys
from machinery import disruption, errors
from machinery.meta import now_rfc3339
from machinery.selectors import selector_from_map, selector_from_model

SCALE_API_VERSION = "autoscaling/v1"


# --- binding --------------------------------------------------------------------------------


async def bind(ctx: Ctx, pod_cls: ResourceClass, namespace: str, pod_name: str | None, body: Any) -> Obj:
    if not isinstance(body, dict) or body.get("kind") not in (None, "Binding"):
        raise errors.BadRequest("the body must be a Binding object")
    meta = body.get("metadata") or {}
    name = pod_name or meta.get("name")
    if not name:
        raise invalid(pod_cls, "", "metadata.name", "FieldValueRequired", "Required value: name is required")
    if pod_name and meta.get("name") and meta["name"] != pod_name:
        raise errors.BadRequest(f"the name of the Binding ({meta['name']}) does not match the pod ({pod_name})")
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request")
    target = body.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    if not node or not isinstance(node, str):
        raise errors.Invalid(f'Binding "{name}" is invalid: target.name: Required value',
                             name=name, kind="Binding",
                             causes=[{"reason": "FieldValueRequired", "field": "target.name",
                                      "message": "Required value"}])
    if target.get("kind") not in (None, "", "Node"):
        raise errors.Invalid(f'Binding "{name}" is invalid: target.kind: must be empty or "Node"',
                             name=name, kind="Binding",
                             causes=[{"reason": "FieldValueNotSupported", "field": "target.kind",
                                      "message": 'Unsupported value: must be empty or "Node"'}])
    annotations = meta.get("annotations") or {}

    def compute(current: Obj) -> Obj:
        cur_meta = current.get("metadata") or {}
        if cur_meta.get("deletionTimestamp"):
            raise conflict(pod_cls, name, f"pod {name} is being deleted, cannot be assigned to a host")
        assigned = (current.get("spec") or {}).get("nodeName")
        if assigned:
            raise conflict(pod_cls, name, f'pod {name} is already assigned to node "{assigned}"')
        new: Obj = deepcopy(current)
        new.setdefault("spec", {})["nodeName"] = node
        if annotations:
            new["metadata"]["annotations"] = {**(cur_meta.get("annotations") or {}), **annotations}
        status = new.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conditions
        return new

    obj = await handlers.write_update(ctx, pod_cls, namespace, name, compute)
    return success_status(name=name, kind="pods", uid=(obj.get("metadata") or {}).get("uid"), code=201)


# --- scale ----------------------------------------------------------------------------------


def to_scale(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    try:
        if obj.get("kind") == "ReplicationController":  # a plain label map
            selector = str(selector_from_map(spec.get("selector") or {}))
        else:
            selector = str(selector_from_model(spec.get("selector"))) if spec.get("selector") is not None else ""
    except ValueError:
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": selector},
    }


def _replicas_of(cls: ResourceClass, name: str, scale: Any) -> int:
    if not isinstance(scale, dict):
        raise errors.BadRequest("the body must be a Scale object")
    if scale.get("kind") not in (None, "Scale"):
        raise errors.BadRequest(f"the kind of the object ({scale.get('kind')}) must be Scale")
    spec = scale.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.Invalid(f'Scale.autoscaling "{name}" is invalid: spec: must be an object', name=name,
                             kind="Scale", causes=[{"reason": "FieldValueInvalid", "field": "spec",
                                                    "message": "must be an object"}])
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas >= 2**31:
        raise errors.Invalid(f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                             f'{replicas!r}: must be a 32-bit integer', name=name, kind="Scale",
                             causes=[{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                      "message": f"Invalid value: {replicas!r}: must be an integer"}])
    if replicas < 0:
        raise errors.Invalid(f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                             f'{replicas}: must be greater than or equal to 0', name=name, kind="Scale",
                             causes=[{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                      "message": f"Invalid value: {replicas}: must be greater than or equal to 0"}])
    return replicas


async def get_scale(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str) -> Obj:
    return to_scale(await handlers.get(ctx, cls, namespace, name))


async def write_scale(ctx: Ctx, cls: ResourceClass, namespace: str | None, name: str, body: Any, *,
                      content_type: str | None = None, dry_run: bool = False) -> Obj:
    """PUT (content_type None) or PATCH of the scale subresource."""
    if content_type is not None and content_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH):
        raise unsupported(content_type)
    precondition = None
    if content_type is None:
        handlers.check_identity(cls, namespace, name, body if isinstance(body, dict) else {})
        replicas_put = _replicas_of(cls, name, body)
        precondition = meta_of(body).get("resourceVersion") or None

    def compute(current: Obj) -> Obj:
        if content_type is None:
            replicas = replicas_put
        else:
            scale = to_scale(current)
            patched = apply_patch(content_type, scale, body)
            meta = patched.get("metadata") if isinstance(patched, dict) else None
            rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if rv and rv != scale["metadata"].get("resourceVersion"):
                raise conflict(cls, name)
            replicas = _replicas_of(cls, name, patched)
        new = deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        return handlers.build_update(cls, current, new)

    obj = await handlers.write_update(ctx, cls, namespace, name, compute, dry_run=dry_run,
                                      precondition_rv=precondition)
    return to_scale(obj)


# --- eviction -------------------------------------------------------------------------------


async def evict(ctx: Ctx, pod_cls: ResourceClass, namespace: str, name: str, body: Any, *,
                dry_run: bool = False) -> Obj:
    """POST pods/NAME/eviction (policy/v1 Eviction): a graceful delete of the pod with the
    Eviction's deleteOptions; answers Status Success 201, or 429 TooManyRequests when the
    pod's PodDisruptionBudget allows no disruption (`_check_budget`)."""
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise errors.BadRequest("the body of an eviction must be a policy/v1 Eviction object")
    meta = body.get("metadata") or {}
    if meta.get("name") not in (None, "", name):
        raise errors.BadRequest(f'name in URL ("{name}") does not match the Eviction\'s '
                                f'metadata.name ("{meta.get("name")}")')
    opts = handlers_delete.DeleteOptions.parse(body.get("deleteOptions"), {}, dry_run)
    await _check_budget(ctx, pod_cls, namespace, name, dry_run=dry_run)
    await handlers_delete.delete(ctx, pod_cls, namespace, name, opts)
    return success_status(code=201)


async def _check_budget(ctx: Ctx, pod_cls: ResourceClass, namespace: str, name: str, *, dry_run: bool) -> None:
    """The PodDisruptionBudget check of an eviction (Kubernetes eviction.go): a pod that is
    terminal or being deleted goes; more than one PDB selecting the pod is a 500; otherwise the
    budget's disruptionsAllowed is checked and decremented (the pod recorded in disruptedPods)
    in one optimistic transaction on the PDB, or the eviction is refused with 429."""
    pod = await handlers.get(ctx, pod_cls, namespace, name)
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") or \
            (pod.get("metadata") or {}).get("deletionTimestamp"):
        return
    listed = await ctx.storage.list(keys.collection_prefix("poddisruptionbudgets", namespace))
    pdbs = [p for p in listed.items if disruption.selects(p, pod)]
    if not pdbs:
        return
    if len(pdbs) > 1:
        raise errors.InternalError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
    pdb_name = str(pdbs[0]["metadata"]["name"])

    async def charge(current: Obj) -> Obj | None:
        refusal, charges = disruption.eviction_refusal(current, pod)
        if refusal is not None:
            raise errors.TooManyRequests(disruption.REFUSED, causes=[{"reason": "DisruptionBudget",
                                                                       "message": refusal}])
        if not charges or dry_run:
            return None
        status = current.setdefault("status", {})
        status["disruptionsAllowed"] = int(status.get("disruptionsAllowed") or 0) - 1
        status["disruptedPods"] = {**(status.get("disruptedPods") or {}), name: now_rfc3339()}
        return current

    try:
        await ctx.storage.guaranteed_update(keys.object_key("poddisruptionbudgets", pdb_name, namespace), charge)
    except errors.NotFound:
        return
