"""Quantity parsing and formatting (machinery.quantity)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from machinery.quantity import cpu_millis, format_cpu, format_memory, memory_bytes, parse_quantity


@pytest.mark.parametrize(("text", "value"), [
    ("0", Decimal(0)), ("1", Decimal(1)), ("1.5", Decimal("1.5")), (".5", Decimal("0.5")), ("5.", Decimal(5)),
    ("100m", Decimal("0.1")), ("250u", Decimal("0.00025")), ("7n", Decimal("7e-9")),
    ("2k", Decimal(2000)), ("3M", Decimal(3_000_000)), ("1G", Decimal(10**9)), ("1T", Decimal(10**12)),
    ("1P", Decimal(10**15)), ("2E", Decimal(2 * 10**18)),
    ("1Ki", Decimal(1024)), ("64Mi", Decimal(64 * 2**20)), ("0.5Gi", Decimal(2**29)), ("1Ti", Decimal(2**40)),
    ("1Pi", Decimal(2**50)), ("1Ei", Decimal(2**60)),
    ("1e3", Decimal(1000)), ("1E3", Decimal(1000)), ("5e-3", Decimal("0.005")), ("+2", Decimal(2)),
    ("-1", Decimal(-1)), (" 3 ", Decimal(3)),
])
def test_parse(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_numbers_are_accepted() -> None:
    assert parse_quantity(2) == 2 and parse_quantity(0.5) == Decimal("0.5")


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "1Z", "1ki", "1mi", "nan", "inf", "1 m", "m", "Mi", "1e",
                                 "--1", "0x10", "1Gi2"])
def test_garbage_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", [True, None, [1], float("nan")])
def test_non_quantities_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_quantity(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "millis"), [("1.5", 1500), ("100m", 100), ("2", 2000), ("0.1m", 1),
                                              ("1001u", 2), ("0", 0), (1, 1000)])
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(("text", "num"), [("64Mi", 67108864), ("1G", 10**9), ("1k", 1000), ("0.5", 1),
                                           ("128974848", 128974848), ("129e6", 129000000), ("123Mi", 128974848)])
def test_memory_bytes(text: str, num: int) -> None:
    assert memory_bytes(text) == num


@pytest.mark.parametrize(("millis", "text"), [(0, "0"), (2000, "2"), (1500, "1500m"), (1, "1m")])
def test_format_cpu(millis: int, text: str) -> None:
    assert format_cpu(millis) == text
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(("num", "text"), [(0, "0"), (1024, "1Ki"), (67108864, "64Mi"), (2**30 * 3, "3Gi"),
                                           (1000, "1000"), (1536, "1536"), (2**60, "1Ei")])
def test_format_memory(num: int, text: str) -> None:
    assert format_memory(num) == text
    assert memory_bytes(text) == num
