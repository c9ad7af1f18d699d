"""One conformance suite: the same assertions for every backend and every codec mode.

The ``backend`` fixture (tests/storage/conftest.py) crosses memory, file, duckdb, redis,
postgres and mongodb with plain, compressed, encrypted and compressed+encrypted storage.
Tests that apply to some of those cases only (a reopened store, damaged bytes, a wrong
key) are marked ``backend_cases(...)`` and are generated for exactly those cases: nothing
here is skipped as "not applicable".
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.errors import StorageError
from luminora_nb.storage._vectors import VECTOR_FIELD, float32
from luminora_nb.storage.base import AppendConflict, Storage
from luminora_nb.types import (
    Conversation,
    MemoryConfig,
    Message,
    MessageRole,
    PersonalityData,
    SessionConfig,
    SessionRecord,
)

from .conftest import BackendCase, new_key

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
UNICODE = 'héllo wörld — 你好, мир 👋🏽 \u200d ∑ "quotes" \\ backslash \n newline \t tab \x00 nul'


def make_record(
    session_id: str | None = None,
    *,
    user_id: str | None = "u1",
    messages: int = 2,
    created_at: datetime = T0,
    content: str = UNICODE,
    personality: str = "aurora",
) -> SessionRecord:
    sid = f"s-{uuid.uuid4().hex[:10]}" if session_id is None else session_id
    msgs = [
        Message(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=f"{i}: {content}",
            timestamp=created_at + timedelta(seconds=i),
            metadata={"turn": i // 2, "nested": {"list": [1, 2.5, None, True], "text": content}},
        )
        for i in range(messages)
    ]
    return SessionRecord(
        session_id=sid,
        personality_name=personality,
        personality=PersonalityData(
            name=personality,
            description="A warm guide ✨",
            system_prompt="You are Aurora.",
            metadata={"v": 1},
        ),
        provider_config={"name": "offline", "model": "sim-1", "extra": {"temperature": 0.5}},
        session_config=SessionConfig(session_id=sid, user_id=user_id, max_history=50, timeout=3600),
        user_id=user_id,
        conversation=Conversation(
            session_id=sid,
            messages=msgs,
            metadata={"topic": content[:20]},
            created_at=created_at,
            updated_at=created_at + timedelta(seconds=messages),
        ),
        created_at=created_at,
        last_active=created_at + timedelta(seconds=messages),
    )


def dump(record: SessionRecord | None) -> dict[str, Any]:
    assert record is not None
    return record.model_dump(mode="json")


def turn(session_id: str, index: int, at: datetime) -> list[Message]:
    return [
        Message(role=MessageRole.USER, content=f"{session_id} user {index}", timestamp=at),
        Message(role=MessageRole.ASSISTANT, content=f"{session_id} reply {index} ✓", timestamp=at),
    ]


# -- conversations ---------------------------------------------------------------------------
async def test_session_round_trip_unicode_and_large(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.load_session("missing") is None
    record = make_record(messages=6)
    await store.save_session(record)
    assert dump(await store.load_session(record.session_id)) == dump(record)

    big = make_record(content=("large ✓ content " * 20_000) + UNICODE, messages=3)
    await store.save_session(big)
    loaded = await store.load_session(big.session_id)
    assert dump(loaded) == dump(big)
    assert loaded is not None and len(loaded.conversation.messages[0].content) > 300_000

    # save_session replaces the whole stored session
    record.conversation.messages = record.conversation.messages[:1]
    record.personality_name = "renamed"
    await store.save_session(record)
    assert dump(await store.load_session(record.session_id)) == dump(record)


async def test_append_keeps_order_and_touches_last_active(backend: BackendCase) -> None:
    store = await backend.open()
    record = make_record(messages=2)
    await store.save_session(record)
    expected = list(record.conversation.messages)
    for i in range(5):
        at = T0 + timedelta(minutes=i + 1)
        batch = turn(record.session_id, i, at)
        await store.append_messages(record.session_id, batch, last_active=at)
        expected.extend(batch)
    loaded = await store.load_session(record.session_id)
    assert loaded is not None
    assert [m.model_dump(mode="json") for m in loaded.conversation.messages] == [
        m.model_dump(mode="json") for m in expected
    ]
    assert loaded.last_active == T0 + timedelta(minutes=5)
    assert loaded.conversation.updated_at == T0 + timedelta(minutes=5)
    [summary] = await store.list_sessions()
    assert summary.message_count == 12
    assert summary.last_active == T0 + timedelta(minutes=5)

    with pytest.raises(StorageError, match="nope"):
        await store.append_messages("nope", turn("nope", 0, T0), last_active=T0)

    # a save after appends replaces them
    await store.save_session(record)
    assert dump(await store.load_session(record.session_id)) == dump(record)
    await store.append_messages(record.session_id, turn(record.session_id, 9, T0), last_active=T0)
    reloaded = await store.load_session(record.session_id)
    assert reloaded is not None and len(reloaded.conversation.messages) == 4


async def test_list_sessions_all_and_by_user(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.list_sessions() == []
    records = [
        make_record("b-second", user_id="alice", created_at=T0 + timedelta(hours=2), messages=1),
        make_record("a-third", user_id="bob", created_at=T0 + timedelta(hours=3), messages=3),
        make_record("c-first", user_id="alice", created_at=T0 + timedelta(hours=1), messages=0),
        make_record("d-nouser", user_id=None, created_at=T0, messages=2),
    ]
    for record in records:
        await store.save_session(record)
    listed = await store.list_sessions()
    assert [s.session_id for s in listed] == ["d-nouser", "c-first", "b-second", "a-third"]
    by_id = {s.session_id: s for s in listed}
    assert by_id["a-third"].message_count == 3
    assert by_id["a-third"].provider == "offline"
    assert by_id["a-third"].personality_name == "aurora"
    assert by_id["d-nouser"].user_id is None
    assert by_id["b-second"].created_at == T0 + timedelta(hours=2)
    assert [s.session_id for s in await store.list_sessions(user_id="alice")] == ["c-first", "b-second"]
    assert [s.session_id for s in await store.list_sessions(user_id="bob")] == ["a-third"]
    assert await store.list_sessions(user_id="nobody") == []


async def test_delete_session_removes_memory_and_mood(backend: BackendCase) -> None:
    store = await backend.open()
    keep, gone = make_record("keep"), make_record("gone")
    for record in (keep, gone):
        await store.save_session(record)
        await store.set_memory(record.session_id, "k", {"v": record.session_id})
        await store.save_mood(record.session_id, "u1", "happy", 0.5)
    assert await store.delete_session("gone") is True
    assert await store.delete_session("gone") is False
    assert await store.load_session("gone") is None
    assert await store.get_memory("gone", "k") is None
    assert await store.get_mood("gone") is None
    assert [s.session_id for s in await store.list_sessions()] == ["keep"]
    assert await store.get_memory("keep", "k") == {"v": "keep"}
    assert (await store.get_mood("keep") or {})["current_mood"] == "happy"
    # a deleted id can be saved again from scratch
    await store.save_session(gone)
    assert dump(await store.load_session("gone")) == dump(gone)


@pytest.mark.backend_cases(modes=["plain"])  # argument checks come before any encoding
async def test_non_string_ids_are_a_storage_error(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_session(make_record("s1"))
    await store.save_fact("u1", "c", "k", 1)
    bad: list[tuple[str, Any]] = [
        ("session_id", store.load_session({"$ne": "x"})),
        ("session_id", store.delete_session(123)),
        ("user_id", store.get_facts(None)),
        ("user_id", store.list_sessions(user_id={"$exists": True})),
        ("session_id", store.append_messages(["s1"], [], last_active=T0)),
        ("key", store.set_memory("s1", b"k", 1)),
        ("key", store.get_memory("s1", 1.5)),
        ("personality_name", store.get_affinity("u1", None)),
        ("category", store.get_facts("u1", category=1)),
        ("key", store.delete_fact("u1", "c", {"$gt": ""})),
        ("user_id", store.save_episode(7, "t", "title", "summary", 0.5, "neutral")),
        ("user_id", store.save_mood("s1", None, "calm")),
        ("kind", store.get_embeddings("u1", kind=["fact"])),
        ("user_id", store.delete_user_data({"$regex": ".*"})),
    ]
    for name, call in bad:
        with pytest.raises(StorageError, match=f"got {name} of type .*; {name} must be a string"):
            await call
    # nothing was changed or matched by the rejected calls
    assert [s.session_id for s in await store.list_sessions()] == ["s1"]
    assert [f["key"] for f in await store.get_facts("u1")] == ["k"]


async def test_memory_values(backend: BackendCase) -> None:
    store = await backend.open()
    record = make_record("s-mem")
    await store.save_session(record)
    nested = {"a": [1, 2, {"b": None, "c": "ü∑"}], "d": 1.5, "e": True, "f": {"g": {"h": []}}}
    await store.set_memory("s-mem", "nested", nested)
    await store.set_memory("s-mem", "text", UNICODE)
    await store.set_memory("s-mem", "number", 42)
    await store.set_memory("s-mem", "list", ["x", 1])
    assert await store.get_memory("s-mem", "nested") == nested
    assert await store.get_memory("s-mem", "text") == UNICODE
    assert await store.get_memory("s-mem", "number") == 42
    assert await store.get_memory("s-mem", "list") == ["x", 1]
    assert await store.get_memory("s-mem", "missing") is None
    assert await store.get_memory("other", "nested") is None
    await store.set_memory("s-mem", "number", 43)
    assert await store.get_memory("s-mem", "number") == 43
    loaded = await store.load_session("s-mem")
    assert loaded is not None
    assert loaded.memory == {"nested": nested, "text": UNICODE, "number": 43, "list": ["x", 1]}

    with pytest.raises(StorageError, match="not JSON"):
        await store.set_memory("s-mem", "bad", object())
    with pytest.raises(StorageError):
        await store.set_memory("s-mem", "nan", float("nan"))
    assert await store.get_memory("s-mem", "bad") is None
    assert await store.get_memory("s-mem", "number") == 43


# -- v1.1 user state ---------------------------------------------------------------------------
async def test_affinity_upsert(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.get_affinity("user1", "alicia") is None
    assert await store.save_affinity("user1", "alicia", 50, "friend") is True
    row = await store.get_affinity("user1", "alicia")
    assert row is not None
    assert (row["user_id"], row["personality_name"], row["affinity_points"], row["current_level"]) == (
        "user1",
        "alicia",
        50,
        "friend",
    )
    assert "updated_at" in row
    await store.save_affinity("user1", "alicia", 75, "close_friend", total_interactions=12)
    row = await store.get_affinity("user1", "alicia")
    assert row is not None
    assert (row["affinity_points"], row["current_level"], row["total_interactions"]) == (
        75,
        "close_friend",
        12,
    )
    await store.save_affinity("user1", "bastion", 5, "stranger")
    await store.save_affinity("user2", "alicia", 10, "acquaintance")
    assert (await store.get_affinity("user1", "alicia") or {})["affinity_points"] == 75
    assert (await store.get_affinity("user2", "alicia") or {})["affinity_points"] == 10


async def test_facts_upsert_filter_delete(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.get_facts("u1") == []
    await store.save_fact("u1", "personal_info", "name", "Ana", confidence=0.9, session_id="s1")
    await store.save_fact("u1", "preferences", "food", {"likes": ["paëlla", "sushi"]})
    await store.save_fact("u1", "personal_info", "city", "Lyon")
    await store.save_fact("u2", "personal_info", "name", "Bo")
    first = (await store.get_facts("u1", "personal_info"))[0]
    await asyncio.sleep(0.002)
    await store.save_fact("u1", "personal_info", "name", "Anna", confidence=1.0)  # replaces, keeps order

    facts = await store.get_facts("u1")
    assert [(f["category"], f["key"], f["value"]) for f in facts] == [
        ("personal_info", "name", "Anna"),
        ("preferences", "food", {"likes": ["paëlla", "sushi"]}),
        ("personal_info", "city", "Lyon"),
    ]
    assert facts[0]["confidence"] == 1.0
    assert facts[0]["created_at"] == first["created_at"]
    assert facts[0]["updated_at"] >= first["updated_at"]
    assert facts[2]["confidence"] == 1.0  # the default
    assert [f["key"] for f in await store.get_facts("u1", "personal_info")] == ["name", "city"]
    assert await store.get_facts("u1", "nothing") == []
    assert [f["value"] for f in await store.get_facts("u2")] == ["Bo"]

    assert await store.delete_fact("u1", "personal_info", "name") is True
    assert await store.delete_fact("u1", "personal_info", "name") is False
    assert await store.delete_fact("u1", "nope", "city") is False
    assert [f["key"] for f in await store.get_facts("u1")] == ["food", "city"]
    with pytest.raises(StorageError):
        await store.save_fact("u1", "x", "y", object())


async def test_episodes_filter_and_order(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.get_episodes("u1") == []
    rows = [
        ("e1", 5.0, "2024-05-01T10:00:00+00:00"),
        ("e2", 9.0, "2024-05-01T09:00:00+00:00"),
        ("e3", 5.0, "2024-05-01T11:00:00+00:00"),
        ("e4", 2.0, "2024-05-01T12:00:00+00:00"),
        ("e5", 9.0, "2024-05-01T13:00:00+00:00"),
    ]
    for episode_id, importance, stamp in rows:
        assert await store.save_episode(
            "u1",
            "milestone",
            f"title {episode_id}",
            f"summary ✓ {episode_id}",
            importance,
            "positive",
            episode_id=episode_id,
            timestamp=stamp,
            session_id="s1",
        )
    await store.save_episode("u2", "moment", "other", "other user", 10.0, "neutral")
    # equal importance, one timestamp a prefix of the other: newer first on every backend
    await store.save_episode(
        "u3", "t", "older", "s", 5.0, "n", episode_id="o", timestamp="2026-01-01T00:00:00"
    )
    await store.save_episode(
        "u3", "t", "newer", "s", 5.0, "n", episode_id="n", timestamp="2026-01-01T00:00:00.5"
    )
    assert [e["episode_id"] for e in await store.get_episodes("u3")] == ["n", "o"]

    ordered = await store.get_episodes("u1")
    assert [e["episode_id"] for e in ordered] == ["e5", "e2", "e3", "e1", "e4"]
    assert ordered[0]["title"] == "title e5" and ordered[0]["summary"] == "summary ✓ e5"
    assert ordered[0]["importance"] == 9.0 and ordered[0]["session_id"] == "s1"
    assert [e["episode_id"] for e in await store.get_episodes("u1", min_importance=5.0)] == [
        "e5",
        "e2",
        "e3",
        "e1",
    ]
    assert [e["episode_id"] for e in await store.get_episodes("u1", min_importance=5.0, max_results=3)] == [
        "e5",
        "e2",
        "e3",
    ]
    assert [e["episode_id"] for e in await store.get_episodes("u1", max_results=1)] == ["e5"]
    assert await store.get_episodes("u1", min_importance=9.5) == []
    [other] = await store.get_episodes("u2")
    assert other["episode_id"] and other["timestamp"] and other["user_id"] == "u2"


async def test_mood_save_replace(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.get_mood("s1") is None
    assert await store.save_mood("s1", "u1", "curious", 0.4, reason="question") is True
    mood = await store.get_mood("s1")
    assert mood is not None
    assert (mood["session_id"], mood["user_id"], mood["current_mood"], mood["mood_intensity"]) == (
        "s1",
        "u1",
        "curious",
        0.4,
    )
    assert mood["reason"] == "question" and "updated_at" in mood
    await store.save_mood("s1", "u1", "joyful")
    mood = await store.get_mood("s1")
    assert mood is not None and (mood["current_mood"], mood["mood_intensity"]) == ("joyful", 1.0)
    assert await store.get_mood("s2") is None


async def test_embeddings(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.get_embeddings("u1") == []
    await store.save_embedding("u1", "f1", "fact", "likes tea ☕", [0.1, -0.25, 3])
    await store.save_embedding("u1", "e1", "episode", "first chat", [1.0, 0.0, 0.5], source="s1")
    await store.save_embedding("u1", "f1", "fact", "likes green tea", [0.2, 0.2, 0.2])  # replaces
    await store.save_embedding("u2", "f9", "fact", "other", [0.0, 0.0, 1.0])
    rows = await store.get_embeddings("u1")
    assert [(r["item_id"], r["kind"], r["text"]) for r in rows] == [
        ("f1", "fact", "likes green tea"),
        ("e1", "episode", "first chat"),
    ]
    assert rows[0]["vector"] == list(float32([0.2, 0.2, 0.2]))  # stored as float32
    assert rows[0]["dimension"] == 3 and VECTOR_FIELD not in rows[0]
    assert all(isinstance(v, float) for v in rows[1]["vector"]) and rows[1]["source"] == "s1"
    assert [r["item_id"] for r in await store.get_embeddings("u1", kind="episode")] == ["e1"]
    assert await store.get_embeddings("u1", kind="message") == []


async def test_list_users_and_delete_user_data(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.list_users() == []
    await store.save_affinity("zoe", "aurora", 10, "acquaintance")
    await store.save_affinity("zoe", "bastion", 20, "acquaintance")
    await store.save_fact("zoe", "personal_info", "name", "Zoe")
    await store.save_episode("zoe", "moment", "t", "s", 3.0, "neutral")
    await store.save_mood("s-zoe", "zoe", "calm")
    await store.save_embedding("zoe", "i1", "fact", "text", [1.0])
    await store.save_fact("adam", "personal_info", "name", "Adam")
    await store.save_mood("s-mia", "mia", "calm")
    assert await store.list_users() == ["adam", "mia", "zoe"]

    assert await store.delete_user_data("zoe") == 6
    assert await store.list_users() == ["adam", "mia"]
    assert await store.get_affinity("zoe", "aurora") is None
    assert await store.get_facts("zoe") == []
    assert await store.get_episodes("zoe") == []
    assert await store.get_mood("s-zoe") is None
    assert await store.get_embeddings("zoe") == []
    assert await store.delete_user_data("zoe") == 0
    assert [f["value"] for f in await store.get_facts("adam")] == ["Adam"]
    assert (await store.get_mood("s-mia") or {})["user_id"] == "mia"


# -- persistence, corruption, keys --------------------------------------------------------------
@pytest.mark.backend_cases(persistent=True)  # the memory backend keeps data in its own instance only
async def test_data_survives_a_new_storage_instance(backend: BackendCase) -> None:
    assert backend.persistent
    first = await backend.open()
    record = make_record("persist")
    await first.save_session(record)
    await first.append_messages("persist", turn("persist", 0, T0), last_active=T0 + timedelta(hours=1))
    await first.set_memory("persist", "k", [1, "two"])
    await first.save_fact("u1", "c", "k", "v")
    await first.close()
    await first.close()  # idempotent

    second = await backend.open()
    loaded = await second.load_session("persist")
    assert loaded is not None and len(loaded.conversation.messages) == 4
    assert loaded.memory == {"k": [1, "two"]}
    assert [f["value"] for f in await second.get_facts("u1")] == ["v"]
    assert [s.session_id for s in await second.list_sessions()] == ["persist"]


@pytest.mark.backend_cases(persistent=True)  # memory stores no bytes that could be damaged
async def test_corrupt_document_fails_only_that_session(backend: BackendCase) -> None:
    await check_damage_fails_only_that_session(backend, "garbage")


# Flipping a byte of unauthenticated (plain or compressed) data is not detectable; only
# ciphertext is authenticated, so this runs for the encrypted modes.
@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_flipped_ciphertext_byte_fails_only_that_session(backend: BackendCase) -> None:
    await check_damage_fails_only_that_session(backend, "flip")


async def check_damage_fails_only_that_session(backend: BackendCase, how: str) -> None:
    assert backend.persistent and (how == "garbage" or backend.encrypted)
    store = await backend.open()
    for sid in ("healthy-1", "victim", "healthy-2"):
        await store.save_session(make_record(sid))
    await store.append_messages("victim", turn("victim", 0, T0), last_active=T0)
    await backend.corrupt("victim", how)

    with pytest.raises(StorageError, match="victim") as caught:
        await store.load_session("victim")
    message = str(caught.value)
    assert "corrupt" in message or "could not be decrypted" in message
    for sid in ("healthy-1", "healthy-2"):
        assert dump(await store.load_session(sid)) == dump(make_record(sid))
    listed = {s.session_id for s in await store.list_sessions()}
    assert {"healthy-1", "healthy-2"} <= listed
    # the damaged session can still be deleted and saved again
    await store.delete_session("victim")
    await store.save_session(make_record("victim"))
    assert dump(await store.load_session("victim")) == dump(make_record("victim"))


async def test_encryption_needs_a_key(backend: BackendCase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMINORA_ENCRYPTION_KEY", raising=False)
    with pytest.raises(StorageError, match="encryption key") as caught:
        await backend.open(encryption_enabled=True, encryption_key=None)
    assert "LUMINORA_ENCRYPTION_KEY" in str(caught.value)
    # the environment variable is a valid source of the key
    monkeypatch.setenv("LUMINORA_ENCRYPTION_KEY", backend.config.encryption_key or new_key())
    store = await backend.open(encryption_enabled=True, encryption_key=None)
    await store.save_session(make_record("env-key"))
    assert dump(await store.load_session("env-key")) == dump(make_record("env-key"))


# Only encrypted modes have a key to get wrong; memory keeps no ciphertext and no data across instances.
@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_wrong_encryption_key_is_an_error_never_garbage(backend: BackendCase) -> None:
    assert backend.persistent and backend.encrypted
    store = await backend.open()
    await store.save_session(make_record("locked"))
    await store.append_messages("locked", turn("locked", 0, T0), last_active=T0)
    await store.set_memory("locked", "k", "secret value")
    await store.save_fact("u1", "c", "k", "v")
    await store.close()

    # A wrong key is refused when the store is opened (checked against the store's key
    # check), never read as garbage nor used to write documents under a second key.
    wrong_key = new_key()
    with pytest.raises(StorageError, match="encryption key does not open this store") as caught:
        await backend.open(encryption_key=wrong_key)
    assert wrong_key not in str(caught.value) and str(backend.config.encryption_key) not in str(caught.value)

    with pytest.raises(StorageError, match="encrypt"):
        await backend.open(encryption_enabled=False, encryption_key=None)

    right = await backend.open()
    loaded = await right.load_session("locked")
    assert loaded is not None and loaded.memory == {"k": "secret value"}


# Encrypted stores refuse unencrypted documents (tested in test_codec); memory keeps nothing across instances.
@pytest.mark.backend_cases(persistent=True, encrypted=False)
async def test_old_uncompressed_data_still_reads(backend: BackendCase) -> None:
    assert backend.persistent and not backend.encrypted
    old = await backend.open(compression_enabled=False)
    await old.save_session(make_record("old"))
    await old.set_memory("old", "k", "v")
    await old.close()
    new = await backend.open()
    expected = make_record("old").model_copy(update={"memory": {"k": "v"}})
    assert dump(await new.load_session("old")) == dump(expected)


async def test_secrets_never_stored_after_a_client_workflow(backend: BackendCase) -> None:
    api_key = f"sk-test-{secrets.token_hex(16)}"
    marker = f"plaintext-marker-{secrets.token_hex(8)}"
    client = LuminoraCoreClient(storage_config=backend.config)
    backend.track(client.storage)
    await client.initialize()
    sid = await client.create_session(
        "aurora", ProviderConfig(name="offline", api_key=api_key, extra={"token": api_key}), user_id="u1"
    )
    await client.send_message(sid, f"Hello! {marker}")
    await client.send_message(sid, f"Tell me more, please. {marker[::-1]}")
    await client.store_memory(sid, "note", {"remember": marker})
    assert [s for s in await client.list_sessions() if s == sid] == [sid]
    conversation = await client.get_conversation(sid)
    assert conversation is not None and len(conversation.messages) == 4
    await client.cleanup()

    raw = backend.raw_dump()
    assert raw, "raw_dump() returned nothing: it cannot prove anything"
    assert api_key.encode() not in raw
    assert api_key[8:].encode() not in raw
    if backend.config.encryption_key:
        assert backend.config.encryption_key.encode() not in raw
    if backend.plain:
        assert marker.encode() in raw  # the dump does see what was stored
    if backend.encrypted and backend.persistent:  # memory holds objects in this process, never bytes
        assert marker.encode() not in raw
        assert marker[::-1].encode() not in raw


async def test_concurrent_sessions_keep_every_message_in_order(backend: BackendCase) -> None:
    """100 concurrent sessions x 20 turns (asyncio.gather), no lost or reordered message.

    The full 100 x 20 runs in the compressed+encrypted mode (the heaviest path); the other
    codec modes run the same assertions on 20 sessions x 5 turns to keep the suite fast.
    """
    full = backend.mode == "compressed+encrypted"
    n_sessions, n_turns = (100, 20) if full else (20, 5)
    store = await backend.open()
    sessions = [f"conc-{i:03d}" for i in range(n_sessions)]
    await asyncio.gather(*(store.save_session(make_record(sid, messages=0)) for sid in sessions))

    async def converse(sid: str) -> None:
        for i in range(n_turns):
            at = T0 + timedelta(seconds=i + 1)
            await store.append_messages(sid, turn(sid, i, at), last_active=at)

    await asyncio.gather(*(converse(sid) for sid in sessions))
    loaded = await asyncio.gather(*(store.load_session(sid) for sid in sessions))
    for sid, record in zip(sessions, loaded, strict=True):
        assert record is not None
        contents = [m.content for m in record.conversation.messages]
        assert contents == [c for i in range(n_turns) for c in (f"{sid} user {i}", f"{sid} reply {i} ✓")]
        assert record.last_active == T0 + timedelta(seconds=n_turns)
    counts = {s.session_id: s.message_count for s in await store.list_sessions()}
    assert counts == dict.fromkeys(sessions, 2 * n_turns)


async def test_close_is_idempotent_and_storage_is_a_context_manager(backend: BackendCase) -> None:
    storage: Storage = await backend.open()
    await storage.close()
    await storage.close()
    async with await backend.open() as again:
        await again.save_affinity("u", "p", 1, "l")
        assert (await again.get_affinity("u", "p") or {})["affinity_points"] == 1
    assert repr(again).startswith("<")
    if backend.config.encryption_key:
        assert backend.config.encryption_key not in repr(again)


async def test_callers_never_share_state_with_the_store(backend: BackendCase) -> None:
    store = await backend.open()
    record = make_record("shared", messages=2)
    await store.save_session(record)
    appended = turn("shared", 0, T0)
    await store.append_messages("shared", appended, last_active=T0)
    await store.set_memory("shared", "k", {"list": [1]})
    await store.save_fact("u1", "c", "k", {"likes": ["tea"]})
    await store.save_embedding("u1", "i1", "fact", "text", [1.0, 2.0])
    expected = dump(await store.load_session("shared"))

    # changing what was saved, appended or loaded changes nothing stored
    record.conversation.messages[0].content = "changed after save"
    record.conversation.messages.append(turn("shared", 9, T0)[0])
    record.conversation.metadata["new"] = 1
    record.memory["x"] = 1
    appended[0].content = "changed after append"
    appended[0].metadata["new"] = 1
    loaded = await store.load_session("shared")
    assert loaded is not None and loaded.model_dump(mode="json") == expected
    loaded.conversation.messages[1].metadata["nested"]["list"].append("changed after load")
    loaded.conversation.messages.clear()
    loaded.memory["k"]["list"].append(2)
    (await store.get_memory("shared", "k"))["list"].append(3)
    (await store.get_facts("u1"))[0]["value"]["likes"].append("coffee")
    (await store.get_embeddings("u1"))[0]["vector"].append(3.0)

    assert dump(await store.load_session("shared")) == expected
    assert await store.get_memory("shared", "k") == {"list": [1]}
    assert (await store.get_facts("u1"))[0]["value"] == {"likes": ["tea"]}
    assert (await store.get_embeddings("u1"))[0]["vector"] == [1.0, 2.0]


# Compressed and encrypted modes refuse such text with a StorageError (test_codec, test_faults).
@pytest.mark.backend_cases(modes=["plain"])
async def test_text_utf8_cannot_hold_round_trips_in_plain_mode(backend: BackendCase) -> None:
    odd = "half a pair: \ud83d, a lone low \udc00, NUL \x00 and é"
    store = await backend.open()
    record = make_record("odd", messages=2, content=odd)
    await store.save_session(record)
    await store.append_messages(
        "odd", [Message(role=MessageRole.USER, content=odd, timestamp=T0)], last_active=T0
    )
    await store.set_memory("odd", "k", {odd: odd})  # as a key, such text is an id some stores refuse
    await store.save_fact("u1", "c", "k", odd)
    loaded = await store.load_session("odd")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages] == [f"0: {odd}", f"1: {odd}", odd]
    assert loaded.conversation.messages[0].metadata["nested"]["text"] == odd
    assert loaded.memory == {"k": {odd: odd}}
    assert await store.get_memory("odd", "k") == {odd: odd}
    assert (await store.get_facts("u1"))[0]["value"] == odd
    # a session without odd text saved later still reads back
    await store.save_session(make_record("even"))
    assert dump(await store.load_session("even")) == dump(make_record("even"))


# -- the primitives the next work builds on ------------------------------------------------------
async def test_delete_memory_forgets_one_key(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_session(make_record("s-del"))
    await store.set_memory("s-del", "keep", 1)
    await store.set_memory("s-del", "gone", {"v": 2})
    assert await store.delete_memory("s-del", "gone") is True
    assert await store.delete_memory("s-del", "gone") is False
    assert await store.delete_memory("other", "gone") is False
    assert await store.get_memory("s-del", "gone") is None
    loaded = await store.load_session("s-del")
    assert loaded is not None and loaded.memory == {"keep": 1}
    with pytest.raises(StorageError, match="got key of type int"):
        await store.delete_memory("s-del", 1)  # type: ignore[arg-type]


async def test_memory_eviction_by_the_client_deletes_the_oldest_key(backend: BackendCase) -> None:
    client = LuminoraCoreClient(storage_config=backend.config, memory_config=MemoryConfig(max_entries=2))
    backend.track(client.storage)
    await client.initialize()
    sid = await client.create_session("aurora", ProviderConfig(name="offline"), user_id="u1")
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        await client.store_memory(sid, key, value)
    stored = await client.storage.load_session(sid)
    assert stored is not None and stored.memory == {"b": 2, "c": 3}  # "a" is gone, not stored as None
    await client.cleanup()


async def test_an_append_at_an_expected_position_is_never_stored_twice(backend: BackendCase) -> None:
    store = await backend.open()
    record = make_record("s-at", messages=2)
    await store.save_session(record)
    first = turn("s-at", 0, T0 + timedelta(minutes=1))
    await store.append_messages("s-at", first, last_active=T0 + timedelta(minutes=1), expected_count=2)
    # the same append sent again (its reply was lost): recognised, not stored twice
    await store.append_messages("s-at", first, last_active=T0 + timedelta(minutes=1), expected_count=2)
    second = turn("s-at", 1, T0 + timedelta(minutes=2))
    await store.append_messages("s-at", second, last_active=T0 + timedelta(minutes=2), expected_count=4)
    # a different append at a position already taken is a conflict, and changes nothing
    with pytest.raises(AppendConflict, match=r"could not append to session 's-at' at position 4: it holds 6"):
        await store.append_messages("s-at", turn("s-at", 9, T0), last_active=T0, expected_count=4)
    with pytest.raises(StorageError, match="at position 9: it holds 6"):
        await store.append_messages("s-at", turn("s-at", 9, T0), last_active=T0, expected_count=9)
    with pytest.raises(StorageError, match="'nope' is not stored"):
        await store.append_messages("nope", first, last_active=T0, expected_count=0)
    loaded = await store.load_session("s-at")
    assert loaded is not None
    expected = [*record.conversation.messages, *first, *second]
    assert [m.model_dump(mode="json") for m in loaded.conversation.messages] == [
        m.model_dump(mode="json") for m in expected
    ]
    assert loaded.last_active == T0 + timedelta(minutes=2)
    [summary] = await store.list_sessions()
    assert summary.message_count == 6


async def test_message_count_follows_saves_and_appends(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.message_count("s-count") is None
    await store.save_session(make_record("s-count", messages=3))
    assert await store.message_count("s-count") == 3
    await store.append_messages("s-count", turn("s-count", 0, T0), last_active=T0)
    assert await store.message_count("s-count") == 5
    await store.append_messages("s-count", turn("s-count", 1, T0), last_active=T0, expected_count=5)
    assert await store.message_count("s-count") == 7
    await store.save_session(make_record("s-count", messages=1))  # replaced whole
    assert await store.message_count("s-count") == 1
    await store.delete_session("s-count")
    assert await store.message_count("s-count") is None


async def test_concurrent_appends_at_one_position_store_exactly_one(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_session(make_record("s-race", messages=0))
    batches = [turn("s-race", i, T0) for i in range(5)]
    results = await asyncio.gather(
        *(store.append_messages("s-race", b, last_active=T0, expected_count=0) for b in batches),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r is None) == 1
    assert all(isinstance(r, AppendConflict) for r in results if r is not None)
    loaded = await store.load_session("s-race")
    assert loaded is not None and len(loaded.conversation.messages) == 2


async def test_a_batch_is_stored_whole(backend: BackendCase) -> None:
    store = await backend.open()
    record = make_record("s-batch", messages=3)
    async with store.batch():
        await store.save_session(record)
        await store.set_memory("s-batch", "k", {"v": 1})
        await store.save_fact("u1", "pets", "dog", "Rex")
        await store.save_fact("u1", "pets", "cat", "Tom")
        await store.save_episode("u1", "moment", "first", "summary", 5.0, "positive", episode_id="e1")
        await store.save_affinity("u1", "aurora", 10, "friend")
        await store.save_mood("s-batch", "u1", "calm")
        await store.save_embedding("u1", "i1", "fact", "dog Rex", [1.0, 0.0])
        # nothing is written before the block ends: reads see the store as it was
        assert await store.load_session("s-batch") is None
        assert await store.get_facts("u1") == []
    loaded = await store.load_session("s-batch")
    assert dump(loaded) == dump(record.model_copy(update={"memory": {"k": {"v": 1}}}))
    assert [f["key"] for f in await store.get_facts("u1")] == ["dog", "cat"]
    assert [e["episode_id"] for e in await store.get_episodes("u1")] == ["e1"]
    assert (await store.get_affinity("u1", "aurora") or {})["affinity_points"] == 10
    assert (await store.get_mood("s-batch") or {})["current_mood"] == "calm"
    assert [e["item_id"] for e in await store.get_embeddings("u1")] == ["i1"]


async def test_a_batch_that_fails_stores_nothing(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_fact("u1", "pets", "dog", "Rex")

    async def change_of_mind() -> None:
        async with store.batch():
            await store.save_session(make_record("s-never"))
            await store.save_fact("u1", "pets", "dog", "Rex II")
            raise RuntimeError("changed my mind")

    async def not_json() -> None:
        async with store.batch():
            await store.save_fact("u1", "pets", "cat", "Tom")
            await store.save_fact("u1", "pets", "bird", object())

    with pytest.raises(RuntimeError, match="changed my mind"):
        await change_of_mind()
    with pytest.raises(StorageError, match="not JSON"):
        await not_json()
    assert await store.load_session("s-never") is None
    assert [(f["key"], f["value"]) for f in await store.get_facts("u1")] == [("dog", "Rex")]
    # calls that cannot be collected are refused inside a batch
    async with store.batch():
        for call in (
            store.delete_fact("u1", "pets", "dog"),
            store.delete_memory("s", "k"),
            store.delete_session("s"),
            store.delete_user_data("u1"),
            store.append_messages("s", [], last_active=T0),
        ):
            with pytest.raises(StorageError, match="cannot be part of a batch"):
                await call
        with pytest.raises(StorageError, match="batches do not nest"):
            async with store.batch():
                pass
    assert [f["key"] for f in await store.get_facts("u1")] == ["dog"]


# Encrypted documents cannot hold an unpaired surrogate: the store refuses the batch when it
# encodes it, after the other writes of the batch were encoded already (memory encodes nothing).
@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_a_batch_the_store_refuses_stores_nothing(backend: BackendCase) -> None:
    store = await backend.open()

    async def odd_batch() -> None:
        async with store.batch():
            await store.save_session(make_record("s-fine"))
            await store.save_fact("u1", "pets", "dog", "Rex")
            await store.save_session(make_record("s-odd", content="half \ud800"))

    with pytest.raises(StorageError, match="unpaired surrogate"):
        await odd_batch()
    assert await store.load_session("s-fine") is None
    assert await store.get_facts("u1") == []


async def test_the_metadata_record_is_compare_and_set(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.read_metadata() == {}
    first = {"kdf_salt": "c2FsdA==", "key_check": "LNC...", "version": 1}
    assert await store.write_metadata(first, expected=None) is True
    assert await store.write_metadata({"version": 99}, expected=None) is False  # one exists already
    assert await store.read_metadata() == first
    second = {**first, "version": 2}
    assert await store.write_metadata(
        second, expected={"version": 1, "key_check": "LNC...", "kdf_salt": "c2FsdA=="}
    )
    assert await store.write_metadata({"version": 3}, expected=first) is False  # stale expectation
    assert await store.read_metadata() == second
    with pytest.raises(StorageError, match="not JSON"):
        await store.write_metadata({"bad": object()}, expected=second)
    if backend.persistent:
        again = await backend.open()
        assert await again.read_metadata() == second


async def test_concurrent_first_metadata_writes_let_exactly_one_win(backend: BackendCase) -> None:
    stores = [await backend.open() for _ in range(3)] if backend.persistent else [await backend.open()] * 3
    results = await asyncio.gather(
        *(s.write_metadata({"writer": i}, expected=None) for i, s in enumerate(stores))
    )
    assert sorted(results) == [False, False, True]
    assert await stores[0].read_metadata() == {"writer": results.index(True)}


async def test_search_embeddings_ranks_by_cosine_similarity(backend: BackendCase) -> None:
    store = await backend.open()
    assert await store.search_embeddings("u1", [1.0, 0.0, 0.0]) == []
    rows = {
        "east": [1.0, 0.0, 0.0],
        "north-east": [1.0, 1.0, 0.0],
        "north": [0.0, 2.0, 0.0],
        "west": [-3.0, 0.0, 0.0],
        "zero": [0.0, 0.0, 0.0],
        "short": [1.0, 0.0],  # another dimension: never compared
        "east-again": [2.0, 0.0, 0.0],  # the same direction as "east", saved later
    }
    for item_id, vector in rows.items():
        kind = "episode" if item_id == "north" else "fact"
        await store.save_embedding("u1", item_id, kind, f"text {item_id}", vector, source="test")
    await store.save_embedding("u2", "other", "fact", "other user", [1.0, 0.0, 0.0])

    found = await store.search_embeddings("u1", [1.0, 0.0, 0.0], limit=10)
    assert [r["item_id"] for r in found] == ["east", "east-again", "north-east", "north", "zero", "west"]
    scores = [r["score"] for r in found]
    assert scores == pytest.approx([1.0, 1.0, 0.70710678, 0.0, 0.0, -1.0], abs=1e-6)
    assert found[2]["text"] == "text north-east" and found[2]["vector"] == [1.0, 1.0, 0.0]
    assert found[2]["source"] == "test"
    assert [r["item_id"] for r in await store.search_embeddings("u1", [0.0, 1.0, 0.0], limit=2)] == [
        "north",
        "north-east",
    ]
    assert [
        r["item_id"] for r in await store.search_embeddings("u1", [0.0, 1.0, 0.0], kind="fact", limit=1)
    ] == ["north-east"]
    assert [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.0])] == ["short"]
    assert await store.search_embeddings("u1", [1.0, 0.0, 0.0], limit=0) == []
    assert await store.search_embeddings("nobody", [1.0, 0.0, 0.0]) == []
    # a replaced embedding is ranked by its new vector
    await store.save_embedding("u1", "west", "fact", "now east", [5.0, 0.0, 0.0])
    assert [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.0, 0.0], limit=3)] == [
        "east",
        "west",
        "east-again",
    ]
    with pytest.raises(StorageError, match="got user_id of type dict"):
        await store.search_embeddings({"$ne": ""}, [1.0])  # type: ignore[arg-type]
