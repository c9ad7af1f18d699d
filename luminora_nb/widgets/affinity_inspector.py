"""``AffinityInspector``: the relationship of one user with one persona, live.

Design
------
A small :class:`~luminora_nb.widgets._base.LuminoraWidget` (anywidget) whose browser
side is ``widgets/affinity_inspector.js`` + ``widgets/affinity_inspector.css``. It shows
the level ladder of the persona (its ``relationship_levels``, else the default ladder)
with the current position marked by an arrow and bold text (never colour alone), the
points, a progress bar to the next level (with "N points to friend" in words), and the
history as a small SVG step plot of the points over the changes, level thresholds drawn
as dashed lines. An "adjust" box applies an explicit change (``update_affinity``).

Python owns the state: ``points``, ``level``, ``levels``, ``next_level``, ``to_next``,
``progress`` and ``history`` are synced traits; the browser only draws them. The widget
subscribes to the client's :class:`~luminora_nb.events.AffinityChanged` events for its
(user, persona) pair; the handler runs on the loop thread and schedules one coalesced,
ordered reload (:class:`~luminora_nb.widgets._base.LiveRefresh`), so the
inspector follows every turn made anywhere on the facade (a cell, a ChatWidget) without
blocking the kernel. Errors show in place (``error``, ``last_error``): an unknown
persona, a user id that is not a non-empty string, an adjustment that is not a finite
number; nothing is lost (the stored relationship is untouched by a refused change).

Protocol
--------
Synced state: ``user_id``, ``personality``, ``persona`` (shown name), ``points``,
``level``, ``levels`` (``[{"name", "low", "high"}]``, lowest first), ``next_level``
(``""`` at the top), ``to_next`` (points still needed), ``progress`` (0..1 through the
current level towards the next), ``total_interactions``, ``history`` (oldest first:
``t``, ``type``, ``reason``, ``delta``, ``before``, ``points``, ``level``,
``level_changed``), ``error``, ``busy``.

Browser -> kernel custom messages: ``{"type": "adjust", "delta", "reason"?}`` and
``{"type": "refresh"}``; both are public methods too.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     inspector = AffinityInspector(lum, "sam", "aurora")
    ...     _ = lum.update_affinity("sam", "aurora", 15, reason="a kind word")
    ...     inspector.wait()
    ...     inspector.points, inspector.level, inspector.next_level, inspector.to_next
    (25, 'acquaintance', 'friend', 26)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import PersonalityError
from ..events import AffinityChanged
from ..relationship.affinity import DEFAULT_LEVELS, MAX_POINTS, check_points_delta
from ..types.memory import check_user_id
from ..types.personality import PersonalityData
from ._base import LiveWidget, launch, widget_css, widget_module

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..sync import Luminora

__all__ = ["AffinityInspector", "ladder", "progress_to_next"]


_TEXT_HISTORY = 6  # changes listed by the plain-text form


def ladder(personality: PersonalityData | None) -> list[dict[str, Any]]:
    """The relationship levels of ``personality`` as ``{"name", "low", "high"}``, lowest first.

    The persona's own ``relationship_levels``, else the default ladder.

    Example:
        >>> [level["name"] for level in ladder(None)]
        ['stranger', 'acquaintance', 'friend', 'close_friend', 'soulmate']
    """
    definition = personality.definition if personality is not None else None
    if definition is not None and definition.relationship_levels:
        levels = sorted(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0])
        return [
            {"name": lvl.name, "low": lvl.affinity_range[0], "high": lvl.affinity_range[1]} for lvl in levels
        ]
    return [{"name": name, "low": low, "high": high} for name, low, high in DEFAULT_LEVELS]


def progress_to_next(levels: list[dict[str, Any]], points: int) -> tuple[str, int, float]:
    """``(next level, points still needed, progress 0..1)`` at ``points`` on ``levels``.

    Progress runs from the current level's lowest points to the next level's; at the top
    level the next level is ``""`` and progress runs to 100 points.

    Example:
        >>> progress_to_next(ladder(None), 30)
        ('friend', 11, 0.45)
    """
    current = None
    for index, level in enumerate(levels):
        if level["low"] <= points:
            current = index
    if current is None:  # below the first level (a persona whose ladder starts above 0)
        first = levels[0]
        return first["name"], first["low"] - points, 0.0
    low = levels[current]["low"]
    if current + 1 < len(levels):
        following = levels[current + 1]
        span = max(1, following["low"] - low)
        return following["name"], following["low"] - points, round((points - low) / span, 4)
    span = max(1, MAX_POINTS - low)
    return "", 0, round(min(1.0, (points - low) / span), 4)


def _compact_change(entry: Mapping[str, Any]) -> dict[str, Any]:
    before = entry.get("points_before")
    after = entry.get("points_after", entry.get("affinity_points"))
    level_before = entry.get("level_before")
    level_after = entry.get("level_after", entry.get("current_level"))
    return {
        "t": str(entry.get("timestamp") or ""),
        "type": str(entry.get("interaction_type") or ""),
        "reason": str(entry.get("reason") or ""),
        "delta": int(entry.get("points_delta") or 0),
        "before": int(before) if isinstance(before, int) else None,
        "points": int(after) if isinstance(after, int) else 0,
        "level": str(level_after or ""),
        "level_changed": level_before is not None and level_before != level_after,
    }


class AffinityInspector(LiveWidget):
    """Level, points, progress to the next level and history of a user's relationship with a persona.

    Updated as turns happen. Problems never raise: they show a short message in place
    (``error``) with the exception in ``last_error``.

    Args:
        lum: The facade whose v1.1 client keeps the relationship.
        user_id: The user.
        personality: The persona (a name or a :class:`~luminora_nb.types.PersonalityData`).

    Attributes:
        last_error: The last exception shown in place.

    Example:
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=None) as lum:
        ...     AffinityInspector(lum, "sam", "nobody").error
        "unknown personality 'nobody'; lum.list_personalities() lists the ones you can use"
    """

    _esm = widget_module("affinity_inspector")
    _css = widget_css("affinity_inspector")

    user_id = traitlets.Unicode("").tag(sync=True)
    personality = traitlets.Unicode("").tag(sync=True)
    persona = traitlets.Unicode("").tag(sync=True)
    points = traitlets.Int(0).tag(sync=True)
    level = traitlets.Unicode("").tag(sync=True)
    levels = traitlets.List(traitlets.Dict()).tag(sync=True)
    next_level = traitlets.Unicode("").tag(sync=True)
    to_next = traitlets.Int(0).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    total_interactions = traitlets.Int(0).tag(sync=True)
    history = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, lum: Luminora, user_id: str, personality: str | PersonalityData) -> None:
        super().__init__(lum)
        self._raw: dict[str, Any] = {}
        try:
            user = self.user_id = check_user_id(user_id)
            found = self._resolve(personality)
            name = self.personality = found.name
            definition = found.definition
            self.persona = definition.persona.name if definition is not None else found.name
            self.levels = ladder(found)
            self._go_live(
                [AffinityChanged],
                lambda e: isinstance(e, AffinityChanged) and e.user_id == user and e.personality_name == name,
            )
        except Exception as exc:  # shown in place, never raised
            self._fail(exc)

    def _resolve(self, personality: str | PersonalityData) -> PersonalityData:
        if isinstance(personality, PersonalityData):
            if self.lum.get_personality(personality.name) is None:
                self.lum.load_personality(personality.name, personality)
            return personality
        if not isinstance(personality, str) or not personality.strip():
            raise PersonalityError(
                f"personality must be a persona name or a PersonalityData, got {personality!r}"
            )
        found = self.lum.get_personality(personality)
        if found is None:
            raise PersonalityError(
                f"unknown personality {personality!r}; lum.list_personalities() lists the ones you can use"
            )
        return found

    # -- data out ----------------------------------------------------------------------
    @property
    def value(self) -> dict[str, Any]:
        """The relationship as the v1.1 client returns it (``get_affinity``), history included."""
        return dict(self._raw)

    def to_dataframe(self) -> pd.DataFrame:
        """The history, oldest first: ``timestamp`` (UTC), ``interaction_type``, ``reason``,
        ``points_delta``, ``points_before``, ``points``, ``level``, ``level_changed``."""
        import pandas as pd  # lazy: pandas is heavy

        rows = [
            {
                "timestamp": c["t"] or None,
                "interaction_type": c["type"],
                "reason": c["reason"],
                "points_delta": c["delta"],
                "points_before": c["before"],
                "points": c["points"],
                "level": c["level"],
                "level_changed": c["level_changed"],
            }
            for c in self.history
        ]
        columns = [
            "timestamp",
            "interaction_type",
            "reason",
            "points_delta",
            "points_before",
            "points",
            "level",
            "level_changed",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
        frame["points_before"] = frame["points_before"].astype("Int64")
        return frame

    def plot(self, ax: Axes | None = None) -> Axes:
        """The points over the changes as a step plot, the level thresholds as dashed lines.

        Returns the matplotlib ``Axes`` (a new figure when ``ax`` is not given).
        """
        import matplotlib.pyplot as plt  # lazy: only for the plot

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 2.8))
        history = list(self.history)
        start = history[0]["before"] if history and history[0]["before"] is not None else self.points
        ys = [start, *[c["points"] for c in history]]
        ax.step(range(len(ys)), ys, where="post", marker="o", markersize=3)
        for level in self.levels[1:]:
            ax.axhline(level["low"], linestyle="--", linewidth=0.8, color="grey")
        for level in self.levels:
            ax.text(len(ys) - 1 + 0.1, level["low"], f" {level['name']}", va="bottom", fontsize=8)
        ax.set_ylim(0, MAX_POINTS)
        ax.set_xlabel("change")
        ax.set_ylabel("affinity points")
        ax.set_title(f"{self.user_id} and {self.persona or self.personality}")
        return ax

    # -- actions -------------------------------------------------------------------------
    def adjust(self, points_delta: float, reason: str | None = None) -> None:
        """Apply an explicit change of ``points_delta`` points (``update_affinity``).

        A delta that is not a finite number shows a message in place and changes
        nothing. Returns at once; the inspector updates from the change's event.
        """
        if not self._valid:
            return
        try:
            delta = check_points_delta(points_delta)
        except Exception as exc:
            self._fail(exc)
            return
        text = reason.strip() if isinstance(reason, str) and reason.strip() else None
        launch(
            self,
            self.lum.v11.update_affinity(self.user_id, self.personality, delta, reason=text),
            lambda _: self.refresh(),
        )

    # -- state ---------------------------------------------------------------------------
    async def _load(self) -> dict[str, Any]:
        return dict(await self.lum.v11.get_affinity(self.user_id, self.personality))

    def _apply(self, state: dict[str, Any]) -> None:
        self._raw = state
        points = int(state.get("affinity_points") or 0)
        history = state.get("history")
        nxt, needed, progress = progress_to_next(list(self.levels), points)
        with self.hold_sync():
            self.points = points
            self.level = str(state.get("current_level") or "")
            self.next_level = nxt
            self.to_next = needed
            self.progress = progress
            self.total_interactions = int(state.get("total_interactions") or 0)
            self.history = (
                [_compact_change(e) for e in history if isinstance(e, Mapping)]
                if isinstance(history, list)
                else []
            )

    # -- browser messages ----------------------------------------------------------------
    def _actions(self) -> dict[str, Callable[[Mapping[str, Any]], object]]:
        return {
            "adjust": lambda m: self.adjust(m.get("delta"), m.get("reason")),  # type: ignore[arg-type]
            "refresh": lambda _: self.refresh(),
        }

    # -- text form -----------------------------------------------------------------------
    def _text(self) -> str:
        head = f"AffinityInspector · {self.user_id or '?'} and {self.persona or self.personality or '?'}"
        lines = [head]
        if self.error:
            lines.append(f"error: {self.error}")
        if not self.levels:
            return "\n".join(lines)
        rungs = " < ".join(
            f"[{lvl['name']}]" if lvl["name"] == self.level else lvl["name"] for lvl in self.levels
        )
        lines.append(f"level {self.level} · {self.points} points · {self.total_interactions} interactions")
        if self.next_level:
            lines.append(f"{self.to_next} points to {self.next_level} ({self.progress:.0%} of the way)")
        else:
            lines.append("top level")
        lines.append(f"ladder: {rungs}")
        history = list(self.history)
        if len(history) > _TEXT_HISTORY:
            lines.append(f"… {len(history) - _TEXT_HISTORY} earlier changes")
        for change in history[-_TEXT_HISTORY:]:
            moved = f" -> {change['level']}" if change["level_changed"] else ""
            lines.append(f"  {change['delta']:+d} {change['type']}: {change['points']} points{moved}")
        return "\n".join(lines)
