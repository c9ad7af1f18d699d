"""FileStorage specifics: layout, atomic writes, torn appends, paths, several processes at once."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from luminora_nb.storage.base import Storage
from luminora_nb.storage.file import FileStorage, _file_name, _id_from_file_name
from luminora_nb.types import StorageConfig

from .test_conformance import T0, make_record, turn

ROOT = Path(__file__).resolve().parents[2]


def config(directory: Path | str, **changes: object) -> StorageConfig:
    return StorageConfig(storage_type="file", connection_string=str(directory), **changes)


async def open_store(directory: Path | str, **changes: object) -> FileStorage:
    store = FileStorage(config(directory, **changes))
    await store.initialize()
    return store


async def write_one_of_each(store: Storage) -> None:
    """Write one document of each kind to an initialised ``store``.

    Session ``s1`` (two messages saved with it, two appended an hour later), a memory value
    (``k``), a fact of user ``u1`` (``personal_info.name`` = ``"Ana"``) and a mood of ``s1``.
    """
    await store.save_session(make_record("s1", messages=2))
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0 + timedelta(hours=1))
    await store.set_memory("s1", "k", {"v": 1})
    await store.save_fact("u1", "personal_info", "name", "Ana")
    await store.save_mood("s1", "u1", "calm")


async def test_factory_builds_it_and_plain_layout_is_readable_json(tmp_path: Path) -> None:
    store = create_storage(config(tmp_path))
    assert isinstance(store, FileStorage)
    await store.initialize()
    await write_one_of_each(store)

    lines = (tmp_path / "sessions" / "s1.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3  # the session, the messages saved with it, one append
    head, saved, appended = (json.loads(line) for line in lines)
    assert head["session_id"] == "s1" and "messages" not in head["conversation"]
    assert [saved["seq"], len(saved["messages"])] == [0, 2]
    assert [appended["seq"], len(appended["messages"])] == [2, 2]
    assert json.loads((tmp_path / "memory" / "s1.json").read_text())["values"] == {"k": {"v": 1}}
    user = json.loads((tmp_path / "users" / "u1.json").read_text())
    assert [f["value"] for f in user["facts"].values()] == ["Ana"]
    assert json.loads((tmp_path / "moods" / "s1.json").read_text())["current_mood"] == "calm"
    assert not list(tmp_path.rglob("*.tmp"))


async def test_appends_never_rewrite_the_session_file(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.save_session(make_record("s1", messages=50, content="x" * 2000))
    path = tmp_path / "sessions" / "s1.jsonl"
    inode, size = path.stat().st_ino, path.stat().st_size
    for i in range(5):
        await store.append_messages("s1", turn("s1", i, T0), last_active=T0)
    assert path.stat().st_ino == inode  # same file, only grown
    grown = path.stat().st_size - size
    assert 0 < grown < 5 * 1000
    await store.save_session(make_record("s1", messages=1))
    assert path.stat().st_ino != inode  # a save replaces the file atomically


async def test_failed_write_keeps_the_old_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_store(tmp_path)
    await store.save_session(make_record("s1", messages=2))
    await store.save_fact("u1", "c", "k", "old")
    before = (tmp_path / "sessions" / "s1.jsonl").read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageError, match=r"save_session failed for session 's1'.*No space left"):
        await store.save_session(make_record("s1", messages=9))
    with pytest.raises(StorageError, match="No space left"):
        await store.save_fact("u1", "c", "k", "new")
    monkeypatch.undo()

    assert (tmp_path / "sessions" / "s1.jsonl").read_bytes() == before
    loaded = await store.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 2
    assert [f["value"] for f in await store.get_facts("u1")] == ["old"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


async def test_torn_final_line_is_ignored_then_cut_off(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.save_session(make_record("s1", messages=2))
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    path = tmp_path / "sessions" / "s1.jsonl"
    with path.open("ab") as fh:  # a crash in the middle of an append
        fh.write(b'{"seq":4,"last_active":"2024-05-01T12:00:00+00:00","messages":[{"role":"us')
    loaded = await store.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 4
    assert [s.message_count for s in await store.list_sessions()] == [4]

    await store.append_messages("s1", turn("s1", 1, T0), last_active=T0)
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages[-2:]] == ["s1 user 1", "s1 reply 1 ✓"]
    assert path.read_bytes().count(b"\n") == 4


async def test_a_line_that_breaks_the_sequence_is_corruption(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.save_session(make_record("s1", messages=2))
    path = tmp_path / "sessions" / "s1.jsonl"
    with path.open("ab") as fh:
        fh.write(b'{"seq":7,"last_active":"2024-05-01T12:00:00+00:00","messages":[]}\n')
    with pytest.raises(StorageError, match=r"session 's1' is corrupt.*line 3"):
        await store.load_session("s1")


async def test_unreadable_session_is_skipped_in_listings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(tmp_path)
    await store.save_session(make_record("good"))
    await store.save_session(make_record("bad"))
    (tmp_path / "sessions" / "bad.jsonl").write_bytes(b"garbage\n")
    with caplog.at_level(logging.WARNING, logger="luminora_nb.storage.file"):
        assert [s.session_id for s in await store.list_sessions()] == ["good"]
    assert "bad.jsonl" in caplog.text


@pytest.mark.parametrize(
    "identifier",
    ["plain-id_1", "../../etc/passwd", "with/slash", ".", "..", "", "ü ñ 你好", "a%20b", "x" * 400, "y~z"],
)
async def test_any_id_maps_to_a_file_inside_the_directory(tmp_path: Path, identifier: str) -> None:
    name = _file_name(identifier)
    assert "/" not in name and name not in (".", "..") and len(name) <= 255
    if len(identifier) < 100:
        assert _id_from_file_name(name) == identifier
    store = await open_store(tmp_path / "store")
    await store.save_session(make_record(identifier, messages=1))
    await store.save_fact(identifier, "c", "k", "v")
    assert [s.session_id for s in await store.list_sessions()] == [identifier]
    assert await store.list_users() == [identifier]
    assert all(tmp_path / "store" in p.parents for p in tmp_path.rglob("*") if p.is_file())
    assert await store.delete_session(identifier) is True


async def test_file_url_and_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await open_store(f"file://{tmp_path}/via%20url")
    assert store.directory == tmp_path / "via url"
    assert (tmp_path / "via url" / "sessions").is_dir()
    monkeypatch.chdir(tmp_path)
    default = FileStorage(StorageConfig(storage_type="file"))
    assert default.directory == Path("luminora_data")
    with pytest.raises(StorageError, match="names host"):
        FileStorage(StorageConfig(storage_type="file", connection_string="file://otherhost/data"))


async def test_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    store = FileStorage(config(blocker / "sub"))
    with pytest.raises(StorageError, match=r"cannot use directory .*a-file/sub.*writable directory"):
        await store.initialize()


async def test_without_auto_create_the_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="auto_create_tables is off"):
        await open_store(tmp_path / "missing", auto_create_tables=False)
    assert not (tmp_path / "missing").exists()
    await open_store(tmp_path / "made")
    store = await open_store(tmp_path / "made", auto_create_tables=False)
    await store.save_session(make_record("s1"))
    assert await store.load_session("s1") is not None


async def test_delete_removes_lock_files_and_fsync_can_be_off(tmp_path: Path) -> None:
    store = await open_store(tmp_path, extra={"fsync": False})
    await store.save_session(make_record("s1"))
    await store.set_memory("s1", "k", 1)
    await store.save_mood("s1", "u1", "calm")
    assert len(list((tmp_path / ".locks").iterdir())) == 3
    assert await store.delete_session("s1") is True
    assert list((tmp_path / ".locks").iterdir()) == []
    assert list((tmp_path / "sessions").iterdir()) == []


async def test_encrypted_layout_holds_no_plaintext(tmp_path: Path) -> None:
    store = await open_store(
        tmp_path, encryption_enabled=True, encryption_key="a passphrase", compression_enabled=True
    )
    await store.save_session(make_record("s1", content="very private words"))
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    await store.save_fact("u1", "c", "k", "private fact")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"private" not in data and b"aurora" not in data and b"passphrase" not in data


WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from datetime import datetime, timezone
    from luminora_nb.storage.file import FileStorage
    from luminora_nb.types import Message, StorageConfig

    directory, worker, turns, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    async def main():
        store = FileStorage(StorageConfig(storage_type="file", connection_string=directory))
        await store.initialize()
        while not os.path.exists(go):
            time.sleep(0.005)
        for i in range(turns):
            at = datetime.now(timezone.utc)
            for sid in ("shared", f"own-{worker}"):
                await store.append_messages(sid, [
                    Message(role="user", content=f"{worker}:{i}:q"),
                    Message(role="assistant", content=f"{worker}:{i}:a"),
                ], last_active=at)
            await store.save_fact("shared-user", worker, f"k{i}", i)
            await store.set_memory("shared", f"{worker}-{i}", i)
        await store.close()

    asyncio.run(main())
    """
)


@pytest.mark.integration  # other processes
async def test_several_processes_share_one_directory_without_loss(tmp_path: Path) -> None:
    workers, turns = 3, 40
    store = await open_store(tmp_path / "store")
    await store.save_session(make_record("shared", messages=0))
    for w in range(workers):
        await store.save_session(make_record(f"own-w{w}", messages=0))
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / "store"), f"w{w}", str(turns), str(go)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    time.sleep(0.5)  # let them import and wait at the start line together
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    shared = await store.load_session("shared")
    assert shared is not None
    contents = [m.content for m in shared.conversation.messages]
    assert len(contents) == workers * turns * 2
    for w in range(workers):
        mine = [c for c in contents if c.startswith(f"w{w}:")]
        assert mine == [f"w{w}:{i}:{x}" for i in range(turns) for x in ("q", "a")]  # order kept per process
    for w in range(workers):
        own = await store.load_session(f"own-w{w}")
        assert own is not None and len(own.conversation.messages) == turns * 2
    facts = await store.get_facts("shared-user")
    assert len(facts) == workers * turns  # no read-modify-write lost an update
    assert shared.memory == {f"w{w}-{i}": i for w in range(workers) for i in range(turns)}


async def test_a_lock_held_elsewhere_is_awaited_in_a_thread_without_blocking_the_loop(tmp_path: Path) -> None:
    import asyncio
    import fcntl

    store = await open_store(tmp_path)
    await store.save_session(make_record("s1", messages=0))
    # Another process (here: another open file description) holds the session's lock.
    fd = os.open(store._lock_path("session", "s1"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        first = asyncio.create_task(store.append_messages("s1", turn("s1", 0, T0), last_active=T0))
        second = asyncio.create_task(store.append_messages("s1", turn("s1", 1, T0), last_active=T0))
        ticks = 0
        for _ in range(20):  # the loop keeps running while both wait for the lock
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20 and not first.done() and not second.done()
        assert await store.load_session("s1") is not None  # reads take no lock
    finally:
        os.close(fd)  # releases the flock
    await asyncio.gather(first, second)
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages] == [
        "s1 user 0",
        "s1 reply 0 ✓",
        "s1 user 1",
        "s1 reply 1 ✓",
    ]


async def test_io_threads_option_runs_every_call_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    threads: set[str] = set()
    real_replace = os.replace

    def spying_replace(src: str, dst: str) -> None:
        threads.add(threading.current_thread().name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    inline = await open_store(tmp_path / "inline")
    await inline.save_session(make_record("s1"))
    assert threads == {threading.main_thread().name}
    threads.clear()
    threaded = await open_store(tmp_path / "threaded", extra={"io_threads": True})
    await threaded.save_session(make_record("s1"))
    await threaded.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    await threaded.set_memory("s1", "k", 1)
    assert threads and threading.main_thread().name not in threads
    loaded = await threaded.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 4 and loaded.memory == {"k": 1}


async def test_lines_in_other_json_spellings_still_read(tmp_path: Path) -> None:
    """Lines written by another writer (spaces, other key order, escapes) read the same way."""
    store = await open_store(tmp_path)
    record = make_record("s1", messages=2)
    await store.save_session(record)
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0 + timedelta(hours=1))
    path = tmp_path / "sessions" / "s1.jsonl"
    expected = (await store.load_session("s1")).model_dump(mode="json")  # type: ignore[union-attr]
    head, *batches = path.read_bytes().splitlines()
    respelled = [
        json.dumps(dict(reversed(json.loads(line).items())), ensure_ascii=True, indent=None).encode()
        for line in batches
    ]
    assert respelled != batches
    path.write_bytes(b"\n".join([head, *respelled]) + b"\n")
    loaded = await store.load_session("s1")
    assert loaded is not None and loaded.model_dump(mode="json") == expected
    await store.append_messages("s1", turn("s1", 1, T0), last_active=T0)  # continues after them
    again = await store.load_session("s1")
    assert again is not None and [m.content for m in again.conversation.messages[-2:]] == [
        "s1 user 1",
        "s1 reply 1 ✓",
    ]


async def test_text_utf8_cannot_hold_is_a_clear_error_when_encrypted(tmp_path: Path) -> None:
    store = await open_store(tmp_path, encryption_enabled=True, encryption_key="a passphrase")
    with pytest.raises(StorageError, match=r"session 'odd' holds text with an unpaired surrogate"):
        await store.save_session(make_record("odd", content="half \ud800"))
    await store.save_session(make_record("odd"))
    with pytest.raises(StorageError, match="unpaired surrogate"):
        await store.append_messages("odd", turn("half \udfff", 0, T0), last_active=T0)
    loaded = await store.load_session("odd")
    assert loaded is not None and len(loaded.conversation.messages) == 2


async def _session_file(directory: Path) -> tuple[FileStorage, Path]:
    """A store in ``directory`` holding session ``s1`` (two messages), and the real path of its file.

    The path is resolved because :func:`_short_writes` recognises the file by what its
    descriptor links to.
    """
    store = await open_store(directory)
    await store.save_session(make_record("s1", messages=2))
    return store, (directory / "sessions" / "s1.jsonl").resolve()


def _short_writes(monkeypatch: pytest.MonkeyPatch, target: Path, *, fail_after: int | None) -> list[int]:
    """Make the OS write at most 7 bytes per call to ``target`` (and fail with ENOSPC after
    ``fail_after`` calls); writes to any other file go through unchanged."""
    real_write = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes | memoryview) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") != str(target):
            return real_write(fd, data)
        if fail_after is not None and len(calls) >= fail_after:
            raise OSError(28, "No space left on device")
        calls.append(real_write(fd, bytes(data[:7])))
        return calls[-1]

    monkeypatch.setattr(os, "write", write)
    return calls


async def test_an_append_the_os_writes_in_pieces_is_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = await _session_file(tmp_path)
    calls = _short_writes(monkeypatch, path, fail_after=None)
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    monkeypatch.undo()
    assert len(calls) > 10  # the line really went out in many short writes
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages[-2:]] == ["s1 user 0", "s1 reply 0 ✓"]


async def test_an_append_cut_short_by_a_full_disk_fails_and_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = await _session_file(tmp_path)
    before = path.read_bytes()
    _short_writes(monkeypatch, path, fail_after=3)  # 21 bytes land, then the disk is full
    with pytest.raises(StorageError, match=r"append_messages failed for session 's1'.*No space left"):
        await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the partial line was cut off again
    await store.append_messages("s1", turn("s1", 1, T0), last_active=T0)
    loaded = await store.load_session("s1")
    assert loaded is not None
    assert [m.content for m in loaded.conversation.messages[2:]] == ["s1 user 1", "s1 reply 1 ✓"]


async def test_an_id_with_an_unpaired_surrogate_is_a_storage_error(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    with pytest.raises(StorageError, match="unpaired surrogate"):
        await store.save_session(make_record("bad\udc80id", messages=1))
    with pytest.raises(StorageError, match="unpaired surrogate"):
        await store.load_session("bad\ud800")
    with pytest.raises(StorageError, match="unpaired surrogate"):
        await store.save_fact("u\udfff", "c", "k", 1)


async def test_a_lock_held_too_long_elsewhere_is_a_storage_error_naming_the_lock_file(
    tmp_path: Path,
) -> None:
    import fcntl

    store = await open_store(tmp_path, extra={"lock_timeout": 0.05})
    await store.save_session(make_record("s1", messages=0))
    lock_path = store._lock_path("session", "s1")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process holds it and never lets go
        with pytest.raises(StorageError, match=r"lock file .*session-s1\.lock.*lock_timeout"):
            await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)
    finally:
        os.close(fd)
    await store.append_messages("s1", turn("s1", 0, T0), last_active=T0)  # free again: works
    loaded = await store.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 2


async def test_a_batch_interrupted_by_a_crash_is_finished_by_the_next_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new contents of every file of a batch are journaled before any file is replaced;
    a crash after one file was replaced leaves the journal, which the next storage applies."""
    import luminora_nb.storage.file as file_backend

    store = await open_store(tmp_path)
    await store.save_fact("u1", "pets", "dog", "Rex")
    real_write = file_backend.write_atomic
    written: list[str] = []

    def crash_after_one_file(path: str, data: bytes, *, fsync: bool) -> None:
        if "/.journal/" not in path and written:
            raise OSError(5, "the machine went down")
        real_write(path, data, fsync=fsync)
        if "/.journal/" not in path:
            written.append(path)

    async def batch() -> None:
        async with store.batch():
            await store.save_session(make_record("s1", messages=2))
            await store.save_fact("u1", "pets", "cat", "Tom")
            await store.save_mood("s1", "u1", "calm")

    monkeypatch.setattr(file_backend, "write_atomic", crash_after_one_file)
    with pytest.raises(StorageError, match="the machine went down"):
        await batch()
    monkeypatch.undo()
    assert len(written) == 1 and len(list((tmp_path / ".journal").iterdir())) == 1  # half of it on disk

    reopened = await open_store(tmp_path)  # finishes the batch
    loaded = await reopened.load_session("s1")
    assert loaded is not None and len(loaded.conversation.messages) == 2
    assert [f["key"] for f in await reopened.get_facts("u1")] == ["dog", "cat"]
    assert (await reopened.get_mood("s1") or {})["current_mood"] == "calm"
    assert list((tmp_path / ".journal").iterdir()) == []


async def test_a_batch_over_several_files_leaves_no_journal(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    async with store.batch():
        await store.save_session(make_record("s1"))
        await store.set_memory("s1", "k", 1)
        await store.save_fact("u1", "c", "k", "v")
    assert list((tmp_path / ".journal").iterdir()) == []
    assert await store.get_memory("s1", "k") == 1
