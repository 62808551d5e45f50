"""Wake the log agent when the kubelet writes a log file, instead of scanning on a timer.

Contract:
- `TreeWatch(log_dir)` watches `log_dir` and its pod and container directories (the kubelet's
  `<log_dir>/<pod dir>/<container>/<n>.log`, two levels down) with Linux inotify (through libc:
  no package), as Kubernetes' node agents (fluent-bit, promtail) do. A directory created later
  is watched as soon as its creation is reported, and what it already holds counts as a change.
- `changed` (an asyncio.Event) is set on any write, create, rename or delete under the tree, and
  when the kernel's queue overflowed (events were lost: rescanning is the answer). The agent
  clears it before a scan, so a write during the scan wakes the next one.
- `TreeWatch.open(log_dir)` returns None where inotify is not available (not Linux, no libc, the
  per-user watch limit reached at start); the agent then polls as before. Must be opened inside
  the event loop that waits on `changed`; `close()` releases the descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
DEPTH = 2  # log_dir (0) -> pod directories (1) -> container directories (2)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class TreeWatch:
    def __init__(self, root: Path, libc: ctypes.CDLL, fd: int) -> None:
        self.root = root
        self._libc = libc
        self._fd = fd
        self._dirs: dict[int, tuple[Path, int]] = {}  # watch descriptor -> (directory, depth)
        self.changed = asyncio.Event()
        self.overflows = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._on_readable)

    @classmethod
    def open(cls, root: str | Path) -> TreeWatch | None:
        libc = _libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify unavailable (%s): the log agent polls", os.strerror(ctypes.get_errno()))
            return None
        with contextlib.suppress(OSError):
            os.makedirs(root, exist_ok=True)  # the kubelet's --log-dir; it may start after the agent
        watch = cls(Path(root), libc, fd)
        if not watch._add_tree(watch.root, 0):
            watch.close()
            return None
        return watch

    @property
    def watched(self) -> int:
        return len(self._dirs)

    def _add(self, path: Path, depth: int) -> bool:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (2, 20):  # ENOENT, ENOTDIR: gone meanwhile (a deleted pod's directory)
                return True
            log.warning("cannot watch %s (%s): the log agent also polls", path, os.strerror(err))
            return False
        self._dirs[wd] = (path, depth)
        return True

    def _add_tree(self, path: Path, depth: int) -> bool:
        """Watch `path` and the directories under it down to DEPTH (watch first, then list, so a
        directory created in between is either reported or listed)."""
        ok = self._add(path, depth)
        if depth < DEPTH:
            with contextlib.suppress(OSError):
                for entry in os.scandir(path):
                    if entry.is_dir(follow_symlinks=False):
                        ok = self._add_tree(Path(entry.path), depth + 1) and ok
        return ok

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        except OSError as exc:
            log.warning("inotify read failed (%s)", exc)
            self.changed.set()
            return
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, size = _HEADER.unpack_from(data, pos)
            raw_name = data[pos + _HEADER.size:pos + _HEADER.size + size].rstrip(b"\0")
            pos += _HEADER.size + size
            if mask & IN_Q_OVERFLOW:
                self.overflows += 1
                self._add_tree(self.root, 0)  # directories created while events were lost
            elif mask & IN_IGNORED:
                self._dirs.pop(wd, None)  # the directory was removed
                continue
            elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                parent = self._dirs.get(wd)
                if parent is not None and parent[1] < DEPTH:
                    self._add_tree(parent[0] / os.fsdecode(raw_name), parent[1] + 1)
            self.changed.set()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._dirs.clear()
