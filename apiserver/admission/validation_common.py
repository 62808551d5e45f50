"""Building blocks of validation: the cause list, Kubernetes' name rules and messages.

Contract: validators append causes `{"reason", "field", "message"}` to an `Errs` list, with
Kubernetes' field paths (`spec.containers[0].image`, `metadata.labels[app]`) and Kubernetes'
message bodies (`Required value`, `Invalid value: "Foo": <why>`, `Unsupported value: "X":
supported values: "A", "B"`, `Duplicate value: "a"`, `Forbidden: <why>`, `Not found: "v"`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from machinery.selectors import label_key_errors, label_value_errors

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_IANA_SVC = re.compile(r"^[-a-z0-9]+$")
_IANA_LETTER = re.compile(r"[a-z]")


def fmt(value: Any) -> str:
    """A value as Kubernetes prints it in messages: strings quoted, numbers bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


class Errs(list[dict[str, str]]):
    """The causes found so far; helpers append Kubernetes-shaped ones."""

    def add(self, reason: str, field: str, message: str) -> None:
        self.append({"reason": reason, "field": field, "message": message})

    def required(self, field: str, detail: str = "") -> None:
        self.add("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self.add("FieldValueInvalid", field, f"Invalid value: {fmt(value)}: {detail}")

    def not_supported(self, field: str, value: Any, supported: Iterable[str]) -> None:
        choices = ", ".join(f'"{s}"' for s in supported)
        self.add("FieldValueNotSupported", field, f"Unsupported value: {fmt(value)}: supported values: {choices}")

    def duplicate(self, field: str, value: Any) -> None:
        self.add("FieldValueDuplicate", field, f"Duplicate value: {fmt(value)}")

    def forbidden(self, field: str, detail: str) -> None:
        self.add("FieldValueForbidden", field, f"Forbidden: {detail}")

    def not_found(self, field: str, value: Any) -> None:
        self.add("FieldValueNotFound", field, f"Not found: {fmt(value)}")

    def too_long(self, field: str, max_len: int) -> None:
        self.add("FieldValueTooLong", field, f"Too long: must have at most {max_len} bytes")

    # --- common checks --------------------------------------------------------------------

    def enum(self, field: str, value: str | None, supported: Iterable[str], *, required: bool = False) -> None:
        choices = list(supported)
        if value is None or value == "":
            if required:
                self.required(field, "supported values: " + ", ".join(f'"{s}"' for s in choices))
            return
        if value not in choices:
            self.not_supported(field, value, choices)

    def min_value(self, field: str, value: int | None, minimum: int) -> None:
        if value is not None and value < minimum:
            detail = "must be greater than or equal to 0" if minimum == 0 else (
                "must be greater than 0" if minimum == 1 else f"must be greater than or equal to {minimum}")
            self.invalid(field, value, detail)

    def port_range(self, field: str, value: int, *, allow_zero: bool = False) -> None:
        if allow_zero and value == 0:
            return
        if not 1 <= value <= 65535:
            self.invalid(field, value, "must be between 1 and 65535, inclusive")

    def labels(self, field: str, labels: Mapping[str, str] | None) -> None:
        for key, value in (labels or {}).items():
            for why in label_key_errors(key):
                self.invalid(field, key, why)
            for why in label_value_errors(value):
                self.invalid(f"{field}[{key}]", value, why)

    def annotations(self, field: str, annotations: Mapping[str, str] | None) -> None:
        total = 0
        for key, value in (annotations or {}).items():
            for why in label_key_errors(key.lower()):
                self.invalid(field, key, why)
            total += len(key) + len(value)
        if total > 256 * 1024:
            self.too_long(field, 256 * 1024)


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.match(value):
        errs.append(DNS1123_LABEL_MSG)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(DNS1123_SUBDOMAIN_MSG)
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(value):
        errs.append(DNS1035_LABEL_MSG)
    return errs


def config_key_errors(key: str) -> list[str]:
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY.match(key):
        errs.append(CONFIG_KEY_MSG)
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not _IANA_SVC.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if not _IANA_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def ip_errors(value: str) -> list[str]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def cidr_errors(value: str) -> list[str]:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return []


def int_or_percent(errs: Errs, field: str, value: int | str | None) -> int | None:
    """Validate an int-or-percent field (maxSurge); return the percent or int value."""
    if value is None:
        return None
    if isinstance(value, int):
        errs.min_value(field, value, 0)
        return value
    if not re.fullmatch(r"[0-9]+%", value):
        errs.invalid(field, value, "a valid percent string must be a numeric string followed by an "
                     "ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")
        return None
    return int(value[:-1])


__all__ = [
    "Errs", "cidr_errors", "config_key_errors", "dns1035_label_errors", "dns1123_label_errors",
    "dns1123_subdomain_errors", "fmt", "int_or_percent", "ip_errors", "port_name_errors",
]
