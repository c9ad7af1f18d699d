"""The writing half of a session log: the buffer, the background flusher, the write transaction.

**Cheap on the event loop.** :meth:`LogWriter.record` runs on the client's event loop
for every event: it appends the event to a buffer under a lock (well under a
microsecond) and starts the background flusher the first time. Nothing is serialised
there; the two events of every turn are kept as tuples of their values (see
:mod:`luminora_nb.sessionlog._rows`).

**Batched, short writes.** :meth:`LogWriter.flush` turns the buffer into Arrow tables
(pandas DataFrames when pyarrow is missing), then opens the file, checks and migrates
the schema, inserts every table with one ``INSERT ... SELECT`` each, commits and closes,
all in one transaction: about 25 ms, whatever the number of rows. A daemon thread
flushes every ``flush_interval`` seconds while something is buffered; :meth:`close`
stops it and flushes a last time, and an :mod:`atexit` hook closes every open log.
No connection stays open between flushes, so another process can write meanwhile
(:mod:`luminora_nb.sessionlog._connection`).

**Logging never breaks a turn.** A write that fails (read-only file or directory, lock
held past ``lock_timeout``, full disk, a file written by a newer schema) issues one
:class:`SessionLogWarning` per log and kind of failure, keeps the events buffered and is
retried at the next flush. At most ``max_buffered`` events are kept; beyond that the
oldest are dropped, with one warning. ``record()`` never raises.

Example:
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from luminora_nb.events import SessionCreated
    >>> writer = LogWriter(Path(tempfile.mkdtemp()) / "log.duckdb", host="here")
    >>> writer.record(SessionCreated(session_id="s1", personality_name="aurora", provider="offline"))
    >>> writer.buffered
    1
    >>> writer.close()
    >>> writer.buffered, writer.written
    (0, 1)
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

from ..events import Event, TurnCompleted, TurnStarted
from ..snapshot._gc import gc_paused
from ._connection import connect, failure_kind, path_lock
from ._errors import SessionLogWarning
from ._rows import (
    STARTED_FIELDS,
    TURN_COMPLETED,
    TURN_FIELDS,
    TURN_STARTED,
    Columns,
    arrow_table,
    build,
    default_engine,
    pandas_frame,
    statements,
)
from ._schema import migrate

__all__ = ["LogWriter"]

logger = logging.getLogger("luminora_nb.sessionlog")

_ADVICE = {
    "locked": "another process keeps the file open (a DuckDB shell, a storage on the same file)",
    "read-only": "make the file and its directory writable, or log to another path",
    "newer-schema": "upgrade luminora_nb or log to another file",
    "schema": "log to another file",
    "disk-full": "free some disk space",
    "not-a-database": "the file is not a DuckDB database; log to another path",
}

_open_logs: weakref.WeakSet[LogWriter] = weakref.WeakSet()


def _close_all() -> None:
    """atexit: flush every open log (a failure is logged; the interpreter is going away)."""
    for log in list(_open_logs):
        try:
            log.close()
        except Exception:
            logger.exception("closing session log %s at exit failed", log.path)


atexit.register(_close_all)


def _flusher(ref: weakref.ref[LogWriter], stop: threading.Event, interval: float) -> None:
    """Body of the background flush thread; holds the log weakly so it can be collected."""
    while not stop.wait(interval):
        log = ref()
        if log is None:
            return
        try:
            if log._buffer:
                log.flush()
        except Exception:  # never let the thread die: the next round retries
            logger.exception("background flush of session log %s failed", log.path)
        del log


class LogWriter:
    """Buffers events and writes them to the DuckDB file at ``path`` in short transactions.

    The base of :class:`~luminora_nb.sessionlog.SessionLog`, which checks the arguments
    first; see there for their meaning.
    """

    def __init__(
        self,
        path: Path,
        *,
        host: str,
        flush_interval: float = 1.0,
        lock_timeout: float = 30.0,
        max_buffered: int = 1_000_000,
    ) -> None:
        self.path = path
        self.flush_interval = float(flush_interval)
        self.lock_timeout = float(lock_timeout)
        self.max_buffered = max_buffered
        self.host = host
        self._key = os.path.join(os.path.realpath(path.parent), path.name)
        self._lock = threading.Lock()  # guards _buffer and the flusher's start
        self._flush_lock = threading.Lock()  # one flush of this log at a time
        self._buffer: list[Any] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._warned: set[str] = set()
        self._engine = default_engine()
        self.written = 0
        """Events written to the file by this log so far."""
        self.lock_retries = 0
        """Times this log found the file held by another process and tried again."""
        self.last_error: str | None = None
        """The last write failure, or ``None`` when the last flush succeeded."""
        _open_logs.add(self)

    @property
    def buffered(self) -> int:
        """Events recorded and not yet written."""
        return len(self._buffer)

    def record(self, event: Event) -> None:
        """Buffer ``event`` for the next flush. Cheap, thread-safe, never raises."""
        try:
            # The two events of every turn are kept as plain tuples of their values:
            # thousands of buffered models would make every garbage collection of the
            # process walk them (measured: more than the rest of the log together).
            cls = type(event)
            item: Any = event
            if cls is TurnCompleted:
                item = (TURN_COMPLETED, TURN_FIELDS(event))
            elif cls is TurnStarted:
                item = (TURN_STARTED, STARTED_FIELDS(event))
            with self._lock:
                self._buffer.append(item)
            if self._thread is None:
                self._start_flusher()
        except Exception:  # pragma: no cover - appending cannot fail short of memory
            logger.exception("session log %s could not record an event", self.path)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            thread = threading.Thread(
                target=_flusher,
                args=(weakref.ref(self), self._stop, self.flush_interval),
                name=f"luminora-sessionlog-{self.path.name}",
                daemon=True,
            )
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: close() / atexit write the buffer
                return
            self._thread = thread
            _open_logs.add(self)

    # -- writing ---------------------------------------------------------------------
    def flush(self) -> None:
        """Write every buffered event in one short transaction; on failure warn and keep them.

        Thread-safe; does nothing when nothing is buffered. Never raises for a write
        failure (it issues a :class:`SessionLogWarning` once per kind of failure).
        """
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                with gc_paused():
                    built = build(batch)
                for etype, error in built.skipped:
                    self._warn_once(
                        "serialise",
                        f"session log {self.path}: an event of type {etype!r} could not be serialised "
                        f"and was skipped ({error})",
                    )
                self._write(built.frames)
            except Exception as exc:
                with self._lock:
                    self._buffer[:0] = batch
                    dropped = self._trim()
                if dropped:
                    self._warn_once(
                        "dropped",
                        f"session log {self.path}: more than {self.max_buffered:,} events buffered while "
                        "writes fail; the oldest are being dropped. Fix the cause of the other warning",
                    )
                self._report(exc)
                return
            self.written += built.events
            self.last_error = None

    def _trim(self) -> int:
        """Drop the oldest events beyond ``max_buffered`` (caller holds ``_lock``); how many."""
        excess = len(self._buffer) - self.max_buffered
        if excess <= 0:
            return 0
        del self._buffer[:excess]
        return excess

    def _report(self, exc: Exception) -> None:
        kind = failure_kind(exc)
        detail = f"{type(exc).__name__}: {exc}"
        self.last_error = detail
        logger.debug("session log %s: flush failed (%s)", self.path, detail)
        advice = _ADVICE.get(kind, "check the file and its directory")
        self._warn_once(
            kind,
            f"session log {self.path}: writing failed ({detail}); chats go on, {self.buffered} events "
            f"are kept and retried at each flush. To fix: {advice}",
        )

    def _warn_once(self, kind: str, message: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(message, SessionLogWarning, stacklevel=3)

    def _write(self, frames: dict[str, Columns]) -> None:
        """One transaction: open, migrate, insert every frame, commit, close."""
        with gc_paused():
            tables = {name: self._frame(columns) for name, columns in frames.items()}
        params = {"host": self.host, "pid": os.getpid()}
        with path_lock(self._key):
            con = connect(self.path, read_only=False, timeout=self.lock_timeout, on_retry=self._retried)
            try:
                # A batch of a second's turns needs no parallelism, and a second DuckDB
                # thread would compete with the chat turns for the machine's cores.
                con.execute("SET threads TO 1")
                con.execute("BEGIN TRANSACTION")
                try:
                    migrate(con, self.path)
                    for name, table in tables.items():
                        con.register(f"_luminora_{name}", table)
                    for sql in statements(set(tables)):
                        con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        con.execute("ROLLBACK")
                    raise
            finally:
                con.close()

    def _retried(self) -> None:
        self.lock_retries += 1

    def _frame(self, columns: Columns) -> Any:
        return arrow_table(columns) if self._engine == "arrow" else pandas_frame(columns)

    def close(self) -> None:
        """Stop the background flusher and flush a last time. Safe to call twice.

        The log stays usable: recording again restarts the flusher.
        """
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()
        _open_logs.discard(self)
