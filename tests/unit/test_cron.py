"""machinery/cron.py: parsing and next activation, against hand-checked calendar times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from machinery.cron import load_zone, parse_schedule


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


@pytest.mark.parametrize(("spec", "after", "expected"), [
    ("*/1 * * * *", "2026-01-01T10:00:30", "2026-01-01T10:01:00"),
    ("*/15 * * * *", "2026-01-01T10:14:59", "2026-01-01T10:15:00"),
    ("5 4 * * *", "2026-01-01T04:05:00", "2026-01-02T04:05:00"),
    ("0 9-17/4 * * MON-FRI", "2026-01-02T17:30:00", "2026-01-05T09:00:00"),  # Fri evening -> Mon
    ("0 0 1,15 * *", "2026-01-02T00:00:00", "2026-01-15T00:00:00"),
    ("0 0 1 * MON", "2026-01-01T00:00:00", "2026-01-05T00:00:00"),  # dom OR dow: Monday the 5th
    ("0 0 * * MON", "2026-01-01T00:00:00", "2026-01-05T00:00:00"),
    ("0 0 */10 * MON", "2026-01-01T00:00:00", "2026-01-05T00:00:00"),  # */10 clears the star: OR
    ("30 2 29 feb *", "2026-01-01T00:00:00", "2028-02-29T02:30:00"),
    ("@hourly", "2026-01-01T10:00:00", "2026-01-01T11:00:00"),
    ("@daily", "2026-01-01T10:00:00", "2026-01-02T00:00:00"),
    ("@weekly", "2026-01-01T10:00:00", "2026-01-04T00:00:00"),  # next Sunday
    ("@monthly", "2026-01-01T10:00:00", "2026-02-01T00:00:00"),
    ("@yearly", "2026-01-01T10:00:00", "2027-01-01T00:00:00"),
    ("10/20 * * * *", "2026-01-01T10:31:00", "2026-01-01T10:50:00"),
    ("0 0 * jan,JUL sun", "2026-02-01T00:00:00", "2026-07-05T00:00:00"),
])
def test_next(spec: str, after: str, expected: str) -> None:
    assert parse_schedule(spec).next(_t(after)) == _t(expected)


def test_time_zone_and_dst() -> None:
    ny = load_zone("America/New_York")
    daily = parse_schedule("0 9 * * *")
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert daily.next(_t("2026-01-10T00:00:00"), ny) == _t("2026-01-10T14:00:00")
    assert daily.next(_t("2026-07-10T00:00:00"), ny) == _t("2026-07-10T13:00:00")
    # 02:30 does not exist on 2026-03-08 in New York (spring forward): the next is the 9th.
    assert parse_schedule("30 2 * * *").next(_t("2026-03-08T00:00:00"), ny) == _t("2026-03-09T06:30:00")
    # 01:30 happens twice on 2026-11-01: fires once, at the first (EDT, 05:30 UTC).
    once = parse_schedule("30 1 * * *")
    first = once.next(_t("2026-11-01T04:00:00"), ny)
    assert first == _t("2026-11-01T05:30:00")
    assert once.next(first, ny) == _t("2026-11-02T06:30:00")


def test_every() -> None:
    assert parse_schedule("@every 1h30m").next(_t("2026-01-01T00:00:00")) == _t("2026-01-01T01:30:00")


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty spec"),
    ("* * * *", "expected exactly 5 fields"),
    ("60 * * * *", "out of range"),
    ("* * * * 7", "out of range"),
    ("*/0 * * * *", "bad step"),
    ("5-1 * * * *", "beyond end of range"),
    ("@fortnightly", "unrecognized descriptor"),
    ("TZ=UTC * * * * *", "use timeZone"),
    ("x * * * *", "failed to parse int"),
    ("@every 5 minutes", "failed to parse duration"),
])
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(spec)


def test_zones() -> None:
    assert load_zone(None) is UTC
    with pytest.raises(ValueError, match="unknown time zone"):
        load_zone("Mars/Olympus")
