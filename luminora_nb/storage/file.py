"""File storage: a directory of JSON documents, safe for several processes at once.

``StorageConfig(storage_type="file", connection_string=DIR)`` — ``DIR`` is a plain path
or a ``file://`` URL (default ``./luminora_data``). Layout::

    DIR/sessions/<id>.jsonl   one session: line 1 the session document (no messages),
                              line 2 the messages saved with it, then one line per append
    DIR/memory/<id>.json      the session's key/value memory
    DIR/moods/<id>.json       the session's mood
    DIR/users/<id>.json       one user's affinity, facts, episodes and embeddings
    DIR/.locks/               lock files (``fcntl.flock``), one per document

Each line/document is written through the storage's :class:`~.codec.DocumentCodec`:
JSON text when plain; base64 of the compressed and/or encrypted form otherwise.
Ids become file names with every character outside ``[A-Za-z0-9_-]`` escaped as
``%XX`` (ids too long for a file name are hashed).

Writes are atomic: a whole document is written to a temporary file in the same
directory, fsynced and renamed over the old one (``os.replace``); appends add one
complete line under the session's lock. A line left half-written by a crash is ignored
by readers and cut off by the next append. Every change holds an exclusive
``flock`` on the document's lock file, so two processes (or two storages in one
process) can share a directory without losing updates. Set
``StorageConfig(extra={"fsync": False})`` to skip fsync (faster, not crash-safe). A call
waits at most ``extra={"lock_timeout": SECONDS}`` (default 30) for a lock held elsewhere,
then raises :class:`~luminora_nb.errors.StorageError` naming the lock file.

Calls run on the event loop itself when that cannot stall it for long: a hop to a worker
thread costs about 100 us, as much as everything else an append does apart from its
fsync. So a read of one document, and a write of up to 1 MiB whose lock is free right
now (tried with ``LOCK_NB``), run inline (a write then blocks the loop for its fsync,
a few hundred microseconds on a local disk). A lock held elsewhere (another process, or
a call of this process already waiting for it), a larger document and a scan of the
whole directory go to a worker thread, as does everything with
``StorageConfig(extra={"io_threads": True})`` (for slow or network file systems where
one fsync can take milliseconds).

Sessions are written and read with pydantic's own JSON (``model_dump_json``,
``model_validate_json``); text UTF-8 cannot hold (an unpaired surrogate) takes the
slower way through Python's ``json``, which the codec stores ASCII-escaped.

Example:
    >>> import asyncio, tempfile
    >>> from luminora_nb.types import StorageConfig
    >>> async def main():
    ...     async with FileStorage(StorageConfig(storage_type="file",
    ...                                          connection_string=tempfile.mkdtemp())) as store:
    ...         await store.save_affinity("user1", "alicia", 50, "friend")
    ...         return (await store.get_affinity("user1", "alicia"))["current_level"]
    >>> asyncio.run(main())
    'friend'
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ..errors import StorageError
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig
from ._documents import (
    affinity_document,
    embedding_document,
    episode_document,
    fact_document,
    message_documents,
    mood_document,
    select_episodes,
    session_documents,
    session_from_documents,
)
from .base import Storage, require_strings
from .codec import DocumentCodec

__all__ = ["FileStorage"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_DEFAULT_DIR = "./luminora_data"
_SAFE = re.compile(r"[A-Za-z0-9_-]")
_MAX_NAME = 180
_SUBDIRS = ("sessions", "memory", "moods", "users", ".locks")
#: Writes of documents up to this size may run on the event loop (see the module docstring).
_INLINE_MAX = 1 << 20
#: Seconds a call waits for a document's lock held elsewhere (``extra={"lock_timeout": ...}``).
_LOCK_TIMEOUT = 30.0

_RECORD: TypeAdapter[SessionRecord] = TypeAdapter(SessionRecord)
_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_HEAD_EXCLUDE: Any = {"memory": True, "conversation": {"messages"}}
# A message batch line exactly as _batch_json writes it (other spellings take the json.loads way).
_BATCH = re.compile(rb'\{"seq":(\d+),"last_active":("[^"\\]*"|null),"messages":(\[.*\])\}', re.S)


class _Busy(Exception):
    """The document's lock is taken right now: run the call in a worker thread instead."""


def _batch_json(seq: int, stamp: bytes, messages_json: bytes) -> bytes:
    """The JSON of one message batch line from already serialised parts."""
    return b'{"seq":%d,"last_active":%b,"messages":%b}' % (seq, stamp, messages_json)


@functools.lru_cache(maxsize=4096)
def _file_name(identifier: str) -> str:
    """A file-name-safe, reversible (unless hashed) spelling of an id."""
    if not identifier:
        return "%"  # the empty id: '%' alone never results from escaping
    try:
        identifier.encode()
    except UnicodeEncodeError:
        raise StorageError(
            f"file storage: the id {identifier!r} is not valid Unicode text (it holds an unpaired "
            "surrogate) and cannot name a file; use an id without lone surrogate characters"
        ) from None
    name = "".join(c if _SAFE.match(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in identifier)
    if len(name) > _MAX_NAME:
        digest = hashlib.sha256(identifier.encode()).hexdigest()
        name = f"{name[:100]}~{digest}"
    return name


def _id_from_file_name(name: str) -> str | None:
    """The id a file name spells, or ``None`` for a hashed name (read the document instead)."""
    if "~" in name:
        return None
    if name == "%":
        return ""
    return unquote(name, errors="strict")


class _FileLock:
    """An exclusive ``flock`` on a lock file that survives the file being deleted and recreated.

    A blocking :meth:`acquire` polls (``LOCK_NB`` with a growing pause of up to 20 ms) and
    gives up with a :class:`StorageError` after ``timeout`` seconds, so a process that holds
    a lock forever (stopped in a debugger, hung on a network file system) cannot hang its
    peers forever.
    """

    def __init__(self, path: str, *, timeout: float = _LOCK_TIMEOUT) -> None:
        self._path = path
        self._timeout = timeout
        self._fd = -1

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; without ``blocking``, return ``False`` at once if it is held elsewhere.

        Raises:
            StorageError: ``blocking`` and the lock stayed held elsewhere for ``timeout`` seconds.
        """
        deadline = time.monotonic() + self._timeout
        pause = 0.001
        while True:
            if self._try_once():
                return True
            if not blocking:
                return False
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"file storage: lock file {self._path!r} stayed locked by another process or storage "
                    f"for {self._timeout:g} s; check for a hung process using this directory, or raise "
                    'StorageConfig(extra={"lock_timeout": SECONDS})'
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _try_once(self) -> bool:
        """One non-blocking attempt; ``False`` while the lock is held elsewhere."""
        while True:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # The file may have been unlinked and recreated meanwhile: then lock the new one.
                if os.fstat(fd).st_ino == os.stat(self._path).st_ino:
                    self._fd = fd
                    return True
            except FileNotFoundError:
                pass
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)  # closing releases the flock

    def __enter__(self) -> _FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileStorage(Storage):
    """Stores everything as JSON documents in one directory.

    See the module docstring for the layout and the guarantees.

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> FileStorage(StorageConfig(storage_type="file", connection_string="file:///tmp/lum")).directory
        PosixPath('/tmp/lum')
    """

    backend_name = "file"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(storage_type="file"))
        self.directory = _directory_of(self.config.connection_string)
        self._codec = DocumentCodec.from_config(self.config)
        self._fsync = bool(self.config.extra.get("fsync", True))
        self._inline = not self.config.extra.get("io_threads", False)
        self._lock_timeout = float(self.config.extra.get("lock_timeout", _LOCK_TIMEOUT))
        # Paths as strings: building pathlib paths costs more than the syscalls of an append.
        self._dirs = {sub: os.path.join(os.fspath(self.directory), sub) for sub in _SUBDIRS}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._ready = False

    def __repr__(self) -> str:
        return f"<FileStorage directory={str(self.directory)!r} codec={self._codec!r}>"

    # -- life-cycle ------------------------------------------------------------------
    async def initialize(self) -> None:
        """Create the directory tree if it is missing (only with ``auto_create_tables``).

        Raises:
            StorageError: the directory cannot be created or written, or it is missing
                while ``auto_create_tables`` is off.
        """

        def make() -> None:
            if not self.config.auto_create_tables and not (self.directory / "sessions").is_dir():
                raise StorageError(
                    f"file storage: {str(self.directory)!r} is not a luminora_nb storage directory and "
                    "auto_create_tables is off; set StorageConfig(auto_create_tables=True) to create it"
                )
            for sub in _SUBDIRS:
                (self.directory / sub).mkdir(parents=True, exist_ok=True)
            if not os.access(self.directory, os.W_OK):
                raise PermissionError(errno.EACCES, "not writable", str(self.directory))

        try:
            await asyncio.to_thread(make)
        except OSError as exc:
            raise StorageError(
                f"file storage: cannot use directory {str(self.directory)!r} ({exc.strerror or exc}); "
                "pass a writable directory as StorageConfig(connection_string=...)"
            ) from None
        self._ready = True

    async def close(self) -> None:
        """Nothing stays open between calls; marks the storage closed."""
        self._ready = False

    # -- helpers ---------------------------------------------------------------------
    def _path(self, kind: str, identifier: str, suffix: str) -> str:
        return f"{self._dirs[kind]}/{_file_name(identifier)}{suffix}"

    def _lock_path(self, kind: str, identifier: str) -> str:
        return f"{self._dirs['.locks']}/{kind}-{_file_name(identifier)}.lock"

    async def _run(
        self,
        operation: str,
        subject: str,
        lock: tuple[str, str] | None,
        fn: Callable[[], _T],
        *,
        inline: bool = True,
    ) -> _T:
        """Run ``fn`` holding the document's lock when ``lock`` is given.

        On the event loop when ``inline`` and the lock is free right now, else in a worker
        thread (see the module docstring).
        """
        if not self._ready:
            await self.initialize()
        try:
            if inline and self._inline:
                try:
                    return self._run_inline(lock, fn)
                except _Busy:
                    pass
            return await self._run_threaded(lock, fn)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(
                f"file storage: {operation} failed for {subject} in {str(self.directory)!r} "
                f"({exc.strerror or exc}); check that the directory exists, is writable and has free space"
            ) from None

    def _run_inline(self, lock: tuple[str, str] | None, fn: Callable[[], _T]) -> _T:
        if lock is None:
            return fn()
        queued = self._locks.get(f"{lock[0]}-{lock[1]}")
        if queued is not None and queued.locked():
            raise _Busy  # a call of this process waits for the document: queue behind it
        file_lock = _FileLock(self._lock_path(*lock))
        if not file_lock.acquire(blocking=False):
            raise _Busy  # held by another process (or storage): wait for it in a thread
        try:
            return fn()
        finally:
            file_lock.release()

    async def _run_threaded(self, lock: tuple[str, str] | None, fn: Callable[[], _T]) -> _T:
        def guarded() -> _T:
            if lock is None:
                return fn()
            with _FileLock(self._lock_path(*lock), timeout=self._lock_timeout):
                return fn()

        if lock is None:
            return await asyncio.to_thread(guarded)
        # One waiter per document in this process; other processes queue on the flock.
        name = f"{lock[0]}-{lock[1]}"
        async_lock = self._locks.get(name)
        if async_lock is None:
            async_lock = asyncio.Lock()
            self._locks[name] = async_lock
        async with async_lock:
            return await asyncio.to_thread(guarded)

    def _write_atomic(self, path: str, data: bytes) -> None:
        directory, name = os.path.split(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self._fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if self._fsync:
            self._fsync_dir(directory)

    @staticmethod
    def _fsync_dir(directory: str) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read_doc(self, path: str | Path, what: str) -> dict[str, Any] | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        return self._codec.decode(data, what=what)

    def _line(self, document: dict[str, Any], what: str) -> bytes:
        return self._codec.encode_text(document, what=what).encode("utf-8") + b"\n"

    def _json_line(self, raw: bytes, what: str) -> bytes:
        """One line for a document already serialised as UTF-8 JSON (no newline inside)."""
        data = self._codec.encode_json(raw, what=what)
        return (data if self._codec.is_plain else base64.urlsafe_b64encode(data)) + b"\n"

    def _session_lines(self, record: SessionRecord) -> bytes:
        """The first two lines of a session file: the session document, the messages saved with it."""
        what = f"session {record.session_id!r}"
        try:
            head = _RECORD.dump_json(record, exclude=_HEAD_EXCLUDE)
            messages = _MESSAGES.dump_json(record.conversation.messages)
            stamp = _DATETIME.dump_json(record.last_active)
        except PydanticSerializationError:  # text UTF-8 cannot hold (an unpaired surrogate)
            doc, docs = session_documents(record)
            batch = {"seq": 0, "last_active": doc["last_active"], "messages": docs}
            return self._line(doc, what) + self._line(batch, what)
        return self._json_line(head, what) + self._json_line(_batch_json(0, stamp, messages), what)

    @staticmethod
    def _small(path: str) -> bool:
        """Whether the document at ``path`` is small enough to rewrite on the event loop."""
        try:
            return os.stat(path).st_size <= _INLINE_MAX
        except OSError:
            return True  # missing (or unreadable: the call itself reports that)

    @staticmethod
    def _unlink(path: str | Path) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    # -- sessions: file format ---------------------------------------------------------
    def _read_session_lines(self, path: str) -> list[bytes] | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        lines = data.split(b"\n")
        # The last element is b"" after a complete line, else a line cut short by a crash
        # (or still being appended by another process): ignore it either way.
        return lines[:-1]

    def _load_record(self, session_id: str) -> SessionRecord | None:
        what = f"session {session_id!r}"
        lines = self._read_session_lines(self._path("sessions", session_id, ".jsonl"))
        if lines is None:
            return None
        if not lines:
            raise StorageError(f"{what} is corrupt and could not be read: its file is empty; delete it")
        doc = self._codec.decode(lines[0], what=what)
        messages: list[Message | dict[str, Any]] = []
        last_active: str | None = None
        for number, line in enumerate(lines[1:], start=2):
            batch, stamp = self._read_batch(line, len(messages), what=what, number=number)
            messages.extend(batch)
            last_active = stamp or last_active
        if len(lines) > 2 and last_active is not None:  # appends since the last save
            doc["last_active"] = last_active
            doc.setdefault("conversation", {})["updated_at"] = last_active
        memory = self._read_doc(self._path("memory", session_id, ".json"), f"memory of {what}")
        return session_from_documents(doc, messages, memory=(memory or {}).get("values", {}), what=what)

    def _read_batch(
        self, line: bytes, seq: int, *, what: str, number: int
    ) -> tuple[list[Message] | list[dict[str, Any]], str | None]:
        """The messages and ``last_active`` of one batch line that must start at ``seq``."""
        where = f"{what} (line {number})"
        match = _BATCH.fullmatch(self._codec.decode_json(line, what=where))
        if match is not None and int(match[1]) == seq:
            try:  # the line as _batch_json wrote it: validate the messages' JSON at once
                messages = _MESSAGES.validate_json(match[3])
            except ValidationError:
                pass  # e.g. ASCII-escaped surrogates, which only Python's json reads: see below
            else:
                return messages, (None if match[2] == b"null" else match[2][1:-1].decode())
        batch = self._codec.decode(line, what=where)
        if batch.get("seq") != seq or not isinstance(batch.get("messages"), list):
            raise StorageError(
                f"{what} is corrupt and could not be read: line {number} does not continue the "
                "conversation; restore it from a backup or delete it"
            )
        return batch["messages"], batch.get("last_active")

    def _summary(self, path: Path) -> SessionSummary | None:
        """The listing row of one session file: reads its first and last lines only."""
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        with fh:
            first = fh.readline()
            if not first.endswith(b"\n"):
                return None  # empty, or being replaced: nothing complete to list
            last, _ = self._last_line(fh, os.fstat(fh.fileno()).st_size)
        sid = _id_from_file_name(path.stem)
        what = f"session {sid!r}" if sid is not None else f"session file {path.name!r}"
        doc = self._codec.decode(first[:-1], what=what)
        batch = self._codec.decode(last, what=what) if last is not None and last != first[:-1] else {}
        count = int(batch.get("seq", 0)) + len(batch.get("messages", []))
        provider = doc.get("provider_config", {}).get("name", "")
        return SessionSummary(
            session_id=doc["session_id"],
            personality_name=doc["personality_name"],
            provider=str(provider),
            user_id=doc.get("user_id"),
            message_count=count,
            created_at=doc["created_at"],
            last_active=batch.get("last_active") or doc["last_active"],
        )

    # -- conversations ---------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        """Write the whole session (replacing any stored one) atomically."""
        sid = record.session_id
        what = f"session {sid!r}"
        data = self._session_lines(record)
        path = self._path("sessions", sid, ".jsonl")
        await self._run(
            "save_session",
            what,
            ("session", sid),
            lambda: self._write_atomic(path, data),
            inline=len(data) <= _INLINE_MAX,
        )

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The stored session with its messages and memory, or ``None``.

        Raises:
            StorageError: a document of this session is corrupt or cannot be decrypted.
        """
        require_strings(self.backend_name, "load_session", session_id=session_id)
        return await self._run(
            "load_session", f"session {session_id!r}", None, lambda: self._load_record(session_id)
        )

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        """Append one line holding ``messages`` to the session file (no rewrite).

        Raises:
            StorageError: the session is not stored, or its file is corrupt.
        """
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        what = f"session {session_id!r}"
        path = self._path("sessions", session_id, ".jsonl")
        stamp = _DATETIME.dump_json(last_active)
        batch_docs: list[dict[str, Any]] = []
        try:
            messages_json: bytes | None = _MESSAGES.dump_json(list(messages))
        except PydanticSerializationError:  # text UTF-8 cannot hold (an unpaired surrogate)
            messages_json, batch_docs = None, message_documents(messages)

        def append() -> None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                raise StorageError(
                    f"file storage: session {session_id!r} is not stored; save it before appending"
                ) from None
            with os.fdopen(fd, "r+b", buffering=0) as fh:
                size = os.fstat(fd).st_size
                last, complete = self._last_line(fh, size)
                if complete < size:  # a torn final line from a crash: cut it off
                    fh.truncate(complete)
                if last is None:
                    raise StorageError(f"{what} is corrupt: its file holds no complete line; delete it")
                tail = self._codec.decode(last, what=what)
                if not isinstance(tail.get("seq"), int) or not isinstance(tail.get("messages"), list):
                    raise StorageError(
                        f"{what} is corrupt: the last line of its file is not a message batch; "
                        "restore it from a backup or delete it"
                    )
                seq = tail["seq"] + len(tail["messages"])
                if messages_json is not None:
                    line = self._json_line(_batch_json(seq, stamp, messages_json), what)
                else:
                    batch = {"seq": seq, "last_active": json.loads(stamp), "messages": batch_docs}
                    line = self._line(batch, what)
                self._append_line(fd, line, start=complete)

        await self._run("append_messages", what, ("session", session_id), append)  # small: inline

    def _append_line(self, fd: int, line: bytes, *, start: int) -> None:
        """Write all of ``line`` at the end of ``fd`` (opened ``O_APPEND``), then fsync.

        ``os.write`` may write fewer bytes than asked (a full disk, a signal): the loop
        writes the rest. On any failure the file is cut back to ``start`` (its size before
        the call) so no partial line is left behind, and the error propagates.
        """
        try:
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                if written <= 0:  # no progress: treat as a full disk rather than spin
                    raise OSError(errno.ENOSPC, "no space left on device")
                view = view[written:]
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise

    @staticmethod
    def _last_line(fh: Any, size: int) -> tuple[bytes | None, int]:
        """The last complete line of a file (without its newline) and where complete lines end.

        Bytes after the last newline are a line cut short by a crash (or still being
        written): they are not part of the result, and the offset tells where they begin.
        """
        block = 8192
        pos = size
        buf = b""
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            buf = fh.read(pos - start) + buf
            pos = start
            end = buf.rfind(b"\n")
            if end < 0:
                continue
            begin = buf.rfind(b"\n", 0, end)
            if begin >= 0 or pos == 0:
                return buf[begin + 1 : end], pos + end + 1
        return None, 0

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries of stored sessions, oldest first. Unreadable sessions are logged and skipped."""
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))

        def scan() -> list[SessionSummary]:
            rows: list[SessionSummary] = []
            for path in (self.directory / "sessions").glob("*.jsonl"):
                try:
                    row = self._summary(path)
                except (StorageError, KeyError, TypeError, ValueError) as exc:
                    logger.warning("file storage: skipping unreadable session file %s: %s", path.name, exc)
                    continue
                if row is not None and (user_id is None or row.user_id == user_id):
                    rows.append(row)
            return sorted(rows, key=lambda s: (s.created_at, s.session_id))

        return await self._run("list_sessions", "the sessions", None, scan, inline=False)

    async def delete_session(self, session_id: str) -> bool:
        """Delete the session, its memory and its mood; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        what = f"session {session_id!r}"

        def delete() -> bool:
            existed = self._unlink(self._path("sessions", session_id, ".jsonl"))
            for kind, sub in (("memory", "memory"), ("mood", "moods")):
                lock_path = self._lock_path(kind, session_id)
                with _FileLock(lock_path, timeout=self._lock_timeout):
                    self._unlink(self._path(sub, session_id, ".json"))
                    self._unlink(lock_path)  # lockers re-check the inode, so this is safe
            self._unlink(self._lock_path("session", session_id))
            return existed

        return await self._run("delete_session", what, ("session", session_id), delete, inline=False)

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the session's memory document."""
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        what = f"memory of session {session_id!r}"
        path = self._path("memory", session_id, ".json")
        # Fail on a non-JSON value before touching the file.
        self._codec.dumps({"value": value}, what=f"memory value for key {key!r}")

        def update() -> None:
            doc = self._read_doc(path, what) or {"session_id": session_id, "values": {}}
            doc["values"][key] = value
            self._write_atomic(path, self._codec.encode(doc, what=what))

        await self._run("set_memory", what, ("memory", session_id), update, inline=self._small(path))

    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key``, or ``None``."""
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        what = f"memory of session {session_id!r}"

        def read() -> Any:
            doc = self._read_doc(self._path("memory", session_id, ".json"), what)
            return None if doc is None else doc.get("values", {}).get(key)

        return await self._run("get_memory", what, None, read)

    # -- v1.1 user state -------------------------------------------------------------
    def _user_doc(self, user_id: str) -> dict[str, Any]:
        doc = self._read_doc(self._path("users", user_id, ".json"), f"user {user_id!r}")
        if doc is None:
            doc = {"user_id": user_id}
        for section in ("affinity", "facts", "embeddings"):
            doc.setdefault(section, {})
        doc.setdefault("episodes", [])
        return doc

    async def _update_user(self, user_id: str, operation: str, change: Callable[[dict[str, Any]], _T]) -> _T:
        what = f"user {user_id!r}"
        path = self._path("users", user_id, ".json")

        def update() -> _T:
            doc = self._user_doc(user_id)
            result = change(doc)
            self._write_atomic(path, self._codec.encode(doc, what=what))
            return result

        return await self._run(operation, what, ("user", user_id), update, inline=self._small(path))

    async def _read_user(self, user_id: str, operation: str) -> dict[str, Any]:
        return await self._run(operation, f"user {user_id!r}", None, lambda: self._user_doc(user_id))

    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        """Save or replace the affinity of ``user_id`` with ``personality_name``."""
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        record = affinity_document(user_id, personality_name, affinity_points, current_level, kwargs)
        self._codec.dumps(record, what="affinity")

        def change(doc: dict[str, Any]) -> bool:
            doc["affinity"][personality_name] = record
            return True

        return await self._update_user(user_id, "save_affinity", change)

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        """The affinity record, or ``None``."""
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        doc = await self._read_user(user_id, "get_affinity")
        row = doc["affinity"].get(personality_name)
        return dict(row) if row is not None else None

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        """Save a fact; one with the same ``category`` and ``key`` is replaced in place."""
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        self._codec.dumps({"value": value, **kwargs}, what="fact")

        def change(doc: dict[str, Any]) -> bool:
            slot = _fact_slot(category, key)
            previous = doc["facts"].get(slot)
            doc["facts"][slot] = fact_document(user_id, category, key, value, kwargs, previous)
            return True

        return await self._update_user(user_id, "save_fact", change)

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        """The user's facts (of one category if given), in the order first learned."""
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        doc = await self._read_user(user_id, "get_facts")
        return [dict(f) for f in doc["facts"].values() if category is None or f["category"] == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        """Delete one fact; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)

        def change(doc: dict[str, Any]) -> bool:
            return doc["facts"].pop(_fact_slot(category, key), None) is not None

        return await self._update_user(user_id, "delete_fact", change)

    async def save_episode(
        self,
        user_id: str,
        episode_type: str,
        title: str,
        summary: str,
        importance: float,
        sentiment: str,
        **kwargs: Any,
    ) -> bool:
        """Append an episode to the user's document."""
        require_strings(self.backend_name, "save_episode", user_id=user_id)
        episode = episode_document(user_id, episode_type, title, summary, importance, sentiment, kwargs)
        self._codec.dumps(episode, what="episode")

        def change(doc: dict[str, Any]) -> bool:
            doc["episodes"].append(episode)
            return True

        return await self._update_user(user_id, "save_episode", change)

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        """Episodes with ``importance >= min_importance``, most important first, then newest."""
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        doc = await self._read_user(user_id, "get_episodes")
        return select_episodes(doc["episodes"], min_importance, max_results)

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save the current mood of a session."""
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        what = f"mood of session {session_id!r}"
        record = mood_document(session_id, user_id, current_mood, mood_intensity, kwargs)
        data = self._codec.encode(record, what=what)
        path = self._path("moods", session_id, ".json")
        await self._run("save_mood", what, ("mood", session_id), lambda: self._write_atomic(path, data))
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        """The session's mood record, or ``None``."""
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        what = f"mood of session {session_id!r}"
        path = self._path("moods", session_id, ".json")
        return await self._run("get_mood", what, None, lambda: self._read_doc(path, what))

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        """Save (or replace) the embedding of a memory item."""
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        record = embedding_document(item_id, kind, text, vector, kwargs)
        self._codec.dumps(record, what="embedding")

        def change(doc: dict[str, Any]) -> bool:
            doc["embeddings"][item_id] = record
            return True

        return await self._update_user(user_id, "save_embedding", change)

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Embeddings of a user's memory items: dicts with item_id, kind, text, vector."""
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        doc = await self._read_user(user_id, "get_embeddings")
        return [dict(r) for r in doc["embeddings"].values() if kind is None or r["kind"] == kind]

    def _moods(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in (self.directory / "moods").glob("*.json"):
            sid = _id_from_file_name(path.stem)
            try:
                doc = self._read_doc(path, f"mood of session {sid!r}")
            except StorageError as exc:
                logger.warning("file storage: skipping unreadable mood file %s: %s", path.name, exc)
                continue
            if doc is not None:
                yield path, doc

    async def list_users(self) -> list[str]:
        """Users with any stored state, sorted."""

        def scan() -> list[str]:
            users: set[str] = set()
            for path in (self.directory / "users").glob("*.json"):
                user = _id_from_file_name(path.stem)
                if user is None:
                    doc = self._read_doc(path, f"user file {path.name!r}")
                    user = None if doc is None else str(doc["user_id"])
                if user is not None:
                    users.add(user)
            users.update(str(doc["user_id"]) for _, doc in self._moods())
            return sorted(users)

        return await self._run("list_users", "the users", None, scan, inline=False)

    async def delete_user_data(self, user_id: str) -> int:
        """Delete every affinity, fact, episode, mood and embedding of a user; returns the count."""
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        what = f"user {user_id!r}"
        path = self._path("users", user_id, ".json")

        def delete() -> int:
            count = 0
            try:
                doc = self._read_doc(path, what)
            except StorageError:
                doc = None  # a corrupt document is deleted too; its items cannot be counted
            if doc is not None:
                count += sum(len(doc.get(s, ())) for s in ("affinity", "facts", "episodes", "embeddings"))
            self._unlink(path)
            for mood_path, mood in list(self._moods()):
                if mood.get("user_id") == user_id:
                    sid = str(mood["session_id"])
                    with _FileLock(self._lock_path("mood", sid), timeout=self._lock_timeout):
                        if self._unlink(mood_path):
                            count += 1
            return count

        return await self._run("delete_user_data", what, ("user", user_id), delete, inline=False)


def _fact_slot(category: str, key: str) -> str:
    """The slot of a fact in the user document: category and key, unambiguously joined."""
    return f"{len(category)}:{category}:{key}"


def _directory_of(connection_string: str | None) -> Path:
    """The directory a connection string names (plain path or ``file://`` URL)."""
    text = (connection_string or _DEFAULT_DIR).strip()
    if text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(
                f"file storage: connection string {text!r} names host {parsed.netloc!r}; "
                "use a local path or a file:///absolute/path URL"
            )
        text = unquote(parsed.path)
        if not text:
            raise StorageError(f"file storage: connection string {connection_string!r} has no path")
    return Path(os.path.expanduser(text))
