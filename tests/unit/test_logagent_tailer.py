"""The node log agent's tailer on a temp dir: rotation by the kubelet's own writer, restarts from
persisted offsets, partial lines, deleted pod directories, truncation."""

from __future__ import annotations

import shutil
from pathlib import Path

from addons.logagent.tailer import Tailer, parse_rel
from kubelet.logs import RotatingWriter, container_log_path
from machinery.logwire import Stream

UID = "0a1b2c3d-uid"


def _path(root: Path, restart: int = 0) -> Path:
    return container_log_path(str(root), "default", "web-1", UID, "app", restart)


def _ts(i: int) -> str:
    return f"2024-05-01T10:00:{i // 1000:02d}.{i % 1000:03d}000000Z"


def _write(w: RotatingWriter, start: int, n: int) -> None:
    for i in range(start, start + n):
        w.write(_ts(i), "stdout", f"line {i}".encode())
    w.flush()


def _lines(streams: list[Stream]) -> list[str]:
    return [e.line for s in streams for e in s.entries]


def _drain(t: Tailer) -> list[str]:
    out: list[str] = []
    while True:
        t.scan()
        got = _lines(t.read_batch())
        if not got:
            return out
        t.commit()
        out += got


def test_parse_rel() -> None:
    assert parse_rel(f"ns_pod_{UID}/c/3.log.2") == ("ns", "pod", UID, "c", 3, 2)
    assert parse_rel(f"ns_pod_{UID}/c/0.log") == ("ns", "pod", UID, "c", 0, 0)
    assert parse_rel("junk/c/0.log") is None
    assert parse_rel(f"ns_pod_{UID}/c/0.log.tmp") is None


def test_metadata_and_labels(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path))
    _write(w, 0, 3)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1", labels=lambda uid: {"app": "web"} if uid == UID else {})
    t.scan()
    (s,) = t.read_batch()
    assert (s.namespace, s.pod, s.pod_uid, s.container, s.node, s.labels) == ("default", "web-1", UID, "app", "n1",
                                                                             {"app": "web"})
    assert [e.line for e in s.entries] == ["line 0", "line 1", "line 2"]
    assert s.entries[0].ts == _ts(0) and s.entries[1].offset > s.entries[0].offset == 0


def test_rotation_loses_and_repeats_nothing(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path), max_bytes=2000, max_files=5)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1", max_lines=7)
    got: list[str] = []
    for k in range(0, 200, 20):  # rotations happen between and during reads
        _write(w, k, 20)
        got += _drain(t)
    assert got == [f"line {i}" for i in range(200)]
    assert len(list(_path(tmp_path).parent.iterdir())) == 5  # rotated parts kept by the kubelet


def test_restart_resumes_from_persisted_offsets_across_rotation(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path), max_bytes=1500, max_files=5)
    _write(w, 0, 30)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1", max_lines=10)
    t.scan()
    first = _lines(t.read_batch())
    t.commit()
    uncommitted = _lines(t.read_batch())  # read but never acknowledged: the agent dies here
    t.close()
    assert first == [f"line {i}" for i in range(10)] and uncommitted
    _write(w, 30, 30)  # rotates while the agent is down
    t2 = Tailer(tmp_path, tmp_path / "state.json", node="n1", max_lines=10)
    assert _drain(t2) == [f"line {i}" for i in range(10, 60)]


def test_killed_before_its_first_commit_resends_under_the_same_source(tmp_path: Path) -> None:
    """The store drops a re-sent batch by (source, offset): a restart must not mint a new id."""
    w = RotatingWriter(_path(tmp_path))
    _write(w, 0, 5)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t.scan()
    pushed = t.read_batch()  # pushed, then SIGKILL before commit()
    t.close()
    t2 = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t2.scan()
    again = t2.read_batch()
    assert [(s.source, [e.offset for e in s.entries]) for s in again] == \
        [(s.source, [e.offset for e in s.entries]) for s in pushed]


def test_rollback_rereads_the_same_lines(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path))
    _write(w, 0, 5)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t.scan()
    a = t.read_batch()
    t.rollback()
    b = t.read_batch()
    assert _lines(a) == _lines(b) and a[0].source == b[0].source
    assert [e.offset for e in a[0].entries] == [e.offset for e in b[0].entries]


def test_partial_lines_are_joined_and_not_committed_half(tmp_path: Path) -> None:
    p = _path(tmp_path)
    p.parent.mkdir(parents=True)
    with open(p, "ab") as fh:
        fh.write(f"{_ts(1)} stdout P hello \n{_ts(2)} stderr F err-line\n".encode())
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t.scan()
    # the stderr line waits behind the unfinished stdout line: offsets stay in order
    assert _lines(t.read_batch()) == []
    t.commit()
    t.close()
    with open(p, "ab") as fh:
        fh.write(f"{_ts(3)} stdout P wor\n{_ts(4)} stdout F ld\n".encode())
    t2 = Tailer(tmp_path, tmp_path / "state.json", node="n1")  # restart in the middle of the line
    t2.scan()
    (s,) = t2.read_batch()
    assert [(e.stream, e.line, e.ts) for e in s.entries] == [("stdout", "hello world", _ts(1)),
                                                             ("stderr", "err-line", _ts(2))]
    assert s.entries[0].offset == 0


def test_a_deleted_pod_directory_is_drained_through_the_open_file(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path))
    _write(w, 0, 3)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    assert _drain(t) == ["line 0", "line 1", "line 2"]
    _write(w, 3, 2)  # the last words, then the kubelet removes the pod
    w.close()
    shutil.rmtree(_path(tmp_path).parent.parent)
    assert _drain(t) == ["line 3", "line 4"]
    t.scan()
    t.read_batch()
    t.idle_settle()
    assert t.files == {}


def test_truncated_file_is_read_again_under_a_new_source(tmp_path: Path) -> None:
    w = RotatingWriter(_path(tmp_path))
    _write(w, 0, 5)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t.scan()
    old = t.read_batch()[0].source
    t.commit()
    t.close()
    w.close()
    _path(tmp_path).write_bytes(f"{_ts(9)} stdout F again\n".encode())  # copytruncate-style
    t2 = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    t2.scan()
    (s,) = t2.read_batch()
    assert [e.line for e in s.entries] == ["again"] and s.source != old


def test_previous_instance_is_read_before_the_current_one(tmp_path: Path) -> None:
    w1 = RotatingWriter(_path(tmp_path, 1))
    _write(w1, 10, 2)
    w0 = RotatingWriter(_path(tmp_path, 0))
    _write(w0, 0, 2)
    t = Tailer(tmp_path, tmp_path / "state.json", node="n1")
    assert _drain(t) == ["line 0", "line 1", "line 10", "line 11"]


def test_agent_scans_less_often_at_rest_and_at_once_after_lines(tmp_path: Path) -> None:
    from addons.logagent.main import Agent, PodLabels

    t = Tailer(tmp_path / "pods", tmp_path / "offsets.json", node="n1", labels=PodLabels(), max_lines=100)
    agent = Agent(t, store_url="http://127.0.0.1:1", client=None, poll_s=0.5, idle_poll_max_s=2.0)
    assert [agent.next_wait_s(0, k) for k in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]  # doubling, capped
    assert agent.next_wait_s(3, 4) == 0.5  # lines shipped: back to the short poll
    assert agent.next_wait_s(100, 0) == 0.0  # a full batch: more is waiting
    steady = Agent(t, store_url="http://127.0.0.1:1", client=None, poll_s=0.5)
    assert steady.next_wait_s(0, 9) == 0.5  # without --idle-poll-max-s: never longer than poll_s
