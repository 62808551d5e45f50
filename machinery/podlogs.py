"""Client helpers for pod logs and exec, for the CLI (`kubelite logs`, `kubelite exec`).

Contract:
- `stream_logs(client, ns, pod, *, container=None, follow=False, tail_lines=None,
  since_seconds=None, timestamps=False, previous=False) -> AsyncIterator[str]` yields log lines
  (without the newline) from `GET .../pods/NAME/log`; with `follow` it keeps yielding until
  the container stops or the caller stops iterating.
- `exec_in_pod(client, ns, pod, command, container=None, timeout_s=60) -> ExecResult` runs a
  command non-interactively through `.../pods/NAME/exec` and returns stdout, stderr and the
  exit code. API errors raise the `machinery.errors` class of the Status (e.g. NotFound,
  BadRequest with the server's message).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


def _log_params(container: str | None, follow: bool, tail_lines: int | None, since_seconds: int | None,
                timestamps: bool, previous: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"container": container, "tailLines": tail_lines, "sinceSeconds": since_seconds}
    for key, flag in (("follow", follow), ("timestamps", timestamps), ("previous", previous)):
        if flag:
            params[key] = "true"
    return {k: v for k, v in params.items() if v is not None}


async def stream_logs(client: Any, ns: str, pod: str, *, container: str | None = None, follow: bool = False,
                      tail_lines: int | None = None, since_seconds: int | None = None, timestamps: bool = False,
                      previous: bool = False) -> AsyncIterator[str]:
    path = f"/api/v1/namespaces/{ns}/pods/{pod}/log"
    params = _log_params(container, follow, tail_lines, since_seconds, timestamps, previous)
    if not follow:
        text = await client.request("GET", path, params=params)
        for line in str(text or "").splitlines():
            yield line
        return
    async for line in client.stream_lines(path, params=params):
        yield line


async def exec_in_pod(client: Any, ns: str, pod: str, command: Sequence[str], container: str | None = None,
                      timeout_s: float = 60.0) -> ExecResult:
    params: dict[str, Any] = {"command": list(command), "timeoutSeconds": timeout_s}
    if container:
        params["container"] = container
    # Never retried: a 5xx (e.g. the kubelet's 504 on timeout) may come after the command ran.
    out = await client.request("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/exec", params=params,
                               retry=False)
    out = out if isinstance(out, dict) else {}
    return ExecResult(stdout=str(out.get("stdout", "")), stderr=str(out.get("stderr", "")),
                      exit_code=int(out.get("exitCode", -1)))
