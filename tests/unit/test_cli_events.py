"""`kubelite events`: kubectl's LAST SEEN wording, time order, --types and --for parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cli import events
from cli.errors import CliError, PlainError

AT = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def ev(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"metadata": {"name": "e", "namespace": "ns"}, "type": "Normal", "reason": "R",
                            "involvedObject": {"kind": "Pod", "name": "web"}, "message": "m  "}
    return base | kw


def test_last_seen_single_repeated_and_series() -> None:
    assert events.last_seen(ev(firstTimestamp="2026-12-06T11:59:55Z"), AT) == "5s"
    repeated = ev(firstTimestamp="2026-12-06T11:57:00Z", lastTimestamp="2026-12-06T11:59:59Z", count=4)
    assert events.last_seen(repeated, AT) == "1s (x4 over 3m)"
    series = ev(eventTime="2026-12-06T10:00:00.000000Z",
                series={"count": 7, "lastObservedTime": "2026-12-06T11:58:00.000000Z"})
    assert events.last_seen(series, AT) == "2m (x7 over 120m)"
    assert events.last_seen(ev(), AT) == "<unknown>"


def test_sorted_by_series_then_last_timestamp_then_event_time() -> None:
    a = ev(lastTimestamp="2026-12-06T11:00:00Z")
    b = ev(eventTime="2026-12-06T10:00:00.000000Z")
    c = ev(eventTime="2026-12-06T09:00:00.000000Z", series={"count": 2, "lastObservedTime": "2026-12-06T11:30:00Z"})
    d = ev()  # no time at all sorts first, as Go's zero time
    assert sorted([a, b, c, d], key=events.event_time) == [d, b, a, c]


def test_table_trims_message_and_adds_namespace_with_all_namespaces() -> None:
    opts = events.EventsOptions(all_namespaces=True)
    text = events.render([ev(firstTimestamp="2026-12-06T11:00:00Z")], opts, at=AT)
    assert text.splitlines() == ["NAMESPACE   LAST SEEN   TYPE     REASON   OBJECT    MESSAGE",
                                 "ns          60m         Normal   R        Pod/web   m"]
    assert events.render([ev()], events.EventsOptions(no_headers=True), at=AT) == "<unknown>   Normal   R   Pod/web   m"


def test_types_are_validated_sorted_and_deduplicated() -> None:
    assert events.parse_types(["Warning,normal", "Warning"]) == ["Warning", "normal"]
    with pytest.raises(CliError, match="valid --types are Normal or Warning"):
        events.parse_types(["Error"])
    assert events.wanted(ev(type="Warning"), ["warning"])
    assert not events.wanted(ev(type="Normal"), ["Warning"])


def test_for_builds_kubectls_field_selector() -> None:
    assert events.for_selector("deploy/web") == ("involvedObject.kind=Deployment,"
                                                 "involvedObject.apiVersion=apps/v1,involvedObject.name=web")
    with pytest.raises(CliError, match="--for must be in resource/name form"):
        events.for_selector("web")
    with pytest.raises(PlainError, match='resource type "nope"'):
        events.for_selector("nope/web")
