"""analytics.export, SessionLog.export_parquet: Parquet partitioned by day and host, many logs in one folder.

Real logs written by real ``SessionLog`` objects (two "machines" are two logs with
different ``host`` names), exported into one folder and read back by DuckDB's own
``read_parquet``, by pandas and by :mod:`luminora_nb.analytics`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.analytics import events, export_parquet, messages, ratings, sessions, usage
from luminora_nb.events import TurnCompleted
from luminora_nb.sessionlog import ParquetExport, SessionLog, SessionLogError


def chat(log: SessionLog, persona: str, prompts: list[str]) -> str:
    async def run() -> str:
        async with LuminoraCoreClient(session_log=log) as client:
            sid = await client.create_session(persona, user_id=f"user-of-{log.host}")
            for text in prompts:
                await client.send_message(sid, text)
            return sid

    sid = asyncio.run(run())
    log.flush()
    return sid


def turn_on(day: datetime, i: int) -> TurnCompleted:
    return TurnCompleted(
        session_id="old",
        timestamp=day,
        user_timestamp=day - timedelta(seconds=1),
        personality_name="aurora",
        provider="offline",
        model="luminora-sim-1",
        user_message=f"q{i}",
        reply=f"a{i}",
        usage={"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        latency_ms=5.0,
        turn_index=i,
    )


def test_partitioned_by_day_and_host(tmp_path: Path) -> None:
    days = [datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 0, 30, tzinfo=UTC)]
    with SessionLog(tmp_path / "a.duckdb", host="lab-1") as log:
        for i, day in enumerate(days):
            log.record(turn_on(day, i))
        export = log.export_parquet(tmp_path / "shared")
    assert isinstance(export, ParquetExport)
    assert export.rows == {"sessions": 0, "messages": 4, "events": 2, "blends": 0}
    parts = sorted(str(p.relative_to(tmp_path / "shared").parent) for p in export.files)
    assert parts == [
        "events/day=2026-03-01/host=lab-1",
        "events/day=2026-03-02/host=lab-1",
        "messages/day=2026-03-01/host=lab-1",
        "messages/day=2026-03-02/host=lab-1",
    ]
    assert all(p.name == f"log-{export.log_id}_0.parquet" for p in export.files)
    # DuckDB reads the folder by itself, partitions included
    con = duckdb.connect()
    glob = str(tmp_path / "shared" / "messages" / "**" / "*.parquet")
    rows = con.execute(
        f"SELECT CAST(day AS VARCHAR), host, count(*), sum(prompt_tokens) FROM read_parquet('{glob}', "
        "hive_partitioning=true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    con.close()
    assert rows == [("2026-03-01", "lab-1", 2, 10), ("2026-03-02", "lab-1", 2, 10)]
    # ... and so does pandas (pyarrow)
    frame = pd.read_parquet(tmp_path / "shared" / "messages")
    assert len(frame) == 4 and set(frame["host"].astype(str)) == {"lab-1"}
    assert "lab-1" in export._repr_html_() and "messages rows" in export._repr_html_()


def test_many_machines_share_one_folder_and_reexport_is_idempotent(tmp_path: Path) -> None:
    shared = tmp_path / "bucket"
    first = SessionLog(tmp_path / "one.duckdb", host="lab-1")
    second = SessionLog(tmp_path / "two.duckdb", host="lab-2")
    try:
        sid1 = chat(first, "aurora", ["Hi from one", "Again"])
        sid2 = chat(second, "vex", ["Hi from two"])
        second.record_rating(blend="vex", prompt="Hi", rating=1)
        a = export_parquet(first, shared)
        b = export_parquet(second.path, shared)  # a log file path works too
        assert a.log_id != b.log_id
        assert sorted(sessions(shared)["session_id"]) == sorted([sid1, sid2])
        assert sorted(set(messages(shared)["host"])) == ["lab-1", "lab-2"]
        assert ratings(shared)["blend"].tolist() == ["vex"]
        combined = pd.concat([messages(first), messages(second)])
        assert len(messages(shared)) == len(combined) == 6
        # export again after more chat: the log's own files are rewritten, nothing doubles
        chat(first, "aurora", ["Third session"])
        again = export_parquet(first, shared)
        assert again.log_id == a.log_id
        assert len(messages(shared)) == 8 and len(sessions(shared)) == 3
        pd.testing.assert_frame_equal(
            usage(shared, by=["host", "blend"]),
            pd.concat(
                [usage(first, by=["host", "blend"]), usage(second, by=["host", "blend"])], ignore_index=True
            ),
        )
        assert len(events(shared)) == len(events(first)) + len(events(second))
    finally:
        first.close()
        second.close()


def test_export_errors(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with SessionLog(tmp_path / "log.duckdb") as log:
        log.record_rating(blend="b", prompt="p", rating=1)
        with pytest.raises(SessionLogError, match="is a file; pass a directory"):
            log.export_parquet(tmp_path / "file.txt")
    with pytest.raises(SessionLogError, match="no session log file at"):
        export_parquet(tmp_path / "missing.duckdb", tmp_path / "out")
    with pytest.raises(SessionLogError, match="takes a SessionLog or a log file path"):
        export_parquet(3, tmp_path / "out")  # type: ignore[arg-type]


def test_a_newer_log_is_refused_and_an_unwritten_one_exports_nothing(
    tmp_path: Path, newer_schema_log: Path
) -> None:
    with SessionLog(newer_schema_log) as log, pytest.raises(SessionLogError, match="newer"):
        log.export_parquet(tmp_path / "out")
    with SessionLog(tmp_path / "never.duckdb") as log:
        export = log.export_parquet(tmp_path / "out2")
    assert export.files == [] and set(export.rows.values()) == {0}


def test_per_partition_and_partition_by_writes_give_the_same_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few partitions are written one COPY each; many by one PARTITION_BY COPY: same files, same rows."""
    from luminora_nb.sessionlog import _export

    days = [datetime(2026, 3, d, 10, tzinfo=UTC) for d in (1, 1, 2, 5)]
    with SessionLog(tmp_path / "a.duckdb", host="lab 1/β") as log:  # a host name needing escapes
        for i, day in enumerate(days):
            log.record(turn_on(day, i))
        log.flush()
        con = duckdb.connect(str(log.path))
        con.execute("UPDATE messages SET host = NULL WHERE turn_index = 3")  # a row without a host
        con.close()
        separate = log.export_parquet(tmp_path / "separate")
        monkeypatch.setattr(_export, "_SEPARATE_COPIES", 0)
        together = log.export_parquet(tmp_path / "together")
    names = [sorted(str(p.relative_to(e.folder)) for p in e.files) for e in (separate, together)]
    assert names[0] == names[1] and len(names[0]) == 3 + 3  # events and messages: 3 day/host parts each
    assert "messages/day=2026-03-05/host=unknown/" in "\n".join(names[0])
    for reader, hosts in ((messages, ["lab 1/β", "unknown"]), (events, ["lab 1/β"])):
        first, second = reader(separate.folder), reader(together.folder)
        pd.testing.assert_frame_equal(first, second)
        assert sorted(set(first["host"])) == hosts
    assert len(messages(separate.folder)) == 8
