"""The wire shapes of cluster-level logging: what a node log agent pushes to the log store and
what a search answers. Shared by the agent, the store, the CLI and the dashboard (one definition).

Contract:
- A push body is `{"streams": [Stream...]}`; a `Stream` is the lines of ONE log file of one
  container instance, with the pod metadata once: `namespace`, `pod`, `podUID`, `container`,
  `node`, `labels`, `source` (an id the agent gives that file; stable across agent restarts) and
  `entries`: `[[ts, stream, line, offset], ...]` where `ts` is the CRI RFC3339Nano timestamp,
  `stream` stdout|stderr, `line` the text (partial lines already joined) and `offset` the byte
  offset of the line's first record in the file. Offsets of one source only grow: the store
  drops an entry whose offset is below what it already holds for that source, which makes a
  re-sent batch (agent crashed after the store answered) harmless.
- A search answer is `{"kind": "LogRecordList", "items": [Record...], "truncated": bool}`, the
  newest `limit` matches in chronological order; a `Record` is `{ts, namespace, pod, podUID,
  container, node, stream, line, labels}`.
- `ts_to_ns("2024-01-02T03:04:05.123456789Z")` keeps nanoseconds (datetime cannot).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, field
from typing import Any

_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def ts_to_ns(ts: str) -> int:
    """RFC3339(Nano) -> integer nanoseconds since the epoch (ValueError when malformed)."""
    m = _TS.match(ts)
    if not m:
        raise ValueError(f"invalid timestamp {ts!r} (want RFC3339, e.g. 2024-01-02T03:04:05.5Z)")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * 1_000_000_000 + int((m.group(7) or "0").ljust(9, "0"))


def ns_to_ts(ns: int) -> str:
    """Integer nanoseconds -> RFC3339Nano in UTC (the CRI spelling)."""
    secs, frac = divmod(ns, 1_000_000_000)
    y, mo, d, h, mi, s = time.gmtime(secs)[:6]
    return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{frac:09d}Z"


@dataclass
class Entry:
    ts: str
    stream: str
    line: str
    offset: int

    def to_wire(self) -> list[Any]:
        return [self.ts, self.stream, self.line, self.offset]


@dataclass
class Stream:
    namespace: str
    pod: str
    pod_uid: str
    container: str
    node: str
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "pod": self.pod, "podUID": self.pod_uid,
                "container": self.container, "node": self.node, "source": self.source,
                "labels": self.labels, "entries": [e.to_wire() for e in self.entries]}

    @classmethod
    def from_wire(cls, d: Any) -> Stream:
        """Parse one pushed stream; ValueError names the bad field."""
        if not isinstance(d, dict):
            raise ValueError("streams[]: must be an object")
        strs = {}
        for key in ("namespace", "pod", "podUID", "container", "node", "source"):
            val = d.get(key)
            if not isinstance(val, str) or not val:
                raise ValueError(f"streams[].{key}: required string")
            strs[key] = val
        labels = d.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in labels.items()):
            raise ValueError("streams[].labels: must map strings to strings")
        raw = d.get("entries")
        if not isinstance(raw, list):
            raise ValueError("streams[].entries: required list")
        entries = []
        for e in raw:
            if (not isinstance(e, list) or len(e) != 4 or not isinstance(e[0], str) or e[1] not in ("stdout", "stderr")
                    or not isinstance(e[2], str) or not isinstance(e[3], int) or isinstance(e[3], bool)):
                raise ValueError("streams[].entries[]: want [ts, stdout|stderr, line, offset]")
            ts_to_ns(e[0])
            entries.append(Entry(e[0], e[1], e[2], e[3]))
        return cls(strs["namespace"], strs["pod"], strs["podUID"], strs["container"], strs["node"],
                   strs["source"], dict(labels), entries)


@dataclass
class Record:
    """One stored line, as a search returns it."""

    ts: str
    namespace: str
    pod: str
    pod_uid: str
    container: str
    node: str
    stream: str
    line: str
    labels: dict[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"ts": self.ts, "namespace": self.namespace, "pod": self.pod, "podUID": self.pod_uid,
                "container": self.container, "node": self.node, "stream": self.stream, "line": self.line,
                "labels": self.labels}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Record:
        return cls(str(d.get("ts", "")), str(d.get("namespace", "")), str(d.get("pod", "")),
                   str(d.get("podUID", "")), str(d.get("container", "")), str(d.get("node", "")),
                   str(d.get("stream", "stdout")), str(d.get("line", "")), dict(d.get("labels") or {}))


# How clients reach the store: the Service the log store publishes (kube-system/logstore, port
# "http"), through the API server's service proxy as Kubernetes clients reach in-cluster UIs.
LOGSTORE_NAMESPACE = "kube-system"
LOGSTORE_SERVICE = "logstore"
LOGSTORE_PORT_NAME = "http"
LOGSTORE_PROXY = f"/api/v1/namespaces/{LOGSTORE_NAMESPACE}/services/{LOGSTORE_SERVICE}:{LOGSTORE_PORT_NAME}/proxy"
