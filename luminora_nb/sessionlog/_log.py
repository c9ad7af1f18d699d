"""The public :class:`SessionLog`: checked arguments, attaching to clients, ratings.

It is a :class:`~luminora_nb.sessionlog._readers.LogReaders` (which is a
:class:`~luminora_nb.sessionlog._writer.LogWriter`); this module adds what a user
touches first: the constructor's checks with their advice, the notebook repr,
:meth:`SessionLog.attach` / :meth:`SessionLog.detach`, and :meth:`SessionLog.record_rating`.
"""

from __future__ import annotations

import html
import math
import os
import socket
from pathlib import Path
from typing import ClassVar, Protocol

from ..errors import shown
from ..events import Event, EventBus, Subscription
from ._errors import SessionLogError
from ._export import ParquetExport, export_parquet
from ._readers import LogReaders

__all__ = ["DEFAULT_PATH", "RatingRecorded", "SessionLog"]

DEFAULT_PATH = "luminora.duckdb"


class RatingRecorded(Event):
    """A human rating of one reply (see :meth:`SessionLog.record_rating`)."""

    type: ClassVar[str] = "rating"
    blend: str
    prompt: str
    rating: int
    note: str | None = None
    run_id: str | None = None
    repeat: int = 0


class _HasEvents(Protocol):
    events: EventBus


class SessionLog(LogReaders):
    """A DuckDB file receiving every session, turn and event of the clients attached to it.

    Args:
        path: The database file (created at the first flush). Its directory must exist.
        flush_interval: Seconds between background flushes while events are buffered.
        host: Name stored in the ``host`` columns (default: this machine's host name).
        lock_timeout: Seconds a flush or read waits for a file held by another process
            before giving up (the events stay buffered for the next flush).
        max_buffered: Events kept in memory while writes fail; beyond, the oldest go.

    Raises:
        SessionLogError: the directory does not exist or is not writable (and the file
            does not exist yet), the path is a directory, or an option is out of range.

    Example:
        >>> import os, tempfile
        >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
        >>> log.record_rating(blend="av", prompt="Hi!", rating=1)
        >>> log.ratings()[["blend", "prompt", "rating"]].values.tolist()
        [['av', 'Hi!', 1]]
        >>> log.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        flush_interval: float = 1.0,
        host: str | None = None,
        lock_timeout: float = 30.0,
        max_buffered: int = 1_000_000,
    ) -> None:
        raw = os.fspath(path)
        if not isinstance(raw, str) or not raw.strip() or raw.strip() == ":memory:":
            raise SessionLogError(
                f"session log path must be a file path such as 'luminora.duckdb', got {raw!r}; "
                "pass log=None for no log"
            )
        if "\x00" in raw:  # DuckDB would silently cut the path at the NUL and open another file
            raise SessionLogError(
                f"session log path {shown(raw)} holds a NUL character; pass a plain file path"
            )
        self.path = Path(raw).expanduser()
        _check_number("flush_interval", flush_interval, minimum=0.001)
        _check_number("lock_timeout", lock_timeout, minimum=0.0)
        if isinstance(max_buffered, bool) or not isinstance(max_buffered, int) or max_buffered < 1:
            raise SessionLogError(f"max_buffered must be a positive integer, got {max_buffered!r}")
        parent = self.path.parent
        if not parent.is_dir():
            raise SessionLogError(
                f"session log directory {parent.resolve()} does not exist; create it or pass log=None"
            )
        if self.path.is_dir():
            raise SessionLogError(
                f"session log path {self.path} is a directory; pass a file path such as "
                f"{self.path / DEFAULT_PATH}, or log=None"
            )
        if not self.path.exists() and not os.access(parent, os.W_OK | os.X_OK):
            raise SessionLogError(
                f"session log directory {parent.resolve()} is not writable; pass a path in a "
                "writable directory, or log=None"
            )
        super().__init__(
            self.path,
            host=host if host is not None else socket.gethostname(),
            flush_interval=flush_interval,
            lock_timeout=lock_timeout,
            max_buffered=max_buffered,
        )
        self._subscriptions: list[Subscription] = []

    # -- repr -----------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<SessionLog {str(self.path)!r} buffered={self.buffered} written={self.written} "
            f"attached={self.attached}>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("file", str(self.path)),
            ("buffered events", str(self.buffered)),
            ("written events", str(self.written)),
            ("lock retries", str(self.lock_retries)),
            ("attached clients", str(self.attached)),
        ]
        if self.last_error:
            rows.append(("last error", self.last_error))
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<b>SessionLog</b><table>{cells}</table>"

    @property
    def attached(self) -> int:
        """Clients this log is subscribed to (through :meth:`attach`, not yet detached)."""
        return len(self._subscriptions)

    # -- recording -------------------------------------------------------------------
    def attach(self, client: _HasEvents) -> Subscription:
        """Log every event of ``client`` (anything with an ``events`` bus); several may attach.

        Example:
            >>> import os, tempfile
            >>> from luminora_nb import LuminoraCoreClient
            >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
            >>> sub = log.attach(LuminoraCoreClient())
            >>> log.attached
            1
            >>> log.detach()
        """
        sub = client.events.subscribe(self.record)
        self._subscriptions.append(sub)
        return sub

    def detach(self) -> None:
        """Unsubscribe from every client attached with :meth:`attach`."""
        subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.close()

    def record_rating(
        self,
        *,
        blend: str,
        prompt: str,
        rating: int,
        note: str | None = None,
        run_id: str | None = None,
        repeat: int = 0,
        session_id: str | None = None,
    ) -> None:
        """Store a human rating (-1, 0 or +1) of ``blend``'s reply to ``prompt``, at once.

        The rating is an ``events`` row of type ``"rating"``; :meth:`ratings` gives the
        latest per (run_id, blend, prompt, repeat). The log is flushed before this returns
        (a write of about 25 ms; longer while another process holds the file), so call it
        from a widget callback or a cell, not from a coroutine on the client's loop.

        Raises:
            SessionLogError: ``rating`` is not -1, 0 or 1, ``blend``/``prompt`` are not
                non-empty strings, ``repeat`` is not a non-negative integer.
        """
        if isinstance(rating, bool) or not isinstance(rating, int) or rating not in (-1, 0, 1):
            raise SessionLogError(f"rating must be -1, 0 or 1 (thumbs down, neutral, up), got {rating!r}")
        for name, value in (("blend", blend), ("prompt", prompt)):
            if not isinstance(value, str) or not value:
                raise SessionLogError(f"{name} must be a non-empty string, got {value!r}")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
            raise SessionLogError(f"repeat must be a non-negative integer, got {repeat!r}")
        for name, opt in (("note", note), ("run_id", run_id), ("session_id", session_id)):
            if opt is not None and not isinstance(opt, str):
                raise SessionLogError(f"{name} must be a string or None, got {opt!r}")
        self.record(
            RatingRecorded(
                session_id=session_id,
                blend=blend,
                prompt=prompt,
                rating=rating,
                note=note,
                run_id=run_id,
                repeat=repeat,
            )
        )
        self.flush()

    def export_parquet(self, folder: str | os.PathLike[str]) -> ParquetExport:
        """Write the log to ``folder`` as Parquet partitioned by day and host.

        Exports of many logs and machines may share one folder; exporting this log again
        rewrites its own files only (see :mod:`luminora_nb.sessionlog._export`, which
        also shows how DuckDB, pandas, Dask and Spark read the files).

        Raises:
            SessionLogError: ``folder`` is a file or not writable, or the log file was
                written by a newer luminora_nb.
        """
        return export_parquet(self, folder)

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_number(name: str, value: object, *, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise SessionLogError(f"{name} must be a number of seconds >= {minimum:g}, got {value!r}")
