"""A fork server for the local cluster's Python daemons: one interpreter imports what every
daemon imports (asyncio, ssl, httpx, pydantic, the API models, the client...), freezes it
(gc.freeze) and forks each daemon from there, so the daemons start without paying those
imports again and share those pages copy-on-write (they count once in PSS; RSS counts them in
every process). Each daemon stays its own process with its own session, log and pid, talking
to the others only through the API server, exactly as `python -m MODULE ARGS` would run it.

Server side (`python -m cli.forkserver`, started by the supervisor, cli/supervisor.py):
- imports `PRELOAD`, then `gc.freeze()`, then writes `{"ready": true}` on stdout;
- reads requests, one JSON line each on stdin: `{"id": N, "module": M, "args": [...],
  "log": PATH, "cwd": DIR, "env": {...}}`; answers `{"id": N, "pid": PID}` (or `"error"`);
  the child runs in a new session with stdout/stderr appended to PATH, stdin /dev/null,
  the given cwd and environment, `sys.argv = [M, *args]`, `runpy.run_module(M, "__main__")`
  and exits with the code `python -m M` would (SystemExit code; 1 on an exception);
- reaps its children and reports each exit: `{"exit": PID, "code": C}` (C negative: killed by
  signal -C, as asyncio's returncode); exits when stdin closes (its children live on).
Client side: `ForkServer.start(env, log)`, `await fs.spawn(module, args, log=, cwd=, env=)`
-> `Forked` (pid, returncode, `await wait()`: the exit is seen through a pidfd, so even if the
fork server dies the supervisor still learns when each daemon exits); `fs.alive`; `fs.close()`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import select
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

# What (nearly) every daemon imports; importing more here makes forks faster and PSS smaller
# but every child's RSS larger (it maps the fork server's pages).
PRELOAD = ("asyncio", "argparse", "ssl", "json", "logging", "httpx", "pydantic", "yaml", "prometheus_client",
           "machinery.client", "machinery.registry", "machinery.informer", "machinery.kubeconfig",
           "machinery.logsetup", "machinery.prom", "machinery.events", "uvicorn", "starlette.applications",
           "starlette.routing", "starlette.responses")
REPORT_WAIT_S = 2.0  # after a daemon's pidfd fires, how long to wait for the fork server's exit code
UNKNOWN_EXIT = -255  # the fork server died before it could report the code
PR_SET_NAME = 15  # prctl(2)


# -- server --------------------------------------------------------------------------------------
def _write(obj: dict[str, Any]) -> None:
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _set_comm(module: str) -> None:
    """Name the process after its daemon (/proc/PID/comm: what top and `ps -o comm` show;
    its command line stays the fork server's)."""
    name = module.removeprefix("addons.").split(".")[0][:15].encode()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _run_child(req: dict[str, Any], close_fds: tuple[int, ...]) -> NoReturn:
    """In the forked child: become `python -m MODULE ARGS` and never return."""
    code = 1
    try:
        os.setsid()
        _set_comm(req["module"])
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in close_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = [req["module"], *req["args"]]
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print, then exit 1
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _write({"exit": pid, "code": _exit_code(status)})


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the preloaded objects never get their GC headers written: pages stay shared
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the supervisor stops us by closing stdin
    _write({"ready": True, "pid": os.getpid()})
    buf = b""
    while True:
        try:
            ready, _, _ = select.select([0, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap()
        if 0 not in ready:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            _reap()
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            try:
                req = json.loads(line)
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                pid = os.fork()
            except (ValueError, OSError) as exc:
                _write({"id": req.get("id") if isinstance(req, dict) else None, "error": str(exc)})
                continue
            if pid == 0:
                _run_child(req, (wake_r, wake_w))
            _write({"id": req["id"], "pid": pid})


# -- client --------------------------------------------------------------------------------------
class Forked:
    """A daemon the fork server started: what the supervisor needs of a subprocess."""

    def __init__(self, pid: int, codes: dict[int, asyncio.Future[int]]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._code = codes.setdefault(pid, asyncio.get_running_loop().create_future())
        self._exited = asyncio.get_running_loop().create_future()
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # gone already
            self._pidfd = None
            self._exited.set_result(None)
        else:
            asyncio.get_running_loop().add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self._exited.done():
            self._exited.set_result(None)

    async def wait(self) -> int:
        if self.returncode is None:
            await asyncio.shield(self._exited)
            try:
                code = await asyncio.wait_for(asyncio.shield(self._code), REPORT_WAIT_S)
            except TimeoutError:
                code = UNKNOWN_EXIT
            self.returncode = code
        return self.returncode


class ForkServer:
    """The supervisor's handle on `python -m cli.forkserver`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._codes: dict[int, asyncio.Future[int]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, env: dict[str, str], log: Path, cwd: Path, timeout_s: float = 60.0) -> ForkServer:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli.forkserver", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=out, env=env, cwd=str(cwd))
        finally:
            os.close(out)
        fs = cls(proc)
        assert proc.stdout is not None
        try:
            first = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout_s) or b"{}")
        except (TimeoutError, ValueError):
            first = {}
        if not first.get("ready"):
            await fs.close()
            raise OSError(f"the fork server did not start; see {log}")
        fs._reader = asyncio.create_task(fs._read())
        return fs

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self._reader is not None and not self._reader.done()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if "exit" in msg:
                    fut = self._codes.setdefault(int(msg["exit"]), loop.create_future())
                    if not fut.done():
                        fut.set_result(int(msg["code"]))
                elif (waiter := self._pending.pop(msg.get("id"), None)) is not None and not waiter.done():
                    waiter.set_result(msg)
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(OSError("the fork server exited"))

    async def spawn(self, module: str, args: list[str], *, log: Path, cwd: Path, env: dict[str, str]) -> Forked:
        """Fork `python -m module *args`; OSError if the fork server cannot."""
        if not self.alive or self.proc.stdin is None:
            raise OSError("the fork server is not running")
        self._next += 1
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = waiter
        req = {"id": self._next, "module": module, "args": args, "log": str(log), "cwd": str(cwd), "env": env}
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        await self.proc.stdin.drain()
        answer = await asyncio.wait_for(waiter, 30.0)
        if "pid" not in answer:
            raise OSError(f"the fork server could not start {module}: {answer.get('error')}")
        return Forked(int(answer["pid"]), self._codes)

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


if __name__ == "__main__":
    serve()
