"""ChatWidget, driven as the browser drives it: custom messages in, recorded messages out.

No browser and no mocks of our own code: the widget runs on a real facade (offline
provider, in-memory storage); the only stand-ins are test providers registered through
the public ``register_provider`` hook, which fake the outside LLM (a 5,000-chunk reply,
a reply that fails midway).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from luminora_nb.errors import PersonalityError, ProviderError, SessionError
from luminora_nb.providers.base import ChatRequest, Provider
from luminora_nb.providers.registry import register_provider
from luminora_nb.sync import Luminora
from luminora_nb.turns import TurnExtension, TurnState
from luminora_nb.types.provider import ChatResponse, ProviderConfig
from luminora_nb.widgets import ChatWidget
from luminora_nb.widgets._base import asset_text
from luminora_nb.widgets.testing import CommRecorder

from .browser_code import assert_module_inserts_text_only_as_text, scoped_selectors

BULK_CHUNKS = 5000


class BulkProvider(Provider):
    """A fake remote LLM that streams a reply in 5,000 small chunks."""

    name = "test-bulk"
    default_model = "bulk-1"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        chunks = [c async for c in self.stream(request)]
        return ChatResponse(
            content="".join(c.content for c in chunks), finish_reason="stop", model=self.model
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        for i in range(BULK_CHUNKS - 1):
            yield ChatResponse(content=f"w{i % 100:02d} ", model=self.model)
        yield ChatResponse(
            content="end.",
            finish_reason="stop",
            usage={"prompt_tokens": 7, "completion_tokens": BULK_CHUNKS, "total_tokens": BULK_CHUNKS + 7},
            model=self.model,
        )


class FailingProvider(Provider):
    """A fake remote LLM whose stream breaks off with an error after a few words."""

    name = "test-failing"
    default_model = "fail-1"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise ProviderError("test-failing: the server went away; try again later", provider=self.name)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        yield ChatResponse(content="Half a ", model=self.model)
        raise ProviderError("test-failing: the server went away; try again later", provider=self.name)


register_provider("test-bulk", BulkProvider, replace=True)
register_provider("test-failing", FailingProvider, replace=True)


def types_of(wire: CommRecorder, widget: ChatWidget) -> list[str]:
    return [m["type"] for m in wire.custom_messages(widget)]


def streamed_text(wire: CommRecorder, widget: ChatWidget, message_id: str) -> str:
    return "".join(
        m["text"] for m in wire.custom_messages(widget) if m["type"] == "delta" and m["id"] == message_id
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until ``condition()`` holds (never asserts on wall-clock time itself)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def build_session(lum: Luminora, turns: int) -> str:
    """A stored session of ``2 * turns`` messages, built through the async client."""

    async def build() -> str:
        sid = await lum.client.create_session("aurora")
        for i in range(turns):
            await lum.client.send_message(sid, f"question {i}")
        return sid

    return lum.submit(build()).result()


# -- a full turn ---------------------------------------------------------------------------


def test_full_turn_streams_and_is_stored(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora")
    assert chat.error == "" and chat.can_send and chat.session_id
    assert chat.persona == "Aurora" and chat.initial == "A" and chat.provider_label == "offline"
    wire.custom(chat, {"type": "sync"})
    wire.custom(chat, {"type": "send", "text": "Hello! My name is Sam."})
    chat.wait()

    assert chat.error == "" and chat.busy is False and chat.streaming is False
    stored = lum.get_conversation(chat.session_id)
    assert stored is not None
    assert [(m.role.value, m.content) for m in stored.messages] == [
        (m["role"], m["content"]) for m in chat.messages
    ]
    user, reply = chat.messages
    assert user["content"] == "Hello! My name is Sam."
    assert reply["finish_reason"] == "stop" and reply["stopped"] is False
    assert reply["model"] == "luminora-sim-1" and reply["provider"] == "offline"
    assert reply["usage"]["prompt_tokens"] > 0 and reply["usage"]["completion_tokens"] > 0
    assert reply["latency_ms"] == stored.messages[1].metadata["latency_ms"]
    assert user["timestamp"] == stored.messages[0].timestamp
    assert reply["timestamp"] >= user["timestamp"]

    sent = wire.custom_messages(chat)
    assert [m["type"] for m in sent[:3]] == ["reset", "append", "append"]
    assert sent[1]["message"]["role"] == "user" and sent[1]["message"]["content"] == "Hello! My name is Sam."
    placeholder = sent[2]["message"]
    assert placeholder["role"] == "assistant" and placeholder["streaming"] is True
    assert placeholder["content"] == ""
    assert streamed_text(wire, chat, placeholder["id"]) == reply["content"]
    final = [m for m in sent if m["type"] == "delta" and m.get("final")]
    assert len(final) == 1
    badges = final[0]["message"]
    assert badges["finish_reason"] == "stop"
    assert badges["usage"] == reply["usage"]
    assert badges["latency_ms"] == reply["latency_ms"]
    assert badges["model"] == "luminora-sim-1" and badges["provider"] == "offline"
    assert "streaming" not in badges and "stopped" not in badges
    # the transcript is never sent again for a turn
    assert all(m["type"] in ("reset", "append", "delta") for m in sent)
    assert types_of(wire, chat).count("reset") == 1


def test_enter_path_equals_send(lum: Luminora, wire: CommRecorder) -> None:
    from_browser = ChatWidget(lum, personality="vex")
    from_code = ChatWidget(lum, personality="vex")
    for chat in (from_browser, from_code):
        wire.custom(chat, {"type": "sync"})
    wire.custom(from_browser, {"type": "send", "text": "Hello! My name is Sam."})
    from_code.send("Hello! My name is Sam.")
    from_browser.wait()
    from_code.wait()

    def shape(chat: ChatWidget) -> list[tuple[Any, ...]]:
        return [(m["role"], m["content"], m["finish_reason"], m["usage"]) for m in chat.messages]

    assert shape(from_browser) == shape(from_code)
    assert len(from_browser.messages) == 2

    def protocol(chat: ChatWidget) -> list[tuple[str, Any]]:
        return [
            (m["type"], m.get("message", {}).get("role"))
            for m in wire.custom_messages(chat)
            if m["type"] != "delta" or m.get("final")
        ]

    assert protocol(from_browser) == protocol(from_code)


def test_messages_sent_during_a_reply_queue_up(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="pip")
    chat.send("First question?")
    chat.send("Second question?")
    chat.wait()
    assert [(m["role"], m["content"]) for m in chat.messages[::2]] == [
        ("user", "First question?"),
        ("user", "Second question?"),
    ]
    stored = lum.get_conversation(chat.session_id or "")
    assert stored is not None
    assert [m.content for m in stored.messages] == [m["content"] for m in chat.messages]
    assert chat.busy is False


def test_empty_message_is_ignored_with_a_hint(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora")
    wire.clear()
    wire.custom(chat, {"type": "send", "text": "   \n "})
    chat.send("")
    chat.wait()
    assert chat.messages == []
    assert "Type a message first" in chat.notice
    assert wire.custom_messages(chat) == []
    assert chat.error == ""
    chat.send("Now a real one.")
    chat.wait()
    assert chat.notice == "" and len(chat.messages) == 2


# -- stop ----------------------------------------------------------------------------------


def test_stop_keeps_the_partial_reply_marked_stopped(lum: Luminora, wire: CommRecorder) -> None:
    prompt = "Tell me everything about volcanoes, rivers and mountains, please."
    slow = ProviderConfig(name="offline", extra={"chunk_delay": 0.02})
    full = lum.send_message(lum.create_session("aurora"), prompt).content
    assert len(full.split()) >= 15  # long enough to stop midway

    chat = ChatWidget(lum, personality="aurora", provider=slow)
    wire.custom(chat, {"type": "sync"})
    wire.custom(chat, {"type": "send", "text": prompt})
    wait_for(lambda: len(chat.messages) == 2 and chat.messages[1]["content"] != "", "the first words")
    assert chat.streaming is True
    wire.custom(chat, {"type": "stop"})
    chat.wait()

    reply = chat.messages[1]
    assert reply["stopped"] is True and reply["finish_reason"] == "stopped"
    assert reply["content"] and full.startswith(reply["content"]) and reply["content"] != full
    stored = lum.get_conversation(chat.session_id or "")
    assert stored is not None and len(stored.messages) == 2
    assert stored.messages[1].metadata["finish_reason"] == "stopped"
    assert stored.messages[1].content == reply["content"]
    final = [m for m in wire.custom_messages(chat) if m["type"] == "delta" and m.get("final")]
    assert final[0]["message"]["stopped"] is True
    assert final[0]["message"]["finish_reason"] == "stopped"
    assert streamed_text(wire, chat, final[0]["id"]) == reply["content"]
    assert chat.streaming is False and chat.stop() is False
    assert chat._text().endswith("[stopped]")


def test_stop_right_after_send_still_stops(lum: Luminora, wire: CommRecorder) -> None:
    slow = ProviderConfig(name="offline", extra={"chunk_delay": 0.02})
    chat = ChatWidget(lum, personality="aurora", provider=slow)
    chat.send("Tell me everything about volcanoes, rivers and mountains, please.")
    assert chat.stop() is True  # the turn may not have begun: it stops as soon as it does
    chat.wait()
    reply = chat.messages[1]
    assert reply["finish_reason"] == "stopped" and reply["stopped"] is True
    stored = lum.get_conversation(chat.session_id or "")
    assert stored is not None and stored.messages[1].metadata["finish_reason"] == "stopped"


def test_a_view_rendered_mid_stream_gets_the_partial_reply(lum: Luminora, wire: CommRecorder) -> None:
    slow = ProviderConfig(name="offline", extra={"chunk_delay": 0.01})
    chat = ChatWidget(lum, personality="aurora", provider=slow)
    chat.send("Tell me everything about volcanoes, rivers and mountains, please.")
    wait_for(lambda: len(chat.messages) == 2 and chat.messages[1]["content"] != "", "the first words")
    wire.custom(chat, {"type": "sync"})  # a view renders now
    chat.wait()
    sent = wire.custom_messages(chat)
    reset_at = next(i for i, m in enumerate(sent) if m["type"] == "reset")
    window = sent[reset_at]["messages"]
    assert [m["role"] for m in window] == ["user", "assistant"]
    partial = window[1]
    # what the view got in the reset plus the deltas after it is the whole reply
    rest = "".join(m["text"] for m in sent[reset_at + 1 :] if m["type"] == "delta")
    assert partial["content"] + rest == chat.messages[1]["content"]


# -- history and paging ----------------------------------------------------------------------


def test_load_earlier_pages_a_500_message_session(lum: Luminora, wire: CommRecorder) -> None:
    sid = build_session(lum, 250)
    stored = lum.get_conversation(sid)
    assert stored is not None and len(stored.messages) == 500
    contents = [m.content for m in stored.messages]

    chat = ChatWidget(lum, sid, page_size=50)
    assert chat.error == "" and chat.can_send
    assert len(chat.messages) == 500 and [m["content"] for m in chat.messages] == contents
    assert chat.has_earlier is True and chat.earlier == 450
    assert wire.custom_messages(chat) == []  # nothing is sent before a view asks

    wire.custom(chat, {"type": "sync"})
    (reset,) = wire.custom_messages(chat)
    assert reset["type"] == "reset"
    assert [m["content"] for m in reset["messages"]] == contents[450:]
    assistant = reset["messages"][-1]
    assert assistant["finish_reason"] == "stop" and assistant["model"] == "luminora-sim-1"
    assert assistant["usage"]["completion_tokens"] > 0 and "latency_ms" in assistant
    reset_size = wire.messages[-1].size

    shown = contents[450:]
    for page in range(9):
        wire.clear()
        wire.custom(chat, {"type": "load_earlier"})
        prepends = [m for m in wire.custom_messages(chat) if m["type"] == "prepend"]
        assert len(prepends) == 1 and len(prepends[0]["messages"]) == 50
        shown = [m["content"] for m in prepends[0]["messages"]] + shown
        assert shown == contents[450 - 50 * (page + 1) :]
        assert chat.earlier == 450 - 50 * (page + 1)
        # page-sized: never more than about one page of bytes per message
        assert max(m.size for m in wire.messages) < 2 * reset_size
    assert chat.has_earlier is False and chat.earlier == 0
    wire.clear()
    assert chat.load_earlier() == 0
    assert wire.messages == []

    # a re-render shows the window as it now is
    wire.custom(chat, {"type": "sync"})
    assert [m["content"] for m in wire.custom_messages(chat)[-1]["messages"]] == contents


def test_turns_made_elsewhere_appear(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora")
    wire.custom(chat, {"type": "sync"})
    reply = lum.send_message(chat.session_id or "", "Typed in another cell.")
    assert [m["content"] for m in chat.messages] == ["Typed in another cell.", reply.content]
    appended = [m["message"] for m in wire.custom_messages(chat) if m["type"] == "append"]
    assert [m["role"] for m in appended] == ["user", "assistant"]
    assert appended[1]["finish_reason"] == "stop" and appended[1]["provider"] == "offline"
    chat.close()
    lum.send_message(lum.create_session("aurora"), "unrelated")  # a closed widget no longer listens


def test_relationship_level_and_mood_show_in_badges(lum: Luminora, wire: CommRecorder) -> None:
    class Mood(TurnExtension):
        """A user extension (the public hook the v1.1 pipeline uses) fixing level and mood."""

        async def prepare(self, turn: TurnState) -> None:
            definition = turn.personality.definition
            assert definition is not None
            turn.level = definition.relationship_levels[-1]
            turn.mood = definition.mood_config.moods[-1]

    lum.client.add_extension(Mood())
    persona = lum.get_personality("aurora")
    assert persona is not None and persona.definition is not None
    level = persona.definition.relationship_levels[-1].name
    mood = persona.definition.mood_config.moods[-1].name

    chat = ChatWidget(lum, personality="aurora")
    wire.custom(chat, {"type": "sync"})
    chat.send("Hello again!")
    chat.wait()
    reply = chat.messages[1]
    assert reply["relationship_level"] == level and reply["mood"] == mood
    final = [m for m in wire.custom_messages(chat) if m["type"] == "delta" and m.get("final")]
    assert final[0]["message"]["relationship_level"] == level
    assert final[0]["message"]["mood"] == mood
    assert chat.to_dataframe()["mood"].iloc[1] == mood


# -- errors in place -----------------------------------------------------------------------


def test_unknown_personality_shows_in_place(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="nobody")
    assert chat.error.startswith("unknown personality 'nobody'")
    assert "load_personality" in chat.error
    assert isinstance(chat.last_error, PersonalityError)
    assert chat.can_send is False and chat.session_id is None
    assert chat.persona == "nobody"
    wire.custom(chat, {"type": "send", "text": "Hello?"})
    chat.wait()
    assert chat.messages == [] and "Sending is off" in chat.notice
    assert "unknown personality" in chat._text()


def test_unknown_session_shows_in_place(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, "sess_does_not_exist")
    assert chat.error.startswith("unknown session 'sess_does_not_exist'")
    assert isinstance(chat.last_error, SessionError)
    assert chat.can_send is False


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((), {}, "got neither"),
        (("sess_x",), {"personality": "aurora"}, "got both"),
        ((), {"personality": "aurora", "page_size": 0}, "page_size"),
    ],
)
def test_bad_arguments_show_in_place(
    lum: Luminora, wire: CommRecorder, args: tuple[Any, ...], kwargs: dict[str, Any], expected: str
) -> None:
    chat = ChatWidget(lum, *args, **kwargs)
    assert expected in chat.error and chat.last_error is not None and not chat.can_send


def test_missing_api_key_names_the_variable(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora", provider=ProviderConfig(name="openai"))
    assert "OPENAI_API_KEY" in chat.error
    assert isinstance(chat.last_error, ProviderError)
    assert chat.can_send is False and chat.provider_label == "openai"
    # a stored session keeps its history when the provider it should continue with has no key
    sid = build_session(lum, 2)
    stored = ChatWidget(lum, sid, provider="openai")
    assert "OPENAI_API_KEY" in stored.error and stored.can_send is False
    assert len(stored.messages) == 4


def test_a_failing_turn_shows_in_place_and_keeps_the_transcript(lum: Luminora, wire: CommRecorder) -> None:
    sid = build_session(lum, 1)
    chat = ChatWidget(lum, sid, provider="test-failing")
    before = chat.messages
    wire.custom(chat, {"type": "sync"})
    wire.custom(chat, {"type": "send", "text": "Are you there?"})
    chat.wait()
    assert chat.error.startswith("test-failing: the server went away")
    assert isinstance(chat.last_error, ProviderError)
    assert chat.messages == before  # nothing of the failed turn was stored, nor is it shown
    failed = [m for m in wire.custom_messages(chat) if m["type"] == "failed"]
    assert len(failed) == 1 and failed[0]["text"] == "Are you there?" and len(failed[0]["ids"]) == 2
    stored = lum.get_conversation(sid)
    assert stored is not None and len(stored.messages) == 2
    assert chat.can_send is True and chat.busy is False and chat.streaming is False


# -- bytes on the wire ---------------------------------------------------------------------


def test_a_5000_chunk_reply_costs_at_most_3x_its_size(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora", provider="test-bulk")
    wire.custom(chat, {"type": "sync"})
    wire.clear()
    chat.send("Write a lot.")
    chat.wait()
    reply = chat.messages[1]["content"]
    assert reply.count(" ") == BULK_CHUNKS - 1 and reply.endswith("end.")
    reply_bytes = len(reply.encode())
    deltas = [m for m in wire.custom_messages(chat) if m["type"] == "delta"]
    assert len(deltas) < BULK_CHUNKS / 10  # coalesced, not one message per chunk
    assert wire.bytes_sent <= 3 * reply_bytes, (wire.bytes_sent, reply_bytes)


# -- data out ------------------------------------------------------------------------------


def test_to_dataframe_columns(lum: Luminora, wire: CommRecorder) -> None:
    chat = ChatWidget(lum, personality="aurora")
    empty = chat.to_dataframe()
    assert list(empty.columns) == [
        "role",
        "content",
        "timestamp",
        "finish_reason",
        "stopped",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "latency_ms",
        "model",
        "provider",
        "relationship_level",
        "mood",
    ]
    assert len(empty) == 0
    chat.send("Hello!")
    chat.wait()
    frame = chat.to_dataframe()
    assert list(frame["role"]) == ["user", "assistant"]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["completion_tokens"].iloc[1] == chat.messages[1]["usage"]["completion_tokens"]
    assert frame["prompt_tokens"].isna().iloc[0]
    assert frame["stopped"].dtype == bool and not frame["stopped"].any()


def test_plain_text_form(lum: Luminora, wire: CommRecorder) -> None:
    sid = build_session(lum, 5)
    chat = ChatWidget(lum, sid)
    text = chat._text()
    lines = text.splitlines()
    assert lines[0] == "ChatWidget · Aurora · offline · 10 messages"
    assert lines[1] == "… 4 earlier messages"
    assert lines[2] == "you: question 2"
    assert lines[3].startswith("Aurora: ")
    assert len(lines) == 8
    assert repr(chat) == text
    bundle = chat._repr_mimebundle_()
    assert bundle is not None and bundle[0]["text/plain"] == text


# -- the browser module --------------------------------------------------------------------


def test_js_inserts_text_only_as_text() -> None:
    assert_module_inserts_text_only_as_text("chat")
    source = asset_text("chat.js")
    assert "textContent" in source and "appendData" in source


def test_js_and_css_offer_the_stable_hooks() -> None:
    source = asset_text("chat.js")
    for hook in (
        'setAttribute("aria-label", "Message")',
        '"Send"',
        '"Stop"',
        '"Load earlier"',
        '"lnb-caret"',
        '"lnb-error"',
        '"lnb-msg lnb-msg-" + role',
        '"lnb-root", "lnb-chat"',
        '"msg:custom"',
        'type: "sync"',
        'type: "send"',
        'type: "stop"',
        'type: "load_earlier"',
    ):
        assert hook in source, hook
    # themed by JupyterLab's variables only (but for base.css's grey fallback), scoped to the chat
    assert len(scoped_selectors("chat")) > 20


def test_a_personality_object_and_focus(lum: Luminora, wire: CommRecorder) -> None:
    aurora = lum.get_personality("aurora")
    assert aurora is not None
    mine = aurora.model_copy(update={"name": "my_aurora", "name_override": "Rory"})
    chat = ChatWidget(lum, personality=mine)
    assert chat.error == "" and chat.persona == "Rory" and chat.initial == "R"
    assert "my_aurora" in lum.list_personalities()
    wire.clear()
    chat.focus()
    assert wire.custom_messages(chat) == [{"do": "focus"}] and chat.notice == ""
