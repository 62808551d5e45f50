"""`kubelite exec -i/-t` and `kubelite attach`: interactive streams over cli.podstream.

Contract, as kubectl:
- `-i` sends this process's stdin to the container (its EOF becomes the process's EOF on
  v5); `-t` asks for a tty when stdin is a terminal (else kubectl's warning `Unable to use a
  TTY - input is not a terminal or the right kind of file` and no tty). With a tty the local
  terminal is put in raw mode (restored on exit, whatever happens), so Ctrl-C, Ctrl-D and
  arrows go to the remote side; the terminal size is sent at start and after every SIGWINCH.
- The container: `-c`, else the annotated default or the first one, with kubectl's
  `Defaulted container ...` line on stderr when the pod has several (`-q` silences it).
- The exit code is the remote command's; a non-zero one also prints `command terminated with
  exit code N` (not with a tty, as kubectl). attach prints `If you don't see a command prompt,
  try pressing enter.` with a tty.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from cli import podstream
from cli.cp import default_container
from cli.errors import CliError, ExitCode
from cli.logs import pod_name
from cli.session import Globals, open_client

READ_SIZE = 32 * 1024


def stdin_chunks(loop: asyncio.AbstractEventLoop, fd: int = 0) -> AsyncIterator[bytes]:
    """stdin's bytes, read by a daemon thread (works for ttys, pipes and files alike, and never
    keeps the process alive once the remote side is done)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def reader() -> None:
        while True:
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(queue.put_nowait, data)
            if not data:
                return

    threading.Thread(target=reader, name="stdin", daemon=True).start()

    async def chunks() -> AsyncIterator[bytes]:
        while data := await queue.get():
            yield data

    return chunks()


def terminal_sizes(loop: asyncio.AbstractEventLoop, fd: int) -> AsyncIterator[tuple[int, int]]:
    """The terminal's (columns, rows) now and after each SIGWINCH."""
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

    def push() -> None:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            queue.put_nowait((size.columns, size.lines))

    push()
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGWINCH, push)

    async def sizes() -> AsyncIterator[tuple[int, int]]:
        while True:
            yield await queue.get()

    return sizes()


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _err(data: bytes) -> None:
    sys.stderr.buffer.write(data)
    sys.stderr.flush()


async def interactive(g: Globals, pod: str, command: list[str] | None, *, container: str | None, stdin: bool,
                      tty: bool, quiet: bool = False) -> int:
    if command is not None and not command:
        raise CliError("you must specify at least one command for the container")
    fd = sys.stdin.fileno() if stdin or tty else -1
    if tty and not (stdin and os.isatty(fd)):
        if not quiet:
            print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)
        tty = False
    name = pod_name(pod)
    client, ns = open_client(g)
    async with client:
        if container is None:
            container = await _default(client, ns, name, quiet)
        loop = asyncio.get_running_loop()
        chunks = stdin_chunks(loop, fd) if stdin else None
        if command is None and tty and not quiet:
            print("If you don't see a command prompt, try pressing enter.", file=sys.stderr, flush=True)
        with raw_terminal(fd) if tty else contextlib.nullcontext():
            code = await podstream.stream(client, ns, name, command, container=container, stdin=chunks,
                                          on_stdout=_out, on_stderr=_err, tty=tty,
                                          resize=terminal_sizes(loop, fd) if tty else None)
    if code:
        if not tty:
            print(f"command terminated with exit code {code}", file=sys.stderr)
        raise ExitCode(code)
    return 0


async def _default(client: Any, ns: str, pod: str, quiet: bool) -> str | None:
    if not quiet:
        return await default_container(client, ns, pod)
    with contextlib.redirect_stderr(io.StringIO()):
        return await default_container(client, ns, pod)
