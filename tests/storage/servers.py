"""Real Redis, PostgreSQL and MongoDB-wire (SecantusDB) servers for the storage tests.

Each server runs on 127.0.0.1 on a free port with its data in a temporary directory,
is started once per test session and stopped by a finalizer. A handle offers:

* ``url`` — the connection string for :class:`~luminora_nb.types.StorageConfig`;
* ``stop()`` — kill the server hard (SIGKILL / ``pg_ctl -m immediate``), as a crash would;
* ``start()`` — start it again on the same port and data directory, blocking until ready;
* ``raw_dump(scope=None)`` — every byte our tests stored in it (keys and values / rows /
  documents), so tests can prove that no secret and no plaintext reached the store;
  ``scope`` (a Redis ``key_prefix`` or a ``table_name``) limits it to one storage's data,
  since one server is shared by every test of the session;
* ``read_session_document(config, session_id)`` / ``write_session_document(config,
  session_id, data)`` — raw access to one stored session document, to test corruption.

When a server binary or driver is missing the fixtures skip, saying what to install.
The same classes start the servers of ``benchmarks/bench_storage.py``.

Durability on a hard kill: Redis runs with an append-only file (written before each
reply, so a killed process loses nothing the client saw acknowledged) and SecantusDB
with ``--sync-on-commit``; PostgreSQL recovers from its WAL.
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "MongoServer",
    "PostgresServer",
    "RedisServer",
    "ServerHandle",
    "ServerUnavailable",
    "SilentServer",
    "free_port",
    "make_messages",
    "make_record",
    "mongodb_server",
    "postgres_server",
    "redis_server",
]

_READY_TIMEOUT = 60.0


class ServerUnavailable(RuntimeError):
    """A server cannot run on this machine; the message says what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Every handle ever started in this process, so that an interpreter exit (a crash, Ctrl-C,
# a benchmark that died half-way) still stops the servers; see _close_all below.
_STARTED: set[ServerHandle] = set()


def _fast_tmp() -> str | None:
    """A RAM-backed temp directory when there is one: fsync is free there, yet data survives a kill."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class ServerHandle(abc.ABC):
    """A server process owned by the test session."""

    kind: str = "server"

    def __init__(self) -> None:
        self.port = free_port()
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"luminora-{self.kind}-", dir=_fast_tmp()))
        self._running = False

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Connection string of the server."""

    @property
    def running(self) -> bool:
        """Whether :meth:`start` ran and :meth:`stop` has not since."""
        return self._running

    def start(self) -> None:
        """Start the server (again) on the same port and data directory; block until ready."""
        if self._running:
            return
        self._start()
        self._running = True
        _STARTED.add(self)

    def stop(self) -> None:
        """Kill the server hard, as a crash would. Safe to call when it is not running."""
        if not self._running:
            return
        self._running = False
        self._kill()

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    @abc.abstractmethod
    def raw_dump(self, scope: str | None = None) -> bytes:
        """Every key/row/document stored in the server, as bytes.

        Args:
            scope: Only what one storage wrote: a Redis ``key_prefix``, or a
                PostgreSQL/MongoDB ``table_name`` (its tables/collections). ``None``: all.
        """

    @abc.abstractmethod
    def read_session_document(self, config: Any, session_id: str) -> bytes:
        """The stored session document of ``session_id`` for the storage ``config``, raw."""

    @abc.abstractmethod
    def write_session_document(self, config: Any, session_id: str, data: bytes) -> None:
        """Overwrite the stored session document with ``data`` (to test corrupt documents)."""

    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _kill(self) -> None: ...

    def _wait_ready(self, process: subprocess.Popen[bytes] | None, log: Path) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ServerUnavailable(
                    f"{self.kind} exited with code {process.returncode} while starting: {_tail(log)}"
                )
            if self._ready():
                return
            time.sleep(0.05)
        raise ServerUnavailable(f"{self.kind} was not ready within {_READY_TIMEOUT:.0f} s: {_tail(log)}")

    @abc.abstractmethod
    def _ready(self) -> bool: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} running={self._running}>"


def _tail(log: Path, limit: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def _kill_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


# -- Redis -----------------------------------------------------------------------------
class RedisServer(ServerHandle):
    """``redis-server`` on loopback. ``KEYS`` is disabled so any use of it by our code fails."""

    kind = "redis"

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("redis-server is not installed; run: apt-get install -y redis-server")
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ServerUnavailable("the redis driver is missing; run: pip install 'redis>=5'") from None
        self.binary = binary
        super().__init__()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> None:
        log = self.base_dir / "redis.log"
        command = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "no",
            "--dir", str(self.base_dir),
            "--logfile", str(log),
            "--rename-command", "KEYS", "",
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(self._process, log)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _kill(self) -> None:
        _kill_process(self._process)
        self._process = None

    def client(self) -> Any:
        """A synchronous ``redis.Redis`` client of this server (for tests that inspect keys)."""
        import redis

        return redis.Redis.from_url(self.url)

    def raw_dump(self, scope: str | None = None) -> bytes:
        chunks: list[bytes] = []
        match = None if scope is None else f"{scope}:*"
        with self.client() as client:
            for key in sorted(client.scan_iter(match=match, count=1000)):
                kind = client.type(key)
                chunks.append(key)
                if kind == b"string":
                    chunks.append(client.get(key) or b"")
                elif kind == b"list":
                    chunks.extend(client.lrange(key, 0, -1))
                elif kind == b"hash":
                    for field, value in client.hgetall(key).items():
                        chunks.extend((field, value))
                elif kind == b"set":
                    chunks.extend(sorted(client.smembers(key)))
                elif kind == b"zset":
                    chunks.extend(client.zrange(key, 0, -1))
                else:  # streams and modules are never written by us; show the type at least
                    chunks.append(kind)
        return b"\n".join(chunks)

    def read_session_document(self, config: Any, session_id: str) -> bytes:
        with self.client() as client:
            value = client.hget(f"{config.key_prefix}:s:{session_id}", "doc")
        assert value is not None, f"session {session_id!r} is not stored under prefix {config.key_prefix!r}"
        return bytes(value)

    def write_session_document(self, config: Any, session_id: str, data: bytes) -> None:
        with self.client() as client:
            client.hset(f"{config.key_prefix}:s:{session_id}", "doc", data)


# -- PostgreSQL ------------------------------------------------------------------------
def _postgres_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3] or 0)
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer(ServerHandle):
    """PostgreSQL via ``initdb`` + ``pg_ctl`` (as the ``postgres`` user when we are root)."""

    kind = "postgres"

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None or not (bindir / "pg_ctl").exists():
            raise ServerUnavailable("PostgreSQL is not installed; run: apt-get install -y postgresql")
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise ServerUnavailable(
                "the asyncpg driver is missing; run: pip install 'asyncpg>=0.29'"
            ) from None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise ServerUnavailable("runuser is missing; run: apt-get install -y util-linux")
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user; "
                    "run: apt-get install -y postgresql"
                ) from None
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.bindir = bindir
        super().__init__()
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log = self.base_dir / "postgres.log"
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, timeout=timeout, check=False, cwd=self.base_dir
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            raise ServerUnavailable(f"{Path(args[0]).name} failed ({result.returncode}): {output}")

    def _initdb(self) -> None:
        os.chmod(self.base_dir, 0o755)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_user:
            shutil.chown(self.base_dir, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
            "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C",
        )  # fmt: skip
        self._initialised = True

    def _start(self) -> None:
        if not self._initialised:
            self._initdb()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.socket_dir} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        self._wait_ready(None, self.log)

    def _ready(self) -> bool:
        return _port_open(self.port)

    def _kill(self) -> None:
        with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def run_async(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on a private event loop in a thread (usable from async tests)."""
        result: list[Any] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                result.append(asyncio.run(coroutine))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    def raw_dump(self, scope: str | None = None) -> bytes:
        async def dump() -> bytes:
            import asyncpg

            connection = await asyncpg.connect(self.url)
            try:
                chunks: list[bytes] = []
                tables = await connection.fetch(
                    "SELECT schemaname, tablename FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
                )
                for table in tables:
                    name = table["tablename"]
                    if scope is not None and not (name == scope or name.startswith(scope + "_")):
                        continue
                    name = f'"{table["schemaname"]}"."{table["tablename"]}"'
                    chunks.append(name.encode())
                    for row in await connection.fetch(f"SELECT * FROM {name}"):
                        for value in row.values():
                            if isinstance(value, bytes | bytearray | memoryview):
                                chunks.append(bytes(value))
                            elif value is not None:
                                chunks.append(str(value).encode())
                return b"\n".join(chunks)
            finally:
                await connection.close()

        dumped: bytes = self.run_async(dump())
        return dumped

    def read_session_document(self, config: Any, session_id: str) -> bytes:
        async def read() -> bytes:
            import asyncpg

            connection = await asyncpg.connect(self.url)
            try:
                row = await connection.fetchrow(
                    f'SELECT doc::text AS doc, blob FROM "{config.table_name}" WHERE session_id = $1',
                    session_id,
                )
            finally:
                await connection.close()
            assert row is not None, f"session {session_id!r} is not in table {config.table_name!r}"
            return bytes(row["blob"]) if row["blob"] is not None else str(row["doc"]).encode()

        data: bytes = self.run_async(read())
        return data

    def write_session_document(self, config: Any, session_id: str, data: bytes) -> None:
        async def write() -> None:
            import asyncpg

            connection = await asyncpg.connect(self.url)
            try:  # a JSONB column cannot hold garbage: the bytes go to the blob column, read first
                await connection.execute(
                    f'UPDATE "{config.table_name}" SET doc = NULL, blob = $2 WHERE session_id = $1',
                    session_id,
                    data,
                )
            finally:
                await connection.close()

        self.run_async(write())

    def close(self) -> None:
        if self._running:
            with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            self._running = False
        super().close()


# -- MongoDB wire protocol (SecantusDB) ------------------------------------------------
def _secantusd() -> str | None:
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.exists():
        return str(beside)
    return shutil.which("secantusd-py")


class MongoServer(ServerHandle):
    """SecantusDB (``secantusd-py``), a MongoDB wire-protocol server, as a child process."""

    kind = "mongodb"

    def __init__(self) -> None:
        binary = _secantusd()
        if binary is None:
            raise ServerUnavailable(
                "SecantusDB is not installed; run: pip install --pre 'secantusdb>=0.7.0b1'"
            )
        try:
            import pymongo  # noqa: F401
        except ImportError:
            raise ServerUnavailable(
                "the pymongo driver is missing; run: pip install 'pymongo>=4.13'"
            ) from None
        self.binary = binary
        super().__init__()
        self.data_dir = self.base_dir / "data"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/luminora"

    def _start(self) -> None:
        log = self.base_dir / "secantusd.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    self.binary, "--host", "127.0.0.1", "--port", str(self.port),
                    "--storage-path", str(self.data_dir), "--log-level", "WARNING",
                    "--sync-on-commit", "--cache-size", "128M",
                ],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.base_dir,
            )  # fmt: skip
        self._wait_ready(self._process, log)

    def _ready(self) -> bool:
        if not _port_open(self.port):
            return False
        try:
            with self.client() as client:
                client.admin.command("ping")
            return True
        except Exception:
            return False

    def _kill(self) -> None:
        _kill_process(self._process)
        self._process = None

    def client(self) -> Any:
        """A synchronous ``pymongo.MongoClient`` of this server."""
        import pymongo

        return pymongo.MongoClient(self.url, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)

    def raw_dump(self, scope: str | None = None) -> bytes:
        from bson.codec_options import CodecOptions
        from bson.raw_bson import RawBSONDocument

        chunks: list[bytes] = []
        with self.client() as client:
            for db_name in sorted(client.list_database_names()):
                if db_name in {"admin", "local", "config"}:
                    continue
                database = client.get_database(
                    db_name, codec_options=CodecOptions(document_class=RawBSONDocument)
                )
                for name in sorted(database.list_collection_names()):
                    if scope is not None and not (name == scope or name.startswith(scope + "_")):
                        continue
                    chunks.append(f"{db_name}.{name}".encode())
                    chunks.extend(doc.raw for doc in database[name].find())
        return b"\n".join(chunks)

    def _sessions(self, client: Any, config: Any) -> Any:
        return client.get_default_database(default="luminora")[config.table_name]

    def read_session_document(self, config: Any, session_id: str) -> bytes:
        with self.client() as client:
            found = self._sessions(client, config).find_one({"_id": session_id})
        assert found is not None, f"session {session_id!r} is not in collection {config.table_name!r}"
        if found.get("blob") is not None:
            return bytes(found["blob"])
        return json.dumps(found["doc"]).encode()

    def write_session_document(self, config: Any, session_id: str, data: bytes) -> None:
        from bson.binary import Binary

        with self.client() as client:
            self._sessions(client, config).update_one(
                {"_id": session_id}, {"$set": {"blob": Binary(data)}, "$unset": {"doc": ""}}
            )


class SilentServer:
    """A TCP listener that accepts connections and never answers: an unresponsive server.

    Example:
        >>> with SilentServer() as silent:
        ...     silent.port > 0
        True
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._closed.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        for connection in self._accepted:
            connection.close()
        self._sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- test data -------------------------------------------------------------------------
def make_messages(count: int, *, start: int = 0, text: str = "turn") -> list[Any]:
    """``count`` alternating user/assistant messages numbered from ``start``."""
    from luminora_nb.types import Message, MessageRole

    roles = (MessageRole.USER, MessageRole.ASSISTANT)
    return [
        Message(role=roles[i % 2], content=f"{text} {i}", metadata={"n": i})
        for i in range(start, start + count)
    ]


def make_record(
    session_id: str,
    *,
    messages: int = 0,
    user_id: str | None = "user1",
    timeout: int = 3600,
    personality: str = "aurora",
) -> Any:
    """A valid :class:`~luminora_nb.types.SessionRecord` with ``messages`` messages."""
    from luminora_nb.types import Conversation, PersonalityData, SessionConfig, SessionRecord

    return SessionRecord(
        session_id=session_id,
        personality_name=personality,
        personality=PersonalityData(name=personality, description="test persona", system_prompt="Be kind."),
        provider_config={"name": "offline", "model": "sim"},
        session_config=SessionConfig(session_id=session_id, timeout=timeout, user_id=user_id),
        user_id=user_id,
        conversation=Conversation(session_id=session_id, messages=make_messages(messages)),
    )


# -- session fixtures ------------------------------------------------------------------
# One server per kind per process, shared by every module that imports these fixtures
# (a fixture imported into two modules is two FixtureDefs; the registry keeps it one).
_SERVERS: dict[str, ServerHandle] = {}
_FAILED: dict[str, str] = {}
_USERS: dict[str, int] = {}
_CLASSES: dict[str, type[ServerHandle]] = {
    "redis": RedisServer,
    "postgres": PostgresServer,
    "mongodb": MongoServer,
}


def _unavailable(reason: str) -> NoReturn:
    # Where the test script installed the servers (LUMINORA_REQUIRE_SERVERS=1, as in CI) a
    # server that is missing or will not start is a failure, never a silent skip.
    if os.environ.get("LUMINORA_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason} (LUMINORA_REQUIRE_SERVERS=1: these tests must run here)")
    pytest.skip(reason)


def _acquire(kind: str) -> ServerHandle:
    if kind in _FAILED:
        _unavailable(_FAILED[kind])
    server = _SERVERS.get(kind)
    if server is None:
        try:
            server = _CLASSES[kind]()
        except ServerUnavailable as exc:
            _FAILED[kind] = str(exc)
            _unavailable(str(exc))
        try:
            server.start()
        except ServerUnavailable as exc:
            server.close()
            _FAILED[kind] = f"{kind} could not be started: {exc}"
            _unavailable(_FAILED[kind])
        _SERVERS[kind] = server
    server.start()  # a test that stopped it and failed before restarting must not break the next
    _USERS[kind] = _USERS.get(kind, 0) + 1
    return server


def _release(kind: str) -> None:
    _USERS[kind] -= 1
    if _USERS[kind] == 0:
        server = _SERVERS.pop(kind, None)
        if server is not None:
            server.close()


@atexit.register
def _close_all() -> None:  # an interrupted session or script still leaves no server behind
    for server in [*_SERVERS.values(), *_STARTED]:
        with contextlib.suppress(Exception):
            server.close()
    _SERVERS.clear()


def _server_fixture(kind: str) -> Iterator[ServerHandle]:
    server = _acquire(kind)
    try:
        yield server
    finally:
        _release(kind)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerHandle]:
    """A real Redis server for the whole test session (skips if redis-server is missing)."""
    yield from _server_fixture("redis")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ServerHandle]:
    """A real PostgreSQL server for the whole test session (skips if PostgreSQL is missing)."""
    yield from _server_fixture("postgres")


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[ServerHandle]:
    """A MongoDB wire-protocol server (SecantusDB) for the session (skips if it is missing)."""
    yield from _server_fixture("mongodb")
