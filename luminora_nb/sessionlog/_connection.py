"""Connections to the log file: one process-wide lock per file, retries while another process holds it.

**Two kernels, one file.** DuckDB lets one process at a time hold a database file
(readers included). A connection refused with "Could not set lock" is retried with
jittered exponential backoff (5 ms doubling up to 200 ms) for up to ``lock_timeout``
seconds (30 by default). In one process, every connection this package opens to a file
is serialised by a process-wide lock per path (:func:`path_lock`), because DuckDB refuses
a read-only and a read-write connection to the same file in one process at once. No
connection stays open between flushes or reads, so another process can write meanwhile.

Every connection runs in UTC (``SET TimeZone = 'UTC'``).

Example:
    >>> path_lock("/tmp/a.duckdb") is path_lock("/tmp/a.duckdb")
    True
    >>> failure_kind(OSError("[Errno 28] No space left on device"))
    'disk-full'
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import SessionLogError

if TYPE_CHECKING:
    import duckdb

__all__ = ["LockTimeout", "connect", "failure_kind", "path_lock"]

_PATH_LOCKS: dict[str, threading.RLock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def path_lock(key: str) -> threading.RLock:
    """One lock per file per process: DuckDB refuses mixed read-only/read-write connections."""
    with _PATH_LOCKS_GUARD:
        lock = _PATH_LOCKS.get(key)
        if lock is None:
            lock = _PATH_LOCKS[key] = threading.RLock()
        return lock


class LockTimeout(SessionLogError):
    """Another process held the file for longer than the retry budget."""


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


_BACKOFF_START = 0.005
_BACKOFF_CAP = 0.2


def connect(
    path: Path, *, read_only: bool, timeout: float, on_retry: Callable[[], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying with jittered exponential backoff while another process holds it."""
    import duckdb

    deadline = time.monotonic() + timeout
    delay = _BACKOFF_START
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise
            pause = random.uniform(delay / 2, delay)
            if time.monotonic() + pause > deadline:
                raise LockTimeout(
                    f"session log {path} was held by another process for more than {timeout:g} s "
                    f"({exc}); close other connections to it"
                ) from None
            if on_retry is not None:
                on_retry()
            time.sleep(pause)
            delay = min(delay * 2, _BACKOFF_CAP)
            continue
        except duckdb.ConnectionException as exc:
            # Something else in this process (a DuckDB storage on the same file) holds a
            # read-write connection: a read-only one is refused, a read-write one shares it.
            if read_only and "different configuration" in str(exc):
                read_only = False
                continue
            raise
        try:
            con.execute("SET TimeZone = 'UTC'")
        except Exception:
            con.close()
            raise
        return con


def failure_kind(exc: BaseException) -> str:
    """What kind of write failure ``exc`` is: one warning is issued per log and kind."""
    if isinstance(exc, LockTimeout):
        return "locked"
    text = str(exc).lower()
    if isinstance(exc, SessionLogError) and "newer" in text:
        return "newer-schema"
    if isinstance(exc, SessionLogError):
        return "schema"
    if any(s in text for s in ("permission denied", "operation not permitted", "read-only file system")):
        return "read-only"
    if "no space left" in text or "disk full" in text:
        return "disk-full"
    if "not a valid duckdb database" in text:
        return "not-a-database"
    return "write"
