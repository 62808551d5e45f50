"""CRI log files: format, size rotation, tail/since/timestamps, follow across rotation."""

import asyncio
from pathlib import Path

import pytest

from kubelet.logs import RotatingWriter, follow_log, parse_cri_line, parse_size, read_log, rotated_files


def ts(i: int) -> str:
    return f"2026-01-01T00:00:{i:02d}.000000001Z"


def test_parse_size() -> None:
    assert parse_size("10Mi") == 10 * 1024 * 1024
    assert parse_size("512Ki") == 512 * 1024
    assert parse_size("1000") == 1000
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("ten")


def test_cri_format_and_read(tmp_path: Path) -> None:
    w = RotatingWriter(tmp_path / "c" / "0.log")
    w.write(ts(1), "stdout", b"hello\n")
    w.write(ts(2), "stderr", b"oops")
    w.close()
    raw = (tmp_path / "c" / "0.log").read_bytes()
    assert raw == f"{ts(1)} stdout F hello\n{ts(2)} stderr F oops\n".encode()
    assert parse_cri_line(raw.splitlines()[1]) == (ts(2), "stderr", b"oops")
    assert read_log(tmp_path / "c" / "0.log") == b"hello\noops\n"
    assert read_log(tmp_path / "c" / "0.log", timestamps=True) == f"{ts(1)} hello\n{ts(2)} oops\n".encode()
    assert read_log(tmp_path / "c" / "0.log", tail_lines=1) == b"oops\n"
    assert read_log(tmp_path / "c" / "0.log", since=ts(2)) == b"oops\n"


def test_rotation_keeps_max_files_and_order(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = RotatingWriter(path, max_bytes=200, max_files=3)
    for i in range(40):
        w.write(ts(i), "stdout", f"line-{i:02d}".encode())
    w.close()
    parts = rotated_files(path)
    assert [p.name for p in parts] == ["0.log.2", "0.log.1"]
    assert all(p.stat().st_size <= 200 for p in [*parts, path])
    lines = read_log(path).decode().split()
    assert lines == sorted(lines) and lines[-1] == "line-39"
    assert len(lines) < 40  # the oldest were rotated away
    assert RotatingWriter(path).last_timestamp() == ts(39)


async def test_follow_sees_new_lines_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = RotatingWriter(path, max_bytes=120, max_files=3)
    w.write(ts(0), "stdout", b"first")
    w.flush()
    running = True

    async def still_running() -> bool:
        return running

    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in follow_log(path, still_running=still_running, poll_s=0.02):
            got.append(chunk)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    for i in range(1, 8):
        w.write(ts(i), "stdout", f"more-{i}".encode())
        w.flush()
        await asyncio.sleep(0.05)
    running = False
    await asyncio.wait_for(task, 3)
    text = b"".join(got).decode().split()
    assert text[0] == "first"
    assert text[-1] == "more-7"
    assert len(rotated_files(path)) >= 1


def test_remove_instance_logs_keeps_other_instances(tmp_path: Path) -> None:
    for n in (0, 1):
        w = RotatingWriter(tmp_path / f"{n}.log", max_bytes=60, max_files=3)
        for i in range(5):
            w.write(ts(i), "stdout", b"x" * 20)
        w.close()
    from kubelet.logs import remove_instance_logs

    remove_instance_logs(tmp_path / "0.log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.log", "1.log.1", "1.log.2"]
