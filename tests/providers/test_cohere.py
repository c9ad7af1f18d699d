"""Cohere v2 adapter: request names (``p``, ``stop_sequences``), content lists, stream events."""

from __future__ import annotations

import json

import pytest

from luminora_nb.errors import ProviderError
from luminora_nb.providers import ChatRequest
from luminora_nb.providers._http import StreamState
from luminora_nb.providers._sse import ServerSentEvent
from luminora_nb.providers.cohere import CohereProvider
from luminora_nb.types import ChatMessage, ProviderConfig

from .conftest import MakeHarness, collect, replies_finishing_with, stream_into, user_request
from .wire import Canned, StreamError, named_by_type


async def test_request_wire_format(mock: MakeHarness):
    h = await mock("cohere", temperature=0.4, top_p=0.75, max_tokens=99, stop=["###"])
    request = ChatRequest(
        system="Answer in French.",
        messages=[
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content="salut"),
            ChatMessage(role="user", content="hello there"),
        ],
    )
    await collect(h.provider, request)
    (sent,) = h.scenario.requests
    assert sent.path == "/v2/chat"
    assert sent.headers["authorization"] == f"Bearer {h.key}"
    assert sent.body == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "salut"},
            {"role": "user", "content": "hello there"},
        ],
        "stream": True,
        "temperature": 0.4,
        "max_tokens": 99,
        "p": 0.75,
        "stop_sequences": ["###"],
    }


async def test_usage_reports_processed_tokens_not_billed_units(mock: MakeHarness):
    h = await mock("cohere")
    reply = await h.provider.chat(user_request())
    chunks = await collect(h.provider, user_request())
    # The server bills 3 fewer input tokens than it processes (like Cohere's system preamble).
    assert reply.usage["prompt_tokens"] == chunks[-1].usage["prompt_tokens"]
    billed = len(json.dumps(h.scenario.requests[0].body).split())
    assert reply.usage["prompt_tokens"] == billed + 3


async def test_error_in_message_end_is_raised_with_coheres_text(mock: MakeHarness):
    h = await mock("cohere", actions=[StreamError(after=2, message="internal generation failure")])
    received: list[str] = []
    with pytest.raises(ProviderError, match="internal generation failure") as info:
        await stream_into(h.provider, user_request("one two three"), into=received)
    assert "".join(received) == "Echo: one "  # delivered before the error; no normal end chunk
    assert "broke after 2 chunk(s)" in str(info.value)
    assert len(h.scenario.requests) == 1


async def test_error_in_message_end_before_any_text_is_not_retried(mock: MakeHarness):
    h = await mock("cohere", actions=[StreamError(after=0, message="invalid generation request")])
    with pytest.raises(ProviderError, match="invalid generation request") as info:
        await collect(h.provider, user_request())
    assert not info.value.retryable
    assert len(h.scenario.requests) == 1 and h.delays == []


async def test_transient_error_in_message_end_before_any_text_is_retried(mock: MakeHarness):
    h = await mock("cohere", actions=[StreamError(after=0, message="model overloaded, try again")])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR_TOXIC", "content_filter"),
    ],
)
async def test_finish_reasons(mock: MakeHarness, vendor: str, normalised: str):
    plain, streamed = await replies_finishing_with(mock, "cohere", vendor)
    assert plain.finish_reason == normalised
    assert streamed.finish_reason == normalised


def test_non_text_events_carry_no_text_and_bad_deltas_are_malformed():
    provider = CohereProvider(ProviderConfig(name="cohere", api_key="co-123456"))
    state = StreamState()
    for kind in ("tool-plan-delta", "citation-start", "content-end"):
        assert (
            provider.handle_stream_item(ServerSentEvent(event=kind, data=f'{{"type": "{kind}"}}'), state)
            is None
        )
    bad = ServerSentEvent(data='{"type": "content-delta", "delta": {"message": {"content": {"text": 5}}}}')
    with pytest.raises(ProviderError, match="unexpected content-delta"):
        provider.handle_stream_item(bad, state)


async def test_text_carried_by_content_start_is_part_of_the_reply(mock: MakeHarness):
    # Before: content-start's text was dropped ("Hello" arrived as "lo").
    events = named_by_type(
        {"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}},
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "thinking", "thinking": "Hm."}}},
        },
        {
            "type": "content-delta",
            "index": 0,
            "delta": {"message": {"content": {"thinking": " A greeting."}}},
        },
        {"type": "content-end", "index": 0},
        {
            "type": "content-start",
            "index": 1,
            "delta": {"message": {"content": {"type": "text", "text": "Hel"}}},
        },
        {"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "lo"}}}},
        {"type": "content-end", "index": 1},
        {
            "type": "message-end",
            "delta": {
                "finish_reason": "COMPLETE",
                "usage": {"tokens": {"input_tokens": 3.0, "output_tokens": 2.0}},
            },
        },
    )
    h = await mock("cohere", actions=[Canned(events=events)])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Hello"
    assert chunks[-1].metadata["thinking"] == "Hm. A greeting."
    assert chunks[-1].usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_thinking_items_of_a_whole_reply_are_not_text():
    provider = CohereProvider(ProviderConfig(name="cohere", api_key="co-123456"))
    reply = provider.parse_reply(
        {
            "id": "c2",
            "finish_reason": "COMPLETE",
            "message": {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "Hm."}, {"type": "text", "text": "Hi"}],
            },
        }
    )
    assert (reply.content, reply.metadata["thinking"]) == ("Hi", "Hm.")
