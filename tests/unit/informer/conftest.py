"""Fixtures of the informer tests: a fresh fake clientset, and informer run() tasks that are
always cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from machinery.informer import Informer
from tests.unit.fake_client import FakeClient


@pytest.fixture
def api() -> FakeClient:
    return FakeClient()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Informer[Any]], asyncio.Task[None]]]:
    """Start informers' run() tasks and always cancel them."""
    tasks: list[asyncio.Task[None]] = []

    def start(inf: Informer[Any]) -> asyncio.Task[None]:
        t = asyncio.create_task(inf.run())
        tasks.append(t)
        return t

    yield start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
