"""cp's file specs and tar layout, port-forward's port translation (kubectl's rules)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cli import cp, podstream, portforward
from cli.errors import CliError


def test_file_specs() -> None:
    assert cp.parse_spec("web:/etc/x") == cp.FileSpec("", "web", "/etc/x")
    assert cp.parse_spec("ns/web:x") == cp.FileSpec("ns", "web", "x")
    assert cp.parse_spec("./local") == cp.FileSpec("", "", "./local")
    for bad in (":x", "a/b/c:x"):
        with pytest.raises(CliError, match=r"\[\[namespace/\]pod:\]file/path"):
            cp.parse_spec(bad)
    assert cp.member_prefix("/tmp/d/") == "tmp/d"
    assert cp.member_prefix("../../x") == "x"
    assert cp.member_prefix(".") == ""


def _tar(members: dict[str, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_untar_replaces_the_prefix_with_dest_and_keeps_inside(tmp_path: Path) -> None:
    data = _tar({"tmp/d": None, "tmp/d/sub/f": b"x", "tmp/d/g": b"y", "tmp/d/../../escape": b"no"})
    warn: list[str] = []
    cp.untar(data, "tmp/d", str(tmp_path / "out"), "/tmp/d", warn, ns="ns", pod="p")
    assert (tmp_path / "out" / "sub" / "f").read_bytes() == b"x"
    assert (tmp_path / "out" / "g").read_bytes() == b"y"
    assert not (tmp_path / "escape").exists()
    with pytest.raises(CliError, match="tar contents corrupted"):
        cp.untar(_tar({"etc/passwd": b"r"}), "tmp/d", str(tmp_path / "o2"), "/tmp/d", [], ns="ns", pod="p")
    one = _tar({"tmp/one": b"1"})
    cp.untar(one, "tmp/one", str(tmp_path / "file"), "/tmp/one", [], ns="ns", pod="p")
    assert (tmp_path / "file").read_bytes() == b"1"  # a file lands AT dest


def test_make_tar_names_members_after_the_destination(tmp_path: Path) -> None:
    (tmp_path / "src" / "inner").mkdir(parents=True)
    (tmp_path / "src" / "inner" / "a").write_text("A")
    (tmp_path / "src" / "empty").mkdir()
    with tarfile.open(fileobj=io.BytesIO(cp.make_tar(str(tmp_path / "src"), "/data/copy"))) as tar:
        assert sorted(tar.getnames()) == ["copy/empty", "copy/inner/a"]


POD = {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "ports": [
    {"name": "http", "containerPort": 8080}]}]}}
SVC = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "web", "port": 80, "targetPort": "http"},
                                                       {"name": "raw", "port": 81, "targetPort": 9000},
                                                       {"name": "same", "port": 82}]}}


def test_ports_translate_as_kubectl() -> None:
    assert portforward.pod_ports(["8080", "9000:http", ":http", "http"], POD) == [
        ("8080", 8080), ("9000", 8080), ("", 8080), ("8080", 8080)]
    assert portforward.service_ports(["80", "5000:web", "81", ":82"], SVC, POD) == [
        ("80", 8080), ("5000", 8080), ("81", 9000), ("", 82)]
    with pytest.raises(CliError, match="does not have a service port 99"):
        portforward.service_ports(["99"], SVC, POD)
    with pytest.raises(CliError, match="does not have a named port 'nope'"):
        portforward.pod_ports(["nope"], POD)
    assert portforward.parse_pairs([("", 80), ("8080", 80)]) == [portforward.PortPair(0, 80),
                                                                  portforward.PortPair(8080, 80)]
    assert portforward.listen_hosts(["localhost"]) == ["127.0.0.1", "::1"]
    assert portforward.listen_hosts(["127.0.0.1,10.0.0.1"]) == ["127.0.0.1", "10.0.0.1"]


def _archive(tmp_path: Path) -> bytes:
    src = tmp_path / "remote"
    src.mkdir()
    (src / "data.bin").write_bytes(bytes(range(256)) * 400)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src / "data.bin", arcname="srv/data.bin")
    return buf.getvalue()


def _flaky_stream(archive: bytes, breaks: int, calls: list[list[str]]) -> Any:
    """podstream.stream for `sh -c 'tar ... | tail -c+N'`: sends from byte N-1, cut short
    (StreamInterrupted after a third of the rest) for the first `breaks` calls."""
    async def stream(client: Any, ns: str, pod: str, command: list[str], **kw: Any) -> int:
        calls.append(command)
        start = int(command[-1].rsplit("tail -c+", 1)[1]) - 1 if command[0] == "sh" else 0
        rest = archive[start:]
        if len(calls) <= breaks:
            kw["on_stdout"](rest[: len(rest) // 3])
            raise podstream.StreamInterrupted("connection lost")
        kw["on_stdout"](rest)
        return 0
    return stream


async def test_cp_retries_resume_where_the_stream_broke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    archive, calls = _archive(tmp_path), list[list[str]]()
    monkeypatch.setattr(podstream, "stream", _flaky_stream(archive, 2, calls))
    dest = tmp_path / "out.bin"
    spec = cp.parse_spec("web:/srv/data.bin")
    assert await cp._from_pod(None, "ns", spec, str(dest), None, retries=3) == 0
    assert dest.read_bytes() == bytes(range(256)) * 400
    assert [c[-1].rsplit(" ", 1)[-1] for c in calls] == [
        "-c+1", f"-c+{len(archive) // 3 + 1}", f"-c+{len(archive) // 3 + (len(archive) - len(archive) // 3) // 3 + 1}"]
    assert calls[0] == ["sh", "-c", "tar cf - /srv/data.bin | tail -c+1"]
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Resuming copy at {len(archive) // 3} bytes, retry 1/3",
                   f"Resuming copy at {len(archive) // 3 + (len(archive) - len(archive) // 3) // 3} bytes, retry 2/3"]


async def test_cp_without_retries_fails_and_with_too_few_drops_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    archive, calls = _archive(tmp_path), list[list[str]]()
    monkeypatch.setattr(podstream, "stream", _flaky_stream(archive, 5, calls))
    spec = cp.parse_spec("web:/srv/data.bin")
    with pytest.raises(podstream.StreamInterrupted):
        await cp._from_pod(None, "ns", spec, str(tmp_path / "a"), None)
    assert calls == [["tar", "cf", "-", "/srv/data.bin"]]
    with pytest.raises(podstream.StreamInterrupted):
        await cp._from_pod(None, "ns", spec, str(tmp_path / "b"), None, retries=1)
    assert capsys.readouterr().out.splitlines()[-1] == "Dropping out copy after 1 retries"
    assert not (tmp_path / "b").exists()
