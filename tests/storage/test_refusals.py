"""Refusals found by the fuzzer, on every backend: a clear StorageError, short, naming the key."""

from __future__ import annotations

import math
from typing import Any

import pytest

from luminora_nb.errors import StorageError
from tests.storage.conftest import BackendCase
from tests.storage.test_conformance import make_record


def nested(depth: int) -> dict[str, Any]:
    """A dict nested ``depth`` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


async def _session(storage: Any) -> str:
    await storage.save_session(make_record("s1"))
    return "s1"


async def test_a_value_nested_too_deeply_is_a_storage_error_naming_the_key(backend: BackendCase) -> None:
    storage = await backend.open()
    sid = await _session(storage)
    with pytest.raises(StorageError, match="memory value for key 'deep' is nested too deeply"):
        await storage.set_memory(sid, "deep", nested(5_000))
    await storage.set_memory(sid, "deep", nested(20))
    assert await storage.get_memory(sid, "deep") == nested(20)


async def test_a_huge_key_is_quoted_short(backend: BackendCase) -> None:
    storage = await backend.open()
    sid = await _session(storage)
    with pytest.raises(StorageError) as info:
        await storage.set_memory(sid, "k" * 100_000, math.inf)
    message = str(info.value)
    assert len(message) < 500, message[:300]
    assert "'kkkkk" in message and "..." in message
