"""`kubelite create token SA [--duration 10m] [--audience A ...] [--bound-object-kind Pod
--bound-object-name P [--bound-object-uid U]]`: a ServiceAccount token, as `kubectl create token`.

Contract (kubectl's create_token.go): POSTs a TokenRequest to
`/api/v1/namespaces/NS/serviceaccounts/SA/token` and prints `status.token` followed by a newline.
`--duration` is a Go duration (`10m`, `1h30m`, `600s`; 0 or absent: the server's default, an
hour); anything else or a negative value is a CLI error before any request, as kubectl's
"--duration must be positive". A bound object needs a kind among Pod, Secret, Node and a name;
`--bound-object-uid` needs a kind. The server's errors (404 no such ServiceAccount, 422 a
duration under 10 minutes) are printed as kubectl prints them.
"""

from __future__ import annotations

import re
from typing import Any

import typer

from cli.create_cmd import _g, create_app
from cli.errors import CliError, run
from cli.session import Globals, open_client

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")
BOUND_KINDS = ("Pod", "Secret", "Node")


def parse_duration_s(text: str) -> int:
    """A Go duration (h, m, s units) in whole seconds; CliError when it is not one."""
    m = _DURATION.match(text.strip())
    if not text.strip() or not m or not any(m.groups()):
        raise CliError(f'invalid argument "{text}" for "--duration" flag: time: invalid duration "{text}"')
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return int(h * 3600 + mi * 60 + s)


def token_request(duration_s: int, audiences: list[str], kind: str, name: str, uid: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if audiences:
        spec["audiences"] = audiences
    if duration_s:
        spec["expirationSeconds"] = duration_s
    if kind or name or uid:
        if kind not in BOUND_KINDS:
            raise CliError(f"supported --bound-object-kind values are {', '.join(BOUND_KINDS)}")
        if not name:
            raise CliError("--bound-object-name is required if --bound-object-kind is provided")
        ref = {"kind": kind, "apiVersion": "v1", "name": name}
        if uid:
            ref["uid"] = uid
        spec["boundObjectRef"] = ref
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


async def create_token(g: Globals, sa: str, *, duration: str = "", audiences: list[str] | None = None,
                       bound_kind: str = "", bound_name: str = "", bound_uid: str = "") -> int:
    duration_s = parse_duration_s(duration) if duration else 0
    if duration_s < 0:
        raise CliError("--duration must be positive")
    body = token_request(duration_s, list(audiences or []), bound_kind, bound_name, bound_uid)
    client, namespace = open_client(g)
    async with client:
        answer = await client.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token", json=body)
    token = ((answer or {}).get("status") or {}).get("token") if isinstance(answer, dict) else None
    if not token:
        raise CliError("the server returned no token")
    print(token)
    return 0


@create_app.command("token")
def token_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="ServiceAccount NAME"),
              duration: str = typer.Option("", "--duration", help="Requested lifetime, e.g. 10m or 1h "
                                                                  "(the server's default when unset)"),
              audience: list[str] = typer.Option(None, "--audience", help="Audience of the token (repeatable)."),
              bound_object_kind: str = typer.Option("", "--bound-object-kind", help="Pod, Secret or Node"),
              bound_object_name: str = typer.Option("", "--bound-object-name"),
              bound_object_uid: str = typer.Option("", "--bound-object-uid")) -> None:
    """Request a service account token (as `kubectl create token`)."""
    run(create_token(_g(ctx), name, duration=duration, audiences=list(audience or []), bound_kind=bound_object_kind,
                     bound_name=bound_object_name, bound_uid=bound_object_uid))
