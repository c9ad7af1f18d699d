"""v1.1 learning on every storage backend, with the storage conformance suite's fixtures.

Each backend (memory, file, duckdb; redis, postgres and mongodb as integration tests) in
plain and compressed+encrypted mode: the starting state of a relationship with no
history, a few learning turns, their embeddings stored with the model id and dimension,
search over what was learned (encrypted too), and — on persistent
backends — the learned state read back by a new client on the same store.
"""

from __future__ import annotations

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from tests.conftest import parametrize_backend
from tests.storage.conftest import BackendCase

MODES = ["plain", "compressed+encrypted"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, modes=MODES)


async def test_learning_works_unchanged_on_every_backend(backend: BackendCase) -> None:
    storage = await backend.open()
    base = LuminoraCoreClient(storage=storage)
    v11 = LuminoraCoreClientV11(base)  # the default embedder: vectors stored on every backend
    start = await v11.get_affinity("sam", "willow")
    assert (start["affinity_points"], start["current_level"], start["total_interactions"]) == (
        20,
        "new_friend",
        0,
    )
    assert await storage.get_affinity("sam", "willow") is None  # the starting state is not saved
    sid = await base.create_session("willow", user_id="sam")
    for text in (
        "My name is Sam and I have a cat named Miso.",
        "I just got engaged!!",
        "I'm allergic to peanuts.",
    ):
        await base.send_message(sid, text)
    facts = {(f["category"], f["key"]): f["value"] for f in await v11.get_facts("sam")}
    assert facts == {
        ("personal_info", "name"): "Sam",
        ("relationships", "pet_cat"): "Miso",
        ("health", "allergy_peanuts"): "peanuts",
    }
    (episode,) = await v11.get_episodes("sam")
    assert episode["title"] == "Engagement"
    affinity = await v11.get_affinity("sam", "willow")
    assert affinity["total_interactions"] == 3 and len(affinity["history"]) == 3  # type: ignore[typeddict-item]
    assert (await storage.get_mood(sid)) is not None
    hits = await v11.search_memories("sam", "which animal lives with me?", top_k=2)
    assert hits and all("Miso" in h.text for h in hits)  # the fact and the message that said it
    vectors = await storage.get_embeddings("sam")
    assert {v["kind"] for v in vectors} == {"fact", "episode", "message"}
    assert all(
        v["model_id"] == vectors[0]["model_id"] and v["dimension"] == len(v["vector"]) for v in vectors
    )
    if backend.persistent:
        again = LuminoraCoreClientV11(LuminoraCoreClient(storage=await backend.open()), embedder=None)
        assert {(f["category"], f["key"]): f["value"] for f in await again.get_facts("sam")} == facts
        assert (await again.get_affinity("sam", "willow"))["affinity_points"] == affinity["affinity_points"]
        assert len(await again.get_episodes("sam")) == 1
