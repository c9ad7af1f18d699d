"""Redis backend specifics, against a real redis-server: keys, TTL, SCAN, prefixes, raw bytes.

The behaviour every backend shares is in the conformance suite; this file checks what only
Redis does. The test server runs with KEYS renamed away, so any use of KEYS would fail.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.redis import RedisStorage
from luminora_nb.types import StorageConfig
from tests.storage.servers import RedisServer, make_messages, make_record

pytestmark = pytest.mark.integration

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
_prefixes = itertools.count()


def unique_prefix(name: str = "t") -> str:
    return f"{name}{next(_prefixes)}"


@pytest.fixture
def raw(redis_server: RedisServer) -> Any:
    with redis_server.client() as client:
        yield client


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStorage]:
    storage = RedisStorage(
        StorageConfig(storage_type="redis", connection_string=redis_server.url, key_prefix=unique_prefix())
    )
    await storage.initialize()
    yield storage
    await storage.close()


async def open_store(server: RedisServer, **options: Any) -> RedisStorage:
    options.setdefault("key_prefix", unique_prefix())
    storage = create_storage(StorageConfig(storage_type="redis", connection_string=server.url, **options))
    assert isinstance(storage, RedisStorage)
    await storage.initialize()
    return storage


def keys_of(raw: Any, prefix: str) -> set[str]:
    return {k.decode() for k in raw.scan_iter(match=f"{prefix}:*", count=1000)}


async def test_layout_session_hash_message_list_and_memory_hash(store: RedisStorage, raw: Any) -> None:
    record = make_record("s1", messages=4)
    await store.save_session(record)
    await store.set_memory("s1", "colour", "green")
    prefix = store.config.key_prefix
    assert keys_of(raw, prefix) == {f"{prefix}:s:s1", f"{prefix}:m:s1", f"{prefix}:kv:s1"}
    assert raw.type(f"{prefix}:s:s1") == b"hash"
    assert raw.llen(f"{prefix}:m:s1") == 4
    # plain codec: every stored value is JSON text (never pickle)
    doc = json.loads(raw.hget(f"{prefix}:s:s1", "doc"))
    assert doc["session_id"] == "s1"
    assert "messages" not in doc["conversation"]
    assert [json.loads(m)["content"] for m in raw.lrange(f"{prefix}:m:s1", 0, -1)] == [
        "turn 0",
        "turn 1",
        "turn 2",
        "turn 3",
    ]
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert loaded.conversation.messages == record.conversation.messages
    assert loaded.memory == {"colour": "green"}


async def test_append_pushes_only_the_new_messages(store: RedisStorage, raw: Any) -> None:
    await store.save_session(make_record("s1", messages=2))
    prefix = store.config.key_prefix
    doc_before = raw.hget(f"{prefix}:s:s1", "doc")
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.append_messages("s1", make_messages(3, start=2), last_active=later)
    # the session document is not rewritten by an append; only the list grows
    assert raw.hget(f"{prefix}:s:s1", "doc") == doc_before
    assert raw.llen(f"{prefix}:m:s1") == 5
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages] == [f"turn {i}" for i in range(5)]
    assert loaded.last_active == later
    assert loaded.conversation.updated_at == later
    [summary] = await store.list_sessions()
    assert summary.message_count == 5
    assert summary.last_active == later


async def test_append_of_thousands_in_one_call_keeps_order(store: RedisStorage) -> None:
    await store.save_session(make_record("big"))
    await store.append_messages("big", make_messages(2500), last_active=datetime.now(UTC))
    loaded = await store.load_session("big")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages] == [f"turn {i}" for i in range(2500)]


async def test_append_to_missing_session_is_a_storage_error(store: RedisStorage) -> None:
    with pytest.raises(StorageError, match=r"session 'nope' is not stored.*save_session"):
        await store.append_messages("nope", make_messages(1), last_active=datetime.now(UTC))


async def test_ttl_follows_the_session_timeout_and_activity_refreshes_it(
    store: RedisStorage, raw: Any
) -> None:
    prefix = store.config.key_prefix
    await store.save_session(make_record("s1", messages=1, timeout=600))
    await store.set_memory("s1", "k", 1)
    for kind in ("s", "m", "kv"):
        assert 590 <= raw.ttl(f"{prefix}:{kind}:s1") <= 600
    for kind in ("s", "m", "kv"):
        raw.expire(f"{prefix}:{kind}:s1", 30)
    await store.append_messages("s1", make_messages(1, start=1), last_active=datetime.now(UTC))
    for kind in ("s", "m", "kv"):
        assert raw.ttl(f"{prefix}:{kind}:s1") > 500, kind
    for kind in ("s", "m", "kv"):
        raw.expire(f"{prefix}:{kind}:s1", 30)
    await store.set_memory("s1", "k", 2)
    for kind in ("s", "m", "kv"):
        assert raw.ttl(f"{prefix}:{kind}:s1") > 500, kind


async def test_timeout_zero_means_no_expiry(store: RedisStorage, raw: Any) -> None:
    prefix = store.config.key_prefix
    await store.save_session(make_record("s1", messages=1, timeout=60))
    await store.set_memory("s1", "k", 1)
    assert raw.ttl(f"{prefix}:kv:s1") > 0
    await store.save_session(make_record("s1", messages=1, timeout=0))
    for kind in ("s", "m", "kv"):
        assert raw.ttl(f"{prefix}:{kind}:s1") == -1, kind


async def test_an_idle_session_really_expires(store: RedisStorage) -> None:
    await store.save_session(make_record("short", messages=2, timeout=1))
    await store.save_session(make_record("long", messages=2, timeout=0))
    for _ in range(100):  # expiry is driven by the server's clock; poll instead of sleeping blindly
        if await store.load_session("short") is None:
            break
        await asyncio.sleep(0.05)
    assert await store.load_session("short") is None
    assert [s.session_id for s in await store.list_sessions()] == ["long"]
    with pytest.raises(StorageError, match="expired"):
        await store.append_messages("short", make_messages(1), last_active=datetime.now(UTC))


async def test_listing_uses_scan_across_many_batches(store: RedisStorage, raw: Any) -> None:
    before = raw.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
    ids = [f"s{i:04d}" for i in range(1200)]
    await asyncio.gather(
        *(store.save_session(make_record(sid, user_id=f"u{i % 3}")) for i, sid in enumerate(ids))
    )
    listed = await store.list_sessions()
    assert sorted(s.session_id for s in listed) == ids
    assert len(await store.list_sessions(user_id="u1")) == 400
    stats = raw.info("commandstats")
    assert (
        stats["cmdstat_scan"]["calls"] - before >= 2
    )  # COUNT 1000 over >1200 keys: more than one cursor step
    assert "cmdstat_keys" not in stats
    with pytest.raises(Exception, match="unknown command"):
        raw.execute_command("KEYS", "*")  # the test server proves nobody can use KEYS


async def test_key_prefixes_isolate_stores(redis_server: RedisServer, raw: Any) -> None:
    base = unique_prefix("iso")
    first = await open_store(redis_server, key_prefix=base)
    second = await open_store(redis_server, key_prefix=base + "x")  # a prefix of the other's prefix
    try:
        await first.save_session(make_record("same-id", messages=1, user_id="alice"))
        await second.save_session(make_record("same-id", messages=3, user_id="bob"))
        await first.save_fact("alice", "pets", "dog", "Rex")
        await second.save_fact("bob", "pets", "cat", "Tom")
        assert [s.message_count for s in await first.list_sessions()] == [1]
        assert [s.message_count for s in await second.list_sessions()] == [3]
        assert await first.list_users() == ["alice"]
        assert await second.list_users() == ["bob"]
        assert await first.delete_session("same-id")
        assert await second.load_session("same-id") is not None
        assert all(k.startswith(base + ":") for k in keys_of(raw, base))
    finally:
        await first.close()
        await second.close()


def test_glob_and_injection_shaped_prefixes_are_rejected() -> None:
    for bad in ("lum*", "a b", "x?y", "p[1]", "", "a\r\nFLUSHALL"):
        with pytest.raises(StorageError, match="key_prefix"):
            StorageConfig(storage_type="redis", key_prefix=bad)


async def test_session_ids_with_separators_and_glob_characters(store: RedisStorage) -> None:
    odd = ["a:m:b", "x*", "q?[z]", "ünï cödé", "s:kv:1"]
    for i, sid in enumerate(odd):
        await store.save_session(make_record(sid, messages=i + 1))
    listed = {s.session_id: s.message_count for s in await store.list_sessions()}
    assert listed == {sid: i + 1 for i, sid in enumerate(odd)}
    for sid in odd:
        loaded = await store.load_session(sid)
        assert loaded is not None and loaded.session_id == sid


async def test_encrypted_values_and_hashed_field_names(redis_server: RedisServer, raw: Any) -> None:
    store = await open_store(
        redis_server, encryption_enabled=True, encryption_key=KEY, compression_enabled=True
    )
    prefix = store.config.key_prefix
    try:
        record = make_record("s1", messages=2)
        record.conversation.messages[0].content = "my secret diary entry"
        await store.save_session(record)
        await store.set_memory("s1", "favourite_colour", "ultramarine")
        await store.save_fact("u1", "personal_info", "hometown", "Valparaiso")
        await store.save_affinity("u1", "alicia", 50, "friend")
        dumped = b"\n".join(
            [k.encode() for k in keys_of(raw, prefix)]
            + [v for k in keys_of(raw, prefix) if raw.type(k) == b"hash" for f, v in raw.hgetall(k).items()]
            + [f for k in keys_of(raw, prefix) if raw.type(k) == b"hash" for f in raw.hkeys(k)]
            + [v for k in keys_of(raw, prefix) if raw.type(k) == b"list" for v in raw.lrange(k, 0, -1)]
        )
        for plaintext in (
            b"secret diary",
            b"favourite_colour",
            b"ultramarine",
            b"hometown",
            b"Valparaiso",
            b"alicia",
        ):
            assert plaintext not in dumped, plaintext
        assert raw.hget(f"{prefix}:s:s1", "doc").startswith(b"LNC")
        loaded = await store.load_session("s1")
        assert loaded is not None
        assert loaded.conversation.messages[0].content == "my secret diary entry"
        assert loaded.memory == {"favourite_colour": "ultramarine"}
        assert (await store.get_facts("u1"))[0]["value"] == "Valparaiso"
    finally:
        await store.close()


async def test_corrupt_session_fails_only_its_own_load(store: RedisStorage, raw: Any, caplog: Any) -> None:
    prefix = store.config.key_prefix
    await store.save_session(make_record("good", messages=1))
    await store.save_session(make_record("bad", messages=1))
    raw.hset(f"{prefix}:s:bad", "doc", b'{"session_id": "bad", truncated')
    with pytest.raises(StorageError, match=r"session 'bad' is corrupt"):
        await store.load_session("bad")
    assert await store.load_session("good") is not None
    with caplog.at_level(logging.WARNING, logger="luminora_nb.storage"):
        assert [s.session_id for s in await store.list_sessions()] == ["good"]
    assert "'bad'" in caplog.text or "bad" in caplog.text
    raw.lset(f"{prefix}:m:good", 0, b"\x00garbage")
    with pytest.raises(StorageError, match=r"message 0 of session 'good'"):
        await store.load_session("good")


async def test_user_state_lives_under_user_keys_and_is_deleted_with_the_user(
    store: RedisStorage, raw: Any
) -> None:
    prefix = store.config.key_prefix
    await store.save_affinity("user1", "alicia", 50, "friend")
    await store.save_fact("user1", "pets", "dog", "Rex")
    await store.save_fact("user1", "pets", "cat", "Tom")
    await store.save_fact("user1", "pets", "dog", "Rex II")  # replaced in place: keeps first-learned order
    await store.save_episode("user1", "milestone", "t", "s", 7.0, "positive")
    await store.save_embedding("user1", "f1", "fact", "dog Rex", [0.1, 0.2])
    await store.save_mood("sess-1", "user1", "happy", 0.7)
    assert [f["key"] for f in await store.get_facts("user1")] == ["dog", "cat"]
    assert (await store.get_facts("user1", "pets"))[0]["value"] == "Rex II"
    assert await store.list_users() == ["user1"]
    assert await store.delete_user_data("user1") == 6
    assert keys_of(raw, prefix) == set()
    assert await store.list_users() == []
    assert await store.get_mood("sess-1") is None


async def test_mood_moves_between_users_and_goes_with_its_session(store: RedisStorage) -> None:
    await store.save_session(make_record("s1"))
    await store.save_mood("s1", "ann", "calm")
    await store.save_mood("s1", "ben", "excited")
    assert await store.list_users() == ["ben"]
    assert await store.delete_session("s1")
    assert await store.get_mood("s1") is None
    assert await store.list_users() == []
    assert not await store.delete_session("s1")


async def test_use_before_initialize_and_close_twice(redis_server: RedisServer) -> None:
    storage = RedisStorage(StorageConfig(storage_type="redis", connection_string=redis_server.url))
    with pytest.raises(StorageError, match=r"initialize\(\)"):
        await storage.load_session("x")
    await storage.initialize()
    await storage.close()
    await storage.close()


async def test_bad_url_is_a_clear_storage_error() -> None:
    storage = RedisStorage(StorageConfig(storage_type="redis", connection_string="http://nowhere/"))
    with pytest.raises(StorageError, match="redis storage: invalid connection_string"):
        await storage.initialize()


async def test_password_never_appears_in_errors(redis_server: RedisServer) -> None:
    url = redis_server.url.replace("redis://", "redis://intruder:hunter2-pw@")  # no such ACL user
    storage = RedisStorage(StorageConfig(storage_type="redis", connection_string=url, connect_timeout=2))
    with pytest.raises(StorageError, match="refused the connection.*user name and password") as info:
        await storage.initialize()
    assert "hunter2-pw" not in str(info.value)
    assert "hunter2-pw" not in repr(storage)


async def test_server_side_refusal_is_reported_as_such(store: RedisStorage, raw: Any) -> None:
    raw.set(f"{store.config.key_prefix}:s:clash", "a string another program wrote")
    with pytest.raises(
        StorageError, match=r"could not load session .clash.: .*WRONGTYPE.*refused the command"
    ):
        await store.load_session("clash")


async def test_a_reply_lost_after_the_append_ran_is_an_error_not_a_second_append(
    redis_server: RedisServer,
) -> None:
    """A TCP proxy drops the connection after the server answered the append script:
    the client must report the failure, never send the script again (which would store
    the messages twice)."""
    host, port = redis_server.url.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    drop = {"armed": False}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool) -> None:
        try:
            while data := await reader.read(65536):
                if replies and drop["armed"]:
                    drop["armed"] = False
                    writer.transport.abort()  # the server ran the command; its reply is lost
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        tasks.append(asyncio.create_task(pipe(client_r, server_w, replies=False)))
        tasks.append(asyncio.create_task(pipe(server_r, client_w, replies=True)))

    tasks: list[asyncio.Task[None]] = []
    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    store = RedisStorage(
        StorageConfig(
            storage_type="redis",
            connection_string=f"redis://127.0.0.1:{proxy_port}/0",
            key_prefix=unique_prefix("lost"),
        )
    )
    await store.initialize()
    try:
        await store.save_session(make_record("s1", messages=2))
        drop["armed"] = True
        with pytest.raises(StorageError, match="could not append to session 's1'"):
            await store.append_messages("s1", make_messages(2, start=2), last_active=datetime.now(UTC))
        loaded = await store.load_session("s1")  # a new connection through the proxy
        assert loaded is not None
        assert len(loaded.conversation.messages) == 4  # appended exactly once
    finally:
        await store.close()
        proxy.close()
        await proxy.wait_closed()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_nested_prefixes_do_not_see_each_others_keys(redis_server: RedisServer) -> None:
    """Store 'p' must not read keys of stores 'p.s' and 'p.u' (and back); ':' (the key
    separator) is refused in prefixes, so one store's keys can never spell another's."""
    base = unique_prefix("nest")
    with pytest.raises(StorageError, match="key_prefix"):
        StorageConfig(storage_type="redis", key_prefix=f"{base}:s")
    outer = await open_store(redis_server, key_prefix=base)
    inner_s = await open_store(redis_server, key_prefix=f"{base}.s")
    inner_u = await open_store(redis_server, key_prefix=f"{base}.u")
    try:
        await inner_s.save_session(make_record("secret_of_s", messages=2))
        await inner_s.set_memory("secret_of_s", "k", "v")
        await inner_s.save_mood("secret_of_s", "dora", "calm")
        await inner_u.save_session(make_record("secret_of_u", messages=1))
        await inner_u.save_fact("carol", "c", "k", 1)
        await inner_u.save_affinity("carol", "aurora", 3, "friend")
        await inner_u.save_episode("carol", "t", "title", "summary", 0.5, "neutral")
        await inner_u.save_embedding("carol", "i1", "fact", "text", [0.1, 0.2])
        await inner_u.save_mood("secret_of_u", "carol", "calm")
        assert await outer.list_sessions() == []
        assert await outer.list_users() == []
        # the outer store's own data is still listed, next to the inner stores' keys
        await outer.save_session(make_record("mine", messages=3))
        await outer.save_fact("alice", "c", "k", 1)
        await outer.save_embedding("bob", "i1", "fact", "text", [0.1])
        await outer.save_mood("mine", "erin", "happy")
        [summary] = await outer.list_sessions()
        assert (summary.session_id, summary.message_count) == ("mine", 3)
        assert await outer.list_users() == ["alice", "bob", "erin"]
        assert [s.session_id for s in await inner_s.list_sessions()] == ["secret_of_s"]
        assert [s.session_id for s in await inner_u.list_sessions()] == ["secret_of_u"]
        assert await inner_s.list_users() == ["dora"]
        assert await inner_u.list_users() == ["carol"]
    finally:
        for storage in (outer, inner_s, inner_u):
            await storage.close()
