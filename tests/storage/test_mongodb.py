"""MongoDB backend specifics, against a real wire-protocol server (SecantusDB): indexes,
documents, database from the URL, appends, auto_create_tables.

The behaviour every backend shares is in the conformance suite; this file checks what only
MongoDB does. Inspection goes through a separate synchronous PyMongo client.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.mongodb import MongoDBStorage
from luminora_nb.types import StorageConfig
from tests.storage.servers import MongoServer, make_messages, make_record

pytestmark = pytest.mark.integration

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
SUFFIXES = ["", "_affinity", "_embeddings", "_episodes", "_facts", "_memory", "_messages", "_moods"]


def unique_name() -> str:
    return f"mg_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mongo(mongodb_server: MongoServer) -> Iterator[Any]:
    with mongodb_server.client() as client:
        yield client


async def open_store(server: MongoServer, *, url: str | None = None, **options: Any) -> MongoDBStorage:
    options.setdefault("table_name", unique_name())
    storage = create_storage(
        StorageConfig(storage_type="mongodb", connection_string=url or server.url, **options)
    )
    assert isinstance(storage, MongoDBStorage)
    await storage.initialize()
    return storage


@pytest.fixture
async def store(mongodb_server: MongoServer) -> AsyncIterator[MongoDBStorage]:
    storage = await open_store(mongodb_server)
    yield storage
    await storage.close()


def collection(mongo: Any, store: MongoDBStorage, suffix: str = "", database: str = "luminora") -> Any:
    return mongo[database][store.config.table_name + suffix]


async def test_collections_and_indexes_exist(store: MongoDBStorage, mongo: Any) -> None:
    base = store.config.table_name
    names = set(mongo["luminora"].list_collection_names())
    assert {base + s for s in SUFFIXES} <= names

    def keys(suffix: str) -> dict[tuple[tuple[str, int], ...], bool]:
        info = collection(mongo, store, suffix).index_information()
        return {tuple((k, int(d)) for k, d in v["key"]): bool(v.get("unique")) for v in info.values()}

    assert keys("")[(("user_id", 1), ("created_at", 1))] is False
    assert keys("_messages")[(("session_id", 1), ("seq", 1))] is True
    assert keys("_memory")[(("session_id", 1), ("ident", 1))] is True
    assert keys("_affinity")[(("user_id", 1), ("ident", 1))] is True
    assert keys("_facts")[(("user_id", 1), ("ident", 1))] is True
    assert keys("_facts")[(("user_id", 1), ("ord", 1))] is False
    assert keys("_episodes")[(("user_id", 1), ("ord", 1))] is False
    assert keys("_moods")[(("user_id", 1),)] is False
    assert keys("_embeddings")[(("user_id", 1), ("ident", 1))] is True


async def test_unique_index_really_guards_message_order(store: MongoDBStorage, mongo: Any) -> None:
    import pymongo.errors

    await store.save_session(make_record("s1", messages=2))
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        collection(mongo, store, "_messages").insert_one({"session_id": "s1", "seq": 1, "doc": {}})


async def test_plain_documents_are_real_bson_documents(store: MongoDBStorage, mongo: Any) -> None:
    await store.save_session(make_record("s1", messages=4))
    await store.save_affinity("user1", "alicia", 50, "friend")
    session = collection(mongo, store).find_one({"_id": "s1"})
    assert session["doc"]["personality_name"] == "aurora"
    assert "blob" not in session
    assert "messages" not in session["doc"]["conversation"]
    messages = collection(mongo, store, "_messages")
    assert messages.count_documents({"session_id": "s1", "doc.role": "user"}) == 2
    assert [m["doc"]["content"] for m in messages.find({"session_id": "s1"}).sort("seq", 1)] == [
        f"turn {i}" for i in range(4)
    ]
    assert (
        collection(mongo, store, "_affinity").find_one({"user_id": "user1"})["doc"]["affinity_points"] == 50
    )


async def test_encrypted_documents_are_opaque_bytes(mongodb_server: MongoServer, mongo: Any) -> None:
    store = await open_store(mongodb_server, encryption_enabled=True, encryption_key=KEY)
    try:
        record = make_record("s1", messages=2)
        record.conversation.messages[0].content = "meet me at the old lighthouse"
        await store.save_session(record)
        await store.set_memory("s1", "hiding_place", "under the stairs")
        for row in collection(mongo, store, "_messages").find():
            assert "doc" not in row and bytes(row["blob"]).startswith(b"LNC")
        dumped = mongodb_server.raw_dump(store.config.table_name)
        for plaintext in (b"lighthouse", b"hiding_place", b"under the stairs", b"aurora"):
            assert plaintext not in dumped
        loaded = await store.load_session("s1")
        assert loaded is not None and loaded.memory == {"hiding_place": "under the stairs"}
    finally:
        await store.close()


async def test_documents_bson_cannot_hold_fall_back_to_json_bytes(store: MongoDBStorage, mongo: Any) -> None:
    record = make_record("odd", messages=1)
    record.conversation.messages[0].metadata = {"nul\x00key": 1, "huge": 2**70}
    await store.save_session(record)
    await store.set_memory("odd", "big", {"n": 2**65})
    await store.save_fact("u1", "c", "k", 2**80)
    loaded = await store.load_session("odd")
    assert loaded is not None
    assert loaded.conversation.messages[0].metadata == {"nul\x00key": 1, "huge": 2**70}
    assert loaded.memory == {"big": {"n": 2**65}}
    assert (await store.get_facts("u1"))[0]["value"] == 2**80
    stored = collection(mongo, store).find_one({"_id": "odd"})
    assert bytes(stored["blob"]).startswith(b"{")  # plain JSON bytes, not a sub-document


async def test_database_comes_from_the_connection_string(mongodb_server: MongoServer, mongo: Any) -> None:
    other_db = f"db_{uuid.uuid4().hex[:8]}"
    url = mongodb_server.url.rsplit("/", 1)[0] + f"/{other_db}"
    store = await open_store(mongodb_server, url=url)
    try:
        await store.save_session(make_record("here", messages=1))
        assert collection(mongo, store, database=other_db).count_documents({"_id": "here"}) == 1
        assert collection(mongo, store).count_documents({}) == 0
    finally:
        await store.close()
    # no database in the path: the default, "luminora"
    bare = await open_store(mongodb_server, url=mongodb_server.url.rsplit("/", 1)[0] + "/")
    try:
        await bare.save_session(make_record("default", messages=0))
        assert collection(mongo, bare).count_documents({"_id": "default"}) == 1
    finally:
        await bare.close()


@pytest.mark.parametrize("name", ["bad*name", "a|b", "q?x", "bad$name", "x" * 64])
async def test_invalid_database_name_is_rejected(mongodb_server: MongoServer, name: str) -> None:
    url = mongodb_server.url.rsplit("/", 1)[0] + "/" + name
    storage = MongoDBStorage(StorageConfig(storage_type="mongodb", connection_string=url))
    with pytest.raises(StorageError, match=r"(database name .* not valid|invalid connection_string)"):
        await storage.initialize()


async def test_append_inserts_only_the_new_messages(store: MongoDBStorage, mongo: Any) -> None:
    await store.save_session(make_record("s1", messages=2))
    doc_before = collection(mongo, store).find_one({"_id": "s1"})["doc"]
    ids_before = [m["_id"] for m in collection(mongo, store, "_messages").find().sort("seq", 1)]
    later = datetime(2032, 1, 1, tzinfo=UTC)
    await store.append_messages("s1", make_messages(3, start=2), last_active=later)
    after = collection(mongo, store).find_one({"_id": "s1"})
    assert after["doc"] == doc_before  # the session document is not rewritten
    rows = list(collection(mongo, store, "_messages").find().sort("seq", 1))
    assert [r["seq"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["_id"] for r in rows[:2]] == ids_before  # old messages untouched
    loaded = await store.load_session("s1")
    assert loaded is not None and loaded.last_active == later
    assert [m.content for m in loaded.conversation.messages] == [f"turn {i}" for i in range(5)]


async def test_concurrent_appends_to_one_session_keep_each_batch_whole(store: MongoDBStorage) -> None:
    await store.save_session(make_record("busy"))

    async def writer(w: int) -> None:
        for batch in range(3):
            messages = make_messages(3, text=f"w{w}b{batch}")
            await store.append_messages("busy", messages, last_active=datetime.now(UTC))

    await asyncio.gather(*(writer(w) for w in range(6)))
    loaded = await store.load_session("busy")
    assert loaded is not None
    contents = [m.content for m in loaded.conversation.messages]
    assert len(contents) == 6 * 3 * 3
    for start in range(0, len(contents), 3):
        prefix = contents[start].rsplit(" ", 1)[0]
        assert contents[start : start + 3] == [f"{prefix} {i}" for i in range(3)]
    for w in range(6):
        assert [c.rsplit(" ", 1)[0] for c in contents[::3] if c.startswith(f"w{w}b")] == [
            f"w{w}b{b}" for b in range(3)
        ]


async def test_missing_collections_without_auto_create(mongodb_server: MongoServer, mongo: Any) -> None:
    name = unique_name()
    storage = MongoDBStorage(
        StorageConfig(
            storage_type="mongodb",
            connection_string=mongodb_server.url,
            table_name=name,
            auto_create_tables=False,
        )
    )
    with pytest.raises(StorageError, match=rf"{name}.*do not exist.*auto_create_tables is off"):
        await storage.initialize()
    assert not [c for c in mongo["luminora"].list_collection_names() if c.startswith(name)]
    creator = await open_store(mongodb_server, table_name=name)
    await creator.close()
    user = await open_store(mongodb_server, table_name=name, auto_create_tables=False)
    try:
        await user.save_session(make_record("ok", messages=1))
        assert await user.load_session("ok") is not None
    finally:
        await user.close()


async def test_table_names_isolate_stores(mongodb_server: MongoServer) -> None:
    first = await open_store(mongodb_server)
    second = await open_store(mongodb_server)
    try:
        await first.save_session(make_record("same", messages=1, user_id="ann"))
        await second.save_session(make_record("same", messages=2, user_id="ben"))
        await second.save_episode("ben", "milestone", "t", "s", 5.0, "positive")
        assert [s.user_id for s in await first.list_sessions()] == ["ann"]
        assert [s.message_count for s in await second.list_sessions()] == [2]
        assert await first.list_users() == []
        assert await second.list_users() == ["ben"]
    finally:
        await first.close()
        await second.close()


async def test_injection_shaped_values_are_only_data(store: MongoDBStorage) -> None:
    evil = {"$where": "sleep(1000)"}
    sid = '{"$ne": null}'
    await store.save_session(make_record(sid, messages=1, user_id="$ne"))
    await store.set_memory(sid, "$gt", evil)
    loaded = await store.load_session(sid)
    assert loaded is not None and loaded.memory == {"$gt": evil}
    assert await store.load_session("anything") is None
    assert [s.session_id for s in await store.list_sessions(user_id="$ne")] == [sid]


async def test_credentials_never_appear_in_errors(mongodb_server: MongoServer) -> None:
    url = mongodb_server.url.replace("mongodb://", "mongodb://someone:pa55-s3cret@")
    storage = MongoDBStorage(StorageConfig(storage_type="mongodb", connection_string=url, connect_timeout=3))
    with pytest.raises(StorageError, match="refused the credentials") as caught:
        await storage.initialize()  # the server has no such user
    assert "pa55-s3cret" not in str(caught.value)
    assert "pa55-s3cret" not in repr(storage)


async def test_use_before_initialize_and_close_twice(mongodb_server: MongoServer) -> None:
    storage = MongoDBStorage(StorageConfig(storage_type="mongodb", connection_string=mongodb_server.url))
    with pytest.raises(StorageError, match=r"initialize\(\)"):
        await storage.load_session("x")
    await storage.initialize()
    await storage.close()
    await storage.close()


async def test_query_objects_in_place_of_ids_are_rejected(store: MongoDBStorage) -> None:
    for sid, user in (("a", "u_a"), ("b", "u_b")):
        await store.save_session(make_record(sid, messages=2, user_id=user))
    await store.save_fact("alice", "c", "k", 1)
    await store.save_fact("bob", "c", "k", 2)
    injected: Any = {"$ne": "zzz"}
    exists: Any = {"$exists": True}
    calls = [
        ("load_session", store.load_session(injected)),
        ("delete_session", store.delete_session(injected)),
        ("delete_user_data", store.delete_user_data(exists)),
        ("get_facts", store.get_facts(injected)),
        ("list_sessions", store.list_sessions(user_id=injected)),
        ("get_memory", store.get_memory("a", injected)),
        ("delete_fact", store.delete_fact("alice", "c", injected)),
    ]
    for operation, call in calls:
        with pytest.raises(StorageError, match=rf"mongodb storage: {operation} got .* must be a string"):
            await call
    for sid in ("a", "b"):  # nothing was read or deleted
        loaded = await store.load_session(sid)
        assert loaded is not None and len(loaded.conversation.messages) == 2
    assert {"alice", "bob"} <= set(await store.list_users())
    assert [f["value"] for f in await store.get_facts("alice")] == [1]
