"""The same usage table from Dask on a ``distributed.LocalCluster`` as from pandas, over one export folder.

Two logs (two "machines") are exported into one folder; Dask reads the Parquet files
itself (``dask.dataframe.read_parquet``, hive partitions ``day`` and ``host``) and
computes tokens, turns, sessions and latency percentiles per provider / model / blend
on a real two-worker local cluster (worker processes: an ``integration`` test); the
result must equal :func:`luminora_nb.analytics.usage` over the same folder and over
the logs themselves. Nothing of luminora_nb runs on the workers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.analytics import USAGE_COLUMNS, export_parquet, messages, usage, usage_table
from luminora_nb.sessionlog import SessionLog

dd = pytest.importorskip(
    "dask.dataframe", reason='install the "analysis" extra: dask[dataframe], distributed'
)
distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.integration

KEYS = ["provider", "model", "blend"]


def log_sessions(log: SessionLog) -> None:
    async def run() -> None:
        async with LuminoraCoreClient(session_log=log) as client:
            blend = await client.blend_personalities(["aurora", "vex"], [0.6, 0.4])
            for persona, prompts in (
                ("aurora", ["Hi!", "Tell me about the sea.", "And about mountains?"]),
                (blend.name, ["One idea, please.", "Another one."]),
                ("rook", ["Checkmate?"]),
            ):
                sid = await client.create_session(persona)
                for text in prompts:
                    await client.send_message(sid, text)

    asyncio.run(run())
    log.flush()


def dask_usage(folder: Path) -> pd.DataFrame:
    """The usage table written with Dask only: sums and counts by tree reduction, percentiles per group."""
    frame = dd.read_parquet(str(folder / "messages"))
    replies = frame[frame["role"] == "assistant"]
    replies = replies.assign(
        blend=replies["personality"].astype(str),
        provider=replies["provider"].astype(str),
        model=replies["model"].astype(str),
        tokens_in=replies["prompt_tokens"].astype("float64"),
        tokens_out=replies["completion_tokens"].astype("float64"),
        latency_ms=replies["latency_ms"].astype("float64"),
    )
    grouped = replies.groupby(KEYS)
    sums = grouped.agg({"tokens_in": "sum", "tokens_out": "sum", "latency_ms": ["count", "mean"]})
    sums.columns = ["tokens_in", "tokens_out", "turns", "latency_mean_ms"]
    sessions = grouped["session_id"].nunique().rename("sessions")

    def percentiles(group: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "latency_p50_ms": group["latency_ms"].quantile(0.5),
                "latency_p95_ms": group["latency_ms"].quantile(0.95),
            }
        )

    tails = grouped[["latency_ms"]].apply(
        percentiles, meta={"latency_p50_ms": "float64", "latency_p95_ms": "float64"}
    )
    computed = dd.compute(sums, sessions, tails)
    table = pd.concat(computed, axis=1).reset_index().sort_values(KEYS, ignore_index=True)
    for column in ("sessions", "turns", "tokens_in", "tokens_out"):
        table[column] = table[column].astype("int64")
    table["total_tokens"] = table["tokens_in"] + table["tokens_out"]
    return table[[*KEYS, *USAGE_COLUMNS]]


def test_dask_on_a_local_cluster_gives_the_pandas_usage_table(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    logs = [SessionLog(tmp_path / f"{host}.duckdb", host=host) for host in ("lab-1", "lab-2")]
    try:
        for log in logs:
            log_sessions(log)
            export_parquet(log, shared)
        expected = usage(shared)
        from_logs = usage_table(pd.concat([messages(log) for log in logs], ignore_index=True))
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            assert len(client.scheduler_info()["workers"]) == 2
            got = dask_usage(shared)
    finally:
        for log in logs:
            log.close()
    assert len(expected) == 3 and expected["turns"].sum() == 12 and (expected["sessions"] == 2).all()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(from_logs, expected, check_exact=False, rtol=1e-12)
