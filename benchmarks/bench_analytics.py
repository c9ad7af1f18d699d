"""Analytics benchmark: the ``messages`` DataFrame and the Parquet export of 1,000,000 logged messages.

Run: ``.venv/bin/python benchmarks/bench_analytics.py [--messages 1000000] [--repeat 3]``
(about a minute, most of it building the log).

The log is a real session-log file (the schema of :mod:`luminora_nb.sessionlog`) holding
``--messages`` message rows (half user, half assistant, 200 sessions over 10 days, with
tokens, latency and contents of a realistic length), written once with one Arrow insert
outside the timings.

* **messages**: :func:`luminora_nb.analytics.messages` over the log file (open, read
  ordered by time, into pandas). Target <= 1 s. Baselines, same process, same file:
  plain DuckDB ``SELECT * FROM messages`` into pandas (no order, no lock, no checks)
  by DuckDB's ``df()`` and through Arrow, and ``SELECT count(*)``. Most of the gap to
  the Arrow baseline is the ``ORDER BY`` (a million rows with their text reordered).
* **messages (worst-case log)**: the same over a log whose rows are far from time
  order (all user rows, then all replies), so every row must be moved.
* **messages (Parquet)**: the same frame from the log's Parquet export folder.
* **export**: :meth:`SessionLog.export_parquet` of the log, partitioned by day and host.
  Target <= 2 s. Baseline: plain DuckDB ``COPY messages TO 'one.parquet'``
  (one unpartitioned file).

Medians of ``--repeat`` runs; these machines are noisy and shared: compare ratios,
not absolutes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
from _harness import median_s

from luminora_nb import analytics
from luminora_nb.sessionlog import SessionLog


def build_log(path: Path, count: int, *, in_time_order: bool = True) -> None:
    """A session-log file with ``count`` message rows (one Arrow insert).

    ``in_time_order``: each turn's user row, then its reply, turn after turn (with
    turns of concurrent sessions overlapping, as in a busy log); otherwise all user rows
    first, then all replies (the worst case for readers: every row must move).
    """
    with SessionLog(path, host="bench-1") as log:
        log.record_rating(blend="aurora", prompt="warm-up", rating=1)  # creates the file and schema
    turns = count // 2
    rng = np.random.default_rng(1)
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    turn_ts = start + np.sort(rng.uniform(0, 10 * 86400, turns))  # ten days
    user_ts = pa.array((turn_ts * 1e6).astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    reply_ts = pa.array(((turn_ts + 0.8) * 1e6).astype("int64"), pa.int64()).cast(
        pa.timestamp("us", tz="UTC")
    )
    session = np.arange(turns) % 200
    sessions = pa.array([f"sess_{i:04d}" for i in session])
    personas = pa.array(np.array(["aurora", "vex", "aurora70_vex30", "rook"])[session % 4])
    prompts = [f"Tell me something about topic {i % 997}, please." for i in range(turns)]
    replies = [
        f"Topic {i % 997} is a fine topic; here is what I know about it, briefly and kindly."
        for i in range(turns)
    ]
    ints, none = pa.int64(), pa.nulls(turns, pa.int64())
    prompt_tokens = pa.array(rng.integers(300, 900, turns), ints)
    completion_tokens = pa.array(rng.integers(20, 120, turns), ints)

    def both(user: pa.Array, reply: pa.Array) -> pa.ChunkedArray:
        return pa.chunked_array([user, reply])

    table = pa.table(
        {
            "session_id": both(sessions, sessions),
            "turn_index": both(
                pa.array(np.arange(turns) // 200, ints), pa.array(np.arange(turns) // 200, ints)
            ),
            "role": both(pa.array(["user"] * turns), pa.array(["assistant"] * turns)),
            "content": both(pa.array(prompts), pa.array(replies)),
            "ts": both(user_ts, reply_ts),
            "prompt_tokens": both(none, prompt_tokens),
            "completion_tokens": both(none, completion_tokens),
            "total_tokens": both(none, pa.compute.add(prompt_tokens, completion_tokens)),
            "latency_ms": both(pa.nulls(turns, pa.float64()), pa.array(rng.gamma(2.0, 40.0, turns))),
            "finish_reason": both(pa.nulls(turns, pa.string()), pa.array(["stop"] * turns)),
            "streamed": both(pa.array([False] * turns), pa.array([False] * turns)),
            "personality": both(personas, personas),
            "provider": both(pa.array(["offline"] * turns), pa.array(["offline"] * turns)),
            "model": both(pa.array(["luminora-sim-1"] * turns), pa.array(["luminora-sim-1"] * turns)),
            "user_id": both(pa.array(["bench"] * turns), pa.array(["bench"] * turns)),
            "host": both(pa.array(["bench-1"] * turns), pa.array(["bench-1"] * turns)),
            "pid": both(pa.array([1] * turns, pa.int32()), pa.array([1] * turns, pa.int32())),
        }
    )
    if in_time_order:  # interleave: user 0, reply 0, user 1, reply 1, ...
        order = np.arange(2 * turns).reshape(2, turns).T.reshape(-1)
        table = table.take(pa.array(order))
    con = duckdb.connect(str(path))
    con.register("rows", table)
    con.execute("INSERT INTO messages BY NAME SELECT * FROM rows")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "luminora.duckdb"
        print(f"building a log of {args.messages:,} messages ...", flush=True)
        build_log(path, args.messages)
        shuffled = folder / "shuffled.duckdb"
        build_log(shuffled, args.messages, in_time_order=False)
        log = SessionLog(path, host="bench-1", flush_interval=3600)
        exports = folder / "exports"

        def plain_select() -> object:
            with duckdb.connect(str(path), read_only=True) as con:
                return con.execute("SELECT * FROM messages").df()

        def plain_arrow() -> object:
            with duckdb.connect(str(path), read_only=True) as con:
                return con.sql("SELECT * FROM messages").to_arrow_table().to_pandas()

        def plain_count() -> object:
            with duckdb.connect(str(path), read_only=True) as con:
                return con.execute("SELECT count(*) FROM messages").fetchall()

        def plain_copy() -> object:
            with duckdb.connect(str(path), read_only=True) as con:
                target = str(folder / "plain.parquet")
                return con.execute(f"COPY messages TO '{target}' (FORMAT parquet)").fetchall()

        def timed(work: Callable[[], object], before: Callable[[], object] | None = None) -> float:
            # no warm-up per figure: each run reads the whole log, and the one warm-up
            # below already loads the imports and the file cache
            return median_s(work, args.repeat, warm_up=False, before=before)

        rows = len(analytics.messages(log))  # warm-up (imports, file cache) and a check
        assert rows == args.messages, f"the log holds {rows} messages, not {args.messages}"
        select = timed(plain_select)
        count = timed(plain_count)
        arrow = timed(plain_arrow)
        frame = timed(lambda: analytics.messages(log))
        worst = timed(lambda: analytics.messages(shuffled))
        copy = timed(plain_copy)
        export = timed(lambda: log.export_parquet(exports), before=lambda: shutil.rmtree(exports, True))
        from_parquet = timed(lambda: analytics.messages(exports))
        assert len(analytics.messages(exports)) == args.messages
        log.close()

    def line(label: str, seconds: float, target: float | None, baseline: float, base_label: str) -> None:
        verdict = (
            "" if target is None else f"target <= {target:.0f} s: {'ok' if seconds <= target else 'MISSED'}"
        )
        print(
            f"{label:<34} {seconds * 1000:>8,.0f} ms  {seconds / baseline:6.2f}x {base_label:<28} {verdict}"
        )

    n = f"{args.messages:,}"
    print(
        f"baselines over {n} messages, plain DuckDB: SELECT * .df() {select * 1000:,.0f} ms, SELECT * via "
        f"Arrow {arrow * 1000:,.0f} ms, count(*) {count * 1000:,.0f} ms, COPY to one Parquet file "
        f"{copy * 1000:,.0f} ms"
    )
    line("analytics.messages(log)", frame, 1.0, select, "the plain SELECT * .df()")
    line("analytics.messages(log)", frame, 1.0, arrow, "the plain SELECT * via Arrow")
    line("analytics.messages(worst-case log)", worst, 1.0, arrow, "the plain SELECT * via Arrow")
    line("analytics.messages(parquet folder)", from_parquet, None, arrow, "the plain SELECT * via Arrow")
    line("SessionLog.export_parquet", export, 2.0, copy, "the plain COPY")
    print(f"(count(*) ratio of messages(log): {frame / count:,.0f}x; medians of {args.repeat} runs)")


if __name__ == "__main__":
    main()
