"""Storage benchmark: every backend next to its bare driver doing the same reads and writes.

Run: ``.venv/bin/python benchmarks/bench_storage.py [--turns 10000] [--backends redis,postgres]``
(about 4 minutes on 2 cores; ``--turns 2000`` for a quick look).

For each backend (memory, file, duckdb, redis, postgres, mongodb) two workloads:

* **save + load** of one session with a 100-message conversation (median of ``--repeat``);
* **appended turns**: ``--turns`` (default 10,000) appends of one user + one assistant
  message to one session, one call per turn, in sequence. MongoDB runs against
  SecantusDB, a Python wire-protocol server that slows down as its collections grow
  (for both sides alike), so it does ``--mongodb-turns`` (default 2,000) unless asked.

Each is printed as our time, the bare driver's time and their ratio (target <= 1.5). The
bare baseline is what a hand-written store would do with the driver alone: the same
statements/commands, the same documents serialised with ``json.dumps`` (the very bytes
the plain codec stores), parsed back with ``json.loads`` on reads — without our models,
codec, validation or error mapping. So the ratio is the cost of this library's layer.

* memory: a dict of deep-copied plain dicts;
* file: one file per session, written to a temp file, fsynced and renamed; appends
  write one line with ``O_APPEND`` and fsync;
* duckdb: one connection; a sessions table and a messages table of JSON blobs;
* redis: the same MULTI pipelines (hash + list keys, EXPIRE) over one client;
* postgres: the same SQL in the same transactions over an asyncpg pool;
* mongodb: the same PyMongo operations (transaction for a save, ``$inc`` + insert for
  an append).

Servers are started here the way the tests start them (``tests/storage/servers.py``:
loopback, free ports, temporary directories) and stopped at the end; a backend whose
server or driver is missing is skipped with the reason. Timings of these machines are
noisy: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from luminora_nb.storage import create_storage  # noqa: E402
from luminora_nb.storage._documents import message_documents, session_documents  # noqa: E402
from luminora_nb.storage.base import Storage  # noqa: E402
from luminora_nb.types import (  # noqa: E402
    Conversation,
    Message,
    MessageRole,
    PersonalityData,
    SessionConfig,
    SessionRecord,
    StorageConfig,
)

BACKENDS = ["memory", "file", "duckdb", "redis", "postgres", "mongodb"]
TARGET = 1.5
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TEXT = (
    "I have been thinking about what you said yesterday about learning a new language; "
    "maybe Portuguese, since my grandmother spoke it. Where would you start?"
)


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def make_record(session_id: str, messages: int) -> SessionRecord:
    msgs = [
        Message(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=f"{i}: {TEXT}",
            timestamp=T0 + timedelta(seconds=i),
            metadata={"turn": i // 2},
        )
        for i in range(messages)
    ]
    return SessionRecord(
        session_id=session_id,
        personality_name="aurora",
        personality=PersonalityData(
            name="aurora", description="A warm guide", system_prompt="You are Aurora."
        ),
        provider_config={"name": "offline", "model": "sim-1"},
        session_config=SessionConfig(session_id=session_id, user_id="bench", timeout=3600),
        user_id="bench",
        conversation=Conversation(session_id=session_id, messages=msgs, created_at=T0, updated_at=T0),
        created_at=T0,
        last_active=T0,
    )


def turns(count: int) -> list[list[Message]]:
    return [
        [
            Message(role=MessageRole.USER, content=f"user {i}: {TEXT}", timestamp=T0),
            Message(role=MessageRole.ASSISTANT, content=f"reply {i}: {TEXT}", timestamp=T0),
        ]
        for i in range(count)
    ]


# -- bare-driver baselines ------------------------------------------------------------------
class Bare(abc.ABC):
    """The same reads and writes with the driver alone. Documents are plain dicts."""

    async def open(self) -> None:  # noqa: B027 - in-process stores have nothing to connect
        """Connect (not timed)."""

    async def close(self) -> None:  # noqa: B027 - in-process stores have nothing to close
        """Disconnect (not timed)."""

    @abc.abstractmethod
    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        """Store a session document and its messages, replacing any stored one."""

    @abc.abstractmethod
    async def load(self, sid: str) -> Any:
        """Read the session back and parse it."""

    @abc.abstractmethod
    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        """Append messages and touch last_active."""


class BareMemory(Bare):
    def __init__(self) -> None:
        self.sessions: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        self.sessions[sid] = (copy.deepcopy(doc), copy.deepcopy(messages))

    async def load(self, sid: str) -> Any:
        doc, messages = self.sessions[sid]
        return copy.deepcopy(doc), copy.deepcopy(messages)

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        doc, stored = self.sessions[sid]
        stored.extend(copy.deepcopy(messages))
        doc["last_active"] = stamp


class BareFile(Bare):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, sid: str) -> Path:
        return self.directory / f"{sid}.jsonl"

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        data = (dumps(doc) + "\n" + dumps({"seq": 0, "messages": messages}) + "\n").encode()
        path = self._path(sid)
        temp = path.with_suffix(".tmp")
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def load(self, sid: str) -> Any:
        lines = self._path(sid).read_bytes().splitlines()
        doc = json.loads(lines[0])
        messages = [m for line in lines[1:] for m in json.loads(line)["messages"]]
        return doc, messages

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        line = (dumps({"last_active": stamp, "messages": messages}) + "\n").encode()
        fd = os.open(self._path(sid), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


class BareDuckDB(Bare):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.con: Any = None

    async def open(self) -> None:
        import duckdb

        self.con = duckdb.connect(str(self.path))
        self.con.execute("CREATE TABLE s (session_id TEXT PRIMARY KEY, n BIGINT, last_active TEXT, doc BLOB)")
        self.con.execute(
            "CREATE TABLE m (session_id TEXT, seq BIGINT, doc BLOB, PRIMARY KEY (session_id, seq))"
        )

    async def close(self) -> None:
        if self.con is not None:
            self.con.close()

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        con = self.con
        con.execute("BEGIN")
        con.execute("DELETE FROM m WHERE session_id = ?", [sid])
        con.execute(
            "INSERT OR REPLACE INTO s VALUES (?, ?, ?, ?)", [sid, len(messages), "", dumps(doc).encode()]
        )
        params: list[Any] = []
        for i, message in enumerate(messages):
            params.extend((sid, i, dumps(message).encode()))
        if messages:
            con.execute(f"INSERT INTO m VALUES {', '.join(['(?, ?, ?)'] * len(messages))}", params)
        con.execute("COMMIT")

    async def load(self, sid: str) -> Any:
        doc = self.con.execute("SELECT doc FROM s WHERE session_id = ?", [sid]).fetchall()
        rows = self.con.execute("SELECT doc FROM m WHERE session_id = ? ORDER BY seq", [sid]).fetchall()
        return json.loads(doc[0][0]), [json.loads(r[0]) for r in rows]

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        con = self.con
        con.execute("BEGIN")
        n = con.execute(
            "UPDATE s SET n = n + ?, last_active = ? WHERE session_id = ? RETURNING n",
            [len(messages), stamp, sid],
        ).fetchall()[0][0]
        params: list[Any] = []
        for i, message in enumerate(messages):
            params.extend((sid, n - len(messages) + i, dumps(message).encode()))
        con.execute(f"INSERT INTO m VALUES {', '.join(['(?, ?, ?)'] * len(messages))}", params)
        con.execute("COMMIT")


class BareRedis(Bare):
    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.client: Any = None

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(self.url)

    async def close(self) -> None:
        await self.client.aclose()

    def keys(self, sid: str) -> tuple[str, str, str]:
        return f"{self.prefix}:s:{sid}", f"{self.prefix}:m:{sid}", f"{self.prefix}:kv:{sid}"

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        s, m, kv = self.keys(sid)
        touch = dumps({"last_active": doc["last_active"], "updated_at": doc["last_active"]})
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(s, m)
            pipe.hset(s, mapping={"doc": dumps(doc), "touch": touch, "ttl": 3600})
            if messages:
                pipe.rpush(m, *[dumps(x) for x in messages])
            for key in (s, m, kv):
                pipe.expire(key, 3600)
            await pipe.execute()

    async def load(self, sid: str) -> Any:
        s, m, kv = self.keys(sid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(s, ["doc", "touch"])
            pipe.lrange(m, 0, -1)
            pipe.hgetall(kv)
            (doc, touch), messages, memory = await pipe.execute()
        return json.loads(doc), json.loads(touch), [json.loads(x) for x in messages], memory

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        s, m, kv = self.keys(sid)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(s, "touch", dumps({"last_active": stamp, "updated_at": stamp}))
            pipe.rpush(m, *[dumps(x) for x in messages])
            for key in (s, m, kv):
                pipe.expire(key, 3600)
            await pipe.execute()


class BarePostgres(Bare):
    def __init__(self, url: str, table: str) -> None:
        self.url, self.t = url, table
        self.pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)

    async def close(self) -> None:
        await self.pool.close()

    async def _insert(self, con: Any, sid: str, first: int, messages: list[dict[str, Any]]) -> None:
        await con.execute(
            f"""INSERT INTO "{self.t}_messages" (session_id, seq, doc, blob)
                SELECT $1, first + n - 1, d, b
                FROM (SELECT $2::bigint AS first) AS f,
                     unnest($3::jsonb[], $4::bytea[]) WITH ORDINALITY AS m(d, b, n)""",
            sid,
            first,
            [dumps(x) for x in messages],
            [None] * len(messages),
        )

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        async with self.pool.acquire() as con, con.transaction():
            await con.execute(
                f"""INSERT INTO "{self.t}" (session_id, user_id, created_at, last_active, updated_at,
                        message_count, touch, doc, blob)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
                    ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id,
                        created_at = EXCLUDED.created_at, last_active = EXCLUDED.last_active,
                        updated_at = EXCLUDED.updated_at, message_count = EXCLUDED.message_count,
                        touch = EXCLUDED.touch, doc = EXCLUDED.doc, blob = EXCLUDED.blob""",
                sid,
                "bench",
                T0,
                T0,
                T0,
                len(messages),
                None,
                dumps(doc),
                None,
            )
            await con.execute(f'DELETE FROM "{self.t}_messages" WHERE session_id = $1', sid)
            await self._insert(con, sid, 0, messages)

    async def load(self, sid: str) -> Any:
        async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read", readonly=True):
            row = await con.fetchrow(f'SELECT touch, doc, blob FROM "{self.t}" WHERE session_id = $1', sid)
            messages = await con.fetch(
                f'SELECT seq, doc, blob FROM "{self.t}_messages" WHERE session_id = $1 ORDER BY seq', sid
            )
            memory = await con.fetch(f'SELECT doc, blob FROM "{self.t}_memory" WHERE session_id = $1', sid)
        return json.loads(row["doc"]), [json.loads(m["doc"]) for m in messages], memory

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        async with self.pool.acquire() as con, con.transaction():
            count = await con.fetchval(
                f"""UPDATE "{self.t}" SET message_count = message_count + $2, last_active = $3,
                        updated_at = $3, touch = $4 WHERE session_id = $1 RETURNING message_count""",
                sid,
                len(messages),
                T0,
                stamp,
            )
            await self._insert(con, sid, count - len(messages), messages)


class BareMongo(Bare):
    def __init__(self, url: str, collection: str) -> None:
        self.url, self.name = url, collection
        self.client: Any = None

    async def open(self) -> None:
        from pymongo import AsyncMongoClient

        self.client = AsyncMongoClient(self.url)
        self.db = self.client.get_default_database()
        self.hello = await self.client.admin.command("hello")

    async def close(self) -> None:
        await self.client.close()

    async def save(self, sid: str, doc: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        body = {
            "_id": sid,
            "user_id": "bench",
            "created_at": T0,
            "message_count": len(messages),
            "touch": None,
        }
        body["doc"] = doc
        rows = [{"session_id": sid, "seq": i, "doc": m} for i, m in enumerate(messages)]

        async def work(session: Any) -> None:
            await self.db[self.name].replace_one({"_id": sid}, body, upsert=True, session=session)
            await self.db[self.name + "_messages"].delete_many({"session_id": sid}, session=session)
            if rows:
                await self.db[self.name + "_messages"].insert_many(rows, ordered=True, session=session)

        if self.hello.get("setName"):
            async with self.client.start_session() as session:
                await session.with_transaction(work)
        else:
            await work(None)

    async def load(self, sid: str) -> Any:
        stored = await self.db[self.name].find_one({"_id": sid})
        messages = (
            await self.db[self.name + "_messages"].find({"session_id": sid}).sort("seq", 1).to_list(None)
        )
        memory = await self.db[self.name + "_memory"].find({"session_id": sid}).to_list(None)
        return stored, messages, memory

    async def append(self, sid: str, messages: list[dict[str, Any]], stamp: str) -> None:
        from pymongo import ReturnDocument

        rows = [{"doc": m} for m in messages]
        found = await self.db[self.name].find_one_and_update(
            {"_id": sid},
            {
                "$inc": {"message_count": len(rows)},
                "$set": {"touch": {"last_active": stamp, "updated_at": stamp}},
            },
            projection={"message_count": 1},
            return_document=ReturnDocument.AFTER,
        )
        first = found["message_count"] - len(rows)
        await self.db[self.name + "_messages"].insert_many(
            [{"session_id": sid, "seq": first + i, **r} for i, r in enumerate(rows)], ordered=True
        )


# -- measuring --------------------------------------------------------------------------------
async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def measure(
    name: str, config: StorageConfig, bare: Bare, *, messages: int, turn_count: int, repeat: int
) -> dict[str, float]:
    ours: Storage = create_storage(config)
    await ours.initialize()
    await bare.open()
    try:
        record = make_record("sl", messages)
        doc, docs = session_documents(record)
        our_samples: list[float] = []
        bare_samples: list[float] = []
        for i in range(repeat + 2):  # the first two rounds warm caches and connections
            sid = f"sl-{i}"
            rec = record.model_copy(update={"session_id": sid})

            async def ours_once(rec: SessionRecord = rec, sid: str = sid) -> None:
                await ours.save_session(rec)
                loaded = await ours.load_session(sid)
                assert loaded is not None and len(loaded.conversation.messages) == messages

            async def bare_once(sid: str = sid) -> None:
                await bare.save(sid, {**doc, "session_id": sid}, docs)
                await bare.load(sid)

            # alternate which goes first, so drifts of the machine hit both alike
            first, second = (ours_once, bare_once) if i % 2 == 0 else (bare_once, ours_once)
            a, b = await timed(first), await timed(second)
            our_time, bare_time = (a, b) if i % 2 == 0 else (b, a)
            if i >= 2:
                our_samples.append(our_time)
                bare_samples.append(bare_time)

        pairs = turns(turn_count)
        pair_docs = [message_documents(p) for p in pairs]
        stamps = [(T0 + timedelta(seconds=i)) for i in range(turn_count)]
        stamp_text = [s.isoformat() for s in stamps]
        await ours.save_session(make_record("ap-ours", 0))
        await bare.save("ap-bare", doc, [])

        # Alternate blocks of turns between the two, so a drift of the machine hits both alike.
        block = max(1, min(250, turn_count // 8))
        our_append = bare_append = 0.0
        for index, start in enumerate(range(0, turn_count, block)):
            stop = min(start + block, turn_count)

            async def ours_block(start: int = start, stop: int = stop) -> None:
                for i in range(start, stop):
                    await ours.append_messages("ap-ours", pairs[i], last_active=stamps[i])

            async def bare_block(start: int = start, stop: int = stop) -> None:
                for i in range(start, stop):
                    await bare.append("ap-bare", pair_docs[i], stamp_text[i])

            if index % 2 == 0:
                our_append += await timed(ours_block)
                bare_append += await timed(bare_block)
            else:
                bare_append += await timed(bare_block)
                our_append += await timed(ours_block)
        loaded = await ours.load_session("ap-ours")
        assert loaded is not None and len(loaded.conversation.messages) == 2 * turn_count, name
        return {
            "save_load_ours": statistics.median(our_samples),
            "save_load_bare": statistics.median(bare_samples),
            "append_ours": our_append,
            "append_bare": bare_append,
        }
    finally:
        await ours.close()
        await bare.close()


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:5.2f}{'' if ratio <= TARGET else ' !'}"


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset of backends")
    parser.add_argument(
        "--turns", type=int, default=10_000, help="appended turns per backend (default 10000)"
    )
    parser.add_argument(
        "--mongodb-turns",
        type=int,
        default=2_000,
        help="appended turns for mongodb (default 2000: SecantusDB, the Python test server, slows down "
        "as its collections grow, for ours and the bare driver alike; 10000 takes about 8 minutes)",
    )
    parser.add_argument("--messages", type=int, default=100, help="messages of the saved conversation")
    parser.add_argument("--repeat", type=int, default=15, help="save+load rounds (median is reported)")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose from {BACKENDS}")

    from tests.storage.servers import (
        MongoServer,
        PostgresServer,
        RedisServer,
        ServerHandle,
        ServerUnavailable,
    )

    servers: dict[str, ServerHandle] = {}
    results: dict[str, dict[str, float] | str] = {}
    turn_counts: dict[str, int] = {}
    workdir = Path(tempfile.mkdtemp(prefix="luminora-bench-"))
    started = time.perf_counter()
    try:
        for name in chosen:
            unique = uuid.uuid4().hex[:8]
            table = f"bench_{unique}"
            bare: Bare
            try:
                if name == "memory":
                    config, bare = StorageConfig(storage_type="memory"), BareMemory()
                elif name == "file":
                    config = StorageConfig(storage_type="file", connection_string=str(workdir / "file-ours"))
                    bare = BareFile(workdir / "file-bare")
                elif name == "duckdb":
                    config = StorageConfig(
                        storage_type="duckdb",
                        connection_string=str(workdir / "ours.duckdb"),
                        table_name=table,
                    )
                    bare = BareDuckDB(workdir / "bare.duckdb")
                else:
                    server_class = {"redis": RedisServer, "postgres": PostgresServer, "mongodb": MongoServer}[
                        name
                    ]
                    server = server_class()
                    servers[name] = server
                    server.start()
                    config = StorageConfig(
                        storage_type=name, connection_string=server.url, table_name=table, key_prefix=table
                    )
                    if name == "redis":
                        bare = BareRedis(server.url, f"{table}bare")
                    elif name == "postgres":
                        # the bare run uses tables of the same shape, created by our backend
                        shape = create_storage(config.model_copy(update={"table_name": f"{table}_bare"}))
                        await shape.initialize()
                        await shape.close()
                        bare = BarePostgres(server.url, f"{table}_bare")
                    else:
                        shape = create_storage(config.model_copy(update={"table_name": f"{table}_bare"}))
                        await shape.initialize()
                        await shape.close()
                        bare = BareMongo(server.url, f"{table}_bare")
            except (ServerUnavailable, NotImplementedError, ImportError) as exc:
                results[name] = f"skipped: {exc}"
                print(f"{name:8} skipped: {exc}", flush=True)
                continue
            turn_counts[name] = args.mongodb_turns if name == "mongodb" else args.turns
            print(f"{name:8} measuring ({turn_counts[name]} appended turns) ...", flush=True)
            results[name] = await measure(
                name, config, bare, messages=args.messages, turn_count=turn_counts[name], repeat=args.repeat
            )
    finally:
        for server in servers.values():
            with contextlib.suppress(Exception):
                server.close()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"storage benchmark: save+load of a {args.messages}-message conversation (median of {args.repeat}) "
        f"and appended turns (one user + one assistant message per call); ratio = ours / bare driver "
        f"(target <= {TARGET})"
    )
    header = (
        f"{'backend':8} | {'save+load ms':>12} {'bare ms':>9} {'ratio':>7} | "
        f"{'turns':>6} {'append us/turn':>14} {'bare us':>9} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    misses = 0
    for name in chosen:
        row = results.get(name)
        if not isinstance(row, dict):
            print(f"{name:8} | {row}")
            continue
        sl = row["save_load_ours"] / row["save_load_bare"]
        ap = row["append_ours"] / row["append_bare"]
        misses += (sl > TARGET) + (ap > TARGET)
        save_load = (
            f"{row['save_load_ours'] * 1e3:12.2f} {row['save_load_bare'] * 1e3:9.2f} {fmt_ratio(sl):>7}"
        )
        count = turn_counts[name]
        append = (
            f"{count:6d} {row['append_ours'] / count * 1e6:14.1f} {row['append_bare'] / count * 1e6:9.1f} "
            f"{fmt_ratio(ap):>7}"
        )
        print(f"{name:8} | {save_load} | {append}")
    print(
        f"('!' marks a ratio above the target; {misses} of them. Total {time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
