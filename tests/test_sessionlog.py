"""SessionLog: every session, turn and event in a DuckDB file; safe under failures and two writers.

Real DuckDB files in ``tmp_path``, real clients with the offline provider, real second
processes (``sys.executable -c``) holding the file's lock or writing to it at the same
time. Read-only files and directories are made with ``chmod``, and, when the tests run
as root (who ignores permission bits), with ``chattr +i`` as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.errors import LuminoraError, ProviderError
from luminora_nb.events import (
    AffinityChanged,
    EpisodeCreated,
    FactLearned,
    MoodChanged,
    SessionCreated,
    SessionExpired,
    TurnCompleted,
    TurnFailed,
)
from luminora_nb.sessionlog import (
    SCHEMA_VERSION,
    SessionLog,
    SessionLogError,
    SessionLogWarning,
)
from tests.conftest import stamp_schema_version

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SECRET = "sk-SECRET-abc123"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def make_log(tmp_path: Path) -> Iterator[Callable[..., SessionLog]]:
    """SessionLogs closed at teardown (no flusher thread outlives its test)."""
    logs: list[SessionLog] = []

    def make(path: Path | None = None, **kwargs: Any) -> SessionLog:
        kwargs.setdefault("flush_interval", 3600.0)  # tests flush explicitly unless they say so
        log = SessionLog(path or tmp_path / "log.duckdb", **kwargs)
        logs.append(log)
        return log

    yield make
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SessionLogWarning)
        for log in logs:
            log.close()


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or directory unwritable, for root too (``chattr +i``); restore after."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.geteuid() == 0:
            chattr = shutil.which("chattr")
            done = chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0
            if not done:
                pytest.skip("running as root without a working chattr: cannot make a file read-only")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def turn(i: int, *, session_id: str = "s1", **fields: Any) -> TurnCompleted:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "session_id": session_id,
        "personality_name": "aurora",
        "provider": "offline",
        "model": "luminora-sim-1",
        "user_message": f"question {i}",
        "user_timestamp": now - timedelta(milliseconds=1),
        "reply": f"answer {i}",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "latency_ms": 1.0,
        "turn_index": i,
        **fields,
    }
    return TurnCompleted(**values)


class LockHolder:
    """A second process holding the file's DuckDB lock until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        code = textwrap.dedent(
            f"""
            import sys, duckdb
            con = duckdb.connect({str(path)!r})
            print("locked", flush=True)
            sys.stdin.readline()
            con.close()
            print("released", flush=True)
            """
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()


@contextlib.contextmanager
def no_log_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SessionLogWarning)
        yield


async def chat(log: SessionLog, turns: int = 2) -> str:
    async with LuminoraCoreClient(session_log=log) as client:
        sid = await client.create_session("aurora", ProviderConfig(name="offline"))
        for i in range(turns):
            await client.send_message(sid, f"Hello number {i}!")
    return sid


# --------------------------------------------------------------------------- a session, end to end


async def test_every_turn_and_event_of_a_scripted_session_is_logged(
    make_log: Callable[..., SessionLog],
) -> None:
    log = make_log()
    async with LuminoraCoreClient(session_log=log) as client:
        assert log.attached == 1
        await client.blend_personalities(["aurora", "vex"], [7, 3], "av")
        sid = await client.create_session("av", ProviderConfig(name="offline"), user_id="ana")
        replies = [
            (await client.send_message(sid, f"Tell me something, part {i}.")).content for i in range(3)
        ]
        chunks = [c async for c in client.stream_message(sid, "And now stream it.")]
        streamed_reply = "".join(c.content for c in chunks)

        slow = await client.create_session(
            "aurora", ProviderConfig(name="offline", extra={"chunk_delay": 0.01}), user_id="ana"
        )
        last = None
        async for chunk in client.stream_message(slow, "Tell me a long story about volcanoes."):
            if not chunk.finish_reason:
                client.stop_stream(slow)
            last = chunk
        assert last is not None and last.finish_reason == "stopped"

        with pytest.raises(ProviderError):
            await client.send_message(sid, "This one fails.", temperature=5)
        # v1.1 events come from the memory pipeline; published here on the same bus
        for event in (
            FactLearned(
                session_id=sid, user_id="ana", category="personal", key="name", value="Ana", confidence=0.9
            ),
            EpisodeCreated(
                session_id=sid,
                user_id="ana",
                episode_type="milestone",
                title="First chat",
                importance=0.7,
                sentiment="positive",
            ),
            AffinityChanged(
                session_id=sid,
                user_id="ana",
                personality_name="av",
                points_delta=2,
                affinity_points=2,
                current_level="stranger",
                interaction_type="positive",
            ),
            MoodChanged(session_id=sid, user_id="ana", previous_mood="neutral", current_mood="happy"),
            SessionExpired(session_id="sess_old"),
        ):
            await client.events.publish(event)
        assert await client.delete_session(sid)
    # cleanup() flushed the log (the client did not own it: it is still open)

    sessions = log.sessions()
    assert sessions["session_id"].tolist() == [sid, slow]
    av = sessions.iloc[0]
    assert av["personality"] == "av" and av["user_id"] == "ana" and av["provider"] == "offline"
    assert av["blend_sources"] == ["aurora", "vex"]
    assert json.loads(av["blend_weights"]) == pytest.approx({"aurora": 0.7, "vex": 0.3})
    assert av["blend_type"] == "weighted_average" and not av["resumed"]
    assert sessions.iloc[1]["blend_sources"] is None
    assert str(sessions["created_at"].dtype) == "datetime64[us, UTC]"
    assert set(sessions["pid"]) == {os.getpid()} and set(sessions["host"]) == {log.host}

    messages = log.messages(sid)
    assert messages["role"].tolist() == ["user", "assistant"] * 4
    assert messages["turn_index"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assistant = messages[messages["role"] == "assistant"]
    assert assistant["content"].tolist() == [*replies, streamed_reply]
    assert assistant["streamed"].tolist() == [False, False, False, True]
    assert assistant["finish_reason"].tolist() == ["stop"] * 4
    assert (assistant["total_tokens"] > 0).all() and (assistant["latency_ms"] >= 0).all()
    user = messages[messages["role"] == "user"]
    assert user["content"].tolist()[-1] == "And now stream it."
    assert user["total_tokens"].isna().all() and user["finish_reason"].isna().all()
    assert (user["ts"].to_numpy() <= assistant["ts"].to_numpy()).all()
    stopped = log.messages(slow)
    assert stopped["role"].tolist() == ["user", "assistant"]
    assert stopped.iloc[1]["finish_reason"] == "stopped" and stopped.iloc[1]["streamed"]
    assert len(log.messages(personality="av")) == 8

    events = log.events()
    counts = events["type"].value_counts().to_dict()
    assert counts == {
        "blend_created": 1,
        "session_created": 2,
        "turn_started": 6,
        "turn_completed": 5,
        "turn_failed": 1,
        "fact_learned": 1,
        "episode_created": 1,
        "affinity_changed": 1,
        "mood_changed": 1,
        "session_expired": 1,
        "session_deleted": 1,
    }
    assert events["type"].iloc[0] == "blend_created" and events["type"].iloc[-1] == "session_deleted"
    failed = json.loads(log.events("turn_failed")["payload"].iloc[0])
    assert failed["stage"] == "provider" and "temperature" in failed["message"]
    assert len(log.events(session_id=slow)) == 3  # created, started, completed

    blends = log.blends()
    assert blends["name"].tolist() == ["av"]
    assert blends.iloc[0]["sources"] == ["aurora", "vex"]
    assert json.loads(blends.iloc[0]["weights"]) == pytest.approx({"aurora": 0.7, "vex": 0.3})


async def test_turn_payload_is_the_events_record(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    event = turn(
        4, user_id="u1", affinity_points=12, relationship_level="friend", mood="happy", streamed=True
    )
    log.record(event)
    log.flush()
    payload = json.loads(log.events("turn_completed")["payload"].iloc[0])
    expected = event.to_record()
    for key in ("timestamp", "user_timestamp"):
        assert datetime.fromisoformat(payload.pop(key)) == datetime.fromisoformat(expected.pop(key))
    assert payload == expected


async def test_a_client_given_a_path_owns_and_closes_its_log(tmp_path: Path) -> None:
    path = tmp_path / "owned.duckdb"
    async with LuminoraCoreClient(session_log=path) as client:
        sid = await client.create_session("aurora")
        await client.send_message(sid, "Hi!")
        log = client.session_log
        assert log is not None
    assert log._thread is None  # closed: flusher stopped
    assert query(path, "SELECT count(*) FROM messages") == [(2,)]


async def test_several_clients_share_one_log(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    clients = [LuminoraCoreClient(session_log=log) for _ in range(3)]
    assert log.attached == 3
    assert "attached=3" in repr(log)
    for client in clients:
        sid = await client.create_session("vex")
        await client.send_message(sid, "Hi!")
        await client.cleanup()
    assert len(log.messages()) == 6 and log.sessions()["session_id"].nunique() == 3
    log.detach()
    assert log.attached == 0


# --------------------------------------------------------------------------- the writer


def test_background_flusher_writes_without_explicit_flush(make_log: Callable[..., SessionLog]) -> None:
    log = make_log(flush_interval=0.05)
    for i in range(50):
        log.record(turn(i))
    deadline = time.monotonic() + 20
    while log.written < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.written == 50 and log.buffered == 0
    assert log._thread is not None and log._thread.daemon
    log.close()
    log.close()  # twice is safe
    assert log._thread is None
    log.record(turn(50))  # a closed log keeps working: the flusher restarts
    log.close()
    assert query(log.path, "SELECT count(*) FROM messages") == [(102,)]


@pytest.mark.integration  # other processes
def test_atexit_flushes_a_log_never_closed(tmp_path: Path) -> None:
    path = tmp_path / "exit.duckdb"
    code = textwrap.dedent(
        f"""
        from luminora_nb.events import TurnCompleted
        from luminora_nb.sessionlog import SessionLog
        log = SessionLog({str(path)!r}, flush_interval=3600)
        for i in range(25):
            log.record(TurnCompleted(personality_name="p", provider="offline", user_message="q", reply="a",
                                     turn_index=i))
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV, timeout=120)
    assert query(path, "SELECT count(*) FROM messages") == [(50,)]


def test_record_is_cheap_and_never_raises(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record("not an event")  # type: ignore[arg-type]
    log.record(None)  # type: ignore[arg-type]
    log.record(turn(0))
    assert log.buffered == 3
    with no_log_warnings():
        log.flush()
    assert log.buffered == 0 and len(log.messages()) == 2


def test_unusual_values_are_stored_not_fatal(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record(turn(0, reply="half a pair \ud83d here", user_message="\ud800 lone"))
    log.record(turn(1, usage={"prompt_tokens": 4, "cached_tokens": 2}, latency_ms=math.nan))
    log.record(
        FactLearned(
            user_id="u", category="c", key="k", value={"password": "hunter2", "x": math.inf}, confidence=0.5
        )
    )
    log.record(
        SessionCreated(session_id="s9", personality_name="p", provider="https://u:pw@proxy.example/v1")
    )
    with no_log_warnings():
        log.flush()
    messages = log.messages()
    keys = zip(messages["turn_index"], messages["role"], strict=True)
    content = dict(zip(keys, messages["content"], strict=True))
    assert content[0, "user"] == "? lone" and content[0, "assistant"] == "half a pair ? here"
    payloads = [json.loads(p) for p in log.events()["payload"]]
    assert payloads[1]["usage"] == {"prompt_tokens": 4, "cached_tokens": 2}
    assert payloads[1]["latency_ms"] is None
    assert payloads[2]["value"] == {"x": None}  # the credential-named key is gone
    assert payloads[3]["provider"] == "https://proxy.example/v1"
    assert log.sessions()["provider"].tolist() == ["https://proxy.example/v1"]


def test_pandas_frames_when_pyarrow_is_missing(make_log: Callable[..., SessionLog], tmp_path: Path) -> None:
    results = []
    for engine in ("arrow", "pandas"):
        log = make_log(tmp_path / f"{engine}.duckdb", host="h")
        log._engine = engine
        log.record(
            SessionCreated(
                session_id="s1",
                personality_name="av",
                provider="offline",
                blend={
                    "sources": ["aurora", "vex"],
                    "weights": {"aurora": 1.0},
                    "blend_type": "weighted_average",
                },
            )
        )
        log.record(turn(0))
        log.record(turn(1, usage={}, finish_reason=None))
        with no_log_warnings():
            log.flush()
        results.append(
            (
                log.sessions().drop(columns=["created_at"]).to_dict("records"),
                log.messages().drop(columns=["ts"]).astype(str).to_dict("records"),
            )
        )
    assert results[0] == results[1]


def test_a_connection_held_in_this_process_is_shared_not_fatal(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    held = duckdb.connect(str(log.path))  # e.g. a DuckDB storage on the same file, in this kernel
    try:
        log.record(turn(0))
        with no_log_warnings():
            log.flush()
            assert len(log.messages()) == 2  # read-only is refused in-process: read through it
    finally:
        held.close()
    assert len(log.messages()) == 2


# --------------------------------------------------------------------------- two processes

WRITER = textwrap.dedent(
    """
    import sys, time, warnings
    from luminora_nb.events import TurnCompleted
    from luminora_nb.sessionlog import SessionLog
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    warnings.simplefilter("error")
    log = SessionLog(path, flush_interval=0.02, host=tag)
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    events = [
        TurnCompleted(session_id=f"{tag}-{i % 7}", personality_name="aurora", provider="offline",
                      user_message=f"{tag} asks {i}", reply=f"{tag} answer {i}", usage=usage, turn_index=i)
        for i in range(n)
    ]
    print("ready", flush=True)
    sys.stdin.readline()
    for start in range(0, n, 100):
        for event in events[start:start + 100]:
            log.record(event)
        time.sleep(0.004)
    log.close()
    assert log.buffered == 0 and log.last_error is None, log.last_error
    print("done", log.written, log.lock_retries, flush=True)
    """
)


@pytest.mark.integration  # other processes
def test_two_processes_logging_to_one_file_lose_nothing(tmp_path: Path) -> None:
    path, n = tmp_path / "shared.duckdb", 5000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), tag, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for tag in ("kernelA", "kernelB")
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # start both at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    retries = 0
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        done, written, waits = out.split()
        assert (done, written) == ("done", str(n))
        retries += int(waits)
    print(f"lock retries of the two writers: {retries}")
    assert query(path, "SELECT host, count(*) FROM messages GROUP BY host ORDER BY host") == [
        ("kernelA", 2 * n),
        ("kernelB", 2 * n),
    ]
    assert query(path, "SELECT count(DISTINCT (host, session_id, turn_index, role)) FROM messages") == [
        (4 * n,)
    ]
    assert query(path, "SELECT count(*) FROM events") == [(2 * n,)]
    assert query(path, "SELECT count(DISTINCT pid) FROM events") == [(2,)]


# --------------------------------------------------------------------------- failures


async def test_read_only_file_warns_once_and_keeps_the_rows(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record(turn(0))
    log.flush()
    with read_only(log.path):
        with pytest.warns(SessionLogWarning, match="writing failed") as caught:
            await chat(log, turns=3)  # the turns succeed; cleanup's flush warns
        assert len([w for w in caught if w.category is SessionLogWarning]) == 1
        assert log.buffered > 0
        kept = log.buffered
        with no_log_warnings():  # once per kind of failure, not per flush
            log.flush()
            assert len(log.messages()) == 2  # readers still read the file (read-only)
        assert log.buffered == kept and log.last_error is not None
    with no_log_warnings():
        log.flush()
    assert log.buffered == 0 and log.last_error is None
    assert len(log.messages()) == 2 + 6


async def test_read_only_directory_warns_and_recovers(
    tmp_path: Path, make_log: Callable[..., SessionLog]
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    log = make_log(folder / "log.duckdb")
    with read_only(folder):
        with pytest.warns(SessionLogWarning, match="writable"):
            await chat(log, turns=2)
        assert not log.path.exists() and log.buffered == 5  # session created + 2 x (turn started, completed)
        assert len(log.messages()) == 0  # no file yet: an empty frame
    with no_log_warnings():
        log.flush()
    assert len(log.messages()) == 4


@pytest.mark.integration  # other processes
def test_flush_waits_for_a_lock_held_by_another_process(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    holder = LockHolder(log.path)
    releaser = threading.Timer(0.5, holder.release)
    releaser.start()
    try:
        log.record(turn(0))
        with no_log_warnings():
            log.flush()  # retries with backoff until the holder lets go
        assert log.lock_retries > 0  # the first attempts met the other process's lock
    finally:
        releaser.join()
    # The holder printed "released" and exited cleanly (release() waits for both; the flush
    # can win the lock between the child's close and its exit, so this is checked after).
    assert holder.proc.returncode == 0
    assert log.buffered == 0 and len(log.messages()) == 2


@pytest.mark.integration  # other processes
async def test_lock_held_past_the_budget_warns_and_keeps_rows(make_log: Callable[..., SessionLog]) -> None:
    log = make_log(lock_timeout=0.2)
    holder = LockHolder(log.path)
    try:
        with pytest.warns(SessionLogWarning, match="held by another process"):
            await chat(log, turns=2)
        kept = log.buffered
        assert kept == 5
        with no_log_warnings():
            log.flush()  # still locked: no second warning
        assert log.buffered == kept
        with pytest.raises(SessionLogError, match="held by another process"):
            log.messages()
    finally:
        holder.release()
    with no_log_warnings():
        log.flush()
    assert log.buffered == 0 and len(log.messages()) == 4


def test_buffer_is_bounded_while_writes_fail(make_log: Callable[..., SessionLog]) -> None:
    log = make_log(max_buffered=5)
    log.record(turn(0))
    log.flush()
    stamp_schema_version(log.path, 99)
    for i in range(1, 9):
        log.record(turn(i))
    with pytest.warns(SessionLogWarning) as caught:
        log.flush()
    messages = sorted(str(w.message) for w in caught)
    assert any("newer" in m for m in messages) and any("oldest are being dropped" in m for m in messages)
    assert log.buffered == 5
    # once the file is writable again, the newest five are what gets written
    stamp_schema_version(log.path, SCHEMA_VERSION)
    log.flush()
    assert log.buffered == 0
    written = sorted(set(log.messages()["turn_index"]))
    assert written == [0, 4, 5, 6, 7, 8]


# --------------------------------------------------------------------------- construction


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SessionLogError, match=r"does not exist; create it or pass log=None") as info:
        SessionLog(tmp_path / "nope" / "log.duckdb")
    assert isinstance(info.value, LuminoraError)
    assert str(tmp_path / "nope") in str(info.value)


def test_unwritable_directory_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder), pytest.raises(SessionLogError, match="not writable"):
        SessionLog(folder / "log.duckdb")
    with pytest.raises(SessionLogError, match="is a directory"):
        SessionLog(tmp_path)
    with pytest.raises(SessionLogError, match="file path"):
        SessionLog(":memory:")
    with pytest.raises(SessionLogError, match="flush_interval"):
        SessionLog(tmp_path / "x.duckdb", flush_interval=0)
    with pytest.raises(SessionLogError, match="max_buffered"):
        SessionLog(tmp_path / "x.duckdb", max_buffered=0)
    assert not (tmp_path / "x.duckdb").exists()  # construction creates nothing


# --------------------------------------------------------------------------- secrets


async def test_secrets_never_reach_the_file(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    config = ProviderConfig(name="offline", api_key=SECRET, extra={"api_key": SECRET, "temperature": 0.5})
    async with LuminoraCoreClient(session_log=log) as client:
        sid = await client.create_session("aurora", config, user_id="ana")
        await client.send_message(sid, "Hello there, marker-PLAIN-42.")
        with pytest.raises(ProviderError):  # the provider's error quotes the bad value: the secret
            await client.send_message(sid, "Again.", temperature=SECRET)
        await client.events.publish(
            TurnFailed(
                session_id=sid,
                provider=f"https://user:{SECRET}@proxy.example/v1?api_key={SECRET}",
                error_type="ProviderAuthenticationError",
                message=f"401 from https://user:{SECRET}@proxy.example/v1?key={SECRET} "
                f"(Authorization: Bearer {SECRET}, api_key={SECRET})",
            )
        )
    failures = log.events("turn_failed")["payload"].map(json.loads).tolist()
    log.close()
    assert len(failures) == 2 and "temperature" in failures[0]["message"]
    assert failures[1]["provider"] == "https://proxy.example/v1"

    # every text column of every table, decoded by DuckDB (the file compresses strings)
    tables = query(
        log.path,
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]')",
    )
    assert len(tables) > 20
    for table, column in tables:
        [(hits,)] = query(
            log.path, f"SELECT count(*) FROM {table} WHERE CAST({column} AS VARCHAR) LIKE '%SECRET-abc123%'"
        )
        assert hits == 0, (table, column)
    assert query(log.path, "SELECT count(*) FROM messages WHERE content LIKE '%marker-PLAIN-42%'") == [(1,)]
    # and the raw bytes on disk
    for file in (log.path, log.path.with_name(log.path.name + ".wal")):
        if file.exists():
            data = file.read_bytes()
            assert SECRET.encode() not in data and b"SECRET-abc123" not in data


# --------------------------------------------------------------------------- schema versions

V1_LAYOUT = (
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE sessions (session_id VARCHAR, personality VARCHAR, blend_sources VARCHAR[], "
    "blend_weights JSON, blend_type VARCHAR, provider VARCHAR, model VARCHAR, user_id VARCHAR, "
    "created_at TIMESTAMPTZ, resumed BOOLEAN)",
    "CREATE TABLE messages (session_id VARCHAR, turn_index BIGINT, role VARCHAR, content VARCHAR, "
    "ts TIMESTAMPTZ, prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT, "
    "latency_ms DOUBLE, finish_reason VARCHAR, streamed BOOLEAN, personality VARCHAR, "
    "provider VARCHAR, model VARCHAR, user_id VARCHAR)",
    "CREATE TABLE events (ts TIMESTAMPTZ, type VARCHAR, session_id VARCHAR, payload JSON)",
    "INSERT INTO meta VALUES ('schema_version', '1')",
    "INSERT INTO messages (session_id, turn_index, role, content, ts) VALUES "
    "('old', 0, 'user', 'hi from version 1', TIMESTAMPTZ '2024-01-01 10:00:00+00')",
    "INSERT INTO events VALUES (TIMESTAMPTZ '2024-01-01 10:00:00+00', 'turn_started', 'old', '{}')",
)


def write_v1(path: Path) -> None:
    con = duckdb.connect(str(path))
    for statement in V1_LAYOUT:
        con.execute(statement)
    con.close()


def test_a_version_1_file_is_migrated_at_the_first_flush(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    write_v1(log.path)
    log.record(turn(0, session_id="new"))
    log.record_rating(blend="av", prompt="Hi", rating=1)
    assert query(log.path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    columns = [
        c
        for (c,) in query(log.path, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'messages'")
    ]
    assert columns[-2:] == ["host", "pid"]
    rows = query(log.path, "SELECT session_id, role, host FROM messages ORDER BY ts, role DESC")
    assert rows[0] == ("old", "user", None)  # old rows kept as they were
    assert [r[0] for r in rows[1:]] == ["new", "new"] and rows[1][2] == log.host
    assert len(log.blends()) == 0 and len(log.ratings()) == 1
    assert log.messages()["content"].iloc[0] == "hi from version 1"


def test_readers_migrate_an_old_file_before_reading(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    write_v1(log.path)
    assert log.messages()["content"].tolist() == ["hi from version 1"]
    assert log.events()["host"].isna().all()
    assert query(log.path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_a_file_without_a_log_gets_one_beside_its_tables(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    con = duckdb.connect(str(log.path))  # version 0: e.g. the DuckDB storage's file
    con.execute("CREATE TABLE luminora_sessions (id VARCHAR, doc BLOB)")
    con.execute("INSERT INTO luminora_sessions VALUES ('x', 'abc')")
    con.close()
    assert len(log.messages()) == 0
    log.record(turn(0))
    with no_log_warnings():
        log.flush()
    assert len(log.messages()) == 2
    assert query(log.path, "SELECT id FROM luminora_sessions") == [("x",)]


def test_a_foreign_table_of_the_same_name_is_never_overwritten(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    con = duckdb.connect(str(log.path))
    con.execute("CREATE TABLE sessions (anything INTEGER)")
    con.close()
    log.record(turn(0))
    with pytest.warns(SessionLogWarning, match="not written by luminora_nb"):
        log.flush()
    assert log.buffered == 1
    assert query(log.path, "SELECT table_name FROM duckdb_tables() ORDER BY 1") == [("sessions",)]


def test_a_newer_schema_is_refused_not_corrupted(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record(turn(0))
    log.flush()
    stamp_schema_version(log.path, 99)
    log.record(turn(1))
    with pytest.warns(SessionLogWarning, match="newer"):
        log.flush()
    assert log.buffered == 1
    assert query(log.path, "SELECT count(*) FROM messages") == [(2,)]
    assert query(log.path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("99",)]
    with pytest.raises(SessionLogError, match=r"schema version 99, newer"):
        log.messages()


# --------------------------------------------------------------------------- readers and ratings

COLUMNS = {
    "sessions": [
        "session_id",
        "personality",
        "blend_sources",
        "blend_weights",
        "blend_type",
        "provider",
        "model",
        "user_id",
        "created_at",
        "resumed",
        "host",
        "pid",
    ],
    "messages": [
        "session_id",
        "turn_index",
        "role",
        "content",
        "ts",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "latency_ms",
        "finish_reason",
        "streamed",
        "personality",
        "provider",
        "model",
        "user_id",
        "host",
        "pid",
    ],
    "events": ["ts", "type", "session_id", "payload", "host", "pid"],
    "blends": ["name", "sources", "weights", "blend_type", "ts", "host"],
    "ratings": ["ts", "run_id", "blend", "prompt", "repeat", "rating", "note", "session_id", "host"],
}


def test_readers_on_a_fresh_path_return_empty_frames_with_columns(
    make_log: Callable[..., SessionLog],
) -> None:
    log = make_log()
    for name, columns in COLUMNS.items():
        frame = getattr(log, name)()
        assert frame.empty and list(frame.columns) == columns, name
    assert str(log.messages()["ts"].dtype) == "datetime64[us, UTC]"
    assert log.sql("SELECT count(*) AS n FROM events")["n"].tolist() == [0]
    assert not log.path.exists()  # reading creates nothing


def test_ratings_keep_the_latest_per_key(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record_rating(blend="av", prompt="Hi", rating=1, run_id="r1")
    # in the file at once, without a flush or close
    assert query(log.path, "SELECT count(*) FROM events WHERE type = 'rating'") == [(1,)]
    log.record_rating(blend="av", prompt="Hi", rating=-1, run_id="r1", note="changed my mind")
    log.record_rating(blend="av", prompt="Hi", rating=0, run_id="r1", repeat=1)
    log.record_rating(blend="vex", prompt="Hi", rating=1, run_id="r2", session_id="s1")
    ratings = log.ratings()
    ratings = ratings.astype(object).where(ratings.notna(), None)
    assert ratings[["run_id", "blend", "repeat", "rating", "note"]].values.tolist() == [
        ["r1", "av", 0, -1, "changed my mind"],
        ["r1", "av", 1, 0, None],
        ["r2", "vex", 0, 1, None],
    ]
    assert log.ratings(run_id="r2")["session_id"].tolist() == ["s1"]
    assert len(log.events("rating")) == 4
    assert log.sql("SELECT count(*) AS n FROM ratings")["n"].tolist() == [4]
    for bad in ({"rating": 2}, {"rating": True}, {"rating": "1"}, {"blend": ""}, {"repeat": -1}):
        kwargs: dict[str, Any] = {"blend": "av", "prompt": "Hi", "rating": 1, **bad}
        with pytest.raises(SessionLogError):
            log.record_rating(**kwargs)
    assert log.buffered == 0


def test_repr_shows_path_buffer_and_attachment(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    log.record(turn(0))
    text = repr(log)
    assert str(log.path) in text and "buffered=1" in text and "attached=0" in text
    page = log._repr_html_()
    assert "SessionLog" in page and "<table>" in page and str(log.path) in page


async def test_filters_of_the_readers(make_log: Callable[..., SessionLog]) -> None:
    log = make_log()
    async with LuminoraCoreClient(session_log=log) as client:
        a = await client.create_session("aurora", user_id="ana")
        b = await client.create_session("vex", user_id="bo")
        await client.send_message(a, "Hi!")
        await client.send_message(b, "Hi!")
        await asyncio.sleep(0)
    assert log.sessions(user_id="bo")["session_id"].tolist() == [b]
    assert log.messages(personality="vex")["session_id"].unique().tolist() == [b]
    assert log.messages(a, personality="vex").empty
    assert log.events("turn_completed", a)["session_id"].tolist() == [a]
