"""Good and bad calls interleaved (a hypothesis state machine): good turns and memory on
a few sessions, between fuzzed calls, deletions and reopenings of the store. After every
step the store holds exactly the good turns: a refused call never poisons a session."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import SessionError

from .harness import Expected, Model, attempt, budget, check_store, store_of
from .strategies import CALLS, GOOD_JSON, GOOD_MESSAGES, Call


class Interleaved(RuleBasedStateMachine):
    """Good turns on a few sessions between bad calls; the store reopened now and then."""

    backend = "memory"
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.exits = contextlib.ExitStack()
        self.store = self.exits.enter_context(store_of(self.backend))
        self.client = self.store.open()
        # one per client: constructing it attaches its memory pipeline to the client's turns
        self.v11 = LuminoraCoreClientV11(self.client)
        self.model = Model()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @rule(
        target=sessions,
        name=st.sampled_from(["aurora", "vex", "lyra"]),
        config=st.sampled_from([None, {"max_history": 2}, {"session_type": "stateless"}, {"timeout": 0}]),
    )
    def create(self, name: str, config: dict[str, Any] | None) -> str:
        sid = self.run(self.client.create_session(name, session_config=config))
        self.model.add(sid)
        return sid

    @rule(
        sid=sessions, message=GOOD_MESSAGES, streamed=st.booleans(), temperature=st.none() | st.floats(0, 2)
    )
    def good_turn(self, sid: str, message: str, streamed: bool, temperature: float | None) -> None:
        async def turn() -> str:
            if streamed:
                chunks = [c async for c in self.client.stream_message(sid, message, temperature=temperature)]
                return "".join(c.content for c in chunks)
            return (await self.client.send_message(sid, message, temperature=temperature)).content

        if sid not in self.model.turns:  # deleted
            with pytest.raises(SessionError):
                self.run(turn())
            return
        self.model.turns[sid].append(Expected(message, None, self.run(turn())))

    @rule(sid=sessions, message=GOOD_MESSAGES, after=st.integers(1, 3), keep=st.booleans())
    def stream_cut_short(self, sid: str, message: str, after: int, keep: bool) -> None:
        """A stream cut after ``after`` chunks: abandoned (nothing of it is stored) or
        stopped with stop_stream (the partial reply is stored as streamed)."""

        async def turn() -> tuple[str, str | None]:
            stream = self.client.stream_message(sid, message)
            text, finish, seen = "", None, 0
            try:
                async for chunk in stream:
                    text += chunk.content
                    finish = chunk.finish_reason
                    if finish:
                        break
                    seen += 1
                    if seen == after:
                        if not keep:
                            break  # abandoned: closed below
                        assert self.client.stop_stream(sid), "a running stream can be stopped"
            finally:
                await stream.aclose()
            return text, finish

        if sid not in self.model.turns:
            with pytest.raises(SessionError):
                self.run(turn())
            return
        text, finish = self.run(turn())
        event(f"stream {'stopped' if keep else 'abandoned'} ({finish or 'nothing stored'})")
        if finish is not None:  # stopped, or the reply had fewer chunks: stored as streamed
            self.model.turns[sid].append(Expected(message, None, text))

    @rule(
        sid=sessions,
        key=st.sampled_from(["k1", "k2", "k3", "k4"]),
        value=GOOD_JSON,
    )
    def good_memory(self, sid: str, key: str, value: Any) -> None:
        if sid not in self.model.turns:
            with pytest.raises(SessionError):
                self.run(self.client.store_memory(sid, key, value))
            return
        self.run(self.client.store_memory(sid, key, value))
        self.model.remember(sid, key, value)

    @rule(call=CALLS)
    def bad_call(self, call: Call) -> None:
        self.run(attempt(self.client, self.v11, self.model, call, tolerate=True))

    @rule(sid=sessions)
    def delete(self, sid: str) -> None:
        existed = self.run(self.client.delete_session(sid))
        assert existed is (sid in self.model.turns)
        if existed:
            self.model.remove(sid)

    @rule()
    def reopen(self) -> None:
        self.run(self.client.cleanup())
        self.client = self.store.open()
        self.v11 = LuminoraCoreClientV11(self.client)

    @invariant()
    def the_store_holds_the_good_turns(self) -> None:
        self.run(check_store(self.client, self.model, "after the step"))

    def teardown(self) -> None:
        try:
            self.run(self.client.cleanup())
        finally:
            self.loop.close()
            self.exits.close()


class InterleavedOnFiles(Interleaved):
    backend = "file"


class InterleavedInDuckDB(Interleaved):
    backend = "duckdb"


TestInterleavedInMemory = Interleaved.TestCase
TestInterleavedInMemory.settings = budget(40, stateful_step_count=25)
# On disk only in the integration run (about 7 s together); the fast loop has the
# on-disk examples of test_fuzz_client.py.
TestInterleavedOnFiles = pytest.mark.integration(pytest.mark.slow(InterleavedOnFiles.TestCase))
TestInterleavedOnFiles.settings = budget(15, stateful_step_count=20)
TestInterleavedInDuckDB = pytest.mark.integration(pytest.mark.slow(InterleavedInDuckDB.TestCase))
TestInterleavedInDuckDB.settings = budget(6, stateful_step_count=12)
