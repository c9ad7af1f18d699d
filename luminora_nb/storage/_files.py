"""File-system pieces of the file backend: names, locks, atomic writes and appended lines.

* :func:`file_name` — a file-name-safe, reversible spelling of any id (``%XX`` escapes;
  ids too long for a file name are hashed), and :func:`id_from_file_name` back;
* :class:`FileLock` — an exclusive ``flock`` on a lock file that survives the file being
  deleted and recreated, with a timeout;
* :func:`write_atomic` — a whole file replaced at once (temporary file, fsync, rename);
* :func:`append_line` / :func:`last_line` — one complete line added at the end of a file,
  and the last complete line read back, so a line cut short by a crash is never read;
* :func:`file_identity` / :func:`embedding_matrix` — what tells one version of a file from
  another (device, inode, size, modification time), and a user file's embeddings read as
  a search matrix with the identity of exactly the bytes read. Every write replaces a
  whole file (a new inode, see :func:`write_atomic`), so a cache built from a file's bytes (the file
  backend's search matrix) is valid while the file's identity is unchanged, whichever process wrote it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from ..errors import StorageError
from ._vector_cache import VectorCache
from ._vectors import VectorMatrix, stored_vector

__all__ = [
    "DEFAULT_DIR",
    "FileLock",
    "append_line",
    "embedding_matrix",
    "file_identity",
    "file_name",
    "id_from_file_name",
    "last_line",
    "place_of_file",
    "session_head_of_file",
    "session_without_complete_line",
    "store_directory",
    "unlink",
    "valid_directory",
    "write_atomic",
]
#: The file store's directory when ``connection_string`` is not set.
DEFAULT_DIR = "./luminora_data"

_SAFE = re.compile(r"[A-Za-z0-9_-]")
_MAX_NAME = 180
#: Seconds a lock held elsewhere is waited for (``StorageConfig(extra={"lock_timeout": ...})``).
LOCK_TIMEOUT = 30.0


@functools.lru_cache(maxsize=4096)
def file_name(identifier: str) -> str:
    """A file-name-safe, reversible (unless hashed) spelling of an id.

    Example:
        >>> file_name("../etc"), file_name("")
        ('%2E%2E%2Fetc', '%')
    """
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


def id_from_file_name(name: str) -> str | None:
    """The id a file name spells, or ``None`` for a hashed name (read the document instead).

    Example:
        >>> id_from_file_name(file_name("a b/c"))
        'a b/c'
    """
    if "~" in name:
        return None
    if name == "%":
        return ""
    return unquote(name, errors="strict")


class FileLock:
    """An exclusive ``flock`` on a lock file that survives the file being deleted and recreated.

    A blocking :meth:`acquire` polls (``LOCK_NB`` with a growing pause of up to 20 ms) and
    gives up with a :class:`StorageError` after ``timeout`` seconds, so a process that holds
    a lock forever (stopped in a debugger, hung on a network file system) cannot hang its
    peers forever.
    """

    def __init__(self, path: str, *, timeout: float = LOCK_TIMEOUT) -> None:
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

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def write_atomic(path: str, data: bytes, *, fsync: bool) -> None:
    """Replace the file at ``path`` by ``data`` at once: a reader sees the old or the new file."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_directory(directory)


def fsync_directory(directory: str) -> None:
    """Make the entries of ``directory`` (a rename, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink(path: str) -> bool:
    """Delete a file; ``True`` if it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def append_line(fd: int, line: bytes, *, start: int, fsync: bool) -> None:
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
        if fsync:
            os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise


def last_line(fh: BinaryIO, size: int) -> tuple[bytes | None, int]:
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


# -- the file backend's paths and session files ---------------------------------------------------
def file_identity(path: str) -> tuple[int, ...] | None:
    """The identity of the file at ``path`` now (``None``: there is none); see the module docstring.

    Example:
        >>> file_identity("/nonexistent/luminora") is None
        True
    """
    try:
        return _identity(os.stat(path))
    except FileNotFoundError:
        return None


def embedding_matrix(
    path: str, decode: Callable[[bytes], dict[str, Any]], cache: VectorCache[dict[str, Any]], user_id: str
) -> VectorMatrix[dict[str, Any]]:
    """The embeddings of the user document at ``path`` as a :class:`~._vectors.VectorMatrix`
    whose rows are the documents: from ``cache`` while the file's identity is the one it was
    read under, else read (``decode``: the storage's codec) and kept there under the identity
    of exactly the bytes read.

    With encryption on, the cached matrix holds the decrypted vectors in this process's
    memory: a search decrypts the user's file once per change of it, not once per search.
    """
    identity = file_identity(path)
    matrix = None if identity is None else cache.get(user_id, identity)
    if matrix is not None:
        return matrix
    try:
        fh = open(path, "rb")  # noqa: SIM115 - fstat of the very file read, closed below
    except FileNotFoundError:
        return VectorMatrix([], [])
    with fh:
        identity, data = _identity(os.fstat(fh.fileno())), fh.read()
    rows = list(decode(data).get("embeddings", {}).values())
    matrix = VectorMatrix(rows, [stored_vector(r) for r in rows], [r.get("kind") for r in rows])
    cache.put(user_id, identity, matrix)
    return matrix


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def place_of_file(path: str | Path) -> str:
    """Where a document is stored, authenticated with it (codec v2): its file, as
    ``"<folder>/<file name>"`` — the same wherever the store's directory is moved to."""
    return "/".join(Path(path).parts[-2:])


def session_without_complete_line(what: str, data: bytes) -> StorageError:
    """The error of a session file that holds no complete line (``data``: what it holds)."""
    if not data:
        return StorageError(f"{what} is corrupt and could not be read: its file is empty; delete it")
    return StorageError(
        f"{what} is corrupt and could not be read: its file holds no complete line (it was cut short, "
        "or is not a session file); restore it from a backup or delete it"
    )


def session_head_of_file(head: dict[str, Any], session_id: str, what: str) -> dict[str, Any]:
    """``head`` if it is the session the file is named after (a copied or renamed file is not)."""
    stored = head.get("session_id")
    if stored == session_id:
        return head
    if "session_id" not in head:
        reason = "the stored document is not a valid session (field 'session_id' is missing)"
    else:
        reason = f"its file holds session {stored!r} (copied or renamed?)"
    raise StorageError(
        f"{what} is corrupt and could not be read: {reason}; restore it from a backup or delete it"
    )


def valid_directory(directory: Path, connection_string: str | None) -> None:
    """Refuse a directory path no file system can hold (checked where it is used, at initialize).

    Ids never become paths as they are: :func:`._files.file_name` escapes every character
    outside ``[A-Za-z0-9_-]``, so a document's file always lies inside its subdirectory.
    """
    text = os.fspath(directory)
    if "\x00" in text or not text.strip():
        raise StorageError(
            f"file storage: connection_string {connection_string!r} is not a valid directory path "
            "(it is empty or holds a NUL character); pass a directory such as './luminora_data'"
        )


def store_directory(connection_string: str | None) -> Path:
    """The directory a connection string names (plain path or ``file://`` URL)."""
    text = (connection_string or DEFAULT_DIR).strip()
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
