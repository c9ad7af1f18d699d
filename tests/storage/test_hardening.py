"""Regression tests of the storage items of "Hardening the core", one section per item.

Every test here failed before its fix (see the report of the hardening work); the
conformance suite keeps checking the behaviour every backend shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.base import Storage
from luminora_nb.storage.codec import DocumentCodec
from luminora_nb.types import StorageConfig

from .conftest import BackendCase, new_key
from .test_conformance import T0, make_record, turn
from .test_file import write_one_of_each

# -- identifiers are checked where they are used ------------------------------------------------
# ``model_copy(update=...)`` skips pydantic validation: the backends must not trust the config.
# Before the fix these reached the server as SQL (a syntax error there was the only guard).
INJECTION = 'x"; DROP TABLE victim; --'
BAD_IDENTIFIERS: dict[str, dict[str, Any]] = {
    "file": {"connection_string": "/tmp/luminora\x00/store"},
    "duckdb": {"table_name": INJECTION},
    "postgres": {"table_name": INJECTION},
    "mongodb": {"table_name": "x.$cmd"},
    "redis": {"key_prefix": "t*"},
}


async def _make_victim(backend: BackendCase) -> None:
    """A table named ``victim`` beside the store (duckdb file, PostgreSQL database)."""
    if backend.backend == "duckdb":
        import duckdb

        con = duckdb.connect(backend.config.connection_string or "")
        con.execute("CREATE TABLE IF NOT EXISTS victim (n INTEGER)")
        con.close()
    elif backend.backend == "postgres":
        import asyncpg

        connection = await asyncpg.connect(backend.config.connection_string)
        await connection.execute("CREATE TABLE IF NOT EXISTS victim (n INTEGER)")
        await connection.close()


async def _victim_exists(backend: BackendCase) -> bool:
    if backend.backend == "duckdb":
        import duckdb

        con = duckdb.connect(backend.config.connection_string or "")
        try:
            return bool(
                con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'victim'").fetchall()
            )
        finally:
            con.close()
    if backend.backend == "postgres":
        import asyncpg

        connection = await asyncpg.connect(backend.config.connection_string)
        try:
            return await connection.fetchval("SELECT to_regclass('victim')") is not None
        finally:
            await connection.close()
    return True


@pytest.mark.backend_cases(persistent=True, modes=["plain"])
async def test_identifiers_that_skipped_validation_are_refused_at_initialize(backend: BackendCase) -> None:
    await _make_victim(backend)
    changes = BAD_IDENTIFIERS[backend.backend]
    config = backend.config.model_copy(update=changes)  # no validation: the backend must check
    storage = create_storage(config)
    backend.track(storage)
    with pytest.raises(StorageError) as caught:
        await storage.initialize()
    [setting] = changes
    message = str(caught.value)
    assert setting in message and "not a valid" in message  # refused by the check, not by the server
    assert await _victim_exists(backend)
    # the same store with a valid name works
    good = await backend.open()
    await good.save_fact("u1", "c", "k", 1)
    assert [f["value"] for f in await good.get_facts("u1")] == [1]


def test_file_names_of_ids_never_leave_their_directory() -> None:
    from luminora_nb.storage._files import file_name

    for identifier in ("..", "../x", "a/b", "\\", "", "~", "%", "x" * 500, "é/../"):
        name = file_name(identifier)
        assert "/" not in name and "." not in name and "\\" not in name


# -- file backend: a read-only store can still be read ------------------------------------------
@contextlib.contextmanager
def read_only_tree(root: Path) -> Iterator[bool]:
    """Every directory under ``root`` unwritable, for root too (``chattr +i``); restored after.

    Yields whether the tree is really unwritable: as root without a working ``chattr`` (e.g.
    a file system without the immutable flag) it is not, and the caller checks instead
    that nothing in the tree changed.
    """
    directories = [root, *(p for p in root.rglob("*") if p.is_dir())]
    modes = {d: d.stat().st_mode for d in directories}
    frozen: list[Path] = []
    enforced = True
    try:
        for directory in directories:
            directory.chmod(0o555)
        if os.geteuid() == 0:
            chattr = shutil.which("chattr")
            for directory in directories:
                done = chattr and subprocess.run([chattr, "+i", str(directory)], capture_output=True)
                if not done or done.returncode != 0:
                    enforced = False
                    break
                frozen.append(directory)
        yield enforced
    finally:
        for directory in frozen:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        for directory, mode in modes.items():
            directory.chmod(mode)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time (to see that nothing changed)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def file_config(directory: Path, **changes: Any) -> StorageConfig:
    return StorageConfig(storage_type="file", connection_string=str(directory), **changes)


async def test_a_read_only_file_store_reads_a_read_only_directory(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    writer = create_storage(file_config(directory))
    await writer.initialize()
    await write_one_of_each(writer)
    await writer.write_metadata({"owner": "team"}, expected=None)
    expected = (await writer.load_session("s1") or make_record("x")).model_dump(mode="json")
    await writer.close()

    before = tree_state(directory)
    with read_only_tree(directory) as enforced:
        if enforced:
            with pytest.raises(OSError):
                (directory / "sessions" / "probe").write_bytes(b"")  # really read-only, for root too
        reader = create_storage(file_config(directory, extra={"read_only": True}))
        await reader.initialize()
        loaded = await reader.load_session("s1")
        assert loaded is not None and loaded.model_dump(mode="json") == expected
        assert [s.session_id for s in await reader.list_sessions()] == ["s1"]
        assert await reader.get_memory("s1", "k") == {"v": 1}
        assert [f["value"] for f in await reader.get_facts("u1")] == ["Ana"]
        assert (await reader.get_mood("s1") or {})["current_mood"] == "calm"
        assert await reader.list_users() == ["u1"]
        assert await reader.read_metadata() == {"owner": "team"}
        writes = [
            reader.save_session(make_record("s2")),
            reader.append_messages("s1", turn("s1", 1, T0), last_active=T0),
            reader.set_memory("s1", "k", 2),
            reader.delete_memory("s1", "k"),
            reader.save_fact("u1", "pets", "cat", "Tom"),
            reader.save_mood("s1", "u1", "sad"),
            reader.delete_session("s1"),
            reader.delete_user_data("u1"),
            reader.write_metadata({"owner": "me"}, expected={"owner": "team"}),
        ]
        for call in writes:
            with pytest.raises(StorageError, match=r"file storage is read-only .*read_only") as caught:
                await call
            assert str(directory) in str(caught.value)
        await reader.close()
    # nothing changed: not a file, not a lock, not a journal
    assert tree_state(directory) == before
    again = create_storage(file_config(directory))
    await again.initialize()
    assert (await again.load_session("s1") or make_record("x")).model_dump(mode="json") == expected
    await again.close()


async def test_a_read_only_file_store_of_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    reader = create_storage(file_config(tmp_path / "nowhere", extra={"read_only": True}))
    with pytest.raises(StorageError, match="does not exist"):
        await reader.initialize()
    assert not (tmp_path / "nowhere").exists()


# -- file backend: corrupt session files give accurate messages ---------------------------------
async def _file_store_with(tmp_path: Path, content: bytes, name: str = "s1") -> Any:
    store = create_storage(file_config(tmp_path))
    await store.initialize()
    await store.save_session(make_record("healthy"))
    (tmp_path / "sessions" / f"{name}.jsonl").write_bytes(content)
    return store


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "its file is empty"),
        (b'{"session_id": "s1", "personality_na', "holds no complete line"),  # truncated
        (bytes(b for b in range(256) if b != 10) * 3, "holds no complete line"),  # random bytes
        (b"\x8f\x00binary garbage\nmore\n", "neither JSON nor an encoded document"),
    ],
    ids=["empty", "truncated", "random-bytes", "garbage-lines"],
)
async def test_a_damaged_session_file_is_named_accurately(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    store = await _file_store_with(tmp_path, content)
    with pytest.raises(StorageError, match=reason) as caught:
        await store.load_session("s1")
    assert "session 's1'" in str(caught.value)
    if content:
        assert "empty" not in str(caught.value)
    # the listing leaves it out (and says why in the log), the healthy one stays
    assert [s.session_id for s in await store.list_sessions()] == ["healthy"]


async def test_a_first_line_of_the_wrong_shape_names_the_missing_field(tmp_path: Path) -> None:
    store = create_storage(file_config(tmp_path))
    await store.initialize()
    await store.save_session(make_record("s1"))
    path = tmp_path / "sessions" / "s1.jsonl"
    head, *rest = path.read_bytes().split(b"\n")
    document = json.loads(head)
    del document["personality"]
    path.write_bytes(b"\n".join([json.dumps(document).encode(), *rest]))
    with pytest.raises(StorageError, match=r"session 's1' is corrupt.*'personality'.*missing") as caught:
        await store.load_session("s1")
    assert "validation error for" not in str(caught.value)  # the field, not pydantic's heading
    path.write_bytes(b"\n".join([b'{"what": "not a session"}', *rest]))
    with pytest.raises(StorageError, match=r"'session_id'.*missing"):
        await store.load_session("s1")


async def test_a_session_file_whose_inner_id_differs_from_its_name_is_refused_at_read(tmp_path: Path) -> None:
    store = create_storage(file_config(tmp_path))
    await store.initialize()
    await store.save_session(make_record("s1"))
    shutil.copy(tmp_path / "sessions" / "s1.jsonl", tmp_path / "sessions" / "s2.jsonl")
    with pytest.raises(StorageError, match=r"session 's2' is corrupt.*holds session 's1'"):
        await store.load_session("s2")
    assert [s.session_id for s in await store.list_sessions()] == ["s1"]
    assert (await store.load_session("s1")) is not None


# -- atomicity: a session is created only if absent ----------------------------------------------
async def test_insert_session_stores_only_a_new_session(backend: BackendCase) -> None:
    store = await backend.open()
    first = make_record("s-new", messages=2, personality="aurora")
    assert await store.insert_session(first) is True
    second = make_record("s-new", messages=4, personality="vex")
    assert await store.insert_session(second) is False  # taken: nothing changes
    loaded = await store.load_session("s-new")
    assert loaded is not None and loaded.model_dump(mode="json") == first.model_dump(mode="json")
    await store.save_session(second)  # a save still replaces
    assert (await store.load_session("s-new") or first).personality_name == "vex"
    assert await store.delete_session("s-new")
    assert await store.insert_session(first) is True  # a deleted id is free again
    async with store.batch():
        with pytest.raises(StorageError, match="insert_session cannot be part of a batch"):
            await store.insert_session(make_record("s-batch"))


@pytest.mark.backend_cases(modes=["plain"])
async def test_two_clients_creating_one_session_id_let_exactly_one_win(backend: BackendCase) -> None:
    """Both check that the id is free before either saves (the race of two processes)."""
    from luminora_nb import LuminoraCoreClient, ProviderConfig
    from luminora_nb.errors import SessionError

    shared = await backend.open() if not backend.persistent else None
    clients = []
    both_checked = asyncio.Barrier(2)
    for _ in range(2):
        storage = shared or await backend.open()
        real_load = storage.load_session

        async def load_then_wait(session_id: str, real_load: Any = real_load) -> Any:
            found = await real_load(session_id)
            await both_checked.wait()  # neither saves before both found the id free
            return found

        storage.load_session = load_then_wait  # type: ignore[method-assign]
        clients.append(LuminoraCoreClient(storage=storage))
    results = await asyncio.gather(
        *(
            client.create_session(name, ProviderConfig(name="offline"), session_id="same-id", user_id=name)
            for client, name in zip(clients, ("aurora", "vex"), strict=True)
        ),
        return_exceptions=True,
    )
    assert sorted(map(type, results), key=lambda t: t.__name__) == [SessionError, str], results
    winner = ("aurora", "vex")[results.index("same-id")]
    loser = next(r for r in results if isinstance(r, SessionError))
    assert "already in use" in str(loser)
    reader = shared or await backend.open()
    stored = await Storage.load_session(reader, "same-id")
    assert stored is not None and (stored.personality_name, stored.user_id) == (winner, winner)


# -- atomicity: Redis reads the keys it depends on under WATCH ----------------------------------
@contextlib.asynccontextmanager
async def _redis_pair(redis_server: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Two storages on one fresh key prefix of ``redis_server`` — two clients of one store.

    Args:
        redis_server: The session's Redis server (the ``redis_server`` fixture).

    Yields:
        The two initialised storages; both are closed afterwards, the first one first.
    """
    import uuid

    prefix = f"race{uuid.uuid4().hex[:8]}"
    config = StorageConfig(storage_type="redis", connection_string=redis_server.url, key_prefix=prefix)
    first, second = create_storage(config), create_storage(config)
    await first.initialize()
    await second.initialize()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@contextlib.contextmanager
def after_reply_to(
    monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], action: Any
) -> Iterator[list[int]]:
    """Run ``action()`` once, right after the reply to ``command`` reaches whichever client sent it.

    Patches both ways redis-py sends a command with a reply (a client call, and a pipeline
    in WATCH mode), so the race is forced at the same point whatever the storage uses.
    """
    from redis.asyncio.client import Pipeline, Redis

    fired: list[int] = []

    def wrap(original: Any) -> Any:
        async def call(self: Any, *args: Any, **options: Any) -> Any:
            reply = await original(self, *args, **options)
            spelled = tuple(a.decode() if isinstance(a, bytes) else str(a) for a in args)
            if spelled == command and not fired:
                fired.append(1)
                await action()
            return reply

        return call

    monkeypatch.setattr(Redis, "execute_command", wrap(Redis.execute_command))
    monkeypatch.setattr(Pipeline, "immediate_execute_command", wrap(Pipeline.immediate_execute_command))
    yield fired


@pytest.mark.integration
async def test_redis_a_mood_moved_while_its_session_is_deleted_leaves_no_stale_user(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _redis_pair(redis_server) as (deleter, mover):
        await deleter.save_session(make_record("s1"))
        await deleter.save_mood("s1", "alice", "calm")
        mood_key = f"{deleter.config.key_prefix}:mood:s1"
        # the deleter has read who the mood names; then another client moves the mood to bob
        with after_reply_to(
            monkeypatch, ("HGET", mood_key, "user"), lambda: mover.save_mood("s1", "bob", "x")
        ) as fired:
            assert await deleter.delete_session("s1") is True
        assert fired
        assert await deleter.get_mood("s1") is None
        assert await deleter.list_users() == []  # bob is not left listed with no data


@pytest.mark.integration
async def test_redis_a_fact_saved_between_read_and_write_keeps_distinct_places(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _redis_pair(redis_server) as (first, second):
        await first.save_fact("u1", "c", "a", 1)
        facts_key = f"{first.config.key_prefix}:u:u1:facts"
        with after_reply_to(
            monkeypatch, ("HGET", facts_key, "#seq"), lambda: second.save_fact("u1", "c", "b", 2)
        ):
            await first.save_fact("u1", "c", "c", 3)
        assert [f["key"] for f in await first.get_facts("u1")] == ["a", "b", "c"]


@pytest.mark.integration
async def test_redis_concurrent_first_saves_of_facts_keep_distinct_places(redis_server: Any) -> None:
    async with _redis_pair(redis_server) as (first, second):
        await asyncio.gather(
            *(store.save_fact("u1", "c", f"k{i}", i) for i in range(30) for store in (first, second))
        )
        facts = await first.get_facts("u1")
        assert sorted(f["key"] for f in facts) == sorted(f"k{i}" for i in range(30))
        # replacing keeps each fact's place and created_at, whichever client replaces it
        before = [(f["key"], f["created_at"]) for f in facts]
        await asyncio.gather(*(second.save_fact("u1", "c", f"k{i}", -i) for i in range(30)))
        assert [(f["key"], f["created_at"]) for f in await first.get_facts("u1")] == before


# -- atomicity: MongoDB without transactions writes in an order that stays readable ---------------
@pytest.mark.integration
async def test_mongodb_without_transactions_a_save_cut_short_anywhere_stays_readable(
    mongodb_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A standalone server has no transactions: cut the save after each of its writes in turn."""
    import uuid

    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.errors import AutoReconnect

    table = f"nt_{uuid.uuid4().hex[:8]}"
    store = create_storage(
        StorageConfig(storage_type="mongodb", connection_string=mongodb_server.url, table_name=table)
    )
    await store.initialize()
    store._transactions = False  # type: ignore[attr-defined]  # as on a standalone server
    writes = ("replace_one", "update_one", "delete_many", "delete_one", "insert_many", "bulk_write")
    real = {name: getattr(AsyncCollection, name) for name in writes}
    budget: list[int] = []  # writes left before the simulated crash

    def crashing(name: str) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if budget and budget[0] == 0:
                raise AutoReconnect("connection lost (a simulated crash)")
            if budget:
                budget[0] -= 1
            return await real[name](self, *args, **kwargs)

        return call

    for name in writes:
        monkeypatch.setattr(AsyncCollection, name, crashing(name))
    try:
        old = make_record("s1", messages=6, content="old text")
        new = make_record("s1", messages=2, content="new text", personality="vex")
        allowed = {
            i: {
                m.content
                for m in (old.conversation.messages[i : i + 1] + new.conversation.messages[i : i + 1])
            }
            for i in range(6)
        }
        for cut in range(10):
            budget.clear()
            await store.save_session(old)
            budget.append(cut)
            try:
                await store.save_session(new)
                finished = True
            except StorageError:
                finished = False
            budget.clear()
            loaded = await store.load_session("s1")  # readable, wherever the save was cut
            assert loaded is not None, cut
            contents = [m.content for m in loaded.conversation.messages]
            assert len(contents) >= 2, (cut, contents)  # never emptier than both versions
            assert all(c in allowed[i] for i, c in enumerate(contents)), (cut, contents)
            await store.save_session(new)  # saving again completes it
            assert (await store.load_session("s1") or old).model_dump(mode="json") == new.model_dump(
                mode="json"
            )
            if finished:
                break
        else:
            raise AssertionError("the save never finished")
        await store.append_messages("s1", turn("s1", 0, T0), last_active=T0, expected_count=2)
        await store.set_memory("s1", "k", 1)
        assert await store.insert_session(make_record("s1")) is False
        assert await store.delete_session("s1") is True
        assert await store.insert_session(make_record("s1", messages=1)) is True
        fresh = await store.load_session("s1")
        assert fresh is not None and len(fresh.conversation.messages) == 1 and fresh.memory == {}
    finally:
        budget.clear()
        await store.close()


# -- idempotent appends: a re-send after a lost reply never duplicates -----------------------------
# The request to cut, per server: the append's script (Redis), the transaction's COMMIT
# (PostgreSQL), the reservation of sequence numbers and the insert of the messages (MongoDB).
CUTS = [
    ("redis", b"EVALSHA"),
    ("postgres", b"COMMIT"),
    ("mongodb", b"findAndModify"),
    ("mongodb", b"\x02insert\x00"),
]


def _through(proxy: Any, server: Any, kind: str, *, driver_retries: bool = False) -> str:
    """The server's URL, through the proxy. MongoDB: connect to the proxy as given (SecantusDB
    names itself a replica-set member, which the driver would otherwise connect to directly),
    and without the driver's own re-sending of writes unless asked (a standalone server has none)."""
    url: str = server.url.replace(f":{server.port}/", f":{proxy.port}/")
    if kind == "mongodb":
        url += "?directConnection=true" + ("" if driver_retries else "&retryWrites=false")
    return url


def _cut_config(kind: str, url: str, encrypted: bool) -> StorageConfig:
    import uuid

    unique = uuid.uuid4().hex[:10]
    return StorageConfig(
        storage_type=kind,
        connection_string=url,
        table_name=f"cut_{unique}",
        key_prefix=f"cut{unique}",
        encryption_enabled=encrypted,
        encryption_key=new_key() if encrypted else None,
        connect_timeout=5.0,
    )


async def _assert_stored_once(store: Any, record: Any, *turns: list[Any]) -> None:
    loaded = await store.load_session(record.session_id)
    assert loaded is not None
    expected = [m for batch in (record.conversation.messages, *turns) for m in batch]
    assert [m.model_dump(mode="json") for m in loaded.conversation.messages] == [
        m.model_dump(mode="json") for m in expected
    ]
    [summary] = await store.list_sessions()
    assert summary.message_count == len(expected)


@pytest.mark.integration
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize(
    ("kind", "pattern"), CUTS, ids=[f"{k}-{p.strip(bytes(3)).decode()}" for k, p in CUTS]
)
async def test_an_append_whose_reply_is_lost_is_stored_once_when_sent_again(
    request: pytest.FixtureRequest, kind: str, pattern: bytes, encrypted: bool
) -> None:
    from .proxy import CuttingProxy

    server = request.getfixturevalue(f"{kind}_server")
    with CuttingProxy(server.port) as proxy:
        store = create_storage(_cut_config(kind, _through(proxy, server, kind), encrypted))
        await store.initialize()
        try:
            record = make_record("s-cut", messages=2)
            await store.save_session(record)
            first = turn("s-cut", 0, T0 + timedelta(minutes=1))
            proxy.cut_after(pattern)
            with pytest.raises(StorageError, match="s-cut"):
                await store.append_messages(
                    "s-cut", first, last_active=T0 + timedelta(minutes=1), expected_count=2
                )
            assert proxy.wait_cut(5), "the proxy never saw the write"
            # the caller sends the same turn again, at the same position: stored once
            await store.append_messages(
                "s-cut", first, last_active=T0 + timedelta(minutes=1), expected_count=2
            )
            second = turn("s-cut", 1, T0 + timedelta(minutes=2))
            await store.append_messages(
                "s-cut", second, last_active=T0 + timedelta(minutes=2), expected_count=4
            )
            await _assert_stored_once(store, record, first, second)
            # another writer's turn at a position taken is still a conflict, and changes nothing
            with pytest.raises(StorageError, match="at position 4: it holds 6"):
                await store.append_messages("s-cut", turn("s-cut", 9, T0), last_active=T0, expected_count=4)
            await _assert_stored_once(store, record, first, second)
        finally:
            await store.close()


@pytest.mark.integration
@pytest.mark.parametrize("pattern", [b"findAndModify", b"\x02insert\x00"], ids=["findAndModify", "insert"])
async def test_mongodb_driver_retries_of_a_lost_reply_store_the_turn_once(
    mongodb_server: Any, pattern: bytes
) -> None:
    """With the driver's retryable writes (the default; a server with sessions) the append just works."""
    from .proxy import CuttingProxy

    with CuttingProxy(mongodb_server.port) as proxy:
        url = _through(proxy, mongodb_server, "mongodb", driver_retries=True)
        store = create_storage(_cut_config("mongodb", url, False))
        await store.initialize()
        try:
            record = make_record("s-retry", messages=2)
            await store.save_session(record)
            first = turn("s-retry", 0, T0)
            proxy.cut_after(pattern)
            await store.append_messages("s-retry", first, last_active=T0, expected_count=2)
            assert proxy.wait_cut(5)
            await _assert_stored_once(store, record, first)
        finally:
            await store.close()


# -- Redis: pooled connections are checked at checkout after a restart -----------------------------
@pytest.mark.integration
async def test_redis_every_pooled_connection_works_at_once_after_a_restart(redis_server: Any) -> None:
    import uuid

    config = StorageConfig(
        storage_type="redis", connection_string=redis_server.url, key_prefix=f"rs{uuid.uuid4().hex[:8]}"
    )
    store = create_storage(config)
    await store.initialize()
    try:
        await store.save_session(make_record("s1"))
        # several connections in the pool: as many calls at once
        await asyncio.gather(*(store.save_fact("u1", "c", f"k{i}", i) for i in range(8)))
        redis_server.stop()
        redis_server.start()
        # the first calls after the server is back succeed, on every pooled connection
        results = await asyncio.gather(*(store.get_facts("u1") for _ in range(8)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        await store.append_messages("s1", turn("s1", 0, T0), last_active=T0, expected_count=2)
    finally:
        redis_server.start()  # shared by the session: running again whatever happened
        await store.close()


# -- a passphrase of only whitespace is refused ----------------------------------------------------
def test_a_passphrase_of_only_whitespace_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from luminora_nb.storage.codec import ENCRYPTION_KEY_ENV, DocumentCodec

    for blank in (" ", "   \t\n", "\u2003"):
        with pytest.raises(StorageError, match="only whitespace"):
            DocumentCodec.from_config(StorageConfig(encryption_enabled=True, encryption_key=blank))
        monkeypatch.setenv(ENCRYPTION_KEY_ENV, blank)
        with pytest.raises(StorageError, match="only whitespace"):
            DocumentCodec.from_config(StorageConfig(encryption_enabled=True))
    phrase = StorageConfig(encryption_enabled=True, encryption_key=" a phrase ")
    assert DocumentCodec.from_config(phrase).encrypted


# -- a wrong encryption key is refused at initialize ------------------------------------------------
@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_a_wrong_key_is_refused_at_initialize_and_writes_nothing(backend: BackendCase) -> None:
    right = await backend.open()
    await right.save_session(make_record("s1"))
    await right.close()
    wrong_key = new_key()
    wrong = create_storage(backend.with_changes(encryption_key=wrong_key))
    backend.track(wrong)
    with pytest.raises(StorageError, match="encryption key") as caught:
        await wrong.initialize()
    message = str(caught.value)
    assert "does not open this store" in message
    assert wrong_key not in message and str(backend.config.encryption_key) not in message
    with pytest.raises(StorageError):
        await wrong.save_session(make_record("s2"))  # never initialised: nothing is written
    again = await backend.open()
    assert [s.session_id for s in await again.list_sessions()] == ["s1"]
    assert await again.load_session("s1") is not None


@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_the_key_check_of_an_empty_store_refuses_a_second_key(backend: BackendCase) -> None:
    first = await backend.open()  # nothing stored yet: the key check is all the store holds
    await first.close()
    with pytest.raises(StorageError, match="does not open this store"):
        await backend.open(encryption_key=new_key())
    # opened without encryption, an encrypted store is refused too (nothing would read back)
    with pytest.raises(StorageError, match="encrypted"):
        await backend.open(encryption_enabled=False, encryption_key=None)
    store = await backend.open()
    await store.save_fact("u1", "c", "k", 1)
    assert await store.read_metadata() == {}  # the key check is not part of the public record
    assert await store.write_metadata({"mine": 1}, expected=None)
    assert await store.read_metadata() == {"mine": 1}
    with pytest.raises(StorageError, match="luminora_codec"):
        await store.write_metadata({"luminora_codec": {}}, expected={"mine": 1})


async def test_a_store_written_before_key_checks_is_checked_against_its_first_document(
    tmp_path: Path,
) -> None:
    key = new_key()
    config = StorageConfig(
        storage_type="file", connection_string=str(tmp_path), encryption_enabled=True, encryption_key=key
    )
    store = create_storage(config)
    await store.initialize()
    store._codec = DocumentCodec.from_config(config, format_version=1)  # type: ignore[attr-defined]
    await store.save_session(make_record("s1"))
    await store.close()
    (tmp_path / "metadata.json").unlink()  # as a store written before key checks
    with pytest.raises(StorageError, match=r"cannot decrypt session file"):
        await create_storage(config.model_copy(update={"encryption_key": new_key()})).initialize()
    assert not (tmp_path / "metadata.json").exists()  # the wrong key wrote nothing
    again = create_storage(config)
    await again.initialize()  # the right key: checked against the document, then recorded
    assert (tmp_path / "metadata.json").exists()
    assert await again.load_session("s1") is not None


# -- listing columns: nothing readable in an encrypted store --------------------------------------
@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_listing_fields_are_not_stored_readable(backend: BackendCase) -> None:
    import secrets

    marker = secrets.token_hex(6)
    store = await backend.open()
    record = make_record("s1", personality=f"persona-{marker}")
    record.provider_config = {"name": f"provider-{marker}", "model": "m"}
    await store.save_session(record)
    [summary] = await store.list_sessions()
    assert (summary.personality_name, summary.provider) == (f"persona-{marker}", f"provider-{marker}")
    assert marker.encode() not in backend.raw_dump()


async def test_readable_listing_columns_of_an_older_encrypted_duckdb_file_are_encrypted_on_open(
    tmp_path: Path,
) -> None:
    import duckdb

    path = tmp_path / "store.duckdb"
    config = StorageConfig(
        storage_type="duckdb", connection_string=str(path), encryption_enabled=True, encryption_key=new_key()
    )
    store = create_storage(config)
    await store.initialize()
    await store.save_session(make_record("s1", personality="persona-older"))
    await store.close()
    con = duckdb.connect(str(path))  # as written before listing columns were encrypted
    try:
        con.execute("UPDATE luminora_sessions SET personality_name = 'persona-older', provider = 'offline'")
    finally:
        con.close()
    store = create_storage(config)
    await store.initialize()
    [summary] = await store.list_sessions()
    assert (summary.personality_name, summary.provider) == ("persona-older", "offline")
    await store.close()
    con = duckdb.connect(str(path))
    try:
        [(personality, provider)] = con.execute(
            "SELECT personality_name, provider FROM luminora_sessions"
        ).fetchall()
    finally:
        con.close()
    assert "persona-older" not in personality and provider != "offline"
    # a wrong key changes nothing: it is refused before the listing columns are touched
    with pytest.raises(StorageError, match="does not open this store"):
        await create_storage(config.model_copy(update={"encryption_key": new_key()})).initialize()


# -- a random passphrase salt per store --------------------------------------------------------------
@pytest.mark.backend_cases(persistent=True, modes=["encrypted"])
async def test_each_store_gets_its_own_random_passphrase_salt(backend: BackendCase, tmp_path: Path) -> None:
    import base64
    import uuid

    from luminora_nb.storage.codec import KDF_SALT

    passphrase = "one passphrase for two stores"
    unique = uuid.uuid4().hex[:8]
    other: dict[str, Any] = (
        {"connection_string": str(tmp_path / "other")}
        if backend.backend == "file"
        else {"connection_string": str(tmp_path / "other.duckdb")}
        if backend.backend == "duckdb"
        else {"table_name": f"other_{unique}", "key_prefix": f"other{unique}"}
    )
    salts = []
    for changes in ({}, other):
        store = await backend.open(encryption_key=passphrase, **changes)
        record = json.loads(await store._read_metadata() or "{}")
        salts.append(base64.b64decode(record["luminora_codec"]["kdf_salt"]))
        await store.save_session(make_record("s1"))
        await store.close()
        again = await backend.open(encryption_key=passphrase, **changes)  # the salt is found again
        assert await again.load_session("s1") is not None
        await again.close()
    assert len(set(salts)) == 2 and all(len(s) == 16 and KDF_SALT not in s for s in salts)


async def test_a_passphrase_store_written_before_salts_keeps_its_fixed_salt(tmp_path: Path) -> None:
    from luminora_nb.storage._keys import CODEC_FIELD

    config = StorageConfig(
        storage_type="file",
        connection_string=str(tmp_path),
        encryption_enabled=True,
        encryption_key="an old passphrase",
    )
    store = create_storage(config)
    await store.initialize()
    # as the previous version wrote it: the fixed salt, and no metadata record
    store._codec = DocumentCodec.from_config(config, format_version=1)  # type: ignore[attr-defined]
    await store.save_session(make_record("s1"))
    await store.close()
    (tmp_path / "metadata.json").unlink()
    again = create_storage(config)
    await again.initialize()
    assert await again.load_session("s1") is not None  # read with the fixed salt, as written
    record = json.loads((tmp_path / "metadata.json").read_text())
    assert "kdf_salt" not in record[CODEC_FIELD]  # the store keeps its fixed salt
    await again.save_session(make_record("s2"))
    await again.close()
    third = create_storage(config)
    await third.initialize()
    assert {s.session_id for s in await third.list_sessions()} == {"s1", "s2"}
    await third.close()
