"""`kubelite logs POD` and `kubelite exec POD -- CMD...` (through machinery.podlogs).

Contract: `logs` prints the container's log lines (`-c`, `-f`, `--tail`, `--since 5m`,
`--timestamps`, `-p/--previous`); `pod/NAME` is accepted. `exec` runs a command
non-interactively and prints its stdout/stderr; a non-zero exit code is reported as kubectl
does (`command terminated with exit code N`) and becomes the CLI's own exit code.
"""

from __future__ import annotations

import re
import sys

from cli.errors import CliError, ExitCode
from cli.session import Globals, open_client

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_since(text: str | None) -> int | None:
    """`5s`, `2m`, `1h30m` -> seconds (kubectl's --since)."""
    if not text:
        return None
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        raise CliError(f'invalid argument "{text}" for "--since" flag: time: invalid duration "{text}"')
    h, mi, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mi * 60 + s


def pod_name(arg: str) -> str:
    kind, sep, name = arg.partition("/")
    if not sep:
        return arg
    if kind not in ("pod", "pods", "po"):
        raise CliError(f"only pods are supported here, not {kind!r}")
    return name


async def logs(g: Globals, pod: str, *, container: str | None, follow: bool, tail: int, since: str | None,
               timestamps: bool, previous: bool) -> int:
    from machinery.podlogs import stream_logs

    since_s = parse_since(since)
    client, ns = open_client(g)
    async with client:
        async for line in stream_logs(client, ns, pod_name(pod), container=container, follow=follow,
                                      tail_lines=tail if tail >= 0 else None, since_seconds=since_s,
                                      timestamps=timestamps, previous=previous):
            print(line, flush=follow)
    return 0


async def exec_(g: Globals, pod: str, command: list[str], *, container: str | None) -> int:
    from machinery.podlogs import exec_in_pod

    if not command:
        raise CliError("you must specify at least one command for the container")
    client, ns = open_client(g)
    async with client:
        result = await exec_in_pod(client, ns, pod_name(pod), command, container=container)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.exit_code != 0:
        print(f"command terminated with exit code {result.exit_code}", file=sys.stderr)
        raise ExitCode(result.exit_code if result.exit_code > 0 else 1)
    return 0
