"""kubectl-like error messages and the single place where the CLI turns exceptions into them.

Contract: `format_error(exc)` returns the text kubectl would print for the same failure
(`Error from server (NotFound): pods "x" not found`, `The Deployment "x" is invalid: ...` for a
422 Invalid (`format_invalid`), `error: ...` for client-side mistakes,
the "connection ... refused" sentence when nothing answers). `run(coro)` is what every typer
command calls: it runs the async implementation and converts ANY exception into that text on
stderr plus exit code 1, so users never see a Python traceback (set KUBELITE_DEBUG=1 to see
one). KeyboardInterrupt (Ctrl-C ends `get -w`) exits quietly with 0, as kubectl does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from machinery import errors


class CliError(Exception):
    """A client-side mistake (bad flag, missing file, bad YAML). Printed as `error: <msg>`."""


class PlainError(CliError):
    """A client-side failure kubectl prints without the `error: ` prefix."""


class ExitCode(Exception):
    """Leave with this exit code after the command already printed what it wanted."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# Set by the edge once the server URL is known, so the connection message can name it.
_server_hint: dict[str, str] = {"server": ""}


def set_server_hint(server: str) -> None:
    _server_hint["server"] = server


def _host_port(server: str) -> str:
    parts = urlsplit(server if "://" in server else f"https://{server}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _cause_lines(err: errors.ApiError) -> list[str]:
    """Causes the message does not already spell out (our server may or may not embed them)."""
    lines = []
    for cause in err.causes:
        field = cause.get("field") or ""
        text = cause.get("message") or cause.get("reason") or ""
        line = f"{field}: {text}" if field else text
        if line and line not in err.message:
            lines.append(f"* {line}")
    return lines


def format_api_error(err: errors.ApiError, *, context: str = "") -> str:
    """`Error from server (Reason): [context: ]message` plus one line per extra cause."""
    if isinstance(err, errors.ConnectionFailed):
        if isinstance(err, errors.ConnectionTimeout):  # the server took the request but answered too late
            return f"error: the server did not answer in time ({err.message})"
        return format_connection_error()
    prefix = f"{context}: " if context else ""
    head = f"Error from server ({err.reason}): {prefix}{err.message}"
    return "\n".join([head, *_cause_lines(err)])


def format_invalid(err: errors.ApiError) -> str | None:
    """kubectl's checkErr for a Status with reason Invalid (None for any other error):
    `The Deployment "x" is invalid: spec.replicas: Invalid value: -1: ...`, one `* field: msg`
    line per cause when there are several (duplicates dropped), `The request is invalid: MSG`
    when the Status names no object."""
    if err.reason != "Invalid":
        return None
    status = err.to_status()
    details = status.get("details")
    message = str(status.get("message") or "")
    head = "The request is invalid"
    if not details:
        return f"{head}: {message}" if message else head
    causes = details.get("causes") or []
    if details.get("kind") or details.get("name"):
        head = f'The {details.get("kind") or ""} "{details.get("name") or ""}" is invalid'
    elif message and not causes:
        head = f"{head}: {message}"
    lines: list[str] = []
    for cause in causes:
        line = f'{cause.get("field") or ""}: {cause.get("message") or ""}'
        if line not in lines:
            lines.append(line)
    if not lines:
        return head
    if len(lines) == 1:
        return f"{head}: {lines[0]}"
    return "\n".join([f"{head}: ", *(f"* {line}" for line in lines)])


def format_failures(failures: list[tuple[errors.ApiError, str]]) -> str:
    """What kubectl prints for the errors a multi-object verb (create/apply/replace -f)
    collected, each with its context (`error when creating "f.yaml"`): one error alone is
    printed as checkErr prints it (a 422 in the `The Kind "x" is invalid` form, the context
    dropped, as kubectl's AddSourceToErr keeps it a StatusError), several one line each."""
    if len(failures) == 1:
        err, context = failures[0]
        return format_invalid(err) or format_api_error(err, context=context)
    return "\n".join(format_api_error(err, context=context) for err, context in failures)


def format_connection_error() -> str:
    server = _server_hint["server"] or "https://127.0.0.1:6443"
    return (f"The connection to the server {_host_port(server)} was refused - "
            "did you specify the right host or port?")


def format_error(exc: BaseException) -> str:
    if isinstance(exc, errors.ApiError):
        return format_invalid(exc) or format_api_error(exc)
    if isinstance(exc, PlainError):
        return str(exc)
    if isinstance(exc, CliError):
        return f"error: {exc}"
    if isinstance(exc, ConnectionError | OSError) and "connect" in str(exc).lower():
        return format_connection_error()
    if type(exc).__name__ in {"ConnectError", "ConnectTimeout"}:  # raw httpx, should the client leak it
        return format_connection_error()
    if type(exc).__name__ == "KubeconfigError" or isinstance(exc, FileNotFoundError):
        return f"error: {exc}"
    return f"error: {type(exc).__name__}: {exc}"


def run(coro: Coroutine[Any, Any, int | None]) -> None:
    """Run one command's async implementation; map failures to kubectl text and exit codes."""
    code = 0
    try:
        code = asyncio.run(coro) or 0
    except KeyboardInterrupt:
        code = 0
    except ExitCode as e:
        code = e.code
    except Exception as e:  # noqa: BLE001 - the edge: nothing may escape as a traceback
        if os.environ.get("KUBELITE_DEBUG"):
            traceback.print_exc()
        print(format_error(e), file=sys.stderr)
        code = 1
    if code:
        raise SystemExit(code)
