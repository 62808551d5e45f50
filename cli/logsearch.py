"""`kubelite logs --grep TEXT [-A] [-l SELECTOR] [--since 1h] [POD] [-c C] [--tail N]`: search the
cluster's central log store (addons/logstore) instead of one live container.

Contract:
- The store is reached through the API server's service proxy
  (`/api/v1/namespaces/kube-system/services/logstore:http/proxy/v1/search`), so the CLI needs
  nothing but its kubeconfig and the API server's authentication applies.
- Scope: the current namespace (`-n`, kubeconfig context) unless `--all-namespaces`; `POD` and
  `-c` narrow it; `-l` matches the labels the pod had when its lines were shipped (deleted pods
  included). `--grep` is a fixed, case-sensitive substring (grep -F). `--tail N` (default 1000):
  the newest N matches, printed oldest first; `--timestamps` prefixes the CRI timestamp.
- Each line is printed as `[NAMESPACE/POD/CONTAINER] text` (kubectl's --prefix form, with the
  namespace since results may span several). No match: nothing printed, exit 0. A store that is
  not running: exit 1 with a message saying how to start it.
"""

from __future__ import annotations

import sys
from typing import Any

from cli.errors import CliError
from cli.logs import parse_since, pod_name
from cli.session import Globals, open_client
from machinery import errors
from machinery.logwire import LOGSTORE_NAMESPACE, LOGSTORE_PROXY, LOGSTORE_SERVICE, Record

DEFAULT_LIMIT = 1000


def search_params(*, grep: str, namespace: str | None, pod: str | None, container: str | None,
                  selector: str | None, since: str | None, limit: int) -> dict[str, str]:
    params = {"grep": grep, "limit": str(limit)}
    for key, val in (("namespace", namespace), ("pod", pod), ("container", container), ("labelSelector", selector)):
        if val:
            params[key] = val
    since_s = parse_since(since)
    if since_s is not None:
        params["sinceSeconds"] = str(since_s)
    return params


def format_record(rec: Record, *, timestamps: bool) -> str:
    prefix = f"[{rec.namespace}/{rec.pod}/{rec.container}] "
    return (f"{rec.ts} " if timestamps else "") + prefix + rec.line


async def search(g: Globals, pod: str | None, *, grep: str, all_namespaces: bool, selector: str | None,
                 container: str | None, since: str | None, tail: int, timestamps: bool) -> int:
    limit = tail if tail > 0 else DEFAULT_LIMIT
    client, ns = open_client(g)
    params = search_params(grep=grep, namespace=None if all_namespaces else ns,
                           pod=pod_name(pod) if pod else None, container=container, selector=selector,
                           since=since, limit=limit)
    async with client:
        try:
            body: Any = await client.request("GET", f"{LOGSTORE_PROXY}/v1/search", params=params)
        except (errors.ServiceUnavailable, errors.NotFound) as exc:
            raise CliError(f"the log store is not reachable ({exc}): it runs as the Service "
                           f"{LOGSTORE_NAMESPACE}/{LOGSTORE_SERVICE} (`kubelite up` starts it; "
                           "or run `python -m addons.logstore --publish-ip IP`)") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise CliError("the log store answered something that is not a LogRecordList")
    for item in items:
        print(format_record(Record.from_wire(item), timestamps=timestamps))
    if body.get("truncated"):
        print(f"(only the newest {limit} matches; use --tail N for more)", file=sys.stderr)
    return 0
