"""Cron schedules as Kubernetes' CronJob controller reads them (robfig/cron `ParseStandard`).

Contract:
- `parse_schedule(text) -> Schedule` accepts the standard 5 fields `minute hour day-of-month
  month day-of-week` with `*`, `?` (same as `*`), lists `a,b`, ranges `a-b`, steps `*/n`,
  `a-b/n` and `a/n` (= `a-max/n`), month names JAN-DEC and weekday names SUN-SAT (any case),
  weekdays 0-6 (0 = Sunday); the macros `@yearly`/`@annually`, `@monthly`, `@weekly`,
  `@daily`/`@midnight`, `@hourly`, and `@every <duration>` (Go durations such as `1h30m`).
  Anything else raises `ValueError` with a message saying what is wrong. `TZ=`/`CRON_TZ=`
  prefixes are rejected here: Kubernetes wants `spec.timeZone` instead.
- Day matching as robfig/cron: when day-of-month or day-of-week starts with `*` (or `?`) both
  must match, otherwise either one matching is enough (`0 0 1 * MON` = the 1st and Mondays).
- `Schedule.next(after: datetime, tz: ZoneInfo | UTC) -> datetime`: the first activation
  strictly after `after` (seconds dropped), evaluated on the wall clock of `tz`, returned as an
  aware UTC datetime. A wall time skipped by a DST jump does not fire; a repeated one fires once
  (the first occurrence).
- `load_zone(name) -> tzinfo`: `None`/"" = UTC, else zoneinfo (ValueError for an unknown
  name), as the controller's `time.LoadLocation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                             "oct", "nov", "dec"))}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS))
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_SEARCH_YEARS = 5  # robfig gives up after 5 years too (e.g. "0 0 30 2 *" never fires)


def _value(text: str, name: str, names: dict[str, int] | None, lo: int, hi: int) -> int:
    if names is not None and text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text!r} in {name} field")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{name} value {value} out of range [{lo}, {hi}]")
    return value


def _parse_field(text: str, name: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    """The set of values of one field, and whether it started with `*`/`?` (robfig's star bit)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        if not part:
            raise ValueError(f"empty list element in {name} field {text!r}")
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"bad step {step_text!r} in {name} field")
            step = int(step_text)
        if rng in ("*", "?"):
            start, end = lo, hi
            star = star or step == 1  # robfig: "*/n" clears the star bit, "*" and "*,5" set it
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _value(a, name, names, lo, hi), _value(b, name, names, lo, hi)
            if start > end:
                raise ValueError(f"beginning of range ({start}) beyond end of range ({end}) in {name} field")
        else:
            start = _value(rng, name, names, lo, hi)
            end = hi if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def _parse_duration(text: str) -> float:
    """Go's time.ParseDuration for the positive forms `@every` takes ("1h30m", "90s")."""
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"failed to parse duration {text!r}")
    seconds = sum(float(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"@every duration must be positive: {text!r}")
    return seconds


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    day_star: bool = True
    every_s: float = 0.0
    """`@every`: a constant delay instead of calendar fields."""

    def _day_matches(self, d: datetime) -> bool:
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        return (dom and dow) if self.day_star else (dom or dow)

    def next(self, after: datetime, tz: tzinfo = UTC) -> datetime:
        """First activation strictly after `after` (see the module docstring)."""
        if self.every_s:
            delay = max(1, round(self.every_s))  # robfig rounds to whole seconds, at least 1 s
            base = after.astimezone(UTC).replace(microsecond=0)
            return base + timedelta(seconds=delay)
        local = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = local.year + _SEARCH_YEARS
        while local.year <= limit:
            if local.month not in self.months:
                local = (local.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(local):
                local = local.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            aware = local.replace(tzinfo=tz)
            # A wall time inside a DST gap does not exist: it round-trips to another time.
            if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local:
                return aware.astimezone(UTC)
            local += timedelta(minutes=1)
        raise ValueError("schedule has no activation within five years")


def parse_schedule(text: str) -> Schedule:
    spec = text.strip()
    if not spec:
        raise ValueError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        raise ValueError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if spec.startswith("@every "):
        return Schedule(every_s=_parse_duration(spec[len("@every "):].strip()))
    if spec.startswith("@"):
        if spec.lower() not in MACROS:
            raise ValueError(f"unrecognized descriptor: {spec}")
        spec = MACROS[spec.lower()]
    fields = spec.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {text!r}")
    parsed = [_parse_field(f, name, lo, hi, names) for f, (name, lo, hi, names) in zip(fields, _FIELDS, strict=True)]
    return Schedule(minutes=parsed[0][0], hours=parsed[1][0], days=parsed[2][0], months=parsed[3][0],
                    weekdays=parsed[4][0], day_star=parsed[2][1] or parsed[4][1])


def load_zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name}") from exc


__all__ = ["MACROS", "Schedule", "load_zone", "parse_schedule"]
