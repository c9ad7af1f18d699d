"""Fuzzing the async client: every call either succeeds or raises a LuminoraError with a
useful message, and the store (in memory, in files, in DuckDB) stays readable.

Bugs found and fixed have their regression tests beside the code they were fixed in
(tests/test_client.py, test_personality_blend.py, ...). Bugs found in code this suite may
not change (storage, the v1.1 client) are :data:`~tests.fuzz.harness.KNOWN_BUGS`: the
random search steps over them, and each has a strict xfail example here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import example, given

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import LuminoraError, StorageError
from luminora_nb.types import PersonalityData

from .harness import budget, fuzz_example, known_bug, message_problem
from .strategies import CALL_LISTS, C, Call, Deep, Sid


@budget(150)
@given(calls=CALL_LISTS)
def test_fuzz_the_async_client_in_memory(calls: list[Call]) -> None:
    asyncio.run(fuzz_example("memory", calls))


# What only a store on disk shows: values that come back as something else once written
# (each was a bug; the random search finds them too rarely for its budget here).
ON_DISK_EXAMPLE = [
    C("create_session", PersonalityData(name="mine", system_prompt="Hi.", metadata={"a": math.nan})),
    C("create_session", "vex", None, metadata={"\udc00": 1}),
    C("send_message", Sid(0), "Hello!", metadata={"a": [math.inf]}),
    C("create_session", "aurora", None, session_config={"metadata": {"k": "\ud800"}}),
    C("store_memory", Sid(0), "k1", {"t": (1, 2), "n": None}),
]


# Files and DuckDB are really reopened by the fresh client: fewer examples, each slower.
# A few run in the fast loop; the full budget is marked integration (about 15 s), so that
# `pytest -m "not integration"` stays quick.
@pytest.mark.parametrize(
    ("backend", "examples"),
    [
        ("file", 5),
        ("duckdb", 3),
        pytest.param("file", 40, marks=[pytest.mark.integration, pytest.mark.slow]),
        pytest.param("duckdb", 20, marks=[pytest.mark.integration, pytest.mark.slow]),
    ],
)
def test_fuzz_the_async_client_on_disk(backend: str, examples: int) -> None:
    @budget(examples)
    @given(calls=CALL_LISTS)
    @example(calls=ON_DISK_EXAMPLE)
    def run(calls: list[Call]) -> None:
        asyncio.run(fuzz_example(backend, calls))

    run()


# -- open bugs outside this suite's reach: each fails today (strict xfail) ------------------


@pytest.fixture
async def v11() -> AsyncIterator[LuminoraCoreClientV11]:
    async with LuminoraCoreClient() as client:
        yield LuminoraCoreClientV11(client)


async def refused(call: Any, bug: str) -> None:
    """``call`` raises a LuminoraError; the open ``bug`` is what it raises today."""
    try:
        await call
    except LuminoraError:
        return
    except Exception as exc:
        if known_bug(exc) != bug:
            raise AssertionError(f"not the known bug {bug}: {exc!r}") from exc
        raise


async def test_deeply_nested_memory_value_is_refused_naming_the_key(v11: LuminoraCoreClientV11) -> None:
    # Found by the fuzzer: json.dumps of a value nested 5,000 deep raised RecursionError.
    client = v11.base_client
    sid = await client.create_session("aurora")
    with pytest.raises(StorageError, match="memory value for key 'k' is nested too deeply") as info:
        await client.store_memory(sid, "k", Deep(5_000))
    assert message_problem(info.value) is None
    await client.store_memory(sid, "k", Deep(50))  # the store stays usable


# Found by the fuzzer before the v1.1 pipeline checked its arguments; kept as regressions.


@pytest.mark.parametrize(("name", "points"), [("aurora", "x"), (["aurora"], 3)])
async def test_affinity_arguments_are_checked(v11: LuminoraCoreClientV11, name: Any, points: Any) -> None:
    # int(points_delta) of 'x' raised ValueError; a list as a name raised TypeError (a lock key)
    with pytest.raises(LuminoraError):
        await v11.update_affinity("u1", name, points, "positive")
    assert await v11.storage.get_affinity("u1", "aurora") is None


async def test_affinity_interaction_type_is_checked_before_anything_is_stored(
    v11: LuminoraCoreClientV11,
) -> None:
    # interaction_type 0.0 was stored, then the AffinityChanged event raised ValidationError
    with pytest.raises(LuminoraError):
        await v11.update_affinity("u1", "vex", 3, 0.0)
    assert await v11.storage.get_affinity("u1", "vex") is None


async def test_episode_filters_are_checked(v11: LuminoraCoreClientV11) -> None:
    # get_episodes passed its filters on unchecked: int('') raised ValueError in storage
    with pytest.raises(LuminoraError):
        await v11.get_episodes("u1", None, "")


async def test_a_huge_memory_key_is_not_quoted_in_full(v11: LuminoraCoreClientV11) -> None:
    # Found by the fuzzer: the refusal quoted the 100,000-character key in full.
    client = v11.base_client
    sid = await client.create_session("aurora")
    with pytest.raises(StorageError) as info:
        await client.store_memory(sid, "k" * 100_000, math.inf)
    assert message_problem(info.value) is None
