"""`kubelite create job NAME --from=cronjob/CJ`: run a CronJob's job template now, as kubectl does.

Contract (kubectl `create job --from`): reads the CronJob, creates a Job named NAME with the
template's labels, the template's annotations plus `cronjob.kubernetes.io/instantiate: manual`,
an ownerReference to the CronJob (controller, without blockOwnerDeletion, as kubectl) and the
template's spec. Prints `job.batch/NAME created`. `--from` must name a cronjob (`cronjob/X`,
`cj/X`, `cronjobs.batch/X`); anything else is a CLI error. `--dry-run=client` prints nothing
to the server; `server` asks it to validate only.
"""

from __future__ import annotations

from typing import Any

from cli.apply import _dry_params, _suffix, check_dry_run
from cli.errors import CliError
from cli.session import Globals, coll_path, obj_path, open_client
from machinery.models import CRONJOB_INSTANTIATE, CronJob, Job

_CRONJOB_NAMES = ("cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch")


def job_from_cronjob(name: str, cj: dict[str, Any]) -> dict[str, Any]:
    template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    meta = cj.get("metadata") or {}
    job_meta: dict[str, Any] = {
        "name": name,
        "annotations": {CRONJOB_INSTANTIATE: "manual", **(tmeta.get("annotations") or {})},
        "ownerReferences": [{"apiVersion": CronJob.api_version(), "kind": "CronJob", "name": meta.get("name"),
                             "uid": meta.get("uid"), "controller": True}],
    }
    if tmeta.get("labels"):
        job_meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": Job.api_version(), "kind": "Job", "metadata": job_meta, "spec": template.get("spec") or {}}


async def create_job(g: Globals, name: str, source: str, *, dry_run: str = "none") -> int:
    check_dry_run(dry_run)
    kind, _, cj_name = source.partition("/")
    if kind.lower() not in _CRONJOB_NAMES or not cj_name:
        raise CliError(f"from must be an existing cronjob: {source}")
    client, namespace = open_client(g)
    async with client:
        cj = await client.request("GET", obj_path(CronJob, cj_name, namespace))
        body = job_from_cronjob(name, cj)
        body["metadata"]["namespace"] = namespace
        if dry_run != "client":
            await client.request("POST", coll_path(Job, namespace), json=body,
                                 params=_dry_params(dry_run))
    print(f"job.batch/{name} created{_suffix(dry_run)}")
    return 0


__all__ = ["create_job", "job_from_cronjob"]
