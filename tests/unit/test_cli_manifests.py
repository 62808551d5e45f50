"""Reading -f FILE|DIR|- : multi-document YAML, JSON, directories, clear errors."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from cli.errors import CliError
from cli.manifests import parse_documents, read_manifests

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers: [{{name: c, image: busybox}}]\n"


def test_multi_document_yaml_skips_empty_documents(tmp_path: Path) -> None:
    f = tmp_path / "all.yaml"
    f.write_text("---\n" + POD.format(name="a") + "---\n---\n" + POD.format(name="b"))
    got = read_manifests([str(f)])
    assert [m.obj["metadata"]["name"] for m in got] == ["a", "b"]
    assert all(m.source == str(f) for m in got)


def test_json_file_and_list_kind_are_expanded(tmp_path: Path) -> None:
    f = tmp_path / "list.json"
    f.write_text('{"apiVersion": "v1", "kind": "List", "items": ['
                 '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},'
                 '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}]}')
    assert [m.obj["metadata"]["name"] for m in read_manifests([str(f)])] == ["x", "y"]


def test_directory_reads_manifest_extensions_only_and_recurses_with_flag(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(POD.format(name="b"))
    (tmp_path / "a.yaml").write_text(POD.format(name="a"))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.json").write_text('{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}')
    assert [m.obj["metadata"]["name"] for m in read_manifests([str(tmp_path)])] == ["a", "b"]
    names = [m.obj["metadata"]["name"] for m in read_manifests([str(tmp_path)], recursive=True)]
    assert sorted(names) == ["a", "b", "c"]


def test_stdin() -> None:
    got = read_manifests(["-"], stdin=io.StringIO(POD.format(name="s")))
    assert got[0].source == "STDIN" and got[0].obj["kind"] == "Pod"


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a\n")
    with pytest.raises(CliError) as exc:
        read_manifests([str(f)])
    msg = str(exc.value)
    assert msg.startswith(f"error parsing {f}: error converting YAML to JSON: yaml: line ")
    assert "line 6" in msg or "line 5" in msg


def test_missing_kind_and_missing_file() -> None:
    with pytest.raises(CliError, match=r'error validating "x.yaml": error validating data: \[kind not set\]'):
        parse_documents("apiVersion: v1\nmetadata: {name: a}\n", "x.yaml")
    with pytest.raises(CliError, match="apiVersion not set and kind not set"):
        parse_documents("metadata: {name: a}\n", "x.yaml")
    with pytest.raises(CliError, match=re.escape('the path "/nonexistent/f.yaml" does not exist')):
        read_manifests(["/nonexistent/f.yaml"])
    with pytest.raises(CliError, match="expected an object"):
        parse_documents("- a\n- b\n", "x.yaml")


def test_empty_input_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("---\n")
    with pytest.raises(CliError, match="no objects passed"):
        read_manifests([str(tmp_path / "empty.yaml")])
    with pytest.raises(CliError, match="must specify one of -f"):
        read_manifests([])


def test_edit_reads_back_without_comments_and_reports_bad_yaml() -> None:
    from cli.edit import HEADER, read_edited

    assert read_edited(HEADER + "a: 1\n# note\nb: [x]\n", "f") == {"a": 1, "b": ["x"]}
    assert read_edited(HEADER, "f") is None
    with pytest.raises(CliError, match=r"f: yaml: line 2"):
        read_edited("a: 1\nb: [x\n", "f")
