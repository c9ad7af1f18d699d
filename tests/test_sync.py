"""The synchronous facade in every context it is used from: scripts, threads, widget
callbacks, interrupts; streams that break, stop or fail; errors in the caller's thread.

(Inside a real Jupyter kernel: tests/test_kernel.py.)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import ChatStream, Luminora, ProviderConfig
from luminora_nb.errors import LuminoraError, PersonalityError, ProviderError, SessionError, StorageError
from luminora_nb.events import FactDeleted, TurnCompleted

SLOW = {"name": "offline", "extra": {"chunk_delay": 0.02}}


@pytest.fixture
def lum() -> Iterator[Luminora]:
    with Luminora(log=None) as facade:
        yield facade


def test_same_api_as_the_async_client(lum: Luminora) -> None:
    assert "aurora" in lum.list_personalities()
    blend = lum.blend_personalities(["aurora", "vex"], [7, 3], "av")
    assert blend.metadata["blend"]["weights"] == {"aurora": 0.7, "vex": 0.3}
    assert "av" in lum.list_personalities()
    sid = lum.create_session("av", "offline", user_id="sam")
    reply = lum.send_message(sid, "Hello! My name is Sam.")
    assert reply.content and reply.finish_reason == "stop"
    lum.store_memory(sid, "colour", "green")
    assert lum.get_memory(sid, "colour") == "green"
    assert lum.list_sessions(user_id="sam") == [sid]
    assert lum.session_summaries()[0].message_count == 2
    assert lum.resume_session(sid) == sid
    assert lum.get_conversation(sid).messages[0].content == "Hello! My name is Sam."  # type: ignore[union-attr]
    assert lum.delete_session(sid) is True
    assert lum.get_conversation(sid) is None


def test_defaults_need_nothing_and_the_repr_has_no_secret() -> None:
    with Luminora(log=None, provider=ProviderConfig(name="offline", api_key="sk-secret-1234")) as lum:
        assert "sk-secret" not in repr(lum)
        assert "offline" in repr(lum) and "memory" in repr(lum)
        sid = lum.create_session("aurora")
        assert lum.send_message(sid, "Hi").content


def test_stream_is_a_plain_iterator_whose_text_equals_the_stored_reply(lum: Luminora) -> None:
    sid = lum.create_session("captain_quip")
    stream = lum.stream_message(sid, "Tell me about volcanoes.")
    assert isinstance(stream, ChatStream)
    chunks = list(stream)
    assert len(chunks) > 3
    assert chunks[-1].finish_reason == "stop" and stream.finish_reason == "stop"
    stored = lum.get_conversation(sid).messages[-1]  # type: ignore[union-attr]
    assert stored.content == "".join(c.content for c in chunks) == stream.text


def test_chunks_arrive_as_they_are_produced(lum: Luminora) -> None:
    sid = lum.create_session("aurora", {"name": "offline", "extra": {"chunk_delay": 0.05}})
    stream = lum.stream_message(sid, "Tell me a long story about volcanoes and the sea.")
    arrivals = []
    for _chunk in stream:
        arrivals.append(time.monotonic())
        if len(arrivals) == 6:
            break
    # produced 50 ms apart, so they cannot all have come at once at the end
    assert arrivals[-1] - arrivals[0] > 0.1
    assert len(arrivals) > 3


def test_breaking_out_of_a_stream_releases_the_session_and_stores_nothing(lum: Luminora) -> None:
    sid = lum.create_session("aurora", SLOW)
    for _chunk in lum.stream_message(sid, "Tell me about volcanoes, in detail."):
        break
    # the session is free again at once: the next turn runs and is the only one stored
    reply = lum.send_message(sid, "Hello again")
    messages = lum.get_conversation(sid).messages  # type: ignore[union-attr]
    assert [m.content for m in messages] == ["Hello again", reply.content]


def test_close_and_with_block_cancel_a_stream(lum: Luminora) -> None:
    sid = lum.create_session("aurora", SLOW)
    with lum.stream_message(sid, "Tell me about volcanoes.") as stream:
        next(stream)
    assert list(stream) == []  # closed: nothing more comes
    stream.close()  # twice is fine
    assert lum.get_conversation(sid).messages == []  # type: ignore[union-attr]
    assert lum.send_message(sid, "still usable").content


def test_stop_keeps_the_partial_reply_as_a_stopped_turn(lum: Luminora) -> None:
    sid = lum.create_session("aurora", SLOW)
    stream = lum.stream_message(sid, "Tell me about volcanoes and how they form.")
    received = [next(stream), next(stream)]
    stream.stop()
    rest = list(stream)
    assert rest[-1].finish_reason == "stopped" == stream.finish_reason
    stored = lum.get_conversation(sid).messages  # type: ignore[union-attr]
    assert stored[-1].metadata["finish_reason"] == "stopped"
    assert stored[-1].content == stream.text == "".join(c.content for c in [*received, *rest])
    assert stream.text.startswith(received[0].content)


def test_stop_from_another_thread_while_waiting_for_the_provider(lum: Luminora) -> None:
    # a provider that takes 30 s for its first chunk: Stop must not wait for it
    sid = lum.create_session("aurora", {"name": "offline", "extra": {"latency": 30}})
    stream = lum.stream_message(sid, "Hello?")
    threading.Timer(0.2, stream.stop).start()
    started = time.monotonic()
    chunks = list(stream)
    assert time.monotonic() - started < 10
    assert chunks[-1].finish_reason == "stopped"
    assert lum.get_conversation(sid).messages[-1].content == ""  # type: ignore[union-attr]


def test_stop_before_the_stream_has_started(lum: Luminora) -> None:
    sid = lum.create_session("aurora", SLOW)
    stream = lum.stream_message(sid, "Tell me about volcanoes, please, at length.")
    stream.stop()
    assert stream.wait().finish_reason == "stopped"


def test_errors_are_the_librarys_own_raised_in_the_callers_thread(lum: Luminora) -> None:
    with pytest.raises(PersonalityError, match="unknown personality 'nobody'") as info:
        lum.create_session("nobody")
    frames = traceback.extract_tb(info.value.__traceback__)
    # the caller's frame and the client code that failed are both in the traceback
    assert any(f.name == "test_errors_are_the_librarys_own_raised_in_the_callers_thread" for f in frames)
    assert any(f.filename.endswith("client.py") for f in frames)
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        lum.create_session("aurora", "openai")
    sid = lum.create_session("aurora")
    with pytest.raises(SessionError):
        lum.send_message(sid, "")
    with pytest.raises(SessionError):
        list(lum.stream_message("sess_missing", "hi"))
    with pytest.raises(PersonalityError, match="zero"):
        lum.blend_personalities(["aurora", "vex"], [0, 0], "z")


def test_eight_threads_at_once(lum: Luminora) -> None:
    sessions = [lum.create_session("aurora") for _ in range(4)]

    def chat(i: int) -> int:
        sid = sessions[i % 4]
        for j in range(10):
            if j % 2:
                lum.send_message(sid, f"thread {i} message {j}")
            else:
                "".join(c.content for c in lum.stream_message(sid, f"thread {i} message {j}"))
        return i

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(chat, range(8))) == list(range(8))
    for sid in sessions:
        messages = lum.get_conversation(sid).messages  # type: ignore[union-attr]
        assert len(messages) == 2 * 10 * 2
        # every user message is directly followed by its reply: turns never interleave
        assert [m.role.value for m in messages] == ["user", "assistant"] * 20


def test_from_an_ipywidgets_callback(lum: Luminora) -> None:
    ipywidgets = pytest.importorskip("ipywidgets")
    sid = lum.create_session("aurora")
    replies: list[str] = []
    button = ipywidgets.Button(description="Send")
    button.on_click(lambda _b: replies.append(lum.send_message(sid, "Hello from a button").content))
    button.click()
    button.click()
    assert len(replies) == 2 and all(replies)


def test_events_reach_subscribers_and_a_blocking_call_in_a_handler_is_refused(lum: Luminora) -> None:
    seen: list[TurnCompleted] = []
    refused: list[BaseException] = []

    def handler(event: object) -> None:
        assert isinstance(event, TurnCompleted)
        seen.append(event)
        try:
            lum.list_personalities()  # would deadlock: the handler runs on the facade's loop
        except LuminoraError as exc:
            refused.append(exc)

    sub = lum.subscribe(handler, types=[TurnCompleted])
    sid = lum.create_session("aurora")
    lum.send_message(sid, "Hi")
    sub.close()
    lum.send_message(sid, "Hi again")
    assert len(seen) == 1 and seen[0].session_id == sid
    assert refused and "event loop" in str(refused[0])


def test_delete_fact_publishes_fact_deleted_with_the_session_given(lum: Luminora) -> None:
    seen: list[FactDeleted] = []
    sub = lum.subscribe(seen.append, types=[FactDeleted])  # type: ignore[arg-type]
    lum.save_fact("sam", "preferences", "drink", "tea")
    assert lum.delete_fact("sam", "preferences", "drink", session_id="s1") is True
    assert lum.delete_fact("sam", "preferences", "drink") is False
    sub.close()
    assert [(e.user_id, e.category, e.key, e.session_id) for e in seen] == [
        ("sam", "preferences", "drink", "s1")
    ]


def test_an_interrupt_while_waiting_cancels_the_call_and_the_session_stays_usable(lum: Luminora) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("interrupts reach the main thread only")
    sid = lum.create_session("aurora", {"name": "offline", "extra": {"latency": 30}})
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # what a notebook's stop button sends
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        lum.send_message(sid, "this takes 30 s")
    timer.join()
    assert lum.get_conversation(sid).messages == []  # type: ignore[union-attr]
    other = lum.create_session("aurora")
    assert lum.send_message(other, "and this is quick").content


def test_an_interrupt_during_a_stream_closes_it(lum: Luminora) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("interrupts reach the main thread only")
    sid = lum.create_session("aurora", {"name": "offline", "extra": {"chunk_delay": 5}})
    stream = lum.stream_message(sid, "Tell me about volcanoes.")
    next(stream)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # what a notebook's stop button sends
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(stream)
    timer.join()
    assert lum.send_message(sid, "after the interrupt").content  # the session was released


def test_close_is_idempotent_and_a_closed_facade_says_so() -> None:
    lum = Luminora(log=None)
    sid = lum.create_session("aurora")
    lum.close()
    lum.close()
    assert lum.closed and "closed" in repr(lum)
    with pytest.raises(LuminoraError, match="closed"):
        lum.send_message(sid, "hi")


def test_works_when_the_calling_thread_has_its_own_running_loop(lum: Luminora) -> None:
    # a notebook kernel's main thread has a running loop: the facade must not care
    async def inside_a_loop() -> str:
        sid = lum.create_session("aurora")
        return lum.send_message(sid, "Hello").content

    assert asyncio.run(inside_a_loop())


def _run_script(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration  # starts another process
def test_in_a_script_with_nothing_closed_the_interpreter_exits_cleanly() -> None:
    done = _run_script(
        """
        import threading
        from luminora_nb import Luminora
        lum = Luminora(log=None)
        sid = lum.create_session("aurora")
        print(lum.send_message(sid, "Hello! My name is Sam.").content.count("Sam"))
        stream = lum.stream_message(sid, "Tell me about volcanoes.")
        next(stream)   # left open on purpose, like the facade itself
        print(sorted(t.name for t in threading.enumerate() if t.name.startswith("luminora")))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert int(lines[0]) >= 1
    assert lines[1] == "['luminora-loop']"


# -- the session log ------------------------------------------------------------------


def test_the_log_is_on_by_default_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUMINORA_LOG", raising=False)
    with Luminora() as lum:
        assert lum.log is not None and lum.log.path.resolve() == (tmp_path / "luminora.duckdb").resolve()
        sid = lum.create_session("aurora", user_id="sam")
        lum.send_message(sid, "Hello! My name is Sam.")
        "".join(c.content for c in lum.stream_message(sid, "How are you?"))
        messages = lum.messages(sid)
        assert list(messages["role"]) == ["user", "assistant", "user", "assistant"]
        assert set(lum.events()["type"]) >= {"session_created", "turn_started", "turn_completed"}
        assert lum.sessions()["user_id"].tolist() == ["sam"]
    assert (tmp_path / "luminora.duckdb").exists()


def test_log_path_from_the_environment_or_argument_or_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LUMINORA_LOG", str(tmp_path / "env.duckdb"))
    with Luminora() as lum:
        assert lum.log is not None and lum.log.path.name == "env.duckdb"
    with Luminora(log=tmp_path / "arg.duckdb") as lum:
        assert lum.log is not None and lum.log.path.name == "arg.duckdb"
    monkeypatch.setenv("LUMINORA_LOG", "")
    with Luminora() as lum:
        assert lum.log is None
        with pytest.raises(LuminoraError, match="no session log"):
            lum.messages()
    with Luminora(log=None) as lum:
        assert lum.log is None


def test_a_log_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LuminoraError, match="does not exist"):
        Luminora(log=tmp_path / "missing" / "log.duckdb")
    with pytest.raises(LuminoraError, match="file path, a SessionLog or None"):
        Luminora(log=42)  # type: ignore[arg-type]


def test_an_unwritable_default_log_place_warns_and_chat_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "gone"
    monkeypatch.setenv("LUMINORA_LOG", str(missing / "luminora.duckdb"))
    with pytest.warns(UserWarning, match="session log disabled"):
        lum = Luminora()
    with lum:
        assert lum.log is None
        sid = lum.create_session("aurora")
        assert lum.send_message(sid, "Hi").content


def test_a_shared_log_object_is_flushed_not_closed(tmp_path: Path) -> None:
    from luminora_nb.sessionlog import SessionLog

    log = SessionLog(tmp_path / "shared.duckdb")
    for name in ("aurora", "vex"):
        with Luminora(log=log) as lum:
            lum.send_message(lum.create_session(name), "Hello!")
    assert sorted(log.sessions()["personality"]) == ["aurora", "vex"]
    assert len(log.messages()) == 4
    log.close()


def test_who_runs_the_loop(lum: Luminora) -> None:
    """The calling thread drives the loop itself when it can; else the daemon thread does."""

    async def where() -> int:
        return threading.get_ident()

    assert lum.run(where()) == threading.get_ident()  # a script: no hand-over

    async def from_inside_another_loop() -> int:
        return lum.run(where())  # this thread already runs a loop (as a kernel's does)

    daemon = asyncio.run(from_inside_another_loop())
    assert daemon != threading.get_ident()
    assert lum._loop._thread.ident == daemon
    deadline = time.monotonic() + 10
    while lum._loop._driver.locked() and time.monotonic() < deadline:
        time.sleep(0.01)  # the daemon thread goes back to sleep once the loop is idle
    with ThreadPoolExecutor(1) as pool:  # any thread without a loop of its own drives it
        worker = pool.submit(lambda: (threading.get_ident(), lum.run(where()))).result()
    assert worker[0] == worker[1]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"storage": {"connect_timeout": -1}},
            StorageError,
            "invalid storage config: connect_timeout: Input",
        ),
        ({"storage": 5}, StorageError, "storage config must be a StorageConfig, a dict or a storage type"),
        ({"storage": {"storage_type": "file", "connection_string": "a\x00b"}}, StorageError, "NUL"),
        ({"memory_config": "x"}, SessionError, "memory_config must be a MemoryConfig or a dict"),
        ({"memory_config": {"max_entries": -1}}, SessionError, "invalid memory_config: max_entries"),
    ],
)
def test_bad_facade_options_are_the_librarys_errors(
    options: dict[str, Any], error: type, message: str
) -> None:
    # Found by the fuzzer: pydantic's ValidationError, TypeError from dict(5); a path holding
    # NUL opened its prefix; memory_config="x" was kept and broke store_memory later.
    with pytest.raises(error, match=re.escape(message)):
        Luminora(log=None, **options)


def test_a_memory_config_dict_is_accepted(lum: Luminora) -> None:
    with Luminora(log=None, memory_config={"max_entries": 1}) as small:
        sid = small.create_session("aurora")
        small.store_memory(sid, "a", 1)
        small.store_memory(sid, "b", 2)
        assert (small.get_memory(sid, "a"), small.get_memory(sid, "b")) == (None, 2)
