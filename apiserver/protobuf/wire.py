"""The protobuf wire format, just what Kubernetes' messages use: varints, 64/32-bit fixed
values and length-delimited fields (no groups).

Contract: `iter_fields(buf)` yields `(field number, wire type, value)` in order: an int for
VARINT/I64/I32 (raw unsigned bits), a memoryview for LEN. Anything malformed (truncated
varint or value, a length past the end, field number 0, groups or unknown wire types) raises
`WireError` (a ValueError). `Writer` builds messages: `varint`, `fixed64`, `fixed32`, `len_field`
(`tag` + length + data), and `getvalue()`. Signed ints are written as 64-bit two's complement,
as Go does for int32/int64.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


MAGIC = b"k8s\x00"
"""The 4 bytes that start every Kubernetes protobuf body."""


class ProtobufError(ValueError):
    """The body is not a protobuf object kubelite can decode."""


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """(value, next position); at most 10 bytes, as protobuf allows."""
    result = shift = 0
    end = len(buf)
    for _ in range(10):
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & _MASK64, pos
        shift += 7
    raise WireError("varint longer than 10 bytes")


def iter_fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    buf = memoryview(data)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise WireError(f"invalid field number {number}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == LEN:
            length, pos = read_varint(buf, pos)
            if length > end - pos:
                raise WireError(f"field {number}: length {length} past the end of the message")
            yield number, wire_type, buf[pos:pos + length]
            pos += length
        elif wire_type == I64:
            if pos + 8 > end:
                raise WireError(f"field {number}: truncated 64-bit value")
            yield number, wire_type, int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wire_type == I32:
            if pos + 4 > end:
                raise WireError(f"field {number}: truncated 32-bit value")
            yield number, wire_type, int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise WireError(f"field {number}: unsupported wire type {wire_type}")


def signed(value: int, bits: int) -> int:
    """The two's complement reading of the low `bits` bits of a varint."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def as_double(bits: int) -> float:
    return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])


def as_float(bits: int) -> float:
    return float(struct.unpack("<f", bits.to_bytes(4, "little"))[0])


class Writer:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    @staticmethod
    def _varint_bytes(value: int) -> bytes:
        value &= _MASK64
        out = bytearray()
        while True:
            b = value & 0x7F
            value >>= 7
            if value:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)

    def _tag(self, number: int, wire_type: int) -> None:
        self._parts.append(self._varint_bytes(number << 3 | wire_type))

    def varint(self, number: int, value: int) -> None:
        self._tag(number, VARINT)
        self._parts.append(self._varint_bytes(value))

    def fixed64(self, number: int, value: float) -> None:
        self._tag(number, I64)
        self._parts.append(struct.pack("<d", value))

    def fixed32(self, number: int, value: float) -> None:
        self._tag(number, I32)
        self._parts.append(struct.pack("<f", value))

    def len_field(self, number: int, data: bytes) -> None:
        self._tag(number, LEN)
        self._parts.append(self._varint_bytes(len(data)))
        self._parts.append(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)
