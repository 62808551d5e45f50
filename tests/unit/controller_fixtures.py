"""Compatibility re-export: the controller test builders now live in tests/unit/fake_client.py
(import them from there). Kept because other controller tests import this module."""

from tests.unit.builders import NS, TEMPLATE_SPEC, make_context, make_pod, make_rs, owner_ref

__all__ = ["NS", "TEMPLATE_SPEC", "make_context", "make_pod", "make_rs", "owner_ref"]
