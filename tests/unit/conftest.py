"""Fixtures shared by the unit tests."""

from collections.abc import Iterator

import pytest

from kubelet import probes


@pytest.fixture
def fast_probes() -> Iterator[float]:
    """Probe seconds last 10 ms (the API's periodSeconds are whole seconds): yields that length."""
    before = probes.PROBE_SECOND_S
    probes.PROBE_SECOND_S = 0.01
    yield probes.PROBE_SECOND_S
    probes.PROBE_SECOND_S = before
