"""Session log benchmark: batch ingest into DuckDB, next to a bare DuckDB insert of the same rows.

Run: ``.venv/bin/python benchmarks/bench_sessionlog.py [--turns 100000]`` (about 10 s).

* **ingest**: ``--turns`` ``TurnCompleted`` events (default 100,000, i.e. 200,000 message
  rows) recorded with :meth:`SessionLog.record` and written with one :meth:`SessionLog.flush`
  into a fresh file: messages (2 rows per turn) and events (1 row per turn, payload JSON).
  Target: >= 100,000 message rows/s.
* **baseline**: the floor of any DuckDB logger: the same message rows and event rows
  (payloads already JSON text) prebuilt as Arrow tables outside the timing, inserted
  into a fresh file with one connection and one transaction, committed and closed.
  Printed next to the ingest, with the ratio ingest time / bare insert time (the rest
  is reading the event objects, building the columns and the payloads).
* **record()**: the cost of one call on the event loop (median of several runs), in
  microseconds. Target: <= 5 us.

Medians of ``--repeat`` runs; these machines are noisy: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from _harness import target_row

from luminora_nb.events import TurnCompleted
from luminora_nb.sessionlog import SessionLog
from luminora_nb.types._base import utcnow


def make_events(turns: int) -> list[TurnCompleted]:
    start = utcnow()
    return [
        TurnCompleted(
            session_id=f"sess_{i % 50}",
            personality_name="aurora",
            provider="offline",
            model="luminora-sim-1",
            user_id="bench",
            user_message=f"Tell me about topic number {i}, please.",
            user_timestamp=start + timedelta(milliseconds=2 * i),
            timestamp=start + timedelta(milliseconds=2 * i + 1),
            reply=f"Topic {i} is a fine topic; here is what I know about it, briefly and kindly.",
            finish_reason="stop",
            usage={"prompt_tokens": 40, "completion_tokens": 18, "total_tokens": 58},
            latency_ms=0.8,
            turn_index=i // 50,
        )
        for i in range(turns)
    ]


def ingest_seconds(events: list[TurnCompleted], folder: Path, run: int) -> float:
    log = SessionLog(folder / f"ingest{run}.duckdb", flush_interval=3600)
    start = time.perf_counter()
    for event in events:
        log.record(event)
    log.flush()
    elapsed = time.perf_counter() - start
    log.close()
    assert log.written == len(events), "the benchmark lost events"
    return elapsed


def bare_seconds(events: list[TurnCompleted], folder: Path, run: int) -> float:
    """The same rows, prebuilt as Arrow tables (payloads already JSON text), one plain insert."""
    n = len(events)
    ts_type = pa.timestamp("us", tz="UTC")
    ts = pa.array([e.timestamp for e in events], ts_type)
    ints = pa.int64()

    def usage(key: str) -> pa.Array:
        return pa.array([None] * n + [e.usage.get(key) for e in events], ints)

    messages = pa.table(
        {
            "session_id": pa.array([e.session_id for e in events] * 2),
            "turn_index": pa.array([e.turn_index for e in events] * 2, ints),
            "role": pa.array(["user"] * n + ["assistant"] * n),
            "content": pa.array([e.user_message for e in events] + [e.reply for e in events]),
            "ts": pa.concat_arrays([pa.array([e.user_timestamp for e in events], ts_type), ts]),
            "prompt_tokens": usage("prompt_tokens"),
            "completion_tokens": usage("completion_tokens"),
            "total_tokens": usage("total_tokens"),
            "latency_ms": pa.array([None] * n + [e.latency_ms for e in events], pa.float64()),
            "finish_reason": pa.array([None] * n + [e.finish_reason for e in events]),
            "streamed": pa.array([e.streamed for e in events] * 2),
            "personality": pa.array([e.personality_name for e in events] * 2),
            "provider": pa.array([e.provider for e in events] * 2),
            "model": pa.array([e.model for e in events] * 2),
            "user_id": pa.array([e.user_id for e in events] * 2),
            "host": pa.array(["bench"] * 2 * n),
            "pid": pa.array([1] * 2 * n, pa.int32()),
        }
    )
    event_rows = pa.table(
        {
            "ts": ts,
            "type": pa.array(["turn_completed"] * n),
            "session_id": pa.array([e.session_id for e in events]),
            "payload": pa.array([json.dumps(e.to_record()) for e in events]),
            "host": pa.array(["bench"] * n),
            "pid": pa.array([1] * n, pa.int32()),
        }
    )
    start = time.perf_counter()
    con = duckdb.connect(str(folder / f"bare{run}.duckdb"))
    con.execute(
        "CREATE TABLE messages (session_id VARCHAR, turn_index BIGINT, role VARCHAR, content VARCHAR, "
        "ts TIMESTAMPTZ, prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT, "
        "latency_ms DOUBLE, finish_reason VARCHAR, streamed BOOLEAN, personality VARCHAR, "
        "provider VARCHAR, model VARCHAR, user_id VARCHAR, host VARCHAR, pid INTEGER)"
    )
    con.execute(
        "CREATE TABLE events (ts TIMESTAMPTZ, type VARCHAR, session_id VARCHAR, payload JSON, "
        "host VARCHAR, pid INTEGER)"
    )
    con.execute("BEGIN TRANSACTION")
    con.register("m", messages)
    con.register("e", event_rows)
    con.execute("INSERT INTO messages BY NAME SELECT * FROM m")
    con.execute("INSERT INTO events BY NAME SELECT * FROM e")
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - start


def record_us(events: list[TurnCompleted], folder: Path) -> float:
    samples = []
    for run in range(5):
        log = SessionLog(folder / f"record{run}.duckdb", flush_interval=3600)
        log.record(events[0])  # starts the flusher thread: a one-off cost
        start = time.perf_counter()
        for event in events:
            log.record(event)
        samples.append((time.perf_counter() - start) / len(events) * 1e6)
        log._buffer.clear()  # nothing to write: only the call was measured
        log.close()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = make_events(args.turns)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ingest_seconds(events[:2000], folder, -1)  # warm up imports and caches
        ingest = statistics.median(ingest_seconds(events, folder, run) for run in range(args.repeat))
        bare = statistics.median(bare_seconds(events, folder, run) for run in range(args.repeat))
        per_record = record_us(events, folder)
    rows = 2 * args.turns
    print(
        f"baseline: bare DuckDB insert of the same {rows:,} message + {args.turns:,} event rows from "
        f"prebuilt Arrow tables: {bare * 1000:,.0f} ms ({rows / bare:,.0f} message rows/s)"
    )
    target_row("log ingest (record + flush)", rows / ingest, "msgs/s", 100_000, lower_is_better=False)
    target_row("record() per event (median)", per_record, "us", 5)
    print(
        f"ingest of {args.turns:,} turns: {ingest * 1000:,.0f} ms = {ingest / bare:.2f}x the bare insert "
        "(the rest: reading the events, building columns and payloads)"
    )


if __name__ == "__main__":
    main()
