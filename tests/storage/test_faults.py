"""Faults of the server backends, through the client: a server killed mid-session, servers
that refuse or never answer, and configurations that cannot work.

A real server is killed hard (SIGKILL / ``pg_ctl -m immediate``) between two turns of a
session. The next turn raises :class:`StorageError`; the client's in-memory conversation
keeps every message; once the server is back the next turn on the SAME client succeeds and
the store then holds the whole conversation, the failed turn included.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig, StorageConfig
from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from tests.storage.servers import ServerHandle, SilentServer, free_port, make_messages, make_record

pytestmark = pytest.mark.integration

SERVER_BACKENDS = ["redis", "postgres", "mongodb"]
FIXTURES = {"redis": "redis_server", "postgres": "postgres_server", "mongodb": "mongodb_server"}
LABELS = {"redis": "redis storage", "postgres": "postgres storage", "mongodb": "mongodb storage"}
# A generous bound for "did not hang": several times the configured connect_timeout.
HANG_LIMIT = 15.0


def url_for(backend: str, port: int) -> str:
    return {
        "redis": f"redis://127.0.0.1:{port}/0",
        "postgres": f"postgresql://postgres@127.0.0.1:{port}/postgres",
        "mongodb": f"mongodb://127.0.0.1:{port}/luminora",
    }[backend]


def config_for(backend: str, url: str, **options: Any) -> StorageConfig:
    unique = uuid.uuid4().hex[:10]
    options.setdefault("connect_timeout", 2.0)
    return StorageConfig(
        storage_type=backend,
        connection_string=url,
        table_name=f"f_{unique}",
        key_prefix=f"f{unique}",
        **options,
    )


@pytest.fixture
def server(request: pytest.FixtureRequest) -> ServerHandle:
    handle: ServerHandle = request.getfixturevalue(FIXTURES[request.param])
    return handle


@pytest.fixture
async def restarted(server: ServerHandle) -> AsyncIterator[ServerHandle]:
    """The server, started again after the test whatever happened (it is shared)."""
    try:
        yield server
    finally:
        server.start()


@pytest.mark.parametrize(("server", "backend"), [(b, b) for b in SERVER_BACKENDS], indirect=["server"])
async def test_server_killed_mid_session(restarted: ServerHandle, backend: str) -> None:
    server = restarted
    config = config_for(backend, server.url)
    client = LuminoraCoreClient(storage_config=config)
    storage = client.storage
    await client.initialize()
    try:
        sid = await client.create_session("aurora", ProviderConfig(name="offline"), user_id="fault-user")
        await client.send_message(sid, "first message")
        await client.send_message(sid, "second message")

        server.stop()
        with pytest.raises(StorageError) as caught:
            await client.send_message(sid, "sent while the server is down")
        message = str(caught.value)
        assert LABELS[backend] in message
        assert sid in message
        assert "running and reachable" in message

        # nothing of the conversation is lost in memory, the failed turn included
        conversation = await client.get_conversation(sid)
        assert conversation is not None
        contents = [m.content for m in conversation.messages]
        assert len(contents) == 6
        assert contents[0::2] == ["first message", "second message", "sent while the server is down"]

        # other calls fail cleanly too while the server is away
        with pytest.raises(StorageError, match=LABELS[backend]):
            await client.list_sessions()
        with pytest.raises(StorageError, match=LABELS[backend]):
            await client.create_session("aurora", ProviderConfig(name="offline"))

        server.start()
        reply = await client.send_message(sid, "back again")  # same client, same storage object
        assert reply.content
        assert client.storage is storage
        in_memory = [m.content for m in (await client.get_conversation(sid) or conversation).messages]
        assert len(in_memory) == 8

        # the store now holds the whole conversation, written through the SAME pool
        stored = await storage.load_session(sid)
        assert stored is not None
        assert [m.content for m in stored.conversation.messages] == in_memory
        assert await client.list_sessions() == [sid]
    finally:
        await client.cleanup()

    # and a brand-new process-like client sees it too
    fresh = create_storage(config)
    await fresh.initialize()
    try:
        again = await fresh.load_session(sid)
        assert again is not None and [m.content for m in again.conversation.messages] == in_memory
    finally:
        await fresh.close()


@pytest.mark.parametrize(("server", "backend"), [(b, b) for b in SERVER_BACKENDS], indirect=["server"])
async def test_user_state_calls_fail_cleanly_and_recover(restarted: ServerHandle, backend: str) -> None:
    server = restarted
    storage = create_storage(config_for(backend, server.url))
    await storage.initialize()
    try:
        await storage.save_fact("u-fault", "pets", "dog", "Rex")
        server.stop()
        with pytest.raises(StorageError, match=rf"{LABELS[backend]}.*user 'u-fault'"):
            await storage.save_fact("u-fault", "pets", "cat", "Tom")
        with pytest.raises(StorageError, match=rf"{LABELS[backend]}.*user 'u-fault'"):
            await storage.get_facts("u-fault")
        server.start()
        await storage.save_fact("u-fault", "pets", "cat", "Tom")
        assert [f["key"] for f in await storage.get_facts("u-fault")] == ["dog", "cat"]
    finally:
        await storage.close()


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_refused_connection_is_a_clear_error(backend: str) -> None:
    port = free_port()  # nothing listens there
    client = LuminoraCoreClient(
        storage_config=config_for(backend, url_for(backend, port), connect_timeout=1.0)
    )
    with pytest.raises(StorageError) as caught:
        await asyncio.wait_for(client.initialize(), HANG_LIMIT)
    message = str(caught.value)
    assert LABELS[backend] in message
    assert f"127.0.0.1:{port}" in message
    assert "cannot reach" in message and "connect_timeout" in message


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_server_that_never_answers_times_out(backend: str) -> None:
    with SilentServer() as silent:
        storage = create_storage(config_for(backend, url_for(backend, silent.port), connect_timeout=0.5))
        try:
            with pytest.raises(StorageError) as caught:
                # wait_for only guards against a hang: the backend must give up by itself first
                await asyncio.wait_for(storage.initialize(), HANG_LIMIT)
        finally:
            await storage.close()
    message = str(caught.value)
    assert LABELS[backend] in message
    assert "within 0.5 s" in message


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_unresolvable_host_is_a_clear_error(backend: str) -> None:
    url = url_for(backend, 1).replace("127.0.0.1:1", "no-such-host.invalid:5")
    storage = create_storage(config_for(backend, url, connect_timeout=1.0))
    with pytest.raises(StorageError, match=LABELS[backend]):
        await asyncio.wait_for(storage.initialize(), HANG_LIMIT)


def test_unknown_storage_type_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match=r"unknown storage_type 'cassandra'; use one of: memory, redis"):
        StorageConfig(storage_type="cassandra")
    with pytest.raises(StorageError, match="unknown storage_type"):
        LuminoraCoreClient(storage_config=StorageConfig.model_validate({"storage_type": "sqlite"}))


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_injection_shaped_names_are_rejected_before_any_connection(backend: str) -> None:
    with pytest.raises(StorageError, match="table_name"):
        StorageConfig(storage_type=backend, table_name='s; DROP TABLE "x"; --')
    with pytest.raises(StorageError, match="key_prefix"):
        StorageConfig(storage_type=backend, key_prefix="p*")


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_encryption_without_key_fails_at_initialise_not_at_construction(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUMINORA_ENCRYPTION_KEY", raising=False)
    storage = create_storage(
        config_for(backend, url_for(backend, free_port()), encryption_enabled=True)
    )  # no I/O, no error yet
    with pytest.raises(StorageError, match="LUMINORA_ENCRYPTION_KEY"):
        await storage.initialize()


def test_backend_modules_do_not_shadow_their_drivers() -> None:
    import importlib
    from pathlib import Path

    import luminora_nb.storage.mongodb
    import luminora_nb.storage.postgres
    import luminora_nb.storage.redis

    package_dir = Path(luminora_nb.storage.redis.__file__).parent
    for driver in ("redis", "redis.asyncio", "asyncpg", "pymongo", "bson"):
        module = importlib.import_module(driver)
        assert module.__file__ is not None
        assert package_dir not in Path(module.__file__).parents, driver
    assert importlib.import_module("redis").__name__ == "redis"
    assert hasattr(importlib.import_module("redis.asyncio"), "BlockingConnectionPool")
    assert luminora_nb.storage.redis.RedisStorage.backend_name == "redis"
    assert luminora_nb.storage.postgres.PostgresStorage.backend_name == "postgres"
    assert luminora_nb.storage.mongodb.MongoDBStorage.backend_name == "mongodb"


@pytest.mark.parametrize(("server", "backend"), [(b, b) for b in SERVER_BACKENDS], indirect=["server"])
async def test_text_utf8_cannot_hold(server: ServerHandle, backend: str) -> None:
    """Unpaired surrogates (valid in a Python str, not in UTF-8) round-trip in plain mode and give a
    clear StorageError when the codec must compress or encrypt them."""
    odd = "half a pair: \ud83d, then NUL \x00 and normal text é"
    plain = create_storage(config_for(backend, server.url))
    await plain.initialize()
    try:
        record = make_record("odd", messages=1)
        record.conversation.messages[0].content = odd
        await plain.save_session(record)
        await plain.append_messages("odd", make_messages(1, text=odd), last_active=record.last_active)
        await plain.set_memory("odd", odd, odd)
        await plain.save_fact("u", "c", odd, odd)
        loaded = await plain.load_session("odd")
        assert loaded is not None
        assert [m.content for m in loaded.conversation.messages] == [odd, f"{odd} 0"]
        assert loaded.memory == {odd: odd}
        assert (await plain.get_facts("u"))[0]["value"] == odd
    finally:
        await plain.close()
    key = base64.urlsafe_b64encode(bytes(32)).decode()
    sealed = create_storage(config_for(backend, server.url, encryption_enabled=True, encryption_key=key))
    await sealed.initialize()
    try:
        record = make_record("odd-sealed", messages=1)
        record.conversation.messages[0].content = odd
        with pytest.raises(StorageError, match="unpaired surrogate"):
            await sealed.save_session(record)
    finally:
        await sealed.close()
