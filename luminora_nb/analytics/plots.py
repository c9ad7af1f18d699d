"""Plots of sessions as :class:`matplotlib.figure.Figure` objects: display them, save them, test them.

Every function takes either a source (a :class:`~luminora_nb.sessionlog.SessionLog`, a
log file, a folder of Parquet exports) or the DataFrame its reader returns (so a frame
filtered in pandas first plots the same way), and returns a new ``Figure``. The frames
read from snapshot files (:mod:`~luminora_nb.analytics.snapshots`) use the same columns
and plot the same way; an entry repeated by several snapshots of one user is drawn once:

==============================  ======================================  ================================
function                        data                                    drawn as
==============================  ======================================  ================================
:func:`plot_affinity`           :func:`~.memory.affinity`               a step line per user/personality
:func:`plot_sentiment`          :func:`~.memory.sentiment`              a line per session
:func:`plot_usage`              :func:`~.usage.usage`                   bars: tokens in/out; p50/p95 latency
:func:`plot_message_lengths`    :func:`~.frames.messages`               a histogram per role
:func:`plot_fact_categories`    :func:`~.memory.facts`                  a bar per category
:func:`plot_episode_timeline`   :func:`~.memory.episodes`               dots by importance, per sentiment
:func:`plot_ratings`            :func:`~.frames.ratings`                up (+) and down (-) bars per blend
==============================  ======================================  ================================

Figures are built with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no global figure list, no GUI backend, nothing shown or leaked; they render
with Agg (``fig.savefig``), and Jupyter displays a returned figure inline. Nothing to
plot gives a figure saying so instead of an error. Times are UTC. Marks are labelled
(legend entries, axis labels) so they never rely on colour alone.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"category": ["music", "music", "work"]})
    >>> fig = plot_fact_categories(frame)
    >>> ax = fig.axes[0]
    >>> [(t.get_text(), int(p.get_width())) for t, p in zip(ax.get_yticklabels(), ax.patches)]
    [('music', 2), ('work', 1)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._source import Source, SourceLike

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_affinity",
    "plot_episode_timeline",
    "plot_fact_categories",
    "plot_message_lengths",
    "plot_ratings",
    "plot_sentiment",
    "plot_usage",
]

Data = Any  # a source or a DataFrame: kept loose so pandas is not imported for the hints


def _frame(data: Data, reader: Callable[[SourceLike | Source], pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    return reader(data)


def _once(frame: pd.DataFrame, identity: list[str]) -> pd.DataFrame:
    """Adapter for snapshot frames (:mod:`.snapshots`): drop rows repeated across snapshots.

    Two snapshots of one user taken at different times carry the same history; each
    entry is drawn once, in time order. Frames from the log (no ``snapshot`` column) pass
    through unchanged.
    """
    if "snapshot" not in frame.columns or frame.empty:
        return frame
    once = frame.drop_duplicates(subset=[c for c in identity if c in frame.columns])
    return once.sort_values("ts", kind="stable").reset_index(drop=True)


def _figure(rows: int = 1, width: float = 8.0, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return fig, axes


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} logged", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel(
    data: Data,
    reader: Callable[[SourceLike | Source], pd.DataFrame],
    title: str,
    what: str,
    identity: list[str] | None = None,
) -> tuple[Figure, Axes, pd.DataFrame]:
    """The frame to plot and a one-panel figure titled ``title``, for the single-panel plots.

    ``identity`` names the columns of one entry in snapshot frames (see :func:`_once`).
    An empty frame's panel already says "no ``what`` logged": the caller returns the figure.
    """
    frame = _frame(data, reader)
    if identity is not None:
        frame = _once(frame, identity)
    fig, (ax,) = _figure()
    ax.set_title(title)
    if frame.empty:
        _empty(ax, what)
    return fig, ax, frame


def _finish(
    ax: Axes,
    *,
    x: str = "",
    y: str = "",
    ylim: tuple[float, float] | None = None,
    legend: bool = True,
    legend_title: str | None = None,
) -> None:
    """Axis labels, the y range and the legend: marks are named, never told apart by colour alone."""
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if legend:
        ax.legend(loc="best", fontsize="small", title=legend_title)


_TIME = "time (UTC)"


def _times(series: pd.Series) -> Any:
    """UTC times as naive datetime64 (what matplotlib's date axis takes without warnings)."""
    import pandas as pd

    return pd.to_datetime(series, utc=True).dt.tz_convert(None).to_numpy()


def plot_affinity(data: Data, *, title: str = "Affinity over time") -> Figure:
    """Affinity points after each change, one step line per (user, personality).

    Lines are labelled ``"<user_id> / <personality>"``; y runs 0..100 points.
    """
    from .memory import affinity

    identity = ["user_id", "personality_name", "ts", "affinity_points"]
    fig, ax, frame = _panel(data, affinity, title, "affinity changes", identity)
    if frame.empty:
        return fig
    for (user, persona), group in frame.groupby(["user_id", "personality_name"], sort=True):
        ax.plot(
            _times(group["ts"]),
            group["affinity_points"].astype("float64").to_numpy(),
            drawstyle="steps-post",
            marker="o",
            label=f"{user} / {persona}",
        )
    _finish(ax, x=_TIME, y="affinity points", ylim=(0, 100))
    return fig


def plot_sentiment(data: Data, *, title: str = "Sentiment trajectory") -> Figure:
    """Sentiment score (-1 very negative .. +1 very positive) over time, one line per session.

    Lines are labelled by session id; a dotted line marks neutral (0, no label).
    """
    from .memory import sentiment

    fig, ax, frame = _panel(data, sentiment, title, "sentiment scores")
    if frame.empty:
        return fig
    for session, group in frame.groupby(frame["session_id"].fillna("(no session)"), sort=True):
        ax.plot(
            _times(group["ts"]), group["score"].astype("float64").to_numpy(), marker="o", label=str(session)
        )
    ax.axhline(0.0, linestyle=":", linewidth=1, color="grey", label="_neutral")
    _finish(ax, x=_TIME, y="sentiment score", ylim=(-1.05, 1.05))
    return fig


def _group_labels(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    return [" / ".join(str(v) for v in row) for row in frame[keys].itertuples(index=False)]


def plot_usage(data: Data, *, title: str = "Tokens and latency per provider / model / blend") -> Figure:
    """Two panels per group (``provider / model / blend``): tokens in and out; latency p50 and p95.

    The bar containers are labelled ``tokens in``, ``tokens out``, ``p50``, ``p95``; the
    x tick labels name the groups.
    """
    import numpy as np

    from .usage import USAGE_COLUMNS, usage

    frame = _frame(data, usage)
    fig, (tokens, latency) = _figure(rows=2, height=3.2)
    fig.suptitle(title)
    if frame.empty:
        _empty(tokens, "turns")
        _empty(latency, "turns")
        return fig
    keys = [c for c in frame.columns if c not in USAGE_COLUMNS]
    labels = _group_labels(frame, keys)
    x = np.arange(len(frame))
    width = 0.4
    tokens.bar(x - width / 2, frame["tokens_in"].to_numpy(), width, label="tokens in")
    tokens.bar(x + width / 2, frame["tokens_out"].to_numpy(), width, label="tokens out", hatch="//")
    latency.bar(x - width / 2, frame["latency_p50_ms"].fillna(0).to_numpy(), width, label="p50")
    latency.bar(x + width / 2, frame["latency_p95_ms"].fillna(0).to_numpy(), width, label="p95", hatch="//")
    for ax, unit in ((tokens, "tokens"), (latency, "latency (ms)")):
        ax.set_xticks(x, labels, rotation=20, ha="right", fontsize="small")
        _finish(ax, y=unit)
    return fig


def plot_message_lengths(data: Data, *, bins: int = 20, title: str = "Message lengths") -> Figure:
    """Histogram of message lengths in characters, one bar set per role (``user``, ``assistant``).

    Both roles share the same ``bins`` bin edges; the containers are labelled by role.
    """
    import numpy as np

    from .frames import messages

    fig, ax, frame = _panel(data, messages, title, "messages")
    if frame.empty:
        return fig
    lengths = frame["content"].fillna("").str.len()
    roles = [r for r in ("user", "assistant", "system") if (frame["role"] == r).any()]
    values = [lengths[frame["role"] == r].to_numpy() for r in roles]
    edges = np.histogram_bin_edges(lengths.to_numpy(), bins=bins)
    drawn: Any = ax.hist(values, bins=edges.tolist(), label=roles)[2]
    containers = list(drawn) if len(roles) > 1 else [drawn]  # one data set: one container, not a list
    for container, role in zip(containers, roles, strict=True):  # the data, by role, for code reading it
        container.set_label(role)
    _finish(ax, x="characters", y="messages")
    return fig


def plot_fact_categories(data: Data, *, title: str = "Facts learned per category") -> Figure:
    """Horizontal bars: facts learned per category, most first (ties by name)."""
    from .memory import facts

    fig, ax, frame = _panel(data, facts, title, "facts")
    if frame.empty:
        return fig
    counts = frame["category"].astype("string").fillna("(none)").value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    names = [str(name) for name, _ in ordered]
    positions = list(range(len(names)))
    ax.barh(positions, [int(count) for _, count in ordered])
    ax.set_yticks(positions, names)
    ax.invert_yaxis()  # most first, at the top
    _finish(ax, x="facts", legend=False)
    return fig


def plot_episode_timeline(data: Data, *, title: str = "Episodes by importance") -> Figure:
    """Episodes as dots over time: height and size by importance (0-10), one labelled set per sentiment."""
    from .memory import episodes

    identity = ["user_id", "episode_id", "episode_type", "title", "ts"]
    fig, ax, frame = _panel(data, episodes, title, "episodes", identity)
    if frame.empty:
        return fig
    markers = {"very_negative": "v", "negative": "v", "neutral": "o", "positive": "^", "very_positive": "^"}
    for sentiment, group in frame.groupby(frame["sentiment"].astype("string").fillna("neutral"), sort=True):
        importance = group["importance"].astype("float64").to_numpy()
        ax.scatter(
            _times(group["ts"]),
            importance,
            s=20 + 12 * importance,
            marker=markers.get(str(sentiment), "o"),
            label=str(sentiment),
            alpha=0.8,
        )
    _finish(ax, x=_TIME, y="importance", ylim=(0, 10.5), legend_title="sentiment")
    return fig


def plot_ratings(data: Data, *, title: str = "Ratings per blend") -> Figure:
    """Per blend: thumbs up as a bar above zero, thumbs down below; the net score in the tick label.

    Containers are labelled ``up`` and ``down`` (down heights are negative counts).
    """
    from .frames import ratings

    fig, ax, frame = _panel(data, ratings, title, "ratings")
    if frame.empty:
        return fig
    blends = sorted(frame["blend"].astype("string").fillna("(none)").unique())
    column = frame["blend"].astype("string").fillna("(none)")
    ups = [int(((column == b) & (frame["rating"] == 1)).sum()) for b in blends]
    downs = [int(((column == b) & (frame["rating"] == -1)).sum()) for b in blends]
    positions = list(range(len(blends)))
    ax.bar(positions, ups, label="up")
    ax.bar(positions, [-d for d in downs], label="down", hatch="//")
    ax.axhline(0, color="grey", linewidth=1, label="_zero")
    ax.set_xticks(positions, [f"{b}\n(net {u - d:+d})" for b, u, d in zip(blends, ups, downs, strict=True)])
    _finish(ax, y="ratings (up +, down -)")
    return fig
