"""Kubernetes resource quantities ("100m", "1.5", "64Mi", "1e3", "2G").

Contract:
- `parse_quantity(q) -> Decimal`: the exact value; `ValueError` on anything that is not a
  quantity (empty, garbage, unknown suffix, NaN/inf). Numbers (int/float) are accepted too,
  since manifests write `cpu: 1`.
- `cpu_millis(q) -> int`, `memory_bytes(q) -> int`: rounded UP, as Kubernetes' `MilliValue`
  and `Value` do, so "0.1m" of CPU still counts as 1m and never as free.
- `format_cpu(millis)`: "2" for whole cores, else "1500m". `format_memory(bytes)`: the largest
  binary suffix that divides exactly ("64Mi"), else plain bytes.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}
# The exponent form must be tried before the bare "E" (exa) suffix: "1E3" is 1000.
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$"
)


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity string (see module docstring)."""
    if isinstance(value, bool):
        raise ValueError(f"quantities must match the regular expression: {value!r} is a boolean")
    if isinstance(value, int | float | Decimal):
        dec = Decimal(str(value))
        if not dec.is_finite():
            raise ValueError(f"quantity {value!r} is not a finite number")
        return dec
    if not isinstance(value, str):
        raise ValueError(f"quantity must be a string, not {type(value).__name__}")
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}"
        )
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex only admits numbers
        raise ValueError(f"invalid quantity {value!r}") from exc
    suffix = match["suffix"]
    try:
        if suffix in _BINARY:
            return number * _BINARY[suffix]
        if suffix in _DECIMAL:
            return number * _DECIMAL[suffix]
        exponent = int(suffix[1:])
        if not -(2**31) <= exponent < 2**31:  # Kubernetes parses the exponent as an int32
            raise ValueError(f"unable to parse quantity's suffix: {value!r}")
        return number * (Decimal(10) ** exponent)
    except ArithmeticError:  # decimal.Overflow/InvalidOperation: beyond any representable size
        raise ValueError(f"quantity {value!r} is too large") from None


def _ceil(value: Decimal) -> int:
    return math.ceil(value)


def cpu_millis(value: str | int | float | Decimal) -> int:
    """CPU in millicores, rounded up: "1.5" -> 1500, "100m" -> 100, "0.1m" -> 1."""
    return _ceil(parse_quantity(value) * 1000)


def memory_bytes(value: str | int | float | Decimal) -> int:
    """Bytes, rounded up: "64Mi" -> 67108864, "1G" -> 1000000000."""
    return _ceil(parse_quantity(value))


def format_cpu(millis: int) -> str:
    """The canonical CPU string: 2000 -> "2", 1500 -> "1500m", 0 -> "0"."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(num_bytes: int) -> str:
    """The canonical memory string: 67108864 -> "64Mi", 1000 -> "1000", 0 -> "0"."""
    if num_bytes == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        factor = _BINARY[suffix]
        if num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)


__all__ = ["cpu_millis", "format_cpu", "format_memory", "memory_bytes", "parse_quantity"]
