"""Search matrices kept between searches, and brought up to date by the rows that changed.

A backend that searches in this process keeps each recently searched user's
:class:`~._vectors.VectorMatrix` in a :class:`VectorCache`, under a token that changes
with every change of the user's embeddings (a version, a file's identity, a random value
written with each change). A search under another token needs a new matrix. Building one
reads every vector of the user again: about 0.4 s (memory) to 0.8 s (DuckDB) for 100,000
vectors. Where every write of the store passes through this process (the in-memory and
DuckDB backends), a :class:`VectorChanges` log says which items changed since the cached
token, and the cache asks the backend for just those rows: the matrix is updated
(:meth:`~._vectors.VectorMatrix.updated`), not rebuilt.

The log is kept only for users whose matrix is cached (it starts when a matrix is put,
ends when it is dropped), and for at most :data:`LOG_LIMIT` changes a user: beyond that, or
for a change it cannot list (``delete_user_data``), the next search rebuilds. A matrix
cached under a version older than the start of the log is rebuilt too, so a write landing
between a search's reading of the version and its caching of the matrix is never missed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Generic, TypeVar

from ._vectors import VectorMatrix, VectorRow

__all__ = ["LOG_LIMIT", "VectorCache", "VectorChanges"]

T = TypeVar("T")

#: Changes logged per cached user before the log gives up (the next search rebuilds).
LOG_LIMIT = 4096


class VectorChanges(Generic[T]):
    """Versions of each user's embeddings and, for the users being watched, what changed.

    Example:
        >>> changes = VectorChanges()
        >>> start = changes.watch("u1")
        >>> changes.record({"u1": [("a", False), ("b", True)]})
        >>> changes.since("u1", start), changes.version("u1") > start
        ([('a', False), ('b', True)], True)
        >>> changes.record({"u1": None}); changes.since("u1", start) is None
        True
    """

    def __init__(self, *, limit: int = LOG_LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()  # writes and searches may run in worker threads
        self._counter = itertools.count()
        self._versions: dict[str, int] = {}
        self._watchers: dict[str, int] = {}
        self._floor: dict[str, int] = {}  # the log of a user holds every change after this version
        self._log: dict[str, list[tuple[int, T, bool]]] = {}

    def version(self, user: str) -> int:
        """The current version of the user's embeddings (-1: none recorded yet)."""
        with self._lock:
            return self._versions.get(user, -1)

    def record(self, changes: Mapping[str, Iterable[tuple[T, bool]] | None]) -> None:
        """Give each user a new version, once their write is applied; log ``(item, deleted)`` pairs.

        ``None`` for a user: changes the log cannot list (the whole user deleted).
        """
        with self._lock:
            for user, items in changes.items():
                version = next(self._counter)
                self._versions[user] = version
                if user not in self._watchers:
                    continue
                log = self._log[user]
                entries = None if items is None else [(version, item, deleted) for item, deleted in items]
                if entries is None or len(log) + len(entries) > self._limit:
                    log.clear()
                    self._floor[user] = version  # nothing before is known now
                else:
                    log.extend(entries)

    def since(self, user: str, version: int) -> list[tuple[T, bool]] | None:
        """The items changed after ``version``, each once (first change first), with whether it was
        deleted meanwhile; ``None`` when the log does not reach back that far."""
        with self._lock:
            floor = self._floor.get(user)
            if floor is None or version < floor:
                return None
            changed: dict[T, bool] = {}
            for at, item, deleted in self._log[user]:
                if at > version:
                    changed[item] = changed.get(item, False) or deleted
            return list(changed.items())

    def watch(self, user: str) -> int:
        """Start (or join) logging the user's changes; the version the log starts after."""
        with self._lock:
            count = self._watchers.get(user, 0)
            self._watchers[user] = count + 1
            if not count:
                self._floor[user] = self._versions.get(user, -1)
                self._log[user] = []
            return self._floor[user]

    def unwatch(self, user: str) -> None:
        """Stop logging for one watcher; the log is dropped with the last."""
        with self._lock:
            count = self._watchers.pop(user, 0) - 1
            if count > 0:
                self._watchers[user] = count
            else:
                self._floor.pop(user, None)
                self._log.pop(user, None)


class VectorCache(Generic[T]):
    """The :class:`~._vectors.VectorMatrix` of each recently searched user, kept while its token holds.

    At most ``users`` matrices are kept (the least recently searched is dropped): one matrix
    of 100,000 vectors of 384 dimensions is about 150 MB. With ``changes``, a stale matrix
    is updated from the rows that changed (see :meth:`matrix`); :meth:`info` counts how
    each search got its matrix.

    Example:
        >>> cache = VectorCache(users=1)
        >>> cache.put("u1", 1, VectorMatrix(["a"], [b"\\x00\\x00\\x80?"]))
        >>> cache.get("u1", 1) is not None, cache.get("u1", 2), cache.get("u2", 1)
        (True, None, None)
    """

    def __init__(self, users: int = 4, *, changes: VectorChanges[T] | None = None) -> None:
        self._users = users
        self._changes = changes
        self._entries: dict[str, tuple[object, VectorMatrix[T]]] = {}
        self._lock = threading.Lock()  # searches may run in worker threads
        self._counts = {"hits": 0, "updates": 0, "builds": 0}

    def get(self, user: str, token: object) -> VectorMatrix[T] | None:
        """The matrix of ``user`` built under ``token``, or ``None``."""
        with self._lock:
            entry = self._entries.pop(user, None)
            if entry is None:
                return None
            self._entries[user] = entry  # most recently used last
            if entry[0] != token:
                return None
            self._counts["hits"] += 1
            return entry[1]

    async def matrix(
        self,
        user: str,
        token: int,
        build: Callable[[], Awaitable[VectorMatrix[T]]],
        rows: Callable[[list[tuple[T, bool]]], Awaitable[list[VectorRow[T]]]],
    ) -> VectorMatrix[T]:
        """The user's matrix under ``token`` (a :class:`VectorChanges` version): cached, updated or built.

        ``rows`` gives the current rows of changed items, for
        :meth:`~._vectors.VectorMatrix.updated` (new and re-added ones in the store's order);
        ``build`` reads the whole matrix. An update is tried when fewer than a quarter of
        the rows changed.
        """
        cached = self.get(user, token)
        if cached is not None:
            return cached
        with self._lock:
            entry = self._entries.get(user)
        matrix = None
        if entry is not None and self._changes is not None and isinstance(entry[0], int):
            changed = self._changes.since(user, entry[0])
            if changed is not None and len(changed) <= max(64, len(entry[1]) // 4):
                matrix = entry[1].updated(await rows(changed))
        with self._lock:
            self._counts["builds" if matrix is None else "updates"] += 1
        if matrix is None:
            matrix = await build()
        self.put(user, token, matrix)
        return matrix

    def put(self, user: str, token: object, matrix: VectorMatrix[T]) -> None:
        """Keep ``matrix`` for ``user`` under ``token``."""
        with self._lock:
            new = self._entries.pop(user, None) is None
            self._entries[user] = (token, matrix)
            dropped = []
            while len(self._entries) > self._users:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                dropped.append(oldest)
        if self._changes is not None:
            if new:
                self._changes.watch(user)
            for gone in dropped:
                self._changes.unwatch(gone)

    def clear(self) -> None:
        """Forget every matrix (a backend closing)."""
        with self._lock:
            users = list(self._entries)
            self._entries.clear()
        if self._changes is not None:
            for user in users:
                self._changes.unwatch(user)

    def info(self) -> dict[str, int]:
        """How searches got their matrix: ``hits`` (cached), ``updates`` (changed rows only), ``builds``."""
        with self._lock:
            return dict(self._counts)
