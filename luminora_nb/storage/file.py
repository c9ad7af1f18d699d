"""File storage: a directory of JSON documents, safe for several processes at once.

``StorageConfig(storage_type="file", connection_string=DIR)`` — ``DIR`` is a plain path
or a ``file://`` URL (default ``./luminora_data``). Layout::

    DIR/sessions/<id>.jsonl   one session: line 1 the session document (no messages),
                              line 2 the messages saved with it, then one line per append
    DIR/memory/<id>.json      the session's key/value memory
    DIR/moods/<id>.json       the session's mood
    DIR/users/<id>.json       one user's affinity, facts, episodes and embeddings
    DIR/metadata.json         the store's metadata record (once written)
    DIR/.locks/               lock files (``fcntl.flock``), one per document
    DIR/.journal/             batches being written to several files (see below)

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

A batch that changes several files holds all their locks (taken in one order, so two
batches never wait for each other), writes the new contents of every file to one journal
file in ``.journal/`` (the commit point), then replaces the files and deletes the journal.
A journal left behind by a crash is applied again by the next storage that opens the
directory: a batch is stored whole or not at all.

Calls run on the event loop itself when that cannot stall it for long: a hop to a worker
thread costs about 100 us, as much as everything else an append does apart from its
fsync. So a read of one document, and a write of up to 1 MiB whose lock is free right
now (tried with ``LOCK_NB``), run inline (a write then blocks the loop for its fsync,
a few hundred microseconds on a local disk). A lock held elsewhere (another process, or
a call of this process already waiting for it), a larger document, a batch and a scan of
the whole directory go to a worker thread, as does everything with
``StorageConfig(extra={"io_threads": True})`` (for slow or network file systems where
one fsync can take milliseconds).

``StorageConfig(extra={"read_only": True})`` opens an existing directory for reading only:
nothing is created, locked or written (a read-only file system, an immutable directory, a
snapshot), every read works, and every write raises a
:class:`~luminora_nb.errors.StorageError` saying the store is read-only. A batch journal a
crashed writer left behind is not applied (it is logged): the reader sees the store as it
was before that batch.

A damaged session file is named accurately: an empty file, a file with no complete line
(cut short, or random bytes), a first line that is not a session (the message names the
missing or invalid field), and a file whose session id differs from its name (a copied or
renamed file: refused at read, and left out of listings).

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
import copy
import errno
import functools
import json
import logging
import os
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from ..errors import StorageError
from ..types.session import Message, StorageConfig
from . import _documents as docs
from . import _files
from ._files import LOCK_TIMEOUT, FileLock, append_line, last_line, unlink, write_atomic
from ._files import file_name as _file_name
from ._files import id_from_file_name as _id_from_file_name
from ._files import place_of_file as _at
from ._keys import Sample
from ._vector_cache import VectorCache
from .base import Storage
from .codec import DocumentCodec

__all__ = ["FileStorage"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_Lock = tuple[str, str]  # (kind, id) of a document's lock file
_SUBDIRS = ("sessions", "memory", "moods", "users", ".locks")
#: Writes of documents up to this size may run on the event loop (see the module docstring).
_INLINE_MAX = 1 << 20
#: The section of a user's document that holds each kind
_SECTIONS = {"affinity": "affinity", "fact": "facts", "episode": "episodes", "embedding": "embeddings"}
_METADATA_LOCK = ("store", "metadata")


class _Batch(BaseModel):
    """A message batch line: the messages saved or appended together, and where they start."""

    seq: int
    last_active: str | None = None
    messages: list[Message]


class _Busy(Exception):
    """The document's lock is taken right now: run the call in a worker thread instead."""


@dataclass
class _FileChange:
    """What one write (or batch) does to one file: replace it, or edit its document."""

    path: str
    lock: _Lock
    what: str
    data: bytes | None = None  # the whole new content (a saved session)
    only_new: int | None = None  # index of a save ``if_absent``: write only if the file is missing
    edits: list[tuple[int, docs.Put | docs.Delete]] = field(
        default_factory=list
    )  # (index in the batch, write)


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
        self.directory = _files.store_directory(self.config.connection_string)
        self._codec = DocumentCodec.from_config(self.config)
        self._fsync = bool(self.config.extra.get("fsync", True))
        self._inline = not self.config.extra.get("io_threads", False)
        self._lock_timeout = float(self.config.extra.get("lock_timeout", LOCK_TIMEOUT))
        self._read_only = bool(self.config.extra.get("read_only", False))
        # Paths as strings: building pathlib paths costs more than the syscalls of an append.
        root = os.fspath(self.directory)
        self._dirs = {sub: os.path.join(root, sub) for sub in (*_SUBDIRS, ".journal")}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._ready = False
        self._matrices: VectorCache[docs.Document] = VectorCache()  # search: see _nearest

    def __repr__(self) -> str:
        return f"<FileStorage directory={str(self.directory)!r} codec={self._codec!r}>"

    # -- life-cycle ------------------------------------------------------------------
    async def initialize(self) -> None:
        """Create the directory tree if it is missing (only with ``auto_create_tables``).

        Also applies any batch journal a crashed writer left behind.

        Raises:
            StorageError: the directory cannot be created or written, or it is missing
                while ``auto_create_tables`` is off.
        """

        _files.valid_directory(self.directory, self.config.connection_string)
        if self._read_only:
            await asyncio.to_thread(self._check_readable)
            await self._settle_key(read_only=True)
            return

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
            self._recover_journals()

        try:
            await asyncio.to_thread(make)
        except OSError as exc:
            raise StorageError(
                f"file storage: cannot use directory {str(self.directory)!r} ({exc.strerror or exc}); "
                "pass a writable directory as StorageConfig(connection_string=...)"
            ) from None
        await self._settle_key(read_only=False)

    async def _settle_key(self, *, read_only: bool) -> None:
        """Ready, once the encryption key is checked against the store (a wrong one is refused)."""
        self._ready = True  # the metadata primitives run from here on
        try:
            self._codec = await self._check_key(self._codec, read_only=read_only)
        except BaseException:
            self._ready = False
            raise

    def _check_readable(self) -> None:
        """The checks of a read-only open: the directory exists; nothing is created or applied."""
        if not self.directory.is_dir():
            raise StorageError(
                f"file storage: directory {str(self.directory)!r} does not exist (it is opened read-only, "
                "so it is not created); pass the directory of an existing store"
            )
        journal = self._dirs[".journal"]
        if os.path.isdir(journal) and any(name.endswith(".json") for name in os.listdir(journal)):
            logger.warning(
                "file storage: %s holds a batch a crashed writer did not finish; opened read-only, it "
                "is not applied (open the store writable once to finish it)",
                journal,
            )

    def _writable(self, operation: str, subject: str) -> None:
        """Refuse a write to a store opened with ``extra={"read_only": True}``."""
        if self._read_only:
            raise StorageError(
                f"file storage is read-only (StorageConfig(extra={{'read_only': True}})): cannot {operation} "
                f"{subject} in {str(self.directory)!r}; open the store without read_only to change it"
            )

    async def close(self) -> None:
        """Nothing stays open between calls; marks the storage closed."""
        self._ready = False

    # -- places and locks ------------------------------------------------------------
    def _path(self, kind: str, identifier: str, suffix: str) -> str:
        return f"{self._dirs[kind]}/{_file_name(identifier)}{suffix}"

    def _lock_path(self, kind: str, identifier: str) -> str:
        return f"{self._dirs['.locks']}/{kind}-{_file_name(identifier)}.lock"

    def _place(self, key: docs.Key) -> tuple[str, _Lock, str]:
        """The file holding the document under ``key``, its lock, and its name in messages."""
        owner = key.owner
        if key.kind is docs.MEMORY:
            return self._path("memory", owner, ".json"), ("memory", owner), f"memory of session {owner!r}"
        if key.kind is docs.MOOD:
            return self._path("moods", owner, ".json"), ("mood", owner), f"mood of session {owner!r}"
        return self._path("users", owner, ".json"), ("user", owner), f"user {owner!r}"

    async def _run(
        self,
        operation: str,
        subject: str,
        locks: Sequence[_Lock],
        fn: Callable[[], _T],
        *,
        inline: bool = True,
    ) -> _T:
        """Run ``fn`` holding the locks of ``locks``.

        On the event loop when ``inline``, at most one lock is needed and it is free right
        now, else in a worker thread (see the module docstring).
        """
        if not self._ready:
            await self.initialize()
        try:
            if inline and self._inline and len(locks) <= 1:
                try:
                    return self._run_inline(locks, fn)
                except _Busy:
                    pass
            return await self._run_threaded(locks, fn)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(
                f"file storage: {operation} failed for {subject} in {str(self.directory)!r} "
                f"({exc.strerror or exc}); check that the directory exists, is writable and has free space"
            ) from None

    def _run_inline(self, locks: Sequence[_Lock], fn: Callable[[], _T]) -> _T:
        if not locks:
            return fn()
        queued = self._locks.get("-".join(locks[0]))
        if queued is not None and queued.locked():
            raise _Busy  # a call of this process waits for the document: queue behind it
        file_lock = FileLock(self._lock_path(*locks[0]))
        if not file_lock.acquire(blocking=False):
            raise _Busy  # held by another process (or storage): wait for it in a thread
        try:
            return fn()
        finally:
            file_lock.release()

    async def _run_threaded(self, locks: Sequence[_Lock], fn: Callable[[], _T]) -> _T:
        def guarded() -> _T:
            with self._holding(locks):
                return fn()

        # One waiter per document in this process; other processes queue on the flocks.
        async with contextlib.AsyncExitStack() as stack:
            for lock in sorted(locks):
                await stack.enter_async_context(self._queue(lock))
            return await asyncio.to_thread(guarded)

    @contextlib.asynccontextmanager
    async def _queue(self, lock: _Lock) -> AsyncIterator[None]:
        name = "-".join(lock)
        async_lock = self._locks.get(name)
        if async_lock is None:
            async_lock = asyncio.Lock()
            self._locks[name] = async_lock
        async with async_lock:
            yield

    @contextlib.contextmanager
    def _holding(self, locks: Sequence[_Lock]) -> Iterator[None]:
        """The flocks of ``locks``, taken in sorted order (so batches never deadlock)."""
        with contextlib.ExitStack() as stack:
            for lock in sorted(set(locks)):
                stack.enter_context(FileLock(self._lock_path(*lock), timeout=self._lock_timeout))
            yield

    # -- documents -------------------------------------------------------------------
    def _read_doc(self, path: str | Path, what: str) -> dict[str, Any] | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        return self._codec.decode(data, what=what, at=_at(path))

    def _line(self, document: Mapping[str, Any], what: str, at: str) -> bytes:
        """One line of a session file: the document's JSON through the codec (base64 when sealed).

        Session documents are serialised by pydantic's serializer (the fastest here; as in
        every version of this backend, a NaN in message metadata is written as ``null``);
        text UTF-8 cannot hold takes the codec's own way (ASCII-escaped, or refused when sealed).
        """
        try:
            raw = pydantic_core.to_json(document, inf_nan_mode="null")
        except pydantic_core.PydanticSerializationError:
            return self._codec.encode_text(document, what=what, at=at).encode("utf-8") + b"\n"
        data = self._codec.encode_json(raw, what=what, at=at)
        return (data if self._codec.is_plain else base64.urlsafe_b64encode(data)) + b"\n"

    @staticmethod
    def _small(path: str) -> bool:
        """Whether the document at ``path`` is small enough to rewrite on the event loop."""
        try:
            return os.stat(path).st_size <= _INLINE_MAX
        except OSError:
            return True  # missing (or unreadable: the call itself reports that)

    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        operation, subject = docs.described(writes)
        self._writable(operation, subject)
        changes: dict[str, _FileChange] = {}
        for index, write in enumerate(writes):
            if isinstance(write, docs.SaveSession):
                sid = write.record.session_id
                what = f"session {sid!r}"
                batch = {"seq": 0, "last_active": write.head["last_active"], "messages": write.messages}
                path = self._path("sessions", sid, ".jsonl")
                change = changes[path] = _FileChange(path, ("session", sid), what)
                change.data = self._line(write.head, what, _at(path)) + self._line(batch, what, _at(path))
                change.only_new = index if write.if_absent else None
            else:
                path, lock, what = self._place(write.key)
                changes.setdefault(path, _FileChange(path, lock, what)).edits.append((index, write))
        files = list(changes.values())
        inline = len(files) == 1 and (
            self._small(files[0].path) if files[0].data is None else len(files[0].data) <= _INLINE_MAX
        )
        locks = [change.lock for change in files]
        return await self._run(
            operation, subject, locks, lambda: self._commit(files, len(writes)), inline=inline
        )

    def _commit(self, files: list[_FileChange], count: int) -> list[bool]:
        """Apply the changes to their files (holding their locks); journaled when several."""
        results = [True] * count
        contents: dict[str, bytes | None] = {}
        for change in files:
            if change.data is not None:
                if change.only_new is not None and os.path.exists(change.path):
                    results[change.only_new] = False  # taken: checked holding the session's lock
                    continue
                contents[change.path] = change.data
                continue
            document = self._read_doc(change.path, change.what)
            for index, write in change.edits:
                document, results[index] = self._edited(document, write)
            contents[change.path] = (
                None
                if document is None
                else self._codec.encode(document, what=change.what, at=_at(change.path))
            )
        journal = self._journal(contents, [change.lock for change in files]) if len(contents) > 1 else None
        self._replace(contents)
        if journal is not None:
            unlink(journal)
        return results

    def _edited(
        self, document: docs.Document | None, write: docs.Put | docs.Delete
    ) -> tuple[docs.Document | None, bool]:
        """The stored document of a file after ``write``, and whether it changed something."""
        key = write.key
        if key.kind is docs.MOOD:  # the file is the mood document
            return (None, document is not None) if isinstance(write, docs.Delete) else (write.document, True)
        if key.kind is docs.MEMORY:
            document = document or {"session_id": key.owner, "values": {}}
            section, slot = document["values"], key.names[0]
        else:
            document = document or {"user_id": key.owner}
            for name in _SECTIONS.values():
                document.setdefault(name, [] if name == "episodes" else {})
            section, slot = document[_SECTIONS[key.kind.name]], _slot(key)
        if isinstance(write, docs.Delete):
            return document, section.pop(slot, None) is not None
        if key.kind is docs.MEMORY:
            section[slot] = write.document["value"]
        elif key.kind.appended:
            section.append(write.document)
        else:
            section[slot] = docs.kept(write.document, section.get(slot), key.kind.keep)
        return document, True

    def _replace(self, contents: Mapping[str, bytes | None]) -> None:
        for path, data in contents.items():
            if data is None:
                unlink(path)
            else:
                write_atomic(path, data, fsync=self._fsync)

    def _journal(self, contents: Mapping[str, bytes | None], locks: Sequence[_Lock]) -> str:
        """Write the new contents of several files to one journal file: the batch's commit point."""
        directory = self._dirs[".journal"]
        os.makedirs(directory, exist_ok=True)
        root = os.fspath(self.directory)
        record = {
            "locks": sorted(set(locks)),
            "files": {
                os.path.relpath(path, root): None if data is None else base64.b64encode(data).decode("ascii")
                for path, data in contents.items()
            },
        }
        path = os.path.join(directory, f"{uuid.uuid4().hex}.json")
        write_atomic(path, json.dumps(record).encode("utf-8"), fsync=self._fsync)
        return path

    def _recover_journals(self) -> None:
        """Finish the batches whose writer crashed after its journal was written."""
        directory = self._dirs[".journal"]
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        root = os.fspath(self.directory)
        for name in names:
            path = os.path.join(directory, name)
            if not name.endswith(".json"):  # a journal cut short before its commit
                unlink(path)
                continue
            try:
                with open(path, "rb") as fh:
                    record = json.loads(fh.read())
            except FileNotFoundError:
                continue  # finished by its writer meanwhile
            with self._holding([(str(kind), str(ident)) for kind, ident in record["locks"]]):
                if not os.path.exists(path):
                    continue
                self._replace(
                    {
                        os.path.join(root, relative): None if data is None else base64.b64decode(data)
                        for relative, data in record["files"].items()
                    }
                )
                unlink(path)
            logger.warning("file storage: finished a batch interrupted by a crash (%s)", name)

    async def _get(self, key: docs.Key) -> docs.Document | None:
        path, _, what = self._place(key)
        document = await self._run(
            f"get_{key.kind.name}", key.subject, [], lambda: self._read_doc(path, what)
        )
        if document is None or key.kind is docs.MOOD:
            return document
        if key.kind is docs.MEMORY:
            values = document.get("values", {})
            return {"key": key.names[0], "value": values[key.names[0]]} if key.names[0] in values else None
        found: docs.Document | None = document.get(_SECTIONS[key.kind.name], {}).get(_slot(key))
        return found

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        path, _, what = self._place(docs.Key(kind, owner))
        document = await self._run(f"get_{kind.name}", kind.of(owner), [], lambda: self._read_doc(path, what))
        if document is None:
            return []
        if kind is docs.MEMORY:
            return [{"key": k, "value": v} for k, v in document.get("values", {}).items()]
        section = document.get(_SECTIONS[kind.name], {})
        return list(section) if kind.appended else list(section.values())

    async def _nearest(
        self, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, docs.Document]]:
        """Rank a matrix of the user's vectors kept while the user's file is unchanged (any process's
        write replaces it): see :func:`._files.embedding_matrix`."""
        path, _, what = self._place(docs.Key(docs.EMBEDDING, user_id))
        decode = functools.partial(self._codec.decode, what=what, at=_at(path))
        matrix = await self._run(
            "search_embeddings",
            docs.EMBEDDING.of(user_id),
            [],
            lambda: _files.embedding_matrix(path, decode, self._matrices, user_id),
            inline=False,
        )
        return [(score, copy.deepcopy(doc)) for score, doc in matrix.rank(query, limit, label=kind)]

    # -- sessions ----------------------------------------------------------------------
    def _read_session_lines(self, path: str, what: str) -> list[bytes] | None:
        """The complete lines of a session file (``None``: no such file).

        Raises:
            StorageError: the file is empty, or holds no complete line (cut short, random bytes).
        """
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        lines = data.split(b"\n")
        # The last element is b"" after a complete line, else a line cut short by a crash
        # (or still being appended by another process): ignore it either way.
        if len(lines) < 2:
            raise _files.session_without_complete_line(what, data)
        return lines[:-1]

    def _read_batch(self, line: bytes, *, what: str, at: str) -> _Batch:
        """One message batch line, its messages parsed and validated in one pass when it can."""
        try:
            return _Batch.model_validate_json(self._codec.decode_json(line, what=what, at=at))
        except ValidationError:  # e.g. escaped unpaired surrogates: Python's json, then the caller validates
            batch = self._codec.decode(line, what=what, at=at)
        if not isinstance(batch.get("seq"), int) or not isinstance(batch.get("messages"), list):
            return _Batch(seq=-1, messages=[])  # does not continue any conversation: corrupt
        return _Batch.model_construct(
            seq=batch["seq"], last_active=batch.get("last_active"), messages=batch["messages"]
        )

    def _read_session(self, session_id: str) -> docs.StoredSession | None:
        what = f"session {session_id!r}"
        path = self._path("sessions", session_id, ".jsonl")
        lines = self._read_session_lines(path, what)
        if lines is None:
            return None
        head = _files.session_head_of_file(
            self._codec.decode(lines[0], what=what, at=_at(path)), session_id, what
        )
        messages: list[Message | docs.Document] = []
        last_active: str | None = None
        for number, line in enumerate(lines[1:], start=2):
            batch = self._read_batch(line, what=f"{what} (line {number})", at=_at(path))
            if batch.seq != len(messages):
                raise StorageError(
                    f"{what} is corrupt and could not be read: line {number} does not continue the "
                    "conversation; restore it from a backup or delete it"
                )
            messages.extend(batch.messages)
            last_active = batch.last_active or last_active
        if len(lines) > 2 and last_active is not None:  # appends since the last save
            docs.touched(head, last_active)
        memory = self._read_doc(self._path("memory", session_id, ".json"), f"memory of {what}") or {}
        return docs.StoredSession(
            head, messages, [{"key": k, "value": v} for k, v in memory.get("values", {}).items()]
        )

    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        return await self._run(
            "load_session", f"session {session_id!r}", [], lambda: self._read_session(session_id)
        )

    async def _message_count(self, session_id: str) -> int | None:
        """The count the last batch line ends at (reads the first and last lines only)."""

        def count() -> int | None:
            head = self._listing(Path(self._path("sessions", session_id, ".jsonl")))
            return None if head is None else head.read()[1]

        return await self._run("load_session", f"session {session_id!r}", [], count)

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        """Append one line holding ``messages`` to the session file (no rewrite)."""
        what = f"session {session_id!r}"
        self._writable("append to", what)
        path = self._path("sessions", session_id, ".jsonl")

        def append() -> int | None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                return None
            with os.fdopen(fd, "r+b", buffering=0) as fh:
                size = os.fstat(fd).st_size
                last, complete = last_line(fh, size)
                if complete < size:  # a torn final line from a crash: cut it off
                    fh.truncate(complete)
                if last is None:
                    fh.seek(0)
                    raise _files.session_without_complete_line(what, fh.read(64))
                tail = self._codec.decode(last, what=what, at=_at(path))
                if not isinstance(tail.get("seq"), int) or not isinstance(tail.get("messages"), list):
                    raise StorageError(
                        f"{what} is corrupt: the last line of its file is not a message batch; "
                        "restore it from a backup or delete it"
                    )
                stored: int = tail["seq"] + len(tail["messages"])
                if at is None or at == stored:
                    batch = {"seq": stored, "last_active": last_active, "messages": messages}
                    append_line(fd, self._line(batch, what, _at(path)), start=complete, fsync=self._fsync)
                return stored

        return await self._run("append_messages", what, [("session", session_id)], append)  # small: inline

    def _listing(self, path: Path) -> docs.SessionHead | None:
        """The listing row of one session file: reads its first and last lines only."""
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        with fh:
            first = fh.readline()
            last, _ = last_line(fh, os.fstat(fh.fileno()).st_size) if first.endswith(b"\n") else (None, 0)
        sid = _id_from_file_name(path.stem)
        what = f"session {sid!r}" if sid is not None else f"session file {path.name!r}"

        def read() -> tuple[docs.Document, int]:
            if not first.endswith(b"\n"):  # nothing complete to list: say why (the caller logs it)
                raise _files.session_without_complete_line(what, first)
            head = self._codec.decode(first[:-1], what=what, at=_at(path))
            if sid is not None:
                _files.session_head_of_file(head, sid, what)
            batch = (
                self._codec.decode(last, what=what, at=_at(path))
                if last is not None and last != first[:-1]
                else {}
            )
            if batch.get("last_active"):
                docs.touched(head, batch["last_active"])
            return head, int(batch.get("seq", 0)) + len(batch.get("messages", []))

        return docs.SessionHead(f"session file {path.name!r}", read)

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        def scan() -> list[docs.SessionHead]:
            found = (self._listing(path) for path in (self.directory / "sessions").glob("*.jsonl"))
            return [head for head in found if head is not None]

        return await self._run("list_sessions", "the sessions", [], scan, inline=False)

    async def _delete_session(self, session_id: str) -> bool:
        """Delete the session, its memory and its mood; ``True`` if it existed."""

        def delete() -> bool:
            existed = unlink(self._path("sessions", session_id, ".jsonl"))
            for kind, sub in (("memory", "memory"), ("mood", "moods")):
                lock_path = self._lock_path(kind, session_id)
                with FileLock(lock_path, timeout=self._lock_timeout):
                    unlink(self._path(sub, session_id, ".json"))
                    unlink(lock_path)  # lockers re-check the inode, so this is safe
            unlink(self._lock_path("session", session_id))
            return existed

        what = f"session {session_id!r}"
        self._writable("delete", what)
        return await self._run("delete_session", what, [("session", session_id)], delete, inline=False)

    # -- users -------------------------------------------------------------------------
    def _moods(self) -> Iterator[tuple[Path, docs.Document]]:
        for path in (self.directory / "moods").glob("*.json"):
            sid = _id_from_file_name(path.stem)
            try:
                doc = self._read_doc(path, f"mood of session {sid!r}")
            except StorageError as exc:
                logger.warning("file storage: skipping unreadable mood file %s: %s", path.name, exc)
                continue
            if doc is not None:
                yield path, doc

    async def _list_users(self) -> list[str]:
        def scan() -> list[str]:
            users: list[str] = []
            for path in (self.directory / "users").glob("*.json"):
                user = _id_from_file_name(path.stem)
                if user is None:
                    doc = self._read_doc(path, f"user file {path.name!r}")
                    user = None if doc is None else str(doc["user_id"])
                if user is not None:
                    users.append(user)
            return users + [str(doc["user_id"]) for _, doc in self._moods()]

        return await self._run("list_users", "the users", [], scan, inline=False)

    async def _delete_user(self, user_id: str) -> int:
        what = f"user {user_id!r}"
        self._writable("delete the data of", what)
        path = self._path("users", user_id, ".json")

        def delete() -> int:
            count = 0
            try:
                doc = self._read_doc(path, what)
            except StorageError:
                doc = None  # a corrupt document is deleted too; its items cannot be counted
            if doc is not None:
                count += sum(len(doc.get(s, ())) for s in _SECTIONS.values())
            unlink(path)
            for mood_path, mood in list(self._moods()):
                if mood.get("user_id") == user_id:
                    with FileLock(
                        self._lock_path("mood", str(mood["session_id"])), timeout=self._lock_timeout
                    ):
                        count += unlink(str(mood_path))
            return count

        return await self._run("delete_user_data", what, [("user", user_id)], delete, inline=False)

    # -- metadata ----------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        def read() -> str | None:
            try:
                with open(os.path.join(self.directory, "metadata.json"), encoding="utf-8") as fh:
                    return fh.read()
            except FileNotFoundError:
                return None

        return await self._run("read_metadata", "the metadata record", [], read)

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        self._writable("write", "the metadata record")
        path = os.path.join(self.directory, "metadata.json")

        def swap() -> bool:
            try:
                with open(path, encoding="utf-8") as fh:
                    stored: str | None = fh.read()
            except FileNotFoundError:
                stored = None
            if stored != expected:
                return False
            write_atomic(path, record.encode("utf-8"), fsync=self._fsync)
            return True

        return await self._run("write_metadata", "the metadata record", [_METADATA_LOCK], swap)

    async def _first_document(self) -> Sample | None:
        def first() -> Sample | None:
            """The first line of a session file, else a memory, mood or user document (as stored)."""
            for path in sorted((self.directory / "sessions").glob("*.jsonl")):
                with path.open("rb") as fh:
                    line = fh.readline()
                if line.endswith(b"\n"):
                    return Sample(line[:-1], f"session file {path.name!r}")
            for sub in ("memory", "moods", "users"):
                for path in sorted((self.directory / sub).glob("*.json")):
                    return Sample(path.read_bytes(), f"{sub} file {path.name!r}")
            return None

        return await self._run("read", "a stored document", [], first, inline=False)


def _slot(key: docs.Key) -> str:
    """The slot of a document in its section of the user document."""
    if key.kind is docs.FACT:  # category and key, unambiguously joined
        category, name = key.names
        return f"{len(category)}:{category}:{name}"
    return key.names[0] if key.kind is not docs.EPISODE else ""
