"""PostgreSQL backend specifics, against a real server: tables, JSONB, appends, pool recovery.

The behaviour every backend shares is in the conformance suite; this file checks what only
PostgreSQL does. Inspection goes through a separate asyncpg connection, never the backend.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.postgres import PostgresStorage
from luminora_nb.types import StorageConfig
from tests.storage.servers import PostgresServer, make_messages, make_record

pytestmark = pytest.mark.integration

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
SUFFIXES = ["", "_affinity", "_embeddings", "_episodes", "_facts", "_memory", "_messages", "_moods"]


def unique_table() -> str:
    return f"pg_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def sql(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres_server.url)
    yield connection
    await connection.close()


async def open_store(server: PostgresServer, **options: Any) -> PostgresStorage:
    options.setdefault("table_name", unique_table())
    storage = create_storage(StorageConfig(storage_type="postgres", connection_string=server.url, **options))
    assert isinstance(storage, PostgresStorage)
    await storage.initialize()
    return storage


@pytest.fixture
async def store(postgres_server: PostgresServer) -> AsyncIterator[PostgresStorage]:
    storage = await open_store(postgres_server)
    yield storage
    await storage.close()


async def tables_like(sql: asyncpg.Connection, base: str) -> list[str]:
    rows = await sql.fetch(
        "SELECT tablename FROM pg_tables WHERE tablename = $1 OR tablename LIKE $2 ORDER BY 1",
        base,
        base.replace("_", r"\_") + r"\_%",
    )
    return [r["tablename"] for r in rows]


async def test_table_name_is_honoured_for_every_table(
    store: PostgresStorage, sql: asyncpg.Connection
) -> None:
    base = store.config.table_name
    assert await tables_like(sql, base) == sorted(base + s for s in SUFFIXES)
    await store.save_session(make_record("s1", messages=2))
    await store.save_fact("user1", "pets", "dog", "Rex")
    assert await sql.fetchval(f'SELECT count(*) FROM "{base}"') == 1
    assert await sql.fetchval(f'SELECT count(*) FROM "{base}_messages"') == 2
    assert await sql.fetchval(f'SELECT count(*) FROM "{base}_facts"') == 1
    assert "luminora_sessions" not in await tables_like(sql, "luminora_sessions")


async def test_missing_tables_without_auto_create_is_a_clear_error(postgres_server: PostgresServer) -> None:
    name = unique_table()
    storage = PostgresStorage(
        StorageConfig(
            storage_type="postgres",
            connection_string=postgres_server.url,
            table_name=name,
            auto_create_tables=False,
        )
    )
    with pytest.raises(StorageError, match=rf"{name}.*do not exist and auto_create_tables is off") as caught:
        await storage.initialize()
    assert "auto_create_tables=True" in str(caught.value)
    # once created (by a storage allowed to), a storage with auto_create off uses them
    creator = await open_store(postgres_server, table_name=name)
    await creator.save_session(make_record("made", messages=1))
    await creator.close()
    user = await open_store(postgres_server, table_name=name, auto_create_tables=False)
    try:
        loaded = await user.load_session("made")
        assert loaded is not None and len(loaded.conversation.messages) == 1
    finally:
        await user.close()


async def test_auto_create_off_does_not_create_anything(
    postgres_server: PostgresServer, sql: asyncpg.Connection
) -> None:
    name = unique_table()
    storage = PostgresStorage(
        StorageConfig(
            storage_type="postgres",
            connection_string=postgres_server.url,
            table_name=name,
            auto_create_tables=False,
        )
    )
    with pytest.raises(StorageError):
        await storage.initialize()
    assert await tables_like(sql, name) == []


async def test_plain_documents_are_real_jsonb(store: PostgresStorage, sql: asyncpg.Connection) -> None:
    base = store.config.table_name
    await store.save_session(make_record("s1", messages=4))
    await store.set_memory("s1", "colour", {"hue": "green"})
    await store.save_affinity("user1", "alicia", 50, "friend")
    row = await sql.fetchrow(
        f"SELECT jsonb_typeof(doc) AS kind, doc->>'personality_name' AS name, blob FROM \"{base}\""
    )
    assert row is not None
    assert (row["kind"], row["name"], row["blob"]) == ("object", "aurora", None)
    # SQL can query inside the documents
    users = await sql.fetchval(f"SELECT count(*) FROM \"{base}_messages\" WHERE doc->>'role' = 'user'")
    assert users == 2
    assert await sql.fetchval(f"SELECT doc->'value'->>'hue' FROM \"{base}_memory\"") == "green"
    assert await sql.fetchval(f"SELECT (doc->>'affinity_points')::int FROM \"{base}_affinity\"") == 50
    column_types = dict(
        await sql.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", base
        )
    )
    assert column_types["doc"] == "jsonb"
    assert column_types["blob"] == "bytea"


async def test_encoded_documents_are_bytes_and_unreadable(
    postgres_server: PostgresServer, sql: asyncpg.Connection
) -> None:
    store = await open_store(postgres_server, encryption_enabled=True, encryption_key=KEY)
    base = store.config.table_name
    try:
        record = make_record("s1", messages=2)
        record.conversation.messages[1].content = "the launch code is 0000"
        await store.save_session(record)
        await store.save_fact("user1", "secrets", "vault", "behind the painting")
        rows = await sql.fetch(f'SELECT doc, blob FROM "{base}_messages" ORDER BY seq')
        assert all(r["doc"] is None and bytes(r["blob"]).startswith(b"LNC") for r in rows)
        dumped = postgres_server.raw_dump(base)
        for plaintext in (b"launch code", b"behind the painting", b"vault", b"secrets"):
            assert plaintext not in dumped
        loaded = await store.load_session("s1")
        assert loaded is not None and loaded.conversation.messages[1].content == "the launch code is 0000"
    finally:
        await store.close()


async def test_text_jsonb_cannot_hold_still_round_trips(
    store: PostgresStorage, sql: asyncpg.Connection
) -> None:
    record = make_record("nul", messages=1)
    record.conversation.messages[0].content = "before\x00after"
    await store.save_session(record)
    await store.set_memory("nul", "k", "a\x00b")
    loaded = await store.load_session("nul")
    assert loaded is not None
    assert loaded.conversation.messages[0].content == "before\x00after"
    assert loaded.memory == {"k": "a\x00b"}
    row = await sql.fetchrow(f'SELECT doc, blob FROM "{store.config.table_name}_messages"')
    assert row is not None and row["doc"] is None and bytes(row["blob"]).startswith(b"{")


async def test_append_inserts_only_new_rows(store: PostgresStorage, sql: asyncpg.Connection) -> None:
    base = store.config.table_name
    await store.save_session(make_record("s1", messages=2))
    doc_before = await sql.fetchval(f'SELECT doc::text FROM "{base}"')
    xmin_before = await sql.fetch(f'SELECT seq, xmin::text AS x FROM "{base}_messages" ORDER BY seq')
    later = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    await store.append_messages("s1", make_messages(3, start=2), last_active=later)
    assert await sql.fetchval(f'SELECT doc::text FROM "{base}"') == doc_before
    after = await sql.fetch(f'SELECT seq, xmin::text AS x FROM "{base}_messages" ORDER BY seq')
    assert [r["seq"] for r in after] == [0, 1, 2, 3, 4]
    assert after[:2] == xmin_before  # the old rows were not rewritten
    row = await sql.fetchrow(f'SELECT message_count, last_active FROM "{base}"')
    assert row is not None and (row["message_count"], row["last_active"]) == (5, later)
    loaded = await store.load_session("s1")
    assert loaded is not None and loaded.last_active == later
    assert [m.content for m in loaded.conversation.messages] == [f"turn {i}" for i in range(5)]


async def test_concurrent_appends_to_one_session_keep_each_batch_whole(store: PostgresStorage) -> None:
    await store.save_session(make_record("busy"))

    async def writer(w: int) -> None:
        for batch in range(5):
            messages = make_messages(3, text=f"w{w}b{batch}")
            await store.append_messages("busy", messages, last_active=datetime.now(UTC))

    await asyncio.gather(*(writer(w) for w in range(12)))
    loaded = await store.load_session("busy")
    assert loaded is not None
    contents = [m.content for m in loaded.conversation.messages]
    assert len(contents) == 12 * 5 * 3
    for start in range(0, len(contents), 3):  # every batch of three is contiguous and in order
        prefix = contents[start].rsplit(" ", 1)[0]
        assert contents[start : start + 3] == [f"{prefix} {i}" for i in range(3)]
    for w in range(12):  # and each writer's batches keep their order
        mine = [c.rsplit(" ", 1)[0] for c in contents[::3] if c.startswith(f"w{w}b")]
        assert mine == [f"w{w}b{b}" for b in range(5)]
    [summary] = await store.list_sessions()
    assert summary.message_count == 180


async def test_injection_shaped_values_are_only_data(store: PostgresStorage, sql: asyncpg.Connection) -> None:
    evil = "x'); DROP TABLE \"" + store.config.table_name + '"; --'
    await store.save_session(make_record(evil, messages=1, user_id=evil))
    await store.set_memory(evil, evil, evil)
    await store.save_fact(evil, evil, evil, evil)
    loaded = await store.load_session(evil)
    assert loaded is not None and loaded.memory == {evil: evil}
    assert [s.session_id for s in await store.list_sessions(user_id=evil)] == [evil]
    assert (await store.get_facts(evil))[0]["value"] == evil
    assert len(await tables_like(sql, store.config.table_name)) == len(SUFFIXES)


def test_injection_shaped_table_names_are_rejected_by_the_config() -> None:
    for bad in ('x"; DROP TABLE y; --', "a b", "1abc", "sessions;", "a-b", "x" * 64):
        with pytest.raises(StorageError, match="table_name"):
            StorageConfig(storage_type="postgres", table_name=bad)


async def test_too_long_base_name_for_derived_tables(postgres_server: PostgresServer) -> None:
    storage = PostgresStorage(
        StorageConfig(storage_type="postgres", connection_string=postgres_server.url, table_name="t" * 60)
    )
    with pytest.raises(StorageError, match="at most 52 characters"):
        await storage.initialize()


async def test_longest_base_names_keep_every_table_and_index_apart(
    postgres_server: PostgresServer, sql: asyncpg.Connection
) -> None:
    stem = "L" + uuid.uuid4().hex[:10] + "x" * 39  # 50 characters
    names = [stem + "a1", stem + "b2"]  # 52 characters each, the longest allowed
    for name in names:
        storage = await open_store(postgres_server, table_name=name)
        try:
            await storage.save_session(make_record("s", messages=1, user_id=name))
            await storage.save_mood("s", name, "calm")
        finally:
            await storage.close()
    for name in names:
        assert len(await tables_like(sql, name)) == len(SUFFIXES)
        indexed = await sql.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", name + "_moods")
        assert {r["indexname"] for r in indexed} >= {name + "_moods_idx"}
        assert await sql.fetchval(f'SELECT user_id FROM "{name}_moods"') == name


async def test_table_names_isolate_stores(postgres_server: PostgresServer) -> None:
    first = await open_store(postgres_server)
    second = await open_store(postgres_server)
    try:
        await first.save_session(make_record("same", messages=1, user_id="ann"))
        await second.save_session(make_record("same", messages=2, user_id="ben"))
        await first.save_mood("same", "ann", "calm")
        assert [s.user_id for s in await first.list_sessions()] == ["ann"]
        assert [s.message_count for s in await second.list_sessions()] == [2]
        assert await first.list_users() == ["ann"]
        assert await second.list_users() == []
    finally:
        await first.close()
        await second.close()


async def test_broken_pooled_connections_are_replaced(
    store: PostgresStorage, sql: asyncpg.Connection
) -> None:
    await store.save_session(make_record("s1", messages=1))
    # kill every other connection to the database, as a server restart would
    await sql.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    await store.append_messages("s1", make_messages(1, start=1), last_active=datetime.now(UTC))
    loaded = await store.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 2


async def test_unknown_database_is_a_clear_error_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url.replace("postgres@", "postgres:pw-s3cr3t@").rsplit("/", 1)[0] + "/no_such_db"
    storage = PostgresStorage(
        StorageConfig(storage_type="postgres", connection_string=url, connect_timeout=3)
    )
    with pytest.raises(StorageError, match="no_such_db.*create the database") as caught:
        await storage.initialize()
    assert "pw-s3cr3t" not in str(caught.value)
    assert "pw-s3cr3t" not in repr(storage)


async def test_use_before_initialize_and_close_twice(postgres_server: PostgresServer) -> None:
    storage = PostgresStorage(StorageConfig(storage_type="postgres", connection_string=postgres_server.url))
    with pytest.raises(StorageError, match=r"initialize\(\)"):
        await storage.list_sessions()
    await storage.initialize()
    await storage.close()
    await storage.close()
    with pytest.raises(StorageError):
        await storage.list_sessions()


async def test_server_side_refusal_is_reported_as_such(
    store: PostgresStorage, sql: asyncpg.Connection
) -> None:
    await store.save_session(make_record("s1"))
    await sql.execute(f'ALTER TABLE "{store.config.table_name}" DROP COLUMN touch')
    with pytest.raises(
        StorageError, match=r"could not append to session 's1': column \"touch\".*refused it.*layout"
    ):
        await store.append_messages("s1", make_messages(1), last_active=datetime.now(UTC))
