"""The parametrised ``backend`` fixture of the storage conformance suite.

Every backend (memory, file, duckdb, redis, postgres, mongodb) is crossed with every
codec mode (plain, compressed, encrypted, compressed+encrypted). A test that applies to
some cases only says so with ``@pytest.mark.backend_cases(persistent=True, encrypted=True)``
or ``backend_cases(modes=["plain"])`` (``None``, the default, means any);
:func:`pytest_generate_tests` then generates only the cases it applies to, so the suite
never reports a "not applicable" skip. The cases on a server (redis, postgres, mongodb) are
marked ``integration``. Each case gives:

* ``config`` — a :class:`StorageConfig` private to the test (own directory, database
  file, table name or key prefix, and a fresh random encryption key);
* ``open(**changes)`` — build and initialise a storage from that config (changed by
  ``changes``), closed again at teardown;
* ``raw_dump()`` — every byte the backend stored (file: all files; duckdb: the database
  file and WAL plus every row; memory: the JSON of its dicts; servers: the server's dump);
* ``session_raw(session_id)`` / ``set_session_raw(session_id, data)`` — the stored session
  document (head) as bytes, read and written through the backend's raw access (persistent
  backends only);
* ``corrupt(session_id, mode)`` — damage the stored session document through the
  backend's raw access: ``"garbage"`` overwrites it, ``"flip"`` flips one byte of its
  ciphertext (encrypted modes only). The memory backend has no stored bytes to damage and
  nothing outlives its instance: it is ``persistent=False``.

Server backends use the session-scoped fixtures of :mod:`tests.storage.servers`; those
skip (saying what to install) only when a server binary or driver is really missing.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from luminora_nb.storage import create_storage
from luminora_nb.storage.base import Storage
from luminora_nb.storage.codec import MAGIC
from luminora_nb.types import StorageConfig
from tests.storage.servers import mongodb_server, postgres_server, redis_server  # noqa: F401

BACKENDS = ["memory", "file", "duckdb", "redis", "postgres", "mongodb"]
SERVER_BACKENDS = {"redis", "postgres", "mongodb"}
#: Backends whose data lives outside the storage instance (and so can be reopened or damaged).
PERSISTENT_BACKENDS = {"file", "duckdb", "redis", "postgres", "mongodb"}
CODEC_MODES: dict[str, tuple[bool, bool]] = {
    "plain": (False, False),
    "compressed": (True, False),
    "encrypted": (False, True),
    "compressed+encrypted": (True, True),
}
ALL_CASES = [(b, m) for b in BACKENDS for m in CODEC_MODES]


def applicable_cases(
    *,
    persistent: bool | None = None,
    encrypted: bool | None = None,
    modes: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """The (backend, codec mode) cases a test applies to; ``None`` means any.

    Example:
        >>> applicable_cases(persistent=False, encrypted=True)
        [('memory', 'encrypted'), ('memory', 'compressed+encrypted')]
        >>> applicable_cases(backends=["redis"], modes=["plain"])
        [('redis', 'plain')]
    """
    assert modes is None or set(modes) <= set(CODEC_MODES), modes
    assert backends is None or set(backends) <= set(BACKENDS), backends
    return [
        (name, mode)
        for name, mode in ALL_CASES
        if (persistent is None or (name in PERSISTENT_BACKENDS) == persistent)
        and (encrypted is None or CODEC_MODES[mode][1] == encrypted)
        and (modes is None or mode in modes)
        and (backends is None or name in backends)
    ]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backend_cases(persistent=None, encrypted=None, modes=None, backends=None): generate the storage "
        "conformance `backend` cases this test applies to only (persistent: data outlives the instance; "
        "encrypted: codec mode encrypts; modes: these codec modes only; backends: these backends only)",
    )


def _parametrized_directly(metafunc: pytest.Metafunc, name: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise the ``backend`` fixture with the cases the test applies to (see the docstring)."""
    if "backend" not in metafunc.fixturenames or _parametrized_directly(metafunc, "backend"):
        return  # e.g. test_faults.py passes a backend *name* as a plain parameter
    marker = metafunc.definition.get_closest_marker("backend_cases")
    cases = applicable_cases(**(marker.kwargs if marker else {}))
    assert cases, (
        f"{metafunc.definition.nodeid}: backend_cases({marker.kwargs if marker else {}}) selects none"
    )
    # Cases on a server are integration tests: `pytest -m "not integration"` runs memory, file
    # and duckdb only (the fast loop); the full suite runs them all.
    params = [
        pytest.param((b, m), id=f"{b}-{m}", marks=[pytest.mark.integration] if b in SERVER_BACKENDS else [])
        for b, m in cases
    ]
    metafunc.parametrize("backend", params, indirect=True)


def new_key() -> str:
    """A fresh AES-256 key in the documented URL-safe base64 form."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def flip_ciphertext(blob: bytes) -> bytes:
    """``blob`` (an encrypted envelope, raw or base64 text) with one ciphertext byte flipped."""
    text_form = not blob.startswith(MAGIC)
    raw = base64.urlsafe_b64decode(blob) if text_form else blob
    assert raw.startswith(MAGIC) and raw[4] & 0x02, "not an encrypted document"
    position = 5 + 12 + (len(raw) - 5 - 12) // 2  # inside the ciphertext, after header and nonce
    flipped = raw[:position] + bytes([raw[position] ^ 0x40]) + raw[position + 1 :]
    return base64.urlsafe_b64encode(flipped) if text_form else flipped


GARBAGE = b"\x00\xffthis is not a document {"


@dataclass
class BackendCase:
    """One backend x codec-mode combination, isolated to one test."""

    backend: str
    mode: str
    config: StorageConfig
    raw_dump: Callable[[], bytes] = field(repr=False)
    corrupt: Callable[[str, str], Awaitable[None]] = field(repr=False)
    persistent: bool = True
    storages: list[Storage] = field(default_factory=list, repr=False)
    session_raw: Callable[[str], Awaitable[bytes]] = field(default=None, repr=False)  # type: ignore[assignment]
    set_session_raw: Callable[[str, bytes], Awaitable[None]] = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def encrypted(self) -> bool:
        return self.config.encryption_enabled

    @property
    def plain(self) -> bool:
        return not (self.config.encryption_enabled or self.config.compression_enabled)

    def with_changes(self, **changes: Any) -> StorageConfig:
        """The case's config with some fields changed (the key is carried over unless changed)."""
        data = self.config.model_dump()
        data["encryption_key"] = self.config.encryption_key
        data.update(changes)
        return StorageConfig(**data)

    async def open(self, **changes: Any) -> Storage:
        """A new, initialised storage on this case's data (closed at teardown)."""
        storage = create_storage(self.with_changes(**changes) if changes else self.config)
        self.storages.append(storage)
        await storage.initialize()
        return storage

    def track(self, storage: Storage) -> Storage:
        """Include a storage built elsewhere (e.g. by a client) in ``raw_dump`` and teardown."""
        self.storages.append(storage)
        return storage


# -- raw access per backend --------------------------------------------------------------
def _memory_dump(case: BackendCase) -> bytes:
    """Every string and byte string the memory storages hold (their private state, walked)."""
    chunks: list[bytes] = []

    def walk(value: Any) -> None:
        if isinstance(value, bytes | bytearray):
            chunks.append(bytes(value))
        elif isinstance(value, str):
            chunks.append(value.encode("utf-8", "surrogatepass"))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for item in dataclasses.fields(value):
                walk(getattr(value, item.name))
        elif hasattr(value, "model_dump"):
            walk(value.model_dump(mode="json"))

    for storage in case.storages:
        walk({k: v for k, v in vars(storage).items() if k.startswith("_")})
    return b"\n".join(chunks)


def _file_dump(directory: Path) -> bytes:
    chunks = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            chunks.append(str(path.relative_to(directory)).encode())
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


async def _file_corrupt(directory: Path, session_id: str, mode: str) -> None:
    from luminora_nb.storage.file import _file_name

    path = directory / "sessions" / f"{_file_name(session_id)}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[0] = GARBAGE.replace(b"\n", b"") if mode == "garbage" else flip_ciphertext(lines[0])
    path.write_bytes(b"\n".join(lines))


def _duckdb_dump(path: Path, table: str) -> bytes:
    import duckdb

    chunks: list[bytes] = []
    if path.exists():
        con = duckdb.connect(str(path))
        try:
            con.execute("CHECKPOINT")
            tables = con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name LIKE ? ORDER BY 1",
                [f"{table}%"],
            ).fetchall()
            for (name,) in tables:
                chunks.append(name.encode())
                for row in con.execute(f'SELECT * FROM "{name}"').fetchall():
                    for value in row:
                        if isinstance(value, bytes | bytearray | memoryview):
                            chunks.append(bytes(value))
                        elif value is not None:
                            chunks.append(str(value).encode())
        finally:
            con.close()
    for file in sorted(path.parent.glob(path.name + "*")):
        chunks.append(file.read_bytes())
    return b"\n".join(chunks)


async def _duckdb_corrupt(path: Path, table: str, session_id: str, mode: str) -> None:
    import duckdb

    con = duckdb.connect(str(path))  # shares the open storage's database in this process
    try:
        rows = con.execute(f'SELECT doc FROM "{table}" WHERE session_id = ?', [session_id]).fetchall()
        assert rows, f"session {session_id!r} is not stored"
        blob = GARBAGE if mode == "garbage" else flip_ciphertext(bytes(rows[0][0]))
        con.execute(f'UPDATE "{table}" SET doc = ? WHERE session_id = ?', [blob, session_id])
    finally:
        con.close()


async def _file_head(directory: Path, session_id: str, data: bytes | None = None) -> bytes:
    """The first line (the head) of a session file; with ``data``, replace it first."""
    from luminora_nb.storage.file import _file_name

    path = directory / "sessions" / f"{_file_name(session_id)}.jsonl"
    lines = path.read_bytes().split(b"\n")
    if data is not None:
        lines[0] = data
        path.write_bytes(b"\n".join(lines))
    return lines[0]


async def _duckdb_head(path: Path, table: str, session_id: str, data: bytes | None = None) -> bytes:
    """The stored head of a DuckDB session row; with ``data``, replace it first."""
    import duckdb

    con = duckdb.connect(str(path))  # shares the open storage's database in this process
    try:
        if data is not None:
            con.execute(f'UPDATE "{table}" SET doc = ? WHERE session_id = ?', [data, session_id])
        rows = con.execute(f'SELECT doc FROM "{table}" WHERE session_id = ?', [session_id]).fetchall()
        assert rows, f"session {session_id!r} is not stored"
        return bytes(rows[0][0])
    finally:
        con.close()


async def _server_corrupt(case: BackendCase, session_id: str, mode: str) -> None:
    """Damage the session document in a server backend, through the bare driver."""
    config = case.config

    def damage(value: bytes) -> bytes:
        return GARBAGE if mode == "garbage" else flip_ciphertext(value)

    if case.backend == "redis":
        import redis.asyncio as aioredis

        redis_client = aioredis.Redis.from_url(config.connection_string or "")
        try:
            key = f"{config.key_prefix}:s:{session_id}"  # RedisStorage: hash with field "doc"
            value = await redis_client.hget(key, "doc")
            assert isinstance(value, bytes), f"no Redis key {key!r} holds session {session_id!r}"
            await redis_client.hset(key, "doc", damage(value))
        finally:
            await redis_client.aclose()
    elif case.backend == "postgres":
        import asyncpg

        connection = await asyncpg.connect(config.connection_string, timeout=10)
        try:
            table = f'"{config.table_name}"'  # PostgresStorage: doc JSONB when plain, else blob BYTEA
            row = await connection.fetchrow(
                f"SELECT doc, blob FROM {table} WHERE session_id = $1", session_id
            )
            assert row is not None, f"session {session_id!r} is not in table {table}"
            stored = row["blob"] if row["blob"] is not None else str(row["doc"]).encode()
            await connection.execute(
                f"UPDATE {table} SET doc = NULL, blob = $1 WHERE session_id = $2",
                damage(bytes(stored)),
                session_id,
            )
        finally:
            await connection.close()
    elif case.backend == "mongodb":
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(config.connection_string, serverSelectionTimeoutMS=10_000)
        try:
            # MongoDBStorage: {_id: session id, doc: {...}} when plain, else {blob: bytes}
            collection = client.get_default_database("luminora")[config.table_name]
            stored = await collection.find_one({"_id": session_id})
            assert stored is not None, f"session {session_id!r} is not in collection {config.table_name!r}"
            raw = stored.get("blob")
            value = bytes(raw) if raw is not None else json.dumps(stored["doc"], default=str).encode()
            await collection.update_one(
                {"_id": session_id}, {"$set": {"blob": damage(value)}, "$unset": {"doc": ""}}
            )
        finally:
            await client.close()
    else:
        raise AssertionError(f"no raw access to the {case.backend} backend")


# -- the fixture ----------------------------------------------------------------------------
def _server_fixture_name(backend: str) -> str:
    return {"redis": "redis_server", "postgres": "postgres_server", "mongodb": "mongodb_server"}[backend]


@pytest.fixture
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BackendCase]:
    """A fresh, isolated backend case (parametrised by :func:`pytest_generate_tests`)."""
    name, mode = request.param
    compression, encryption = CODEC_MODES[mode]
    unique = uuid.uuid4().hex[:12]
    common: dict[str, Any] = {
        "compression_enabled": compression,
        "encryption_enabled": encryption,
        "encryption_key": new_key() if encryption else None,
        "connect_timeout": 5.0,
    }
    if name in SERVER_BACKENDS:
        server = request.getfixturevalue(_server_fixture_name(name))
        config = StorageConfig(
            storage_type=name,
            connection_string=server.url,
            table_name=f"t_{unique}",
            key_prefix=f"t{unique}",
            **common,
        )
        case = BackendCase(name, mode, config, raw_dump=server.raw_dump, corrupt=_unset)
        case.corrupt = lambda sid, how: _server_corrupt(case, sid, how)
        case.session_raw = lambda sid: asyncio.to_thread(server.read_session_document, config, sid)
        case.set_session_raw = lambda sid, data: asyncio.to_thread(
            server.write_session_document, config, sid, data
        )
    elif name == "file":
        directory = tmp_path / "store"
        config = StorageConfig(storage_type="file", connection_string=str(directory), **common)
        case = BackendCase(
            name,
            mode,
            config,
            raw_dump=lambda: _file_dump(directory),
            corrupt=lambda sid, how: _file_corrupt(directory, sid, how),
            session_raw=lambda sid: _file_head(directory, sid),
            set_session_raw=lambda sid, data: _file_head(directory, sid, data),
        )
    elif name == "duckdb":
        path = tmp_path / "store.duckdb"
        table = f"t_{unique}"
        config = StorageConfig(storage_type="duckdb", connection_string=str(path), table_name=table, **common)
        case = BackendCase(
            name,
            mode,
            config,
            raw_dump=lambda: _duckdb_dump(path, table),
            corrupt=lambda sid, how: _duckdb_corrupt(path, table, sid, how),
            session_raw=lambda sid: _duckdb_head(path, table, sid),
            set_session_raw=lambda sid, data: _duckdb_head(path, table, sid, data),
        )
    else:
        config = StorageConfig(storage_type="memory", **common)
        # Not persistent: the persistence and corruption tests are not generated for it.
        case = BackendCase(name, mode, config, raw_dump=_unset_dump, corrupt=_unset, persistent=False)
        case.raw_dump = lambda: _memory_dump(case)
    try:
        yield case
    finally:
        for storage in case.storages:
            await storage.close()


async def _unset(session_id: str, mode: str) -> None:  # replaced right after construction (not for memory)
    raise AssertionError("corrupt() is only wired for persistent backends")


def _unset_dump() -> bytes:  # replaced right after construction
    raise AssertionError("raw_dump() was not wired")
