"""``MemoryInspector``: what a persona remembers about one user, live, editable, searchable.

Design
------
A small :class:`~luminora_nb.widgets._base.LuminoraWidget` (anywidget) whose browser
side is ``widgets/memory_inspector.js`` + ``widgets/memory_inspector.css``. Three panels:

* **Facts**, an editable table: category (with a filter), key, value (edit in place;
  Enter saves, Escape cancels), confidence as a bar *and* a number, the source message
  on hover, and a delete button per row. An edit is :meth:`LuminoraCoreClientV11.save_fact
  <luminora_nb.client_v11.LuminoraCoreClientV11.save_fact>` with confidence 1 (the user
  said so); the old value goes to the fact's history as with any update.
* **Episodes**, a timeline (oldest first) whose markers are sized by importance and
  labelled by sentiment (a symbol and a word, so colour is never the only carrier).
* **Search**: a box that calls ``search_memories`` and lists each hit with its kind and
  score.

Python owns the state: ``facts``, ``episodes`` and ``hits`` are synced traits of compact
dicts; the browser renders them and sends actions back. Every action (refresh, edit,
delete, search) runs on the facade's loop thread (``_background``), so the kernel is
never blocked; a failure shows a short message in place (``error``), keeps the exception
in ``last_error`` and changes nothing else (a bad edit leaves the stored fact and the
table as they were; a failed search keeps the previous hits).

**Live.** The widget subscribes to the client's :class:`~luminora_nb.events.FactLearned`,
:class:`~luminora_nb.events.FactDeleted` and :class:`~luminora_nb.events.EpisodeCreated`
events for its user, so a fact deleted anywhere (another inspector, code in a cell)
leaves every inspector of that user. The handler runs on
the loop thread and only schedules a reload (:class:`LiveRefresh`): a burst of events
during one turn costs one reload, and reloads are numbered so an older one finishing
late never overwrites a newer one.

Protocol
--------
Synced state: ``user_id``, ``categories`` (every fact category, for the filter),
``category`` (the filter, ``""`` for all; the browser sets it), ``facts`` (dicts with
``category``, ``key``, ``value`` (text), ``kind`` (``text``/``number``/``list``/``other``),
``confidence``, ``source``, ``updated_at``, ``revisions``), ``episodes`` (``id``,
``type``, ``title``, ``summary``, ``importance``, ``sentiment``, ``timestamp``),
``query``, ``hits`` (``kind``, ``text``, ``score``), ``notice``, ``error``, ``busy``.

Browser -> kernel custom messages: ``{"type": "edit", "category", "key", "value"}``,
``{"type": "delete", "category", "key"}``, ``{"type": "search", "query", "top_k"?}``,
``{"type": "refresh"}``. Each is a public method too, so a test (or the next cell) drives
the inspector exactly as the browser does.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     sid = lum.create_session("aurora", user_id="sam")
    ...     _ = lum.send_message(sid, "Hi! My name is Sam and I live in Lyon.")
    ...     inspector = MemoryInspector(lum, "sam")
    ...     [(f["key"], f["value"]) for f in inspector.facts]
    [('name', 'Sam'), ('location', 'Lyon')]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import SessionError
from ..events import EpisodeCreated, Event, FactDeleted, FactLearned
from ..types.memory import FACT_CATEGORIES, check_user_id
from ._base import LiveRefresh, LiveWidget, launch, track, widget_css, widget_module

if TYPE_CHECKING:
    import pandas as pd

    from ..sync import Luminora

# LiveRefresh, launch and track live in ._base (the inspectors share them); still importable from here.
__all__ = ["LiveRefresh", "MemoryInspector", "launch", "parse_edit", "track"]

_MAX_VALUE_CHARS = 500  # an edited value longer than this is refused (a fact, not a document)
_SOURCE_CHARS = 300  # of the source message shown on hover
_TEXT_ROWS = 8  # facts and episodes in the plain-text form
_SENTIMENT_MARK = {
    "very_negative": "▼▼",
    "negative": "▼",
    "neutral": "•",
    "positive": "▲",
    "very_positive": "▲▲",
}


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "other"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "list"
    return "other"


def _value_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _clip(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def _compact_fact(fact: Mapping[str, Any]) -> dict[str, Any]:
    source = fact.get("source_message")
    if not source and isinstance(fact.get("source"), Mapping):
        source = fact["source"].get("text")
    history = fact.get("history")
    return {
        "category": str(fact.get("category", "")),
        "key": str(fact.get("key", "")),
        "value": _value_text(fact.get("value")),
        "kind": _value_kind(fact.get("value")),
        "confidence": round(_number(fact.get("confidence"), 1.0), 3),
        "source": _clip(source, _SOURCE_CHARS),
        "updated_at": str(fact.get("updated_at") or fact.get("created_at") or ""),
        "revisions": len(history) if isinstance(history, list) else 0,
    }


def _compact_episode(episode: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(episode.get("episode_id") or ""),
        "type": str(episode.get("episode_type", "")),
        "title": str(episode.get("title", "")),
        "summary": _clip(episode.get("summary"), 400),
        "importance": round(_number(episode.get("importance")), 2),
        "sentiment": str(episode.get("sentiment", "neutral")),
        "timestamp": str(episode.get("timestamp") or ""),
    }


def parse_edit(new: Any, old: Any) -> Any:
    """The value to store when a fact whose value is ``old`` is edited to ``new`` (text).

    The edit keeps the fact's kind: a number stays a number, a list is read as
    comma-separated items, text stays text (trimmed).

    Raises:
        SessionError: ``new`` is not text, is empty, is longer than 500 characters, or
            is not a number where the fact holds one.

    Example:
        >>> parse_edit(" Lisbon ", "Lyon"), parse_edit("34", 33), parse_edit("a, b", ["x"])
        ('Lisbon', 34, ['a', 'b'])
        >>> parse_edit("thirty", 33)
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: this fact holds a number: 'thirty' is not one (e.g. 34 or 1.5)
    """
    if not isinstance(new, str):
        raise SessionError(f"a fact's new value must be text, got {type(new).__name__}")
    text = new.strip()
    if not text:
        raise SessionError("a fact's value cannot be empty; use Delete to forget the fact")
    if len(text) > _MAX_VALUE_CHARS:
        raise SessionError(f"a fact's value may be at most {_MAX_VALUE_CHARS} characters, got {len(text)}")
    kind = _value_kind(old)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise SessionError(f"this fact holds a number: {text!r} is not one (e.g. 34 or 1.5)") from None
        if not math.isfinite(number):
            raise SessionError(f"this fact holds a finite number, got {text!r}")
        return int(number) if number.is_integer() and isinstance(old, int) else number
    if kind == "list":
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise SessionError("a list fact needs at least one item (comma-separated)")
        return items
    return text


class MemoryInspector(LiveWidget):
    """Facts, episodes and semantic search of one user's memory, updated as turns happen.

    Problems never raise: a user id that is not a non-empty string, a failed load, a bad
    edit or an empty search show a short message in place (``error``) with the exception
    in ``last_error``; a user with nothing remembered yet gets a ``notice`` saying so.

    Args:
        lum: The facade whose v1.1 client holds the memory.
        user_id: Whose memory to show.
        category: Show only facts of this category at first (``None``: all).

    Attributes:
        last_error: The last exception shown in place.

    Example:
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=None) as lum:
        ...     inspector = MemoryInspector(lum, "nobody")
        ...     inspector.notice.split(":")[0]
        "No memories of user 'nobody' yet"
    """

    _esm = widget_module("memory_inspector")
    _css = widget_css("memory_inspector")

    user_id = traitlets.Unicode("").tag(sync=True)
    categories = traitlets.List(traitlets.Unicode()).tag(sync=True)
    category = traitlets.Unicode("").tag(sync=True)
    facts = traitlets.List(traitlets.Dict()).tag(sync=True)
    episodes = traitlets.List(traitlets.Dict()).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    hits = traitlets.List(traitlets.Dict()).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(self, lum: Luminora, user_id: str, *, category: str | None = None) -> None:
        super().__init__(lum, categories=list(FACT_CATEGORIES))
        self._raw_facts: dict[tuple[str, str], dict[str, Any]] = {}
        self._raw_episodes: list[dict[str, Any]] = []
        self._raw_hits: list[dict[str, Any]] = []
        try:
            user = self.user_id = check_user_id(user_id)
            if category:
                self._check_category(category)
                self.category = category
            events: list[type[Event]] = [FactLearned, FactDeleted, EpisodeCreated]
            self._go_live(events, lambda event: getattr(event, "user_id", None) == user)
        except Exception as exc:  # shown in place, never raised
            self._fail(exc)

    # -- data out ----------------------------------------------------------------------
    def to_dataframe(self, category: str | None = None) -> pd.DataFrame:
        """The facts shown (of ``category``, else of the widget's filter), one row each.

        Columns: ``category``, ``key``, ``value`` (as stored), ``confidence``,
        ``source_message``, ``updated_at``, ``revisions`` (earlier values kept).
        """
        import pandas as pd  # lazy: pandas is heavy

        wanted = category if category is not None else self.category
        rows = []
        for fact in list(self._raw_facts.values()):
            if wanted and fact.get("category") != wanted:
                continue
            compact = _compact_fact(fact)
            rows.append(
                {
                    "category": compact["category"],
                    "key": compact["key"],
                    "value": fact.get("value"),
                    "confidence": compact["confidence"],
                    "source_message": compact["source"] or None,
                    "updated_at": compact["updated_at"] or None,
                    "revisions": compact["revisions"],
                }
            )
        columns = ["category", "key", "value", "confidence", "source_message", "updated_at", "revisions"]
        return pd.DataFrame(rows, columns=columns)

    def episodes_dataframe(self) -> pd.DataFrame:
        """The episodes, most important first: ``type``, ``title``, ``summary``,
        ``importance``, ``sentiment``, ``timestamp``."""
        import pandas as pd

        rows = [_compact_episode(e) for e in list(self._raw_episodes)]
        columns = ["type", "title", "summary", "importance", "sentiment", "timestamp"]
        return pd.DataFrame(rows, columns=columns)

    def hits_dataframe(self) -> pd.DataFrame:
        """The last search's hits, best first: ``kind``, ``text``, ``score``."""
        import pandas as pd

        return pd.DataFrame([dict(h) for h in self.hits], columns=["kind", "text", "score"])

    @property
    def results(self) -> list[dict[str, Any]]:
        """The last search's hits as the v1.1 client returned them (``kind``, ``text``,
        ``score``, ``item``)."""
        return [dict(hit) for hit in self._raw_hits]

    # -- actions -------------------------------------------------------------------------
    def edit_fact(self, category: str, key: str, value: str) -> None:
        """Change a fact's value to ``value`` (text, as typed in the table).

        The fact keeps its kind (:func:`parse_edit`); the new value is saved with
        confidence 1 and the old one kept in the fact's history. A bad value or an
        unknown fact shows a message in place and changes nothing. Returns at once.
        """
        if not self._valid:
            return
        fact = self._raw_facts.get((str(category), str(key)))
        if fact is None:
            self._fail(
                SessionError(
                    f"no fact {category!r}/{key!r} for user {self.user_id!r}; it may have been deleted"
                )
            )
            return
        try:
            new = parse_edit(value, fact.get("value"))
        except SessionError as exc:
            self._fail(exc)
            return
        v11 = self.lum.v11
        launch(self, v11.save_fact(self.user_id, category, key, new, 1.0), lambda _: self.refresh())

    def delete_fact(self, category: str, key: str) -> None:
        """Forget one fact (on the facade's loop; returns at once)."""
        if not self._valid:
            return
        if (str(category), str(key)) not in self._raw_facts:
            self._fail(SessionError(f"no fact {category!r}/{key!r} for user {self.user_id!r} to delete"))
            return
        v11 = self.lum.v11
        launch(self, v11.delete_fact(self.user_id, category, key))

    def search(self, query: str, top_k: int = 5) -> None:
        """Search the user's memories by meaning; the hits (with scores) replace ``hits``.

        An empty query or a bad ``top_k`` shows a message and keeps the previous hits.
        Returns at once.
        """
        if not self._valid:
            return
        if isinstance(query, str):
            self.query = query
        v11 = self.lum.v11
        launch(self, v11.search_memories(self.user_id, query, top_k), self._show_hits)

    # -- state ---------------------------------------------------------------------------
    def _check_category(self, category: Any) -> None:
        if category not in FACT_CATEGORIES:
            raise SessionError(
                f"unknown fact category {category!r}; use one of: {', '.join(FACT_CATEGORIES)}"
            )

    @traitlets.observe("category")
    def _valid_category(self, change: Any) -> None:
        # An observer, not a validator: ipywidgets applies browser changes inside
        # hold_trait_notifications, where a validator cannot see the previous value.
        value = change["new"]
        if value and value not in FACT_CATEGORIES:
            self._fail(
                SessionError(f"unknown fact category {value!r}; use one of: {', '.join(FACT_CATEGORIES)}")
            )
            old = change["old"]
            self.category = old if old in FACT_CATEGORIES else ""  # the filter stays as it was

    async def _load(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        v11 = self.lum.v11
        facts = await v11.get_facts(self.user_id)
        episodes = await v11.get_episodes(self.user_id)
        return [dict(f) for f in facts], [dict(e) for e in episodes]

    def _apply(self, state: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        facts, episodes = state
        self._raw_facts = {(str(f.get("category")), str(f.get("key"))): f for f in facts}
        self._raw_episodes = episodes
        with self.hold_sync():
            self.facts = [_compact_fact(f) for f in facts]
            self.episodes = [_compact_episode(e) for e in episodes]
            if facts or episodes:
                self.notice = ""
            else:
                self.notice = (
                    f"No memories of user {self.user_id!r} yet: chat with a session created with "
                    f"user_id={self.user_id!r} and they appear here."
                )

    def _show_hits(self, hits: Sequence[Any]) -> None:
        self._raw_hits = [hit.model_dump() for hit in hits]
        self.hits = [
            {"kind": hit.kind, "text": _clip(hit.text, 400), "score": round(float(hit.score), 4)}
            for hit in hits
        ]

    # -- browser messages ----------------------------------------------------------------
    def _actions(self) -> dict[str, Callable[[Mapping[str, Any]], object]]:
        return {
            "edit": lambda m: self.edit_fact(m.get("category"), m.get("key"), m.get("value")),  # type: ignore[arg-type]
            "delete": lambda m: self.delete_fact(m.get("category"), m.get("key")),  # type: ignore[arg-type]
            "search": lambda m: self.search(m.get("query"), m.get("top_k", 5)),  # type: ignore[arg-type]
            "refresh": lambda _: self.refresh(),
        }

    # -- text form -----------------------------------------------------------------------
    def _text(self) -> str:
        facts, episodes = list(self.facts), list(self.episodes)
        head = (
            f"MemoryInspector · {self.user_id or '?'} · {len(facts)} fact{'s' if len(facts) != 1 else ''}"
            f" · {len(episodes)} episode{'s' if len(episodes) != 1 else ''}"
        )
        lines = [head]
        if self.error:
            lines.append(f"error: {self.error}")
        if self.notice:
            lines.append(self.notice)
        shown = [f for f in facts if not self.category or f["category"] == self.category]
        if self.category:
            lines.append(f"facts of category {self.category}:")
        for fact in shown[:_TEXT_ROWS]:
            lines.append(f"  {fact['category']}/{fact['key']} = {fact['value']} ({fact['confidence']:.2f})")
        if len(shown) > _TEXT_ROWS:
            lines.append(f"  … {len(shown) - _TEXT_ROWS} more")
        for episode in episodes[:_TEXT_ROWS]:
            mark = _SENTIMENT_MARK.get(episode["sentiment"], "•")
            lines.append(
                f"  [{episode['importance']:g}] {episode['type']}: {episode['title']} "
                f"{mark} {episode['sentiment']}"
            )
        if self.hits:
            lines.append(f"search {self.query!r}:")
            for hit in self.hits[:5]:
                lines.append(f"  {hit['score']:.3f} {hit['kind']}: {_clip(hit['text'], 80)}")
        return "\n".join(lines)
