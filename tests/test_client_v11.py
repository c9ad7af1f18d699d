"""LuminoraCoreClientV11: facts, episodes and affinity over the v1.1 storage protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import SessionError
from luminora_nb.events import AffinityChanged
from luminora_nb.storage import InMemoryStorageV11


@pytest.fixture
async def pair() -> AsyncIterator[tuple[LuminoraCoreClient, LuminoraCoreClientV11]]:
    base = LuminoraCoreClient()
    await base.initialize()
    yield base, LuminoraCoreClientV11(base)
    await base.cleanup()


async def test_defaults_to_the_base_clients_storage(
    pair: tuple[LuminoraCoreClient, LuminoraCoreClientV11],
) -> None:
    base, v11 = pair
    assert v11.storage is base.storage
    separate = InMemoryStorageV11()
    assert LuminoraCoreClientV11(base, storage_v11=separate).storage is separate


async def test_update_affinity_uses_the_personas_levels_and_initial_points(
    pair: tuple[LuminoraCoreClient, LuminoraCoreClientV11],
) -> None:
    base, v11 = pair
    changes: list[AffinityChanged] = []
    base.events.subscribe(changes.append, types=[AffinityChanged])  # type: ignore[arg-type]
    first = await v11.update_affinity("u1", "aurora", 5, "positive")  # aurora starts at 10 points
    assert first is not None
    assert (first["affinity_points"], first["current_level"]) == (15, "stranger")
    second = await v11.update_affinity("u1", "aurora", 200, "compliment")
    assert second is not None
    assert (second["affinity_points"], second["current_level"]) == (100, "friend")
    assert second["total_interactions"] == 2
    third = await v11.update_affinity("u1", "aurora", -500, "hostile")
    assert third is not None and third["affinity_points"] == 0
    assert [(c.previous_level, c.current_level, c.points_delta) for c in changes] == [
        (None, "stranger", 5),
        ("stranger", "friend", 85),
        ("friend", "stranger", -100),
    ]


async def test_unknown_personality_uses_the_default_ladder(
    pair: tuple[LuminoraCoreClient, LuminoraCoreClientV11],
) -> None:
    _, v11 = pair
    updated = await v11.update_affinity("u2", "alicia", 45, "positive")
    assert updated is not None and updated["current_level"] == "friend"
    assert await v11.get_affinity("u2", "nobody") is None


async def test_facts_and_episodes_come_from_storage(
    pair: tuple[LuminoraCoreClient, LuminoraCoreClientV11],
) -> None:
    base, v11 = pair
    await base.storage.save_fact("u3", "preferences", "drink", "tea", confidence=0.9)
    await base.storage.save_fact("u3", "preferences", "drink", "coffee", confidence=0.95)  # replaces
    await base.storage.save_fact("u3", "work", "role", "nurse")
    facts = await v11.get_facts("u3")
    assert sorted((f["key"], f["value"]) for f in facts) == [("drink", "coffee"), ("role", "nurse")]
    assert [f["value"] for f in await v11.get_facts("u3", category="work")] == ["nurse"]
    for title, importance in (("small", 2.0), ("big", 9.0), ("mid", 6.0)):
        await base.storage.save_episode("u3", "moment", title, "s", importance, "positive")
    assert [e["title"] for e in await v11.get_episodes("u3")] == ["big", "mid", "small"]
    assert [e["title"] for e in await v11.get_episodes("u3", min_importance=5.0, max_results=1)] == ["big"]


async def test_user_id_is_checked(pair: tuple[LuminoraCoreClient, LuminoraCoreClientV11]) -> None:
    _, v11 = pair
    with pytest.raises(SessionError, match="user_id must be a non-empty string"):
        await v11.get_facts("")
    with pytest.raises(SessionError, match="user_id must be a non-empty string"):
        await v11.update_affinity("  ", "aurora", 1, "positive")


async def test_concurrent_updates_are_not_lost() -> None:
    import asyncio

    from luminora_nb.types import StorageConfig

    # DuckDB really suspends between the read and the write, so updates could interleave.
    base = LuminoraCoreClient(
        storage_config=StorageConfig(storage_type="duckdb", connection_string=":memory:")
    )
    await base.initialize()
    v11 = LuminoraCoreClientV11(base)
    await asyncio.gather(*(v11.update_affinity("u4", "alicia", 5, "positive") for _ in range(10)))
    affinity = await v11.get_affinity("u4", "alicia")
    assert affinity is not None
    assert (affinity["affinity_points"], affinity["total_interactions"]) == (50, 10)
    await base.cleanup()
