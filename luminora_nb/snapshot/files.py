"""Snapshots on disk (JSON, optionally gzip) and as a summary card in a notebook.

:class:`Snapshot` is the document itself — a ``dict`` subclass, so it is JSON,
``import_snapshot`` and ``PersonalitySnapshotDict`` code take it unchanged — that also
renders as a summary card in Jupyter (``_repr_html_``: personality, user, relationship,
mood, counts of facts, episodes and messages, the blend's sources) and saves itself.

Files: :func:`write_snapshot` writes UTF-8 JSON (compact, ``ensure_ascii=False`` so
emoji stay readable), gzip-compressed when the name ends in ``.gz`` or ``compress=True``;
:func:`read_snapshot` detects gzip by its magic bytes, refuses a file above the size
limit before reading it whole (a gzip file is measured while it is decompressed, so a
small bomb cannot fill memory) and validates the document, naming the file in errors.

Example:
    >>> import tempfile, pathlib
    >>> from luminora_nb.snapshot.model import minimal_snapshot
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "aurora.json.gz"
    >>> _ = write_snapshot(minimal_snapshot("aurora"), path)
    >>> read_snapshot(path)["_snapshot_info"]["template_name"]
    'aurora'
"""

from __future__ import annotations

import gzip
import html
import json
import os
from pathlib import Path
from typing import Any

from ._gc import gc_paused
from .validate import DEFAULT_MAX_BYTES, SnapshotError, check_size, validate_snapshot

__all__ = ["Snapshot", "read_snapshot", "write_snapshot"]

_GZIP_MAGIC = b"\x1f\x8b"


class Snapshot(dict[str, Any]):
    """A snapshot document (a plain ``dict``) that renders as a summary card in a notebook.

    Example:
        >>> from luminora_nb.snapshot.model import minimal_snapshot
        >>> Snapshot(minimal_snapshot("aurora")).summary()["personality"]
        'aurora'
    """

    def summary(self) -> dict[str, Any]:
        """The card's facts: personality, user, session, relationship, mood and counts."""
        info = self.get("_snapshot_info") or {}
        state = self.get("current_state") or {}
        affinity = state.get("affinity") or {}
        mood = state.get("mood") or {}
        conversation = self.get("conversation") or {}
        blend = self.get("blend") or {}
        return {
            "personality": info.get("template_name"),
            "version": info.get("format_version") or "1.0",
            "user_id": info.get("user_id"),
            "session_id": info.get("session_id"),
            "created_at": info.get("created_at"),
            "affinity_points": affinity.get("points"),
            "level": affinity.get("level"),
            "mood": mood.get("current"),
            "mood_intensity": mood.get("intensity"),
            "facts": len(state.get("learned_facts") or []),
            "episodes": len(state.get("memorable_episodes") or []),
            "messages": info.get("total_messages"),
            "messages_included": len(conversation.get("messages") or []),
            "days_active": info.get("days_active"),
            "blend": dict(zip(blend.get("sources") or [], blend.get("weights") or [], strict=False)),
        }

    def save(self, path: str | os.PathLike[str], *, compress: bool | None = None) -> Path:
        """Write this snapshot to ``path`` (see :func:`write_snapshot`)."""
        return write_snapshot(self, path, compress=compress)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<Snapshot {s['personality']!r} user={s['user_id']!r} facts={s['facts']} "
            f"episodes={s['episodes']} messages={s['messages']}>"
        )

    def _repr_html_(self) -> str:
        s = self.summary()
        esc = html.escape

        def row(label: str, value: Any) -> str:
            shown = "—" if value is None or value == "" else value
            head = f"<th scope='row' style='text-align:left'>{esc(label)}</th>"
            return f"<tr>{head}<td>{esc(str(shown))}</td></tr>"

        relation = (
            None if s["affinity_points"] is None else f"{s['level']} ({s['affinity_points']} / 100 points)"
        )
        mood = None if s["mood"] is None else f"{s['mood']} (intensity {float(s['mood_intensity'] or 0):.2f})"
        blend = ", ".join(f"{name} {weight:.0%}" for name, weight in s["blend"].items()) or None
        messages = f"{s['messages']} ({s['messages_included']} included)"
        rows = [
            row("User", s["user_id"]),
            row("Session", s["session_id"]),
            row("Exported", s["created_at"]),
            row("Relationship", relation),
            row("Mood", mood),
            row("Facts", s["facts"]),
            row("Episodes", s["episodes"]),
            row("Messages", messages),
            row("Days active", s["days_active"]),
            row("Blend of", blend),
        ]
        title = f"Snapshot · {esc(str(s['personality']))} · format {esc(str(s['version']))}"
        return (
            "<div class='lnb-snapshot' style='border:1px solid var(--jp-border-color1,#ccc);"
            "border-radius:4px;padding:6px 10px;max-width:40em'>"
            f"<strong>{title}</strong><table>{''.join(rows)}</table></div>"
        )


def write_snapshot(
    snapshot: dict[str, Any], path: str | os.PathLike[str], *, compress: bool | None = None
) -> Path:
    """Write a snapshot as UTF-8 JSON; gzip when ``compress`` (default: the name ends in ``.gz``).

    Returns the path written. The file is written next to its destination and renamed, so
    a reader never sees half a snapshot.
    """
    target = Path(path)
    data = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if compress if compress is not None else target.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def read_snapshot(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Snapshot:
    """Read and validate a snapshot file (JSON or gzip JSON).

    Args:
        path: The file.
        max_bytes: The size limit of the JSON text (``None``: 50 MB, :data:`DEFAULT_MAX_BYTES`).

    Raises:
        SnapshotError: the file is too large, not JSON, or not a valid snapshot (the
            message names the file and each fault's JSON path).
        OSError: the file cannot be read.
    """
    source = Path(path)
    where = f" in {source}"
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    with source.open("rb") as handle:
        gzipped = handle.read(2) == _GZIP_MAGIC
    if gzipped:
        with gzip.open(source, "rb") as stream:
            try:
                raw = stream.read(limit + 1)
            except (OSError, EOFError) as exc:
                raise SnapshotError(
                    f"{source} is not a readable gzip file ({exc})", [("(file)", "bad gzip")]
                ) from None
    else:
        size = source.stat().st_size
        check_size(size, limit, where)
        raw = source.read_bytes()
    check_size(len(raw), limit, where)
    try:
        with gc_paused():  # see _gc
            data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(
            f"{source} is not JSON ({exc}); a snapshot file is a JSON object", [("(file)", "not JSON")]
        ) from None
    with gc_paused():
        validate_snapshot(data, max_bytes=limit, size=len(raw), what=where)
    return Snapshot(data)
