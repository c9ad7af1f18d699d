"""analytics.usage: tokens, turns and latency per provider / model / blend, checked by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from luminora_nb.analytics import USAGE_COLUMNS, messages, usage, usage_table

from .test_analytics_frames import Scripted, scripted, source

__all__ = ["scripted", "source"]


def by_hand(frame: pd.DataFrame, persona: str) -> dict[str, Any]:
    """The usage row of one personality, computed with plain Python and numpy."""
    rows = [r for r in frame.to_dict("records") if r["role"] == "assistant" and r["personality"] == persona]
    latencies = [float(r["latency_ms"]) for r in rows]
    return {
        "sessions": len({r["session_id"] for r in rows}),
        "turns": len(rows),
        "tokens_in": sum(int(r["prompt_tokens"]) for r in rows),
        "tokens_out": sum(int(r["completion_tokens"]) for r in rows),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "latency_mean_ms": sum(latencies) / len(latencies),
    }


def test_usage_per_provider_model_blend(scripted: Scripted, source: Any) -> None:
    table = usage(source)
    assert list(table.columns) == ["provider", "model", "blend", *USAGE_COLUMNS]
    assert table["blend"].tolist() == sorted(["aurora", scripted.blend_name])
    assert set(table["provider"]) == {"offline"} and set(table["model"]) == {"luminora-sim-1"}
    frame = messages(scripted.log)
    for persona in ("aurora", scripted.blend_name):
        row = table[table["blend"] == persona].iloc[0]
        expected = by_hand(frame, persona)
        for column, value in expected.items():
            assert row[column] == pytest.approx(value), column
        assert row["total_tokens"] == expected["tokens_in"] + expected["tokens_out"]
    assert table[table["blend"] == "aurora"]["turns"].tolist() == [3]


def test_other_groupings(scripted: Scripted, source: Any) -> None:
    by_user = usage(source, by=["user_id"])
    assert by_user[["user_id", "turns", "sessions"]].values.tolist() == [["u1", 3, 1], ["u2", 2, 1]]
    by_host = usage(source, by=("host",))
    assert by_host["host"].tolist() == ["lab-1"] and by_host["turns"].tolist() == [5]
    with pytest.raises(ValueError, match="usage groups by some of"):
        usage(source, by=["colour"])


def test_usage_table_on_a_hand_made_frame() -> None:
    frame = pd.DataFrame(
        {
            "session_id": ["a", "a", "b", "b", "c", "c"],
            "role": ["user", "assistant"] * 3,
            "provider": ["offline"] * 4 + ["openai"] * 2,
            "model": ["sim"] * 4 + [None] * 2,  # no model logged: the group ""
            "personality": "aurora",
            "prompt_tokens": [None, 10, None, 30, None, 7],
            "completion_tokens": [None, 1, None, 3, None, 2],
            "latency_ms": [None, 10.0, None, 30.0, None, 5.0],
        }
    )
    table = usage_table(frame)
    assert table[["provider", "model", "sessions", "turns", "tokens_in", "tokens_out"]].values.tolist() == [
        ["offline", "sim", 2, 2, 40, 4],
        ["openai", "", 1, 1, 7, 2],
    ]
    assert table["latency_p50_ms"].tolist() == [20.0, 5.0]
    assert table["latency_p95_ms"].tolist() == pytest.approx([29.0, 5.0])
    assert usage_table(frame.iloc[:0]).empty
