"""Fuzzing the synchronous facade: the same calls through :class:`~luminora_nb.Luminora`
(errors are the library's own, raised in the caller's thread), and its construction from
careless storage, memory and provider options."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from luminora_nb import Luminora
from luminora_nb.errors import LuminoraError
from luminora_nb.types import MemoryConfig

from .harness import (
    GOOD,
    MEMORY_LIMIT,
    Expected,
    Model,
    budget,
    check_message,
    check_store,
    good_turns,
    is_live,
    known_bug,
)
from .strategies import (
    CLIENT_CALLS,
    MEMORY_OPTIONS,
    PROVIDER_CONFIGS,
    STORAGE_OPTIONS,
    USER_IDS,
    C,
    Call,
)


@pytest.fixture(scope="module")
def lum() -> Iterator[Luminora]:
    with Luminora(log=None, memory_config=MemoryConfig(max_entries=MEMORY_LIMIT)) as facade:
        yield facade


@budget(60)
@given(calls=st.lists(CLIENT_CALLS, min_size=1, max_size=4))
def test_fuzz_the_facade(lum: Luminora, calls: list[Call]) -> None:
    """The client's calls through the facade; its sessions hold exactly the good turns."""
    model = Model()
    model.add(lum.create_session("aurora"))
    for call in calls:
        args = [model.resolve(a) for a in call.args]
        kwargs = {k: model.resolve(v) for k, v in call.kwargs.items()}
        try:
            if call.method == "stream_message":
                with lum.stream_message(*args, **kwargs) as stream:
                    reply = "".join(chunk.content for chunk in stream)
                assert stream.finish_reason, "a finished stream has a finish reason"
                result: Any = None
            else:
                result = getattr(lum, call.method)(*args, **kwargs)
        except LuminoraError as exc:
            check_message(exc, call)
            continue
        except Exception as exc:
            if known_bug(exc) is not None:
                reject()
            exc.add_note(f"fuzzed call: {call!r}")
            raise
        sid = args[0] if args else None
        if call.method == "create_session":
            model.add(result)
        elif call.method in ("send_message", "stream_message"):
            assert is_live(model, sid), f"a turn succeeded on {sid!r}, which is no session"
            reply = reply if call.method == "stream_message" else result.content
            model.turns[sid].append(Expected(args[1], kwargs.get("metadata"), reply))
        elif call.method == "delete_session" and result:
            model.remove(sid)
        elif call.method == "store_memory":
            assert is_live(model, sid), f"store_memory succeeded on {sid!r}, which is no session"
            model.remember(sid, args[1], args[2])
    lum.run(good_turns(lum.client, model, GOOD))
    lum.run(check_store(lum.client, model, "the facade", only_mine=True))


def in_directory(value: Any, directory: Path) -> Any:
    """``value`` with ``{tmp}`` in its strings made the example's own directory."""
    if isinstance(value, str):
        return value.replace("{tmp}", str(directory))
    if isinstance(value, dict):
        return {k: in_directory(v, directory) for k, v in value.items()}
    return value


@budget(25)
@given(storage=STORAGE_OPTIONS, memory=MEMORY_OPTIONS, provider=PROVIDER_CONFIGS, user=USER_IDS)
def test_fuzz_the_facade_options(storage: Any, memory: Any, provider: Any, user: Any) -> None:
    """A facade made from careless options works or refuses with the library's error; what
    it stored, a second facade on the same storage reads back."""
    call = C("Luminora", storage=storage, memory_config=memory, provider=provider, user_id=user)
    # in the example's directory: a file or DuckDB store without a path is made in the
    # working directory
    with tempfile.TemporaryDirectory(prefix="lum-fuzz-options-") as tmp, contextlib.chdir(tmp):
        storage = in_directory(storage, Path(tmp))
        try:
            with Luminora(log=None, storage=storage, memory_config=memory, provider=provider) as lum:
                sid = lum.create_session("aurora", user_id=user)
                reply = lum.send_message(sid, GOOD).content
                remembered = lum.client.memory_config.enabled
                if remembered:
                    lum.store_memory(sid, "k", [1, "two"])
        except LuminoraError as exc:
            check_message(exc, call)
            return
        except Exception as exc:
            exc.add_note(f"fuzzed call: {call!r}")
            raise
        if lum.client.storage.backend_name == "memory":
            return  # nothing outlives the facade
        with Luminora(log=None, storage=storage) as again:
            assert again.list_sessions() == [sid]
            conversation = again.get_conversation(sid)
            assert conversation is not None
            assert [m.content for m in conversation.messages] == [GOOD, reply]
            assert again.get_memory(sid, "k") == ([1, "two"] if remembered else None)
            again.send_message(sid, "And now?")


def test_a_log_path_holding_nul_is_refused(tmp_path: Path) -> None:
    # Found by the fuzzer: DuckDB cut the path at the NUL and created 'a' instead.
    with pytest.raises(LuminoraError, match="NUL"):
        Luminora(log=str(tmp_path / "a\x00b.duckdb"))
    assert list(tmp_path.iterdir()) == []
