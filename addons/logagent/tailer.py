"""Rotation-safe tailing of the kubelet's container log files, with offsets that survive restarts.

Contract:
- Files are the kubelet's: `<log_dir>/<ns>_<pod>_<uid>/<container>/<n>.log` and its rotated parts
  `<n>.log.<k>` (kubelet/logs.py), one CRI record per line: `<RFC3339Nano> <stdout|stderr> <P|F>
  <text>`. Records tagged `P` (partial) are joined with the following records of the same stream
  up to the `F` one, as Kubernetes' CRI log readers do.
- Files are tracked by identity (device, inode), not by name: a rotation renames the file the
  agent is reading, which is then drained to its end before the new file is read (order kept);
  a file deleted while open (the kubelet removes a deleted pod's directory) is still drained
  through the open descriptor, then forgotten.
- `read_batch()` returns up to `max_lines` / `max_bytes` of complete lines as one
  `machinery.logwire.Stream` per file; nothing is committed until `commit()` (after the store
  acknowledged). `rollback()` forgets what was read since the last commit: it is read again.
- The committed position of each file (device, inode, offset, source id) is written atomically
  to `state_path` on every commit, and by `scan()` as soon as a file gets a new source id (so a
  batch pushed under an id and not yet committed is re-sent under the same id after a crash). The offset never passes the first record of a line still
  being joined, so a restart re-reads it whole. A restarted agent resumes every file still on
  disk from its committed offset: no line is shipped twice by the agent (the store also drops
  offsets it already holds for a source) and none is lost, unless a file was deleted while the
  agent was down.
- A file seen for the first time is read from its start. A file shorter than its committed
  offset (truncated in place) is read again from 0 under a new source id.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from machinery.logwire import Entry, Stream

READ_CHUNK = 1 << 20
MAX_LINE = 1 << 20  # a partial line longer than this is cut and shipped (a runaway writer)

LabelsFn = Callable[[str], dict[str, str]]


@dataclass
class _Pending:
    offset: int
    ts: str
    stream: str
    parts: list[bytes]
    complete: bool
    size: int = 0


@dataclass
class TrackedFile:
    rel: str            # path relative to log_dir, as last seen
    dev: int
    ino: int
    offset: int         # committed: everything before it is in the store
    source: str
    read_pos: int = 0   # next byte to read (uncommitted progress)
    on_disk: bool = True
    fh: BinaryIO | None = None
    queue: list[_Pending] = field(default_factory=list)
    open_partial: dict[str, _Pending] = field(default_factory=dict)

    def identity(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def reset_progress(self) -> None:
        self.read_pos = self.offset
        self.queue.clear()
        self.open_partial.clear()

    def safe_offset(self) -> int:
        return self.queue[0].offset if self.queue else self.read_pos


def parse_rel(rel: str) -> tuple[str, str, str, str, int, int] | None:
    """`ns_pod_uid/container/3.log.2` -> (ns, pod, uid, container, restart=3, rotated=2)."""
    parts = rel.split("/")
    if len(parts) != 3:
        return None
    meta = parts[0].split("_")
    name = parts[2].split(".")
    if len(meta) != 3 or len(name) not in (2, 3) or name[1] != "log" or not name[0].isdigit():
        return None
    rotated = 0
    if len(name) == 3:
        if not name[2].isdigit():
            return None
        rotated = int(name[2])
    return meta[0], meta[1], meta[2], parts[1], int(name[0]), rotated


def _order(rel: str) -> tuple[str, str, int, int]:
    p = parse_rel(rel)
    assert p is not None
    # one container's files: older instances first, then rotated parts oldest (highest k) first
    return (rel.split("/")[0], p[3], p[4], -p[5] if p[5] else 0)


class Tailer:
    """See the module contract. Not thread-safe: one agent loop drives it."""

    def __init__(self, log_dir: str | Path, state_path: str | Path, *, node: str,
                 labels: LabelsFn | None = None, max_lines: int = 5000, max_bytes: int = 1 << 20) -> None:
        self.log_dir = Path(log_dir)
        self.state_path = Path(state_path)
        self.node = node
        self.labels = labels or (lambda _uid: {})
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.files: dict[tuple[int, int], TrackedFile] = {}
        self._load()

    # -- state ---------------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        for f in data.get("files") or []:
            try:
                tf = TrackedFile(str(f["rel"]), int(f["dev"]), int(f["ino"]), int(f["offset"]), str(f["source"]))
            except (KeyError, TypeError, ValueError):
                continue
            tf.read_pos = tf.offset
            self.files[tf.identity()] = tf

    def save(self) -> None:
        data: dict[str, Any] = {"version": 1, "files": [
            {"rel": f.rel, "dev": f.dev, "ino": f.ino, "offset": f.offset, "source": f.source}
            for f in self.files.values()]}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)

    # -- discovery -----------------------------------------------------------------------------
    def scan(self) -> None:
        """Find the files on disk now; new identities start at 0, vanished ones are marked.

        A new source id is saved before anything under it is read: an agent killed after a push
        but before its commit re-sends under the same id, which the store drops as duplicates."""
        seen: set[tuple[int, int]] = set()
        new_sources = False
        for path in self.log_dir.glob("*/*/*.log*"):
            rel = path.relative_to(self.log_dir).as_posix()
            if parse_rel(rel) is None:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            seen.add(key)
            tf = self.files.get(key)
            if tf is None:
                tf = TrackedFile(rel, st.st_dev, st.st_ino, 0, self._new_source(rel, st.st_ino))
                self.files[key] = tf
                new_sources = True
            tf.rel, tf.on_disk = rel, True
            if st.st_size < tf.read_pos and tf.fh is None:  # truncated in place: a new stream
                tf.offset = 0
                tf.source = self._new_source(rel, st.st_ino)
                tf.reset_progress()
                new_sources = True
        for key, tf in self.files.items():
            if key not in seen:
                tf.on_disk = False
        if new_sources:
            self.save()  # committed offsets only, with the new ids

    def _new_source(self, rel: str, ino: int) -> str:
        return f"{self.node}/{rel.rsplit('.log', 1)[0]}/{ino}-{secrets.token_hex(4)}"

    # -- reading -------------------------------------------------------------------------------
    def _open(self, tf: TrackedFile) -> BinaryIO | None:
        if tf.fh is None:
            if not tf.on_disk:
                return None
            try:
                fh = open(self.log_dir / tf.rel, "rb")  # noqa: SIM115 - kept open across reads, closed in _settle
            except FileNotFoundError:
                tf.on_disk = False
                return None
            st = os.fstat(fh.fileno())
            if (st.st_dev, st.st_ino) != tf.identity():  # replaced between scan and open
                fh.close()
                return None
            tf.fh = fh
        return tf.fh

    def _consume(self, tf: TrackedFile, data: bytes, base: int, out: list[Entry], limit: int) -> None:
        """Parse whole records from `data` (read at `base`) until `out` holds `limit` entries."""
        pos = base
        for raw in data.splitlines(keepends=True):
            if len(out) >= limit:
                break
            start, pos = pos, pos + len(raw)
            parts = raw.rstrip(b"\n").split(b" ", 3)
            if len(parts) < 3:
                continue  # not a CRI record (an empty line)
            ts, stream, tag = parts[0].decode(errors="replace"), parts[1].decode(errors="replace"), parts[2]
            text = parts[3] if len(parts) > 3 else b""
            if stream not in ("stdout", "stderr"):
                stream = "stdout"
            cur = tf.open_partial.get(stream)
            if cur is None:
                cur = _Pending(start, ts, stream, [], False)
                tf.queue.append(cur)
            cur.parts.append(text)
            cur.size += len(text)
            if tag == b"P" and cur.size < MAX_LINE:
                tf.open_partial[stream] = cur
            else:
                cur.complete = True
                tf.open_partial.pop(stream, None)
            while tf.queue and tf.queue[0].complete:
                p = tf.queue.pop(0)
                out.append(Entry(p.ts, p.stream, b"".join(p.parts).decode(errors="replace"), p.offset))
        tf.read_pos = pos

    def _read_file(self, tf: TrackedFile, budget_lines: int, budget_bytes: int) -> list[Entry]:
        fh = self._open(tf)
        out: list[Entry] = []
        if fh is None:
            return out
        while len(out) < budget_lines and budget_bytes > 0:
            fh.seek(tf.read_pos)
            data = fh.read(min(READ_CHUNK, max(budget_bytes, 4096)))
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) >= READ_CHUNK:  # one enormous line: take it whole
                    data = data + fh.read(MAX_LINE)
                    cut = data.rfind(b"\n")
                if cut < 0:
                    break
            data = data[: cut + 1]
            start = tf.read_pos
            self._consume(tf, data, start, out, budget_lines)
            budget_bytes -= tf.read_pos - start
            if tf.read_pos == start:
                break
        return out

    def read_batch(self) -> list[Stream]:
        """Up to the batch limits of new complete lines, one Stream per file (file order kept)."""
        streams: list[Stream] = []
        lines, size = 0, 0
        for tf in sorted(self.files.values(), key=lambda f: _order(f.rel)):
            if lines >= self.max_lines or size >= self.max_bytes:
                break
            entries = self._read_file(tf, self.max_lines - lines, self.max_bytes - size)
            if not entries:
                continue
            lines += len(entries)
            size += sum(len(e.line) + 40 for e in entries)
            ns, pod, uid, container, _n, _k = parse_rel(tf.rel) or ("", "", "", "", 0, 0)
            streams.append(Stream(ns, pod, uid, container, self.node, tf.source, self.labels(uid), entries))
        return streams

    def commit(self) -> None:
        """The store has everything read so far: move the committed offsets and save them."""
        for tf in self.files.values():
            tf.offset = tf.safe_offset()
        self._settle()
        self.save()

    def rollback(self) -> None:
        for tf in self.files.values():
            tf.reset_progress()

    def _settle(self) -> None:
        """Close drained files that can no longer grow; forget drained files that are gone."""
        for key in list(self.files):
            tf = self.files[key]
            if tf.fh is None:
                if not tf.on_disk:
                    del self.files[key]
                continue
            size = os.fstat(tf.fh.fileno()).st_size
            drained = tf.read_pos >= size and not tf.queue
            current = parse_rel(tf.rel) is not None and tf.rel.endswith(".log") and tf.on_disk
            if drained and not current:
                tf.fh.close()
                tf.fh = None
                if not tf.on_disk:
                    del self.files[key]

    def idle_settle(self) -> None:
        """Nothing new was read: release what is finished (called between polls)."""
        if all(not tf.queue and tf.read_pos == tf.offset for tf in self.files.values()):
            before = len(self.files)
            self._settle()
            if len(self.files) != before:
                self.save()

    def close(self) -> None:
        for tf in self.files.values():
            if tf.fh is not None:
                tf.fh.close()
                tf.fh = None
