"""The log store: the `LogStore` interface and its embedded default on SQLite with FTS5.

Contract:
- `LogStore` is what the HTTP service needs; a bigger store (Elasticsearch, Loki, ...) replaces
  the SQLite one by implementing these four methods. All calls are synchronous and thread-safe
  (the service runs them in a worker thread).
  - `append(streams) -> AppendResult`: stores every entry whose offset is at or past what the
    store already holds for its `source` (an entry below it was stored before: a re-sent batch
    is counted as duplicates, never stored twice). One transaction per call.
  - `search(query) -> (records, truncated)`: the newest `query.limit` matching lines in
    chronological order. `grep` is a fixed, case-sensitive substring (grep -F); namespace, pod,
    container, node are exact; `selector` is a Kubernetes label selector on the pod labels the
    agent last sent; `since_ns`/`until_ns` bound the CRI timestamp.
  - `prune(now_ns) -> int`: retention. Drops lines older than `max_age_s`, then the oldest
    lines until the stored text is under `max_bytes`; returns how many lines went.
  - `close()`.
- `SqliteStore(path, *, max_age_s=7 days, max_bytes=1 GiB)`: lines in a table with a trigram
  FTS5 index (substring search of 3+ characters uses the index; shorter needles scan), pods in
  their own table (labels kept after the pod is deleted: its logs stay searchable by label).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from machinery.logwire import Record, Stream, ns_to_ts, ts_to_ns
from machinery.selectors import LabelSelector

DEFAULT_MAX_AGE_S = 7 * 24 * 3600.0
DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


@dataclass
class Query:
    grep: str = ""
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    node: str | None = None
    selector: LabelSelector | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    limit: int = DEFAULT_LIMIT


@dataclass
class AppendResult:
    accepted: int
    duplicates: int


class LogStore(Protocol):
    def append(self, streams: list[Stream]) -> AppendResult: ...

    def search(self, query: Query) -> tuple[list[Record], bool]: ...

    def prune(self, now_ns: int) -> int: ...

    def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS pods(id INTEGER PRIMARY KEY, uid TEXT UNIQUE NOT NULL, namespace TEXT NOT NULL,
    name TEXT NOT NULL, node TEXT NOT NULL, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lines(id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, pod_id INTEGER NOT NULL,
    container TEXT NOT NULL, stream TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lines_ts ON lines(ts_ns);
CREATE INDEX IF NOT EXISTS lines_pod ON lines(pod_id, ts_ns);
CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5(line, content='lines', content_rowid='id',
    tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS lines_ad AFTER DELETE ON lines BEGIN
    INSERT INTO lines_fts(lines_fts, rowid, line) VALUES('delete', old.id, old.line);
END;
CREATE TABLE IF NOT EXISTS sources(source TEXT PRIMARY KEY, next_offset INTEGER NOT NULL, seen_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('bytes', 0);
"""


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class SqliteStore:
    """The embedded default store (see the module contract)."""

    def __init__(self, path: str | Path, *, max_age_s: float = DEFAULT_MAX_AGE_S,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _pod_id(self, s: Stream) -> int:
        labels = json.dumps(s.labels, sort_keys=True)
        row = self._db.execute("SELECT id, labels, node FROM pods WHERE uid = ?", (s.pod_uid,)).fetchone()
        if row is None:
            cur = self._db.execute("INSERT INTO pods(uid, namespace, name, node, labels) VALUES(?,?,?,?,?)",
                                   (s.pod_uid, s.namespace, s.pod, s.node, labels))
            return int(cur.lastrowid or 0)
        if (row[1] != labels and s.labels) or row[2] != s.node:  # labels changed; an empty map is "unknown"
            self._db.execute("UPDATE pods SET labels = ?, node = ? WHERE id = ?",
                             (labels if s.labels else row[1], s.node, row[0]))
        return int(row[0])

    def append(self, streams: list[Stream]) -> AppendResult:
        accepted = dups = added_bytes = 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for s in streams:
                    if not s.entries:
                        continue
                    pod_id = self._pod_id(s)
                    row = db.execute("SELECT next_offset FROM sources WHERE source = ?", (s.source,)).fetchone()
                    floor = int(row[0]) if row else -1
                    fresh = [e for e in s.entries if e.offset >= floor]
                    dups += len(s.entries) - len(fresh)
                    if not fresh:
                        continue
                    rows = [(ts_to_ns(e.ts), pod_id, s.container, e.stream, e.line) for e in fresh]
                    first = db.execute("SELECT COALESCE(MAX(id), 0) FROM lines").fetchone()[0] + 1
                    db.executemany("INSERT INTO lines(ts_ns, pod_id, container, stream, line) VALUES(?,?,?,?,?)", rows)
                    db.execute("INSERT INTO lines_fts(rowid, line) SELECT id, line FROM lines WHERE id >= ?", (first,))
                    last_ns = max(r[0] for r in rows)
                    db.execute("INSERT INTO sources(source, next_offset, seen_ns) VALUES(?,?,?) ON CONFLICT(source) "
                               "DO UPDATE SET next_offset = excluded.next_offset, seen_ns = excluded.seen_ns",
                               (s.source, max(e.offset for e in fresh) + 1, last_ns))
                    accepted += len(fresh)
                    added_bytes += sum(len(e.line) for e in fresh)
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'bytes'", (added_bytes,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return AppendResult(accepted, dups)

    def _pod_filter(self, q: Query) -> list[int] | None:
        """Pod ids selected by namespace/pod/node/labels; None = no restriction."""
        if q.pod is None and q.node is None and (q.selector is None or q.selector.empty()):
            return None
        sql = "SELECT id, namespace, name, node, labels FROM pods WHERE 1=1"
        args: list[str] = []
        for col, val in (("namespace", q.namespace), ("name", q.pod), ("node", q.node)):
            if val is not None:
                sql += f" AND {col} = ?"
                args.append(val)
        ids = []
        for pid, _ns, _name, _node, labels in self._db.execute(sql, args):
            if q.selector is None or q.selector.matches(json.loads(labels)):
                ids.append(int(pid))
        return ids

    def search(self, query: Query) -> tuple[list[Record], bool]:
        limit = max(1, min(query.limit, MAX_LIMIT))
        with self._lock:
            pod_ids = self._pod_filter(query)
            if pod_ids is not None and not pod_ids:
                return [], False
            where: list[str] = ["1=1"]
            args: list[int | str] = []
            if pod_ids is not None:
                where.append(f"l.pod_id IN ({','.join('?' * len(pod_ids))})")
                args += pod_ids
            for cond, val in (("p.namespace = ?", query.namespace), ("l.container = ?", query.container),
                              ("l.ts_ns >= ?", query.since_ns), ("l.ts_ns <= ?", query.until_ns)):
                if val is not None:
                    where.append(cond)
                    args.append(val)
            if query.grep:
                if len(query.grep) >= 3:
                    where.append("l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)")
                    args.append(_fts_phrase(query.grep))
                where.append("instr(l.line, ?) > 0")  # the trigram index is case-insensitive
                args.append(query.grep)
            sql = ("SELECT l.ts_ns, p.namespace, p.name, p.uid, l.container, p.node, l.stream, l.line, p.labels "
                   "FROM lines l JOIN pods p ON p.id = l.pod_id WHERE " + " AND ".join(where) +
                   " ORDER BY l.ts_ns DESC, l.id DESC LIMIT ?")
            rows = self._db.execute(sql, [*args, limit + 1]).fetchall()
        truncated = len(rows) > limit
        out = [Record(ns_to_ts(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
               for r in rows[:limit]]
        out.reverse()
        return out, truncated

    def stored_bytes(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key = 'bytes'").fetchone()[0])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM lines").fetchone()[0])

    def _delete(self, where: str, args: list[int]) -> int:
        gone = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM(length(line)), 0) FROM lines WHERE {where}",
                                args).fetchone()
        if not gone[0]:
            return 0
        self._db.execute(f"DELETE FROM lines WHERE {where}", args)
        self._db.execute("UPDATE meta SET value = MAX(0, value - ?) WHERE key = 'bytes'", (gone[1],))
        return int(gone[0])

    def prune(self, now_ns: int) -> int:
        cutoff = now_ns - int(self.max_age_s * 1e9)
        removed = 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                removed += self._delete("ts_ns < ?", [cutoff])
                while int(db.execute("SELECT value FROM meta WHERE key = 'bytes'").fetchone()[0]) > self.max_bytes:
                    # the oldest tenth at a time: few passes, and the store ends well under the cap
                    n = max(1, int(db.execute("SELECT COUNT(*) FROM lines").fetchone()[0]) // 10)
                    edge = db.execute("SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET ?", (n - 1,)).fetchone()
                    if edge is None:
                        break
                    removed += self._delete("id <= ?", [int(edge[0])])
                db.execute("DELETE FROM sources WHERE seen_ns < ?", (cutoff,))
                db.execute("DELETE FROM pods WHERE id NOT IN (SELECT DISTINCT pod_id FROM lines)")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return removed
