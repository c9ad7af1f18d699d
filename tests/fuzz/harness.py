"""Running fuzzed calls and checking the store afterwards.

:func:`fuzz_example` makes an example's calls on a client over a new store, each either
succeeding or raising a :class:`~luminora_nb.errors.LuminoraError` with a useful message
(anything else fails the example, showing the call). A :class:`Model` records what the
calls that succeeded must have left; afterwards the store is read back by that client
and by a fresh one on the same storage: every session listed, every conversation
exactly the good turns as user/assistant pairs (nothing of a refused turn), every memory
value as stored, and every session accepts one more turn.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, note, reject, settings

from luminora_nb import LuminoraCoreClient, StorageConfig
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import LuminoraError
from luminora_nb.storage import InMemoryStorage, create_storage
from luminora_nb.storage.codec import json_default
from luminora_nb.types import MemoryConfig, PersonalityData
from luminora_nb.types.session import Conversation, MessageRole

from .strategies import API_KEY, V11_METHODS, Call, Derived, Sid

# CI runs the same examples every time (derandomize) and keeps no example database: a
# fuzz test that fails only on some runs, or only on the machine that remembers an
# example, cannot be told apart from a flaky one, and each example shown in a failure
# is reproduced by running the test again. LUMINORA_FUZZ=deep searches at random with
# twenty times the examples, for a session spent hunting bugs (then
# `--hypothesis-seed=N` repeats a run).
DEEP = os.environ.get("LUMINORA_FUZZ", "").strip().lower() == "deep"
FUZZ = settings(
    derandomize=not DEEP,
    database=None,
    deadline=None,  # one example makes dozens of calls; shared CI machines vary widely
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


def budget(examples: int, **options: Any) -> settings:
    """:data:`FUZZ` with ``examples`` examples (twenty times as many when deep)."""
    return settings(FUZZ, max_examples=examples * 20 if DEEP else examples, **options)


NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
MEMORY_LIMIT = 3  # small, so that eviction is exercised
GOOD = "Hello! How are you today?"


def clock() -> datetime:
    """A clock that never moves: no session expires while a test runs, however slow."""
    return NOW


# -- what the store must hold ------------------------------------------------------------


@dataclass
class Expected:
    """A turn that succeeded: the user's message, its metadata and the reply."""

    message: str
    metadata: Any
    reply: str


@dataclass
class Model:
    """What a correct store holds after the calls that succeeded."""

    known: list[str] = field(default_factory=list)  # every session id seen, deleted ones too
    turns: dict[str, list[Expected]] = field(default_factory=dict)  # the live sessions
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    affinity: set[tuple[str, str]] = field(default_factory=set)
    # sessions created with a personality object: the metadata it was given
    personality_metadata: dict[str, Any] = field(default_factory=dict)

    def add(self, sid: str) -> None:
        assert isinstance(sid, str) and sid, f"create_session returned {sid!r}"
        assert sid not in self.turns, f"create_session returned {sid!r}, which was already in use"
        self.known.append(sid)
        self.turns[sid] = []
        self.memory[sid] = {}

    def remove(self, sid: str) -> None:
        del self.turns[sid], self.memory[sid]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Sid | Derived):
            sid = self.known[value.index % len(self.known)] if self.known else "no-session"
            return sid if isinstance(value, Sid) else value.form.format(sid)
        return value

    def remember(self, sid: str, key: str, value: Any) -> None:
        memory = self.memory[sid]
        memory.pop(key, None)
        memory[key] = value
        while len(memory) > MEMORY_LIMIT:  # the oldest key goes
            del memory[next(iter(memory))]


def same_json(a: Any, b: Any) -> bool:
    """Equal as stored JSON (tuples and sets are lists, datetimes ISO text)."""

    def canonical(value: Any) -> str:
        # keys of any type become strings first, so that sorting them cannot fail
        plain = json.loads(json.dumps(value, default=json_default))
        return json.dumps(plain, sort_keys=True)

    return canonical(a) == canonical(b)


def is_live(model: Model, sid: Any) -> bool:
    return isinstance(sid, str) and sid in model.turns


# -- known, unfixed bugs -----------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    """An open bug outside the code this suite may change, recognised by the exception it
    raises and the innermost ``luminora_nb`` function it comes from (``file.py:function``).
    Each has a strict xfail example in test_fuzz_client.py."""

    raises: type[BaseException] | tuple[type[BaseException], ...]
    where: str | tuple[str, ...]


# While a bug is open the random search discards the examples that hit it (so that it
# keeps looking for others); once it is fixed its xfail example passes, which fails the
# suite (strict), and the entry here goes with the mark.
KNOWN_BUGS: dict[str, Bug] = {}


def known_bug(exc: BaseException) -> str | None:
    """The name of the open bug that raised ``exc``, or ``None``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/luminora_nb/" in f.filename]
    if not frames:
        return None
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}"
    for name, bug in KNOWN_BUGS.items():
        places = (bug.where,) if isinstance(bug.where, str) else bug.where
        if isinstance(exc, bug.raises) and where in places:
            return name
    return None


def message_problem(exc: LuminoraError) -> str | None:
    """What is wrong with a refusal's message, or ``None``: it must say what was wrong in a
    line or two of our own words (no pydantic dump, no 100 kB quote) and leak no key."""
    message = str(exc)
    if len(message.strip()) < 15:
        return f"the bare message {message!r}"
    if len(message) > 2_000:
        return f"a message of {len(message)} characters: {message[:200]}..."
    if "errors.pydantic.dev" in message:
        return f"pydantic's raw message: {message}"
    if API_KEY in message or API_KEY in repr(exc):
        return f"the API key is in {message!r}"
    return None


def check_message(exc: LuminoraError, call: Call, *, tolerate: bool = True) -> None:
    """Fail the example if the refusal's message is not useful (open bugs are skipped)."""
    problem = message_problem(exc)
    if problem is None:
        return
    if tolerate and known_bug(exc) is not None:
        note(f"{call!r} hit the open bug {known_bug(exc)}")
        reject()
    raise AssertionError(f"{call!r} -> {type(exc).__name__}: {problem}")


# -- running the calls ---------------------------------------------------------------------


async def perform(client: LuminoraCoreClient, v11: LuminoraCoreClientV11, model: Model, call: Call) -> None:
    """Make ``call``; on success, check its result and update the model."""
    args = [model.resolve(a) for a in call.args]
    kwargs = {k: model.resolve(v) for k, v in call.kwargs.items()}
    method = call.method
    if method == "stream_message":
        chunks = [chunk async for chunk in client.stream_message(*args, **kwargs)]
        assert chunks and chunks[-1].finish_reason, "a stream ends with a finish reason"
        result: Any = "".join(chunk.content for chunk in chunks)
    elif method == "stop_stream":
        result = client.stop_stream(*args)
    elif method in V11_METHODS:
        result = await getattr(v11, method)(*args, **kwargs)
    else:
        result = await getattr(client, method)(*args, **kwargs)

    sid = args[0] if args else None
    if method == "create_session":
        model.add(result)
        if isinstance(args[0], PersonalityData):
            model.personality_metadata[result] = args[0].metadata
    elif method in ("send_message", "stream_message"):
        assert is_live(model, sid), f"a turn succeeded on {sid!r}, which is no session"
        reply = result if method == "stream_message" else result.content
        model.turns[sid].append(Expected(args[1], kwargs.get("metadata"), reply))
    elif method == "delete_session":
        assert result is is_live(model, sid), f"delete_session({sid!r}) returned {result!r}"
        if result:
            model.remove(sid)
    elif method in ("get_conversation", "session_info"):
        assert (result is not None) is is_live(model, sid), f"{method}({sid!r}) returned {result!r}"
    elif method == "resume_session":
        assert is_live(model, sid) and result == sid, f"resume_session({sid!r}) returned {result!r}"
    elif method == "stop_stream":
        assert result is False, "no stream runs"
    elif method == "store_memory":
        assert is_live(model, sid), f"store_memory succeeded on {sid!r}, which is no session"
        model.remember(sid, args[1], args[2])
    elif method == "get_memory":
        assert is_live(model, sid)
        assert same_json(result, model.memory[sid].get(args[1])), f"get_memory({sid!r}, {args[1]!r})"
    elif method == "update_affinity":
        assert result is not None and 0 <= result["affinity_points"] <= 100
        model.affinity.add((args[0], args[1]))


async def attempt(
    client: LuminoraCoreClient, v11: LuminoraCoreClientV11, model: Model, call: Call, *, tolerate: bool
) -> bool:
    """Make ``call``; ``True`` if it succeeded, ``False`` if it raised a LuminoraError."""
    try:
        await perform(client, v11, model, call)
    except LuminoraError as exc:
        note(f"{call!r} -> {type(exc).__name__}: {str(exc)[:200]}")
        check_message(exc, call, tolerate=tolerate)
        return False
    except Exception as exc:
        bug = known_bug(exc)
        if tolerate and bug is not None:
            note(f"{call!r} hit the open bug {bug}")
            reject()
        exc.add_note(f"fuzzed call: {call!r}")
        raise
    return True


def check_conversation(conversation: Conversation | None, turns: list[Expected], what: str) -> None:
    """User/assistant pairs holding exactly ``turns``."""
    assert conversation is not None, f"{what}: no conversation"
    roles = [m.role for m in conversation.messages]
    assert roles == [MessageRole.USER, MessageRole.ASSISTANT] * len(turns), f"{what}: roles {roles}"
    messages = conversation.messages
    for n, expected in enumerate(turns):
        user, reply = messages[2 * n], messages[2 * n + 1]
        assert user.content == expected.message, f"{what}: turn {n} user message"
        assert reply.content == expected.reply, f"{what}: turn {n} reply"
        assert same_json(user.metadata, expected.metadata or {}), f"{what}: turn {n} metadata"
        assert isinstance(reply.metadata, dict) and isinstance(reply.timestamp, datetime)


async def check_store(
    client: LuminoraCoreClient, model: Model, what: str, *, only_mine: bool = False
) -> None:
    """The store holds what the model says, read by ``client`` live and from storage."""
    listed = await client.list_sessions()
    if only_mine:
        assert set(model.turns) <= set(listed), f"{what}: sessions missing from the list"
    else:
        assert sorted(listed) == sorted(model.turns), f"{what}: listed {listed}"
    for sid, turns in model.turns.items():
        live = await client.get_conversation(sid)
        check_conversation(live, turns, f"{what}, session {sid!r}")
        stored = await client.storage.load_session(sid)
        assert stored is not None, f"{what}: session {sid!r} is not stored"
        check_conversation(stored.conversation, turns, f"{what}, stored session {sid!r}")
        assert live is not None and same_json(live.metadata, stored.conversation.metadata), (
            f"{what}: the metadata of session {sid!r} changed when stored"
        )
        if sid in model.personality_metadata:
            assert same_json(stored.personality.metadata, model.personality_metadata[sid]), (
                f"{what}: the personality metadata of session {sid!r} changed when stored"
            )
        for key, value in model.memory[sid].items():
            assert same_json(await client.get_memory(sid, key), value), f"{what}: memory {key!r} of {sid!r}"


@dataclass
class Store:
    """A storage to fuzz: ``open()`` makes a new client on it (the same data each time)."""

    open: Callable[[], LuminoraCoreClient]


@cache
def duckdb_template() -> Path:
    """An initialised, empty DuckDB store: copying it is faster than creating the schema."""
    directory = Path(tempfile.mkdtemp(prefix="lum-fuzz-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / "store.duckdb"

    async def build() -> None:
        storage = create_storage(StorageConfig(storage_type="duckdb", connection_string=str(path)))
        await storage.initialize()
        await storage.close()

    # its own thread: the first caller may be running an event loop already
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    return path


@contextlib.contextmanager
def store_of(backend: str) -> Iterator[Store]:
    """A new, empty store of ``backend`` (memory, file or duckdb), removed afterwards."""
    memory = MemoryConfig(max_entries=MEMORY_LIMIT)
    if backend == "memory":
        storage = InMemoryStorage()
        yield Store(lambda: LuminoraCoreClient(storage=storage, memory_config=memory, clock=clock))
        return
    with tempfile.TemporaryDirectory(prefix=f"lum-fuzz-{backend}-") as tmp:
        path = Path(tmp) / "store"
        if backend == "duckdb":
            path = path.with_suffix(".duckdb")
            shutil.copyfile(duckdb_template(), path)
        config = StorageConfig(storage_type=backend, connection_string=str(path))
        yield Store(lambda: LuminoraCoreClient(storage_config=config, memory_config=memory, clock=clock))


async def good_turns(client: LuminoraCoreClient, model: Model, text: str) -> None:
    """One good turn on every session: bad calls before must not have poisoned any."""
    for sid in list(model.turns):
        reply = await client.send_message(sid, text)
        model.turns[sid].append(Expected(text, None, reply.content))


async def fuzz_example(backend: str, calls: list[Call], *, tolerate: bool = True) -> None:
    """Make ``calls`` on a new store of ``backend`` that holds one session with one turn,
    then check the store with the same client and with a fresh one (see the module)."""
    with store_of(backend) as store:
        model = Model()
        client = store.open()
        try:
            base = await client.create_session("aurora", session_id="base")
            model.add(base)
            model.turns[base].append(Expected("Hi!", None, (await client.send_message(base, "Hi!")).content))
            v11 = LuminoraCoreClientV11(client)
            for call in calls:
                await attempt(client, v11, model, call, tolerate=tolerate)
            await good_turns(client, model, GOOD)
            await check_store(client, model, "the client that made the calls")
        finally:
            await client.cleanup()
        fresh = store.open()
        try:
            await check_store(fresh, model, "a fresh client on the same storage")
            for sid in model.turns:
                assert await fresh.resume_session(sid) == sid
            await good_turns(fresh, model, "And now?")
            await check_store(fresh, model, "the fresh client after a turn")
            fresh_v11 = LuminoraCoreClientV11(fresh)
            for user_id, name in model.affinity:
                assert await fresh_v11.get_affinity(user_id, name) is not None
        finally:
            await fresh.cleanup()
