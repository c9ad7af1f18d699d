"""Snapshot files as DataFrames: one user's state, or a whole folder of users and machines.

A snapshot (:mod:`luminora_nb.snapshot`) holds what a persona has with one user: the
relationship and its history, the mood, learned facts, memorable episodes and the
conversation. The functions here read one or many of them and return plain pandas
DataFrames, one row per item, each row keyed by the ``snapshot`` it came from, the
``user_id`` and the ``personality`` — so a folder written by many users and machines
(``save_snapshot`` into one shared folder) is analysed as one table.

Sources (:data:`SnapshotsLike`), read with the snapshot package's own loader
(:func:`~luminora_nb.snapshot.read_snapshot`: gzip detected by its magic bytes, the
size limit, full validation with JSON paths in errors):

* a file (``.json`` or gzip), labelled by its name;
* a folder: every ``*.json`` / ``*.json.gz`` / ``*.gz`` under it (sub-folders too, hidden
  files skipped), labelled by the path relative to the folder, in sorted order;
* a document (``dict`` or :class:`~luminora_nb.snapshot.Snapshot`, as ``export_snapshot``
  returns), validated with :func:`~luminora_nb.snapshot.validate_snapshot`;
* a ``{label: file or document}`` mapping, or a list of any of these;
* what :func:`load_snapshots` returned (nothing is read twice).

A file that is not a valid snapshot raises :class:`~luminora_nb.snapshot.SnapshotError`
naming it; ``errors="skip"`` warns and goes on instead (a shared folder may hold one
broken file).

The frames use the session log's column names where they mean the same thing, so the
plots of :mod:`~luminora_nb.analytics.plots` and :func:`~luminora_nb.analytics.usage_table`
take them as they are:

==============================  =================================================
frame                           plotted / summarised by
==============================  =================================================
:func:`snapshot_facts`          :func:`~.plots.plot_fact_categories`
:func:`snapshot_episodes`       :func:`~.plots.plot_episode_timeline`
:func:`snapshot_affinity`       :func:`~.plots.plot_affinity`
:func:`snapshot_messages`       :func:`~.plots.plot_message_lengths`,
                                :func:`~.usage.usage_table` -> :func:`~.plots.plot_usage`
:func:`snapshot_summary`        one row per snapshot (a table, not a plot)
==============================  =================================================

Two snapshots of one session taken an hour apart share their history; the affinity and
episode plots drop such repeated rows, and :func:`latest_snapshots` keeps only the newest
snapshot per user and personality where counting twice would mislead (usage tables).

:func:`diff_snapshots` compares two snapshots of the same user: what was learned,
forgotten or changed in between.

Example:
    >>> from luminora_nb.snapshot import minimal_snapshot
    >>> doc = minimal_snapshot("aurora", user_id="sam")
    >>> doc["current_state"]["learned_facts"] = [
    ...     {"category": "work", "key": "job", "value": "nurse", "confidence": 0.9}]
    >>> snapshot_facts(doc)[["user_id", "category", "key", "value"]].values.tolist()
    [['sam', 'work', 'job', 'nurse']]
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..snapshot import Snapshot, SnapshotError, read_snapshot, validate_snapshot
from .frames import MESSAGE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DIFF_COLUMNS",
    "LoadedSnapshot",
    "SnapshotsLike",
    "diff_snapshots",
    "latest_snapshots",
    "load_snapshots",
    "snapshot_affinity",
    "snapshot_episodes",
    "snapshot_facts",
    "snapshot_messages",
    "snapshot_summary",
]

_SUFFIXES = (".json", ".gz")
_KEYS = ("snapshot", "user_id", "personality")  # the first columns of most frames: whose state

#: The columns of :func:`diff_snapshots`, in order.
DIFF_COLUMNS = (
    *("kind", "change", "category", "key", "old_value", "new_value", "old_confidence", "new_confidence"),
    *("old_importance", "new_importance", "sentiment"),
)


@dataclass(frozen=True)
class LoadedSnapshot:
    """One read and validated snapshot with the label its rows carry (``snapshot`` column)."""

    label: str
    document: Snapshot

    @property
    def info(self) -> Mapping[str, Any]:
        """The document's ``_snapshot_info``."""
        return self.document.get("_snapshot_info") or {}

    @property
    def state(self) -> Mapping[str, Any]:
        """The document's ``current_state``."""
        return self.document.get("current_state") or {}


SnapshotsLike = (
    str
    | os.PathLike[str]
    | Mapping[str, Any]
    | LoadedSnapshot
    | Iterable["str | os.PathLike[str] | Mapping[str, Any] | LoadedSnapshot"]
)


def _is_document(value: Any) -> bool:
    return isinstance(value, Mapping) and "_snapshot_info" in value


def _files(folder: Path) -> list[Path]:
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name.endswith(_SUFFIXES)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_snapshots(
    source: SnapshotsLike, *, max_bytes: int | None = None, errors: Literal["raise", "skip"] = "raise"
) -> list[LoadedSnapshot]:
    """Read and validate snapshots from files, folders or documents (see the module docstring).

    Args:
        source: A file, a folder, a document, a ``{label: file or document}`` mapping,
            or a list of these.
        max_bytes: The size limit of one snapshot (``None``: 50 MB).
        errors: ``"raise"`` (default) stops at the first invalid snapshot;
            ``"skip"`` warns with the reason and leaves it out.

    Returns:
        The snapshots with their labels, in the order given (a folder's files sorted).

    Raises:
        SnapshotError: an invalid snapshot (its file and JSON paths named), with ``errors="raise"``.
        FileNotFoundError: a path that does not exist.
        TypeError: something that is not a snapshot source.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> [s.label for s in load_snapshots({"a": minimal_snapshot("aurora")})]
        ['a']
    """
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    out: list[LoadedSnapshot] = []
    _collect(source, None, out, max_bytes, errors, top=True)
    return out


def _collect(
    item: Any,
    label: str | None,
    out: list[LoadedSnapshot],
    max_bytes: int | None,
    errors: str,
    *,
    top: bool = False,
) -> None:
    if isinstance(item, LoadedSnapshot):
        out.append(item if label is None else LoadedSnapshot(label, item.document))
    elif _is_document(item):
        try:
            validate_snapshot(item, max_bytes=max_bytes, what=f" {label}" if label else "")
        except SnapshotError as exc:
            _fail(exc, errors)
            return
        doc = item if isinstance(item, Snapshot) else Snapshot(item)
        out.append(LoadedSnapshot(label or f"snapshot[{len(out)}]", doc))
    elif isinstance(item, Mapping):
        if not top:
            raise TypeError("a {label: snapshot} mapping cannot be nested in another source")
        for name, value in item.items():
            _collect(value, str(name), out, max_bytes, errors)
    elif isinstance(item, str | os.PathLike):
        path = Path(item)
        if path.is_dir():
            for file in _files(path):
                prefix = f"{label}/" if label else ""
                _collect(file, prefix + file.relative_to(path).as_posix(), out, max_bytes, errors)
        elif path.exists():
            try:
                doc = read_snapshot(path, max_bytes=max_bytes)
            except SnapshotError as exc:
                _fail(exc, errors)
                return
            out.append(LoadedSnapshot(label or path.name, doc))
        else:
            raise FileNotFoundError(
                f"no snapshot file or folder at {path}; pass a .json/.json.gz file or a folder"
            )
    elif isinstance(item, Iterable) and top:
        for value in item:
            if isinstance(value, Mapping) and not _is_document(value):
                raise TypeError("a list of snapshot sources holds files, folders or documents, not mappings")
            _collect(value, None, out, max_bytes, errors)
    else:
        raise TypeError(
            f"not a snapshot source: {type(item).__name__}; pass a file, a folder, a snapshot dict, "
            "a {label: snapshot} mapping or a list of these"
        )


def _fail(exc: SnapshotError, errors: str) -> None:
    if errors == "raise":
        raise exc
    warnings.warn(f"snapshot skipped: {exc}", stacklevel=4)


def _loaded(source: SnapshotsLike | Sequence[LoadedSnapshot]) -> list[LoadedSnapshot]:
    if isinstance(source, list) and all(isinstance(s, LoadedSnapshot) for s in source):
        return source
    return load_snapshots(source)


def latest_snapshots(
    source: SnapshotsLike, by: Sequence[str] = ("user_id", "personality")
) -> list[LoadedSnapshot]:
    """The newest snapshot (by export time) of each ``by`` group, in the order first seen.

    ``by`` names ``user_id``, ``personality`` and/or ``session_id``. Use it before counting
    messages or tokens over a folder that holds several snapshots of one conversation.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> old, new = minimal_snapshot("aurora", "sam"), minimal_snapshot("aurora", "sam")
        >>> new["_snapshot_info"]["created_at"] = "2026-02-01T00:00:00+00:00"
        >>> [s.label for s in latest_snapshots({"old": old, "new": new})]
        ['new']
    """
    fields = {"user_id": "user_id", "personality": "template_name", "session_id": "session_id"}
    unknown = [b for b in by if b not in fields]
    if unknown or not by:
        raise ValueError(f"latest_snapshots groups by some of {sorted(fields)}, got {list(by)!r}")
    newest: dict[tuple[Any, ...], LoadedSnapshot] = {}
    for snap in _loaded(source):
        group = tuple(snap.info.get(fields[b]) for b in by)
        kept = newest.get(group)
        if kept is None or _when(snap) >= _when(kept):
            newest[group] = snap
    return list(newest.values())


def _when(snap: LoadedSnapshot) -> Any:
    import pandas as pd

    when = _ts(snap.info.get("created_at"))
    return pd.Timestamp(0, tz="UTC") if pd.isna(when) else when


def _ts(value: Any) -> Any:
    """An ISO time as a UTC ``Timestamp`` (``NaT`` when missing or unreadable)."""
    import pandas as pd

    if not isinstance(value, str) or not value:
        return pd.NaT
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT
    return stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp.tz_localize("UTC")


# --------------------------------------------------------------------------- frames

_TS = "datetime64[us, UTC]"


def _frame(rows: list[dict[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns`` (name -> dtype), also when there are none."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name, dtype in columns.items():
        values = [row.get(name) for row in rows]
        if dtype == _TS:
            data[name] = pd.Series(
                [_ts(v) if not isinstance(v, pd.Timestamp) else v for v in values], dtype=_TS
            )
        elif dtype == "object":
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(columns))


# What a snapshot summary counts (all Int64).
_COUNTS = (
    "facts",
    "episodes",
    "messages",
    "messages_included",
    "user_messages",
    "assistant_messages",
    "tokens_in",
    "tokens_out",
)
# The dtype of every column that is not text, by name: a name means the same in every
# frame (a diff's old_/new_ columns are typed as the column they compare).
_DTYPES = {
    **dict.fromkeys(("ts", "exported_at", "first_message_at", "last_message_at"), _TS),
    **dict.fromkeys(
        (f"{age}{what}" for age in ("", "old_", "new_") for what in ("confidence", "importance")), "float64"
    ),
    **dict.fromkeys(("latency_ms", "mood_intensity"), "float64"),
    **dict.fromkeys(("value", "old_value", "new_value", "blend_sources"), "object"),  # any JSON value, a list
    **dict.fromkeys(
        ("revisions", "points_delta", "affinity_points", "days_active", "pid", *_COUNTS), "Int64"
    ),
    **dict.fromkeys(("turn_index", "prompt_tokens", "completion_tokens", "total_tokens"), "Int64"),
    "streamed": "boolean",
}


def _columns(*names: str) -> dict[str, str]:
    """The columns of a frame, name -> dtype (:data:`_DTYPES`, else text), in order."""
    return {name: _DTYPES.get(name, "string") for name in names}


def _keys(snap: LoadedSnapshot) -> dict[str, Any]:
    return {
        "snapshot": snap.label,
        "user_id": snap.info.get("user_id"),
        "personality": snap.info.get("template_name"),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _entries(
    source: SnapshotsLike,
    kind: str,
    columns: Mapping[str, str],
    derived: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> pd.DataFrame:
    """One row per entry of the snapshots' ``current_state[kind]`` (facts, episodes).

    A row holds the snapshot's keys, then the entry's value of each other column of
    ``columns`` (the frame names them as the snapshot does; a float64 column keeps only
    finite numbers), then what ``derived`` computes from the entry (renamed keys, counts).
    """

    def row(snap: LoadedSnapshot, entry: Mapping[str, Any]) -> dict[str, Any]:
        out = _keys(snap)
        for name, dtype in columns.items():
            if name not in out:
                out[name] = _number(entry.get(name)) if dtype == "float64" else entry.get(name)
        return out | derived(entry)

    return _frame(
        [row(snap, entry) for snap in _loaded(source) for entry in snap.state.get(kind) or []], columns
    )


FACT_FRAME = _columns(
    *_KEYS, "category", "key", "value", "confidence", "ts", "session_id", "source_message", "revisions"
)


def snapshot_facts(source: SnapshotsLike) -> pd.DataFrame:
    """Learned facts, one row per fact per snapshot.

    Columns: ``snapshot, user_id, personality, category, key, value, confidence, ts``
    (when the fact was first learned), ``session_id`` (where it was learned),
    ``source_message``, ``revisions`` (earlier values kept in its history).
    :func:`~luminora_nb.analytics.plot_fact_categories` plots it.
    """
    return _entries(
        source,
        "learned_facts",
        FACT_FRAME,
        lambda fact: {"ts": fact.get("created_at"), "revisions": len(fact.get("history") or [])},
    )


EPISODE_FRAME = _columns(
    *_KEYS, "episode_id", "episode_type", "title", "summary", "importance", "sentiment", "ts", "session_id"
)


def snapshot_episodes(source: SnapshotsLike) -> pd.DataFrame:
    """Memorable episodes, one row per episode per snapshot; ``importance`` runs 0-10.

    Columns: ``snapshot, user_id, personality, episode_id, episode_type, title, summary,
    importance, sentiment, ts, session_id``.
    :func:`~luminora_nb.analytics.plot_episode_timeline` plots it.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> doc = minimal_snapshot("aurora")
        >>> doc["current_state"]["memorable_episodes"] = [{"episode_type": "milestone", "title": "Engaged",
        ...                                                "importance": 8}]
        >>> snapshot_episodes(doc)[["title", "importance"]].values.tolist()
        [['Engaged', 8.0]]
    """
    return _entries(
        source,
        "memorable_episodes",
        EPISODE_FRAME,
        lambda e: {"ts": e.get("timestamp") or e.get("created_at")},
    )


AFFINITY_FRAME = _columns(
    *_KEYS,
    "personality_name",
    "ts",
    "points_delta",
    "affinity_points",
    "previous_level",
    "current_level",
    "interaction_type",
    "reason",
)


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else round(number)


def snapshot_affinity(source: SnapshotsLike) -> pd.DataFrame:
    """The relationship's history: points and level after each change, per snapshot.

    Columns: ``snapshot, user_id, personality``, ``personality_name`` (the same, under
    the session log's name so :func:`~luminora_nb.analytics.plot_affinity` plots it),
    ``ts, points_delta, affinity_points, previous_level, current_level,
    interaction_type, reason``. A snapshot without affinity gives no rows.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> doc = minimal_snapshot("aurora")
        >>> doc["current_state"]["affinity"] = {"points": 13, "level": "stranger", "progression_history": [
        ...     {"timestamp": "2026-01-01T00:00:00Z", "points_delta": 3, "points_after": 13}]}
        >>> snapshot_affinity(doc)[["personality_name", "points_delta", "affinity_points"]].values.tolist()
        [['aurora', 3, 13]]
    """
    rows = []
    for snap in _loaded(source):
        affinity = snap.state.get("affinity") or {}
        for step in affinity.get("progression_history") or []:
            if not isinstance(step, Mapping):
                continue
            keys = _keys(snap)
            rows.append(
                {
                    **keys,
                    "personality_name": keys["personality"],
                    "ts": step.get("timestamp"),
                    "points_delta": _int(step.get("points_delta")),
                    "affinity_points": _int(step.get("points_after")),
                    "previous_level": step.get("level_before"),
                    "current_level": step.get("level_after"),
                    "interaction_type": step.get("interaction_type"),
                    "reason": step.get("reason"),
                }
            )
    return _frame(rows, AFFINITY_FRAME)


MESSAGE_FRAME = _columns("snapshot", *MESSAGE_COLUMNS)  # the session log's messages, per snapshot


def _provider(snap: LoadedSnapshot) -> Mapping[str, Any]:
    config = snap.document.get("active_configuration") or {}
    provider = config.get("provider") if isinstance(config, Mapping) else None
    return provider if isinstance(provider, Mapping) else {}


def snapshot_messages(source: SnapshotsLike) -> pd.DataFrame:
    """The conversations the snapshots carry, one row per message, in order.

    Columns: ``snapshot`` then the session log's
    :data:`~luminora_nb.analytics.MESSAGE_COLUMNS` (``turn_index`` counts user messages
    from 0, a reply shares its question's; tokens, latency, finish reason and model come
    from each reply's metadata; ``provider`` from the snapshot's active configuration;
    ``host`` and ``pid`` are empty), so
    :func:`~luminora_nb.analytics.plot_message_lengths` and
    :func:`~luminora_nb.analytics.usage_table` take it. A snapshot exported without its
    conversation gives no rows; an anonymised one, rows without tokens or latency (its
    message metadata is dropped).
    """
    rows = []
    for snap in _loaded(source):
        conversation = snap.document.get("conversation") or {}
        provider = _provider(snap)
        turn = -1
        for message in conversation.get("messages") or []:
            meta = message.get("metadata") or {}
            usage = meta.get("usage")
            usage = usage if isinstance(usage, Mapping) else {}
            role = message.get("role")
            if role == "user":
                turn += 1
            rows.append(
                {
                    "snapshot": snap.label,
                    "session_id": snap.info.get("session_id"),
                    "turn_index": max(turn, 0),
                    "role": role,
                    "content": message.get("content"),
                    "ts": message.get("timestamp"),
                    "prompt_tokens": _int(usage.get("prompt_tokens")),
                    "completion_tokens": _int(usage.get("completion_tokens")),
                    "total_tokens": _int(usage.get("total_tokens")),
                    "latency_ms": _number(meta.get("latency_ms")),
                    "finish_reason": meta.get("finish_reason"),
                    "streamed": meta.get("streamed") if isinstance(meta.get("streamed"), bool) else None,
                    "personality": snap.info.get("template_name"),
                    "provider": provider.get("name"),
                    "model": meta.get("model") or provider.get("model"),
                    "user_id": snap.info.get("user_id"),
                }
            )
    return _frame(rows, MESSAGE_FRAME)


SUMMARY_FRAME = _columns(
    *_KEYS,
    "template_version",
    "session_id",
    "exported_at",
    "blend_sources",
    "affinity_points",
    "level",
    "mood",
    "mood_intensity",
    *_COUNTS,
    "first_message_at",
    "last_message_at",
    "days_active",
    "format_version",
)


def snapshot_summary(source: SnapshotsLike) -> pd.DataFrame:
    """One row per snapshot: who, which persona, the relationship, and the totals.

    Columns: ``snapshot, user_id, personality, template_version, session_id,
    exported_at, blend_sources`` (a list, or ``None`` for a persona that is not a
    blend), ``affinity_points, level, mood, mood_intensity, facts, episodes,
    messages`` (in the session), ``messages_included`` (in the file),
    ``user_messages, assistant_messages, tokens_in, tokens_out`` (of the included
    replies), ``first_message_at, last_message_at, days_active, format_version``.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> row = snapshot_summary({"a.json": minimal_snapshot("aurora", "sam")}).iloc[0]
        >>> row["user_id"], row["personality"], int(row["facts"]), row["format_version"]
        ('sam', 'aurora', 0, '1.0')
    """
    rows = []
    for snap in _loaded(source):
        card = snap.document.summary()
        conversation = snap.document.get("conversation") or {}
        messages = conversation.get("messages") or []
        roles = [m.get("role") for m in messages]
        usage = [
            (m.get("metadata") or {}).get("usage") or {} for m in messages if m.get("role") == "assistant"
        ]
        times = [m.get("timestamp") for m in messages if m.get("timestamp")]
        summary = snap.state.get("conversation_summary")
        summary = summary if isinstance(summary, Mapping) else {}
        rows.append(
            {
                **_keys(snap),
                "template_version": snap.info.get("template_version"),
                "session_id": card["session_id"],
                "exported_at": card["created_at"],
                "blend_sources": list(card["blend"]) or None,
                "affinity_points": card["affinity_points"],
                "level": card["level"],
                "mood": card["mood"],
                "mood_intensity": _number(card["mood_intensity"]),
                "facts": card["facts"],
                "episodes": card["episodes"],
                "messages": card["messages"],
                "messages_included": card["messages_included"],
                "user_messages": roles.count("user"),
                "assistant_messages": roles.count("assistant"),
                "tokens_in": sum(_int(u.get("prompt_tokens")) or 0 for u in usage),
                "tokens_out": sum(_int(u.get("completion_tokens")) or 0 for u in usage),
                "first_message_at": summary.get("first_message_at") or (times[0] if times else None),
                "last_message_at": summary.get("last_message_at") or (times[-1] if times else None),
                "days_active": card["days_active"],
                "format_version": card["version"],
            }
        )
    return _frame(rows, SUMMARY_FRAME)


# --------------------------------------------------------------------------- diff

_KIND_ORDER = {"fact": 0, "episode": 1, "affinity": 2, "mood": 3}
_CHANGE_ORDER = {"learned": 0, "changed": 1, "forgotten": 2}


def _one(source: Any, which: str) -> LoadedSnapshot:
    if isinstance(source, str | os.PathLike) and Path(source).is_dir():
        raise TypeError(f"{which} is a folder; diff_snapshots compares two single snapshots (files or dicts)")
    found = load_snapshots(source)
    if len(found) != 1:
        raise TypeError(f"{which} must be one snapshot (a file or a dict), got {len(found)}")
    return found[0]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        na, nb = _number(a), _number(b)
        if na is not None and nb is not None:
            return math.isclose(na, nb, rel_tol=0.0, abs_tol=1e-9)
    return bool(a == b)


def _episode_id(episode: Mapping[str, Any]) -> tuple[Any, ...]:
    # luminora_nb writes an episode_id; other tools may not: then what it says identifies it
    if episode.get("episode_id"):
        return ("id", episode["episode_id"])
    return ("content", episode.get("episode_type"), episode.get("title"), episode.get("timestamp"))


def diff_snapshots(old: Any, new: Any, *, strict: bool = True) -> pd.DataFrame:
    """What changed between two snapshots of the same user: learned, forgotten or changed.

    Args:
        old: The earlier snapshot: a file or a document (``dict`` / ``Snapshot``).
        new: The later one.
        strict: Refuse snapshots of two different users, or an ``old`` exported after
            ``new`` (swapped arguments would read everything learned as forgotten).

    Returns:
        One row per difference, columns :data:`DIFF_COLUMNS`, sorted by ``kind``
        (``fact``, ``episode``, ``affinity``, ``mood``), ``change``, ``category``, ``key``:

        * **fact** — by ``(category, key)``: ``learned`` (only in ``new``), ``forgotten``
          (only in ``old``) or ``changed`` (its value or confidence differs), with
          ``old_value`` / ``new_value`` and ``old_confidence`` / ``new_confidence``;
        * **episode** — by its ``episode_id`` (else type, title and time): ``learned`` /
          ``forgotten`` (``category`` = type, ``key`` = title, the value = its summary,
          ``*_importance``, ``sentiment``), ``changed`` when its summary, importance or
          sentiment differ;
        * **affinity** — ``category`` = the personality; rows ``points`` and ``level``
          when they differ (``learned`` when only ``new`` has an affinity);
        * **mood** — a ``mood`` row when the current mood differs.

        No row means nothing changed.

    Raises:
        SnapshotError: an invalid snapshot; with ``strict``, two users or swapped order.

    Example:
        >>> from luminora_nb.snapshot import minimal_snapshot
        >>> old, new = minimal_snapshot("aurora", "sam"), minimal_snapshot("aurora", "sam")
        >>> new["current_state"]["learned_facts"] = [
        ...     {"category": "work", "key": "job", "value": "nurse", "confidence": 0.9}]
        >>> diff_snapshots(old, new)[["kind", "change", "key", "new_value"]].values.tolist()
        [['fact', 'learned', 'job', 'nurse']]
    """
    before, after = _one(old, "old"), _one(new, "new")
    if strict:
        users = (before.info.get("user_id"), after.info.get("user_id"))
        if users[0] != users[1]:
            raise SnapshotError(
                f"the snapshots are of two users ({users[0]!r} and {users[1]!r}); diff_snapshots compares "
                "one user's snapshots — pass strict=False to compare them anyway",
                [("_snapshot_info.user_id", "differs")],
            )
        if _when(before) > _when(after):
            raise SnapshotError(
                f"old ({before.label}) was exported after new ({after.label}); pass the earlier snapshot "
                "first, or strict=False to compare them in this order",
                [("_snapshot_info.created_at", "old is newer")],
            )
    rows = [
        *_entry_changes(_FACTS, before, after),
        *_entry_changes(_EPISODES, before, after),
        *_state_changes(before, after),
    ]
    frame = _frame(rows, _columns(*DIFF_COLUMNS))
    if frame.empty:
        return frame
    order = frame.assign(
        _k=frame["kind"].map(_KIND_ORDER), _c=frame["change"].map(_CHANGE_ORDER)
    ).sort_values(["_k", "_c", "category", "key"], kind="stable", na_position="first")
    return frame.loc[order.index].reset_index(drop=True)


@dataclass(frozen=True)
class _Entries:
    """How :func:`diff_snapshots` compares one kind of remembered entry (facts, episodes)."""

    kind: str  # the diff's ``kind``
    state_key: str  # the list in current_state
    ident: Callable[[Mapping[str, Any]], Any]  # what makes two entries the same one
    heading: Callable[[Mapping[str, Any]], dict[str, Any]]  # category, key (...) of a row
    value: str  # shown as old_value / new_value
    measure: str  # shown as old_<measure> / new_<measure>, a number
    compared: tuple[str, ...]  # an entry in both snapshots "changed" when one of these differs


_FACTS = _Entries(
    "fact",
    "learned_facts",
    lambda f: (f.get("category"), f.get("key")),
    lambda f: {"category": f.get("category"), "key": f.get("key")},
    "value",
    "confidence",
    ("value", "confidence"),
)
_EPISODES = _Entries(
    "episode",
    "memorable_episodes",
    _episode_id,
    lambda e: {"category": e.get("episode_type"), "key": e.get("title"), "sentiment": e.get("sentiment")},
    "summary",
    "importance",
    ("summary", "importance", "sentiment"),
)


def _entry_changes(
    entries: _Entries, before: LoadedSnapshot, after: LoadedSnapshot
) -> Iterable[dict[str, Any]]:
    old = {entries.ident(e): e for e in before.state.get(entries.state_key) or []}
    new = {entries.ident(e): e for e in after.state.get(entries.state_key) or []}
    for ident in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(ident), new.get(ident)
        if a is None:
            change = "learned"
        elif b is None:
            change = "forgotten"
        elif any(not _same(a.get(f), b.get(f)) for f in entries.compared):
            change = "changed"
        else:
            continue
        shown = b if b is not None else a
        assert shown is not None
        row: dict[str, Any] = {"kind": entries.kind, **entries.heading(shown)}
        for age, entry in (("old", a), ("new", b)):
            if entry is not None:
                row[f"{age}_value"] = entry.get(entries.value)
                row[f"{age}_{entries.measure}"] = _number(entry.get(entries.measure))
        yield row | {"change": change}


def _state_changes(before: LoadedSnapshot, after: LoadedSnapshot) -> Iterable[dict[str, Any]]:
    old_aff, new_aff = before.state.get("affinity") or {}, after.state.get("affinity") or {}
    persona = after.info.get("template_name") or before.info.get("template_name")
    if old_aff or new_aff:
        change = "learned" if not old_aff else "forgotten" if not new_aff else "changed"
        for field, name in (("points", "points"), ("level", "level")):
            a, b = old_aff.get(field), new_aff.get(field)
            if change != "changed" or not _same(a, b):
                yield {
                    "kind": "affinity",
                    "change": change,
                    "category": persona,
                    "key": name,
                    "old_value": a,
                    "new_value": b,
                }
    old_mood = (before.state.get("mood") or {}).get("current")
    new_mood = (after.state.get("mood") or {}).get("current")
    if old_mood != new_mood:
        change = "learned" if old_mood is None else "forgotten" if new_mood is None else "changed"
        yield {
            "kind": "mood",
            "change": change,
            "category": persona,
            "key": "mood",
            "old_value": old_mood,
            "new_value": new_mood,
        }
