"""DuckDBStorage specifics: tables, paths, appends as rows, group commit, locking, checkpoints."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

import luminora_nb.storage.duckdb as duckdb_backend
from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.codec import DocumentCodec
from luminora_nb.storage.duckdb import DuckDBStorage
from luminora_nb.types import Message, StorageConfig

from .conftest import new_key
from .test_conformance import T0, make_record, turn

ROOT = Path(__file__).resolve().parents[2]
TABLES = ["", "_affinity", "_embeddings", "_episodes", "_facts", "_memory", "_messages", "_moods"]


def config(path: Path | str, **changes: object) -> StorageConfig:
    return StorageConfig(storage_type="duckdb", connection_string=str(path), **changes)


async def open_store(path: Path | str, **changes: object) -> DuckDBStorage:
    store = DuckDBStorage(config(path, **changes))
    await store.initialize()
    return store


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path))  # in this process: shares the storage's open database
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_the_module_name_does_not_shadow_the_duckdb_package() -> None:
    assert vars(duckdb_backend)["duckdb"] is duckdb
    assert duckdb.__name__ == "duckdb" and callable(duckdb.connect)
    assert duckdb_backend.__name__ == "luminora_nb.storage.duckdb"


async def test_tables_follow_table_name_and_two_names_are_isolated(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    chat = await open_store(path, table_name="chat")
    other = await open_store(path, table_name="other_app")
    names = {r[0] for r in query(path, "SELECT table_name FROM information_schema.tables")}
    assert {f"chat{suffix}" for suffix in TABLES} <= names
    assert {f"other_app{suffix}" for suffix in TABLES} <= names
    await chat.save_session(make_record("s1"))
    await chat.save_fact("u1", "c", "k", "v")
    assert await other.list_sessions() == [] and await other.list_users() == []
    assert await other.load_session("s1") is None
    await chat.close()
    await other.close()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_storages_opening_one_new_file_at_once_all_initialize(tmp_path: Path, encrypted: bool) -> None:
    # Each creates the tables in one transaction; unserialised, all but one would fail
    # with a catalog write-write conflict.
    changes: dict[str, object] = {"encryption_key": new_key()} if encrypted else {}
    path = tmp_path / "shared.duckdb"
    stores = [DuckDBStorage(config(path, **changes)) for _ in range(4)]
    await asyncio.gather(*(store.initialize() for store in stores))
    await asyncio.gather(*(store.save_fact("u1", "c", f"k{i}", i) for i, store in enumerate(stores)))
    assert sorted(f["key"] for f in await stores[0].get_facts("u1")) == ["k0", "k1", "k2", "k3"]
    for store in stores:
        await store.close()


async def test_paths_memory_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = await open_store(f"duckdb://{tmp_path}/deeper/dir/x.duckdb")
    assert nested.path == f"{tmp_path}/deeper/dir/x.duckdb" and Path(nested.path).exists()
    await nested.close()
    in_memory = await open_store(":memory:")
    await in_memory.save_session(make_record("m1"))
    assert [s.session_id for s in await in_memory.list_sessions()] == ["m1"]
    await in_memory.close()
    assert DuckDBStorage(config("duckdb://")).path == ":memory:"
    monkeypatch.chdir(tmp_path)
    default = create_storage(StorageConfig(storage_type="duckdb"))
    assert isinstance(default, DuckDBStorage) and default.path == "luminora_store.duckdb"


async def test_without_auto_create_missing_tables_are_named(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = DuckDBStorage(config(path, table_name="absent", auto_create_tables=False))
    with pytest.raises(StorageError, match=r"tables absent, absent_affinity.*auto_create_tables"):
        await store.initialize()
    created = await open_store(path, table_name="present")
    await created.close()
    reuse = await open_store(path, table_name="present", auto_create_tables=False)
    await reuse.save_session(make_record("s1"))
    assert await reuse.load_session("s1") is not None
    await reuse.close()


async def test_appends_insert_rows_and_leave_the_session_document_alone(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = await open_store(path, table_name="t")
    await store.save_session(make_record("s1", messages=3))
    [(doc_before,)] = query(path, "SELECT doc FROM t WHERE session_id = 's1'")
    for i in range(4):
        await store.append_messages("s1", turn("s1", i, T0), last_active=T0 + timedelta(minutes=i))
    [(doc_after, count, last_active)] = query(
        path, "SELECT doc, message_count, last_active FROM t WHERE session_id = 's1'"
    )
    assert doc_after == doc_before
    assert count == 11 and last_active == (T0 + timedelta(minutes=3)).isoformat()
    seqs = [r[0] for r in query(path, "SELECT seq FROM t_messages WHERE session_id = 's1' ORDER BY seq")]
    assert seqs == list(range(11))
    await store.close()


async def test_group_commit_keeps_call_order_and_isolates_failures(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db.duckdb")
    await store.save_session(make_record("s1", messages=0))
    await store.save_session(make_record("s2", messages=0))
    calls = []
    for i in range(60):
        sid = ("s1", "s2", "missing")[i % 3]
        calls.append(store.append_messages(sid, [Message(role="user", content=f"{sid}-{i}")], last_active=T0))
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 20
    assert all(isinstance(f, StorageError) and "'missing' is not stored" in str(f) for f in failures)
    for sid, start in (("s1", 0), ("s2", 1)):
        loaded = await store.load_session(sid)
        assert loaded is not None
        assert [m.content for m in loaded.conversation.messages] == [
            f"{sid}-{i}" for i in range(start, 60, 3)
        ]
    await store.close()


async def test_close_finishes_queued_appends_and_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = await open_store(path)
    await store.save_session(make_record("s1", messages=0))
    pending = [
        asyncio.ensure_future(store.append_messages("s1", turn("s1", i, T0), last_active=T0))
        for i in range(10)
    ]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*pending)
    wal = Path(str(path) + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0
    reopened = await open_store(path)
    loaded = await reopened.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 20
    await reopened.close()


async def test_injection_shaped_values_are_plain_data(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db.duckdb")
    evil = "x'); DROP TABLE luminora_sessions; --"
    await store.save_session(make_record(evil, user_id=evil))
    await store.set_memory(evil, evil, evil)
    await store.save_fact(evil, evil, evil, evil)
    assert [s.session_id for s in await store.list_sessions(user_id=evil)] == [evil]
    assert await store.get_memory(evil, evil) == evil
    assert [f["key"] for f in await store.get_facts(evil, evil)] == [evil]
    await store.close()


@pytest.mark.integration  # other processes
async def test_a_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = await open_store(path)
    await store.save_session(make_record("s1"))
    script = textwrap.dedent(
        """
        import asyncio, sys
        from luminora_nb.errors import StorageError
        from luminora_nb.storage.duckdb import DuckDBStorage
        from luminora_nb.types import StorageConfig
        try:
            config = StorageConfig(storage_type="duckdb", connection_string=sys.argv[1])
            asyncio.run(DuckDBStorage(config).initialize())
        except StorageError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "duckdb storage: cannot open database" in result.stdout
    assert "another process" in result.stdout
    await store.close()


async def test_not_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are my notes, not a database" * 200)
    with pytest.raises(StorageError, match=r"cannot open database .*notes\.duckdb"):
        await open_store(path)


async def test_a_cancelled_append_not_yet_in_a_batch_is_not_written(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db.duckdb")
    await store.save_session(make_record("s1", messages=0))
    cancelled = asyncio.ensure_future(store.append_messages("s1", turn("s1", 0, T0), last_active=T0))
    await asyncio.sleep(0)  # the call is queued; the group-commit task has not run yet
    assert [item.session_id for item in store._pending] == ["s1"]
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert store._pending == []
    await store.append_messages("s1", turn("s1", 1, T0), last_active=T0)
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages] == ["s1 user 1", "s1 reply 1 ✓"]
    await store.close()


async def test_callers_do_not_wait_forever_when_the_group_commit_task_dies(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db.duckdb")
    await store.save_session(make_record("s1", messages=0))
    first = asyncio.ensure_future(store.append_messages("s1", turn("s1", 0, T0), last_active=T0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the group-commit task now runs the first batch in a thread
    queued = asyncio.ensure_future(store.append_messages("s1", turn("s1", 1, T0), last_active=T0))
    await asyncio.sleep(0)
    flusher = store._flusher
    assert flusher is not None and not flusher.done()
    flusher.cancel()  # e.g. the loop shutting down
    done, _ = await asyncio.wait([first, queued], timeout=10)
    assert done == {first, queued}  # neither caller hangs
    assert first.cancelled() and queued.cancelled()
    await store.append_messages("s1", turn("s1", 2, T0), last_active=T0)  # a new task takes over
    loaded = await store.load_session("s1")
    assert loaded is not None and loaded.conversation.messages[-1].content == "s1 reply 2 ✓"
    await store.close()


async def test_encrypted_store_keeps_no_readable_names_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.duckdb"
    key = "q" * 43 + "="  # 32 bytes, urlsafe base64
    store = await open_store(path, encryption_enabled=True, encryption_key=key)
    try:
        await store.save_session(make_record("s1"))
        await store.set_memory("s1", "therapist_name_dr_smith", 1)
        await store.save_affinity("u1", "persona_confidante", 5, "friend")
        await store.save_fact("u1", "health_condition", "diagnosed_with_depression", True)
        await store.save_embedding("u1", "item_panic_attacks", "kind_medical", "x", [0.1])
        # every name still reads back, filters still work
        loaded = await store.load_session("s1")
        assert loaded is not None and loaded.memory == {"therapist_name_dr_smith": 1}
        assert await store.get_memory("s1", "therapist_name_dr_smith") == 1
        assert (await store.get_affinity("u1", "persona_confidante") or {})["affinity_points"] == 5
        [fact] = await store.get_facts("u1", category="health_condition")
        assert (fact["category"], fact["key"], fact["value"]) == (
            "health_condition",
            "diagnosed_with_depression",
            True,
        )
        [emb] = await store.get_embeddings("u1", kind="kind_medical")
        assert (emb["item_id"], emb["kind"]) == ("item_panic_attacks", "kind_medical")
        assert await store.get_facts("u1", category="other") == []
        await store.save_embedding("u1", "item_panic_attacks", "kind_other", "y", [0.2])
        assert await store.get_embeddings("u1", kind="kind_medical") == []
        assert await store.delete_fact("u1", "health_condition", "diagnosed_with_depression") is True
        await store.save_fact("u1", "health_condition", "diagnosed_with_depression", True)
    finally:
        await store.close()
    raw = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("secret.duckdb*"))
    names = [
        b"therapist_name_dr_smith",
        b"persona_confidante",
        b"health_condition",
        b"diagnosed_with_depression",
        b"item_panic_attacks",
        b"kind_medical",
        b"kind_other",
    ]
    assert [n for n in names if n in raw] == []
    # the same calls without encryption do store the names as columns (the check above can fail)
    plain = await open_store(tmp_path / "plain.duckdb")
    try:
        await plain.save_fact("u1", "health_condition", "diagnosed_with_depression", True)
    finally:
        await plain.close()
    assert query(tmp_path / "plain.duckdb", "SELECT category, key FROM luminora_sessions_facts") == [
        ("health_condition", "diagnosed_with_depression")
    ]


async def test_readable_names_of_an_older_encrypted_file_become_digests_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    key = "q" * 43 + "="
    store = await open_store(path, encryption_enabled=True, encryption_key=key)
    await store.save_session(make_record("s1"))
    await store.save_fact("u1", "c", "k", 1)  # a current row: kept as it is
    await store.close()
    # rows as the version before digests wrote them: readable name columns, memory without "key"
    old = config(path, encryption_enabled=True, encryption_key=key)
    codec = DocumentCodec.from_config(old, format_version=1)
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "INSERT INTO luminora_sessions_memory VALUES (?, ?, ?)",
            ["s1", "old_memory_key", codec.encode({"value": 7}, what="test")],
        )
        con.execute(
            "INSERT INTO luminora_sessions_affinity VALUES (?, ?, ?)",
            [
                "u1",
                "old_persona",
                codec.encode(
                    {"user_id": "u1", "personality_name": "old_persona", "affinity_points": 3}, what="test"
                ),
            ],
        )
        fact = {"user_id": "u1", "category": "old_cat", "key": "old_key", "value": 2}
        con.execute(
            "INSERT INTO luminora_sessions_facts VALUES (?, ?, ?, 0, ?)",
            ["u1", "old_cat", "old_key", codec.encode(fact, what="test")],
        )
        emb = {"item_id": "old_item", "kind": "old_kind", "text": "t", "vector": [0.5]}
        con.execute(
            "INSERT INTO luminora_sessions_embeddings (user_id, item_id, kind, ord, doc) "
            "VALUES (?, ?, ?, 0, ?)",
            ["u1", "old_item", "old_kind", codec.encode(emb, what="test")],
        )
    finally:
        con.close()
    store = await open_store(path, encryption_enabled=True, encryption_key=key)
    try:
        assert await store.get_memory("s1", "old_memory_key") == 7
        loaded = await store.load_session("s1")
        assert loaded is not None and loaded.memory == {"old_memory_key": 7}
        assert (await store.get_affinity("u1", "old_persona") or {})["affinity_points"] == 3
        assert [f["key"] for f in await store.get_facts("u1")] == ["old_key", "k"]  # order kept
        assert [f["value"] for f in await store.get_facts("u1", category="old_cat")] == [2]
        assert [e["item_id"] for e in await store.get_embeddings("u1", kind="old_kind")] == ["old_item"]
    finally:
        await store.close()
    # (the old bytes may stay in freed blocks of the file until DuckDB reuses them; the columns are clean)
    names = [
        *query(path, "SELECT key FROM luminora_sessions_memory"),
        *query(path, "SELECT personality_name FROM luminora_sessions_affinity"),
        *query(path, "SELECT category, key FROM luminora_sessions_facts"),
        *query(path, "SELECT item_id, kind FROM luminora_sessions_embeddings"),
    ]
    assert len(names) == 5  # rows: one memory, one affinity, two facts, one embedding
    assert all(len(n) == 64 and set(n) <= set("0123456789abcdef") for row in names for n in row)
