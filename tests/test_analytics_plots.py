"""analytics.plots: every figure renders with Agg and shows the data it is given.

The checks read the drawn artists back (line data, bar heights, tick labels, legend
labels) and compare them with the frames the plots are drawn from.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from luminora_nb.analytics import (
    affinity,
    episodes,
    messages,
    plot_affinity,
    plot_episode_timeline,
    plot_fact_categories,
    plot_message_lengths,
    plot_ratings,
    plot_sentiment,
    plot_usage,
    ratings,
    sentiment,
    usage,
)
from luminora_nb.sessionlog import SessionLog

from .test_analytics_frames import Scripted, scripted, source

__all__ = ["scripted", "source"]


def rendered(fig: Figure) -> Figure:
    """``fig`` after an Agg render to PNG (fails if it cannot be drawn)."""
    assert isinstance(fig, Figure)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    return fig


def naive_utc(series: pd.Series) -> np.ndarray:
    return pd.to_datetime(series, utc=True).dt.tz_convert(None).to_numpy()


def test_affinity_over_time(scripted: Scripted, source: Any) -> None:
    ax = rendered(plot_affinity(source)).axes[0]
    (line,) = ax.get_lines()
    assert line.get_label() == "u1 / aurora" and line.get_drawstyle() == "steps-post"
    assert line.get_ydata().tolist() == scripted.affinity
    assert (line.get_xdata() == naive_utc(affinity(source)["ts"])).all()
    assert ax.get_ylabel() == "affinity points" and ax.get_ylim() == (0, 100)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["u1 / aurora"]


def test_sentiment_trajectory(scripted: Scripted, source: Any) -> None:
    ax = rendered(plot_sentiment(source)).axes[0]
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == [scripted.aurora]
    assert lines[0].get_ydata().tolist() == [0.5, 0.9]
    assert (lines[0].get_xdata() == naive_utc(sentiment(source)["ts"])).all()


def test_usage_tokens_and_latency(scripted: Scripted, source: Any) -> None:
    table = usage(source)
    fig = rendered(plot_usage(source))
    tokens, latency = fig.axes
    labels = [f"offline / luminora-sim-1 / {blend}" for blend in table["blend"]]
    assert [t.get_text() for t in tokens.get_xticklabels()] == labels
    assert [t.get_text() for t in latency.get_xticklabels()] == labels
    heights = {c.get_label(): [p.get_height() for p in c.patches] for ax in fig.axes for c in ax.containers}
    assert heights["tokens in"] == table["tokens_in"].tolist()
    assert heights["tokens out"] == table["tokens_out"].tolist()
    assert heights["p50"] == pytest.approx(table["latency_p50_ms"].tolist())
    assert heights["p95"] == pytest.approx(table["latency_p95_ms"].tolist())


def test_message_lengths(scripted: Scripted, source: Any) -> None:
    frame = messages(source)
    ax = rendered(plot_message_lengths(source, bins=5)).axes[0]
    containers = {c.get_label(): c for c in ax.containers}
    assert sorted(containers) == ["assistant", "user"]
    lengths = frame["content"].str.len()
    edges = np.histogram_bin_edges(lengths, bins=5)
    for role, container in containers.items():
        expected, _ = np.histogram(lengths[frame["role"] == role], bins=edges)
        assert [p.get_height() for p in container.patches] == expected.tolist()
    assert sum(p.get_height() for p in containers["user"].patches) == 5


def test_message_lengths_of_one_role() -> None:
    frame = pd.DataFrame({"role": ["user"] * 3, "content": ["a", "bb", "bb"]})
    ax = rendered(plot_message_lengths(frame, bins=2)).axes[0]
    (container,) = ax.containers
    assert container.get_label() == "user" and [p.get_height() for p in container.patches] == [1, 2]


def test_fact_categories(scripted: Scripted, source: Any) -> None:
    ax = rendered(plot_fact_categories(source)).axes[0]
    got = [(t.get_text(), p.get_width()) for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)]
    assert got == [("preferences", 2), ("personal_info", 1)]


def test_episode_importance_timeline(scripted: Scripted, source: Any) -> None:
    frame = episodes(source)
    ax = rendered(plot_episode_timeline(source)).axes[0]
    by_label = {c.get_label(): c for c in ax.collections}
    assert sorted(by_label) == ["neutral", "positive"]
    for title, importance, sentiment_label in scripted.episodes:
        (y,) = by_label[sentiment_label].get_offsets()[:, 1].tolist()
        assert y == importance, title
        (size,) = by_label[sentiment_label].get_sizes().tolist()
        assert size == 20 + 12 * importance
    assert len(frame) == 2 and ax.get_ylabel() == "importance"


def test_ratings_per_blend(scripted: Scripted, source: Any) -> None:
    frame = ratings(source)
    ax = rendered(plot_ratings(source)).axes[0]
    blends = sorted(frame["blend"].unique())
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert [t.split("\n")[0] for t in ticks] == blends
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    expected_up = [int(((frame["blend"] == b) & (frame["rating"] == 1)).sum()) for b in blends]
    expected_down = [-int(((frame["blend"] == b) & (frame["rating"] == -1)).sum()) for b in blends]
    assert bars == {"up": expected_up, "down": expected_down}
    assert ticks[blends.index(scripted.blend_name)].endswith("(net +0)")
    assert ticks[blends.index("aurora")].endswith("(net +1)")  # the later thumbs up replaced the down


def test_a_dataframe_works_as_input(scripted: Scripted) -> None:
    frame = affinity(scripted.log)
    ax = rendered(plot_affinity(frame.iloc[:2])).axes[0]
    assert ax.get_lines()[0].get_ydata().tolist() == scripted.affinity[:2]


@pytest.mark.parametrize(
    "plot",
    [
        plot_affinity,
        plot_sentiment,
        plot_usage,
        plot_message_lengths,
        plot_fact_categories,
        plot_episode_timeline,
        plot_ratings,
    ],
)
def test_nothing_logged_says_so(tmp_path: Any, plot: Any) -> None:
    with SessionLog(tmp_path / "log.duckdb") as log:
        fig = rendered(plot(log))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts and all(t.startswith("no ") and t.endswith(" logged") for t in texts)
    assert not any(ax.get_lines() or ax.patches or ax.collections for ax in fig.axes)
