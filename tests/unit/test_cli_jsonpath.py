"""kubectl's JSONPath templates (cli.jsonpath) and wait's --for parsing (cli.diff_wait)."""

from __future__ import annotations

from typing import Any

import pytest

from cli import jsonpath
from cli.diff_wait import Condition, parse_for
from cli.errors import CliError

DATA: dict[str, Any] = {"kind": "List", "items": [
    {"metadata": {"name": "a", "labels": {"x": "1"}},
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "n": 3}},
    {"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "False"}], "n": 1}}]}


@pytest.mark.parametrize(("template", "expected"), [
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[0].metadata.name}", "a"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.items[0:1].metadata.name}", "a"),
    ("{..name}", "a b"),
    ("{.items[0].metadata}", '{"labels":{"x":"1"},"name":"a"}'),
    ("{.items[0].status.n}", "3"),
    ('{.items[?(@.status.n>2)].metadata.name}', "a"),
    ('{.items[*].status.conditions[?(@.type=="Ready")].status}', "True False"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.n}{"\\n"}{end}', "a\t3\nb\t1\n"),
    ("name={.items[1].metadata.name}", "name=b"),
    ("{.items[0].missing}", ""),
    ("'{.kind}'", "List"),
])
def test_templates(template: str, expected: str) -> None:
    assert jsonpath.render(template, DATA) == expected


def test_bad_templates_are_cli_errors() -> None:
    for bad in ("{.items[0}", "{range .items[*]}{.x}", "{.items[abc]}"):
        with pytest.raises(CliError, match="error parsing jsonpath"):
            jsonpath.render(bad, DATA)


def test_wait_for_parsing_and_conditions() -> None:
    assert parse_for("delete") == Condition("delete")
    assert parse_for("condition=Ready") == Condition("condition", name="Ready", value="true")
    assert parse_for("condition=Available=false") == Condition("condition", name="Available", value="false")
    assert parse_for("jsonpath={.status.phase}=Running") == Condition("jsonpath", path=".status.phase",
                                                                       value="Running")
    assert parse_for("jsonpath='{.status.phase}'=Running").path == ".status.phase"
    with pytest.raises(CliError):
        parse_for("ready")
    pod = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert parse_for("condition=ready").met(pod)
    assert not parse_for("condition=Ready=false").met(pod)
    assert parse_for("jsonpath={.status.phase}=Running").met(pod)
    assert not parse_for("jsonpath={.status.phase}=Pending").met(pod)


def test_custom_columns_sort_and_label_columns() -> None:
    from cli import outputs

    items: list[dict[str, Any]] = [{"metadata": {"name": "b", "labels": {"app.kubernetes.io/name": "w"}}, "n": 2},
                                   {"metadata": {"name": "a"}, "n": 10}, {"metadata": {"name": "c"}}]
    assert [i["metadata"]["name"] for i in outputs.sort_items(items, "{.n}")] == ["c", "b", "a"]
    assert outputs.custom_columns("NAME:.metadata.name,N:.n", items) == "NAME   N\nb      2\na      10\nc      <none>"
    headers, rows = outputs.label_columns(["app.kubernetes.io/name"], ["NAME"], [["b"], ["a"], ["c"]], items)
    assert (headers, rows) == (["NAME", "NAME"], [["b", "w"], ["a", ""], ["c", ""]])
    with pytest.raises(CliError):
        outputs.sort_items(items, ".metadata")
    with pytest.raises(CliError):
        outputs.custom_columns("NAME", items)
