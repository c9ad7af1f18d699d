"""Anthropic adapter: Messages API request shape, SSE events, 529 and in-stream errors."""

from __future__ import annotations

import json

import pytest

from luminora_nb.errors import ProviderError, ProviderRateLimitError
from luminora_nb.providers import ChatRequest
from luminora_nb.providers._http import StreamState
from luminora_nb.providers._sse import ServerSentEvent
from luminora_nb.providers.anthropic import AnthropicProvider
from luminora_nb.types import ChatMessage, ProviderConfig

from .conftest import MakeHarness, collect, user_request
from .wire import Fail, Reply, StreamError


async def test_request_wire_format(mock: MakeHarness):
    h = await mock("anthropic", temperature=0.3, top_p=0.8, stop=["\n\nHuman:", "END"])
    request = ChatRequest(
        system="You are terse.",
        messages=[
            ChatMessage(role="system", content="Extra system note."),
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content="hello"),
            ChatMessage(role="user", content="bye"),
        ],
    )
    await h.provider.chat(request)
    (sent,) = h.scenario.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == h.key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,  # required by the API: a default is always sent
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "bye"},
        ],
        "stream": False,
        "system": "You are terse.\n\nExtra system note.",
        "temperature": 0.3,
        "top_p": 0.8,
        "stop_sequences": ["\n\nHuman:", "END"],
    }


async def test_max_tokens_from_config_and_no_system_when_absent(mock: MakeHarness):
    h = await mock("anthropic", max_tokens=50)
    await collect(h.provider, user_request(system=None))
    body = h.scenario.requests[0].body
    assert body["max_tokens"] == 50 and body["stream"] is True and "system" not in body


async def test_stream_usage_combines_message_start_and_message_delta(mock: MakeHarness):
    h = await mock("anthropic")
    chunks = await collect(h.provider, user_request())
    last = chunks[-1]
    assert last.usage["completion_tokens"] == 5  # message_delta's cumulative output_tokens
    # From message_start: message_delta's "input_tokens": null must not erase it.
    assert last.usage["prompt_tokens"] == len(json.dumps(h.scenario.requests[0].body).split())
    assert last.usage["total_tokens"] == last.usage["prompt_tokens"] + 5
    assert last.metadata["id"] == "msg_test"


async def test_529_overloaded_is_retried(mock: MakeHarness):
    h = await mock("anthropic", actions=[Fail(529, "Overloaded")])
    reply = await h.provider.chat(user_request())
    assert reply.content == "Echo: hello there — done." and reply.metadata["attempts"] == 2


async def test_overloaded_error_event_before_text_is_retried(mock: MakeHarness):
    h = await mock("anthropic", actions=[StreamError(after=0, message="Overloaded")])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2


async def test_error_event_after_text_is_raised(mock: MakeHarness):
    h = await mock("anthropic", actions=[StreamError(after=3, message="Overloaded")])
    with pytest.raises(ProviderError, match="Overloaded") as info:
        await collect(h.provider, user_request("a b c d"))
    assert info.value.status == 529 and info.value.retryable
    assert len(h.scenario.requests) == 1


def test_error_event_types_map_to_statuses():
    provider = AnthropicProvider(ProviderConfig(name="anthropic", api_key="sk-ant-123456"))
    event = ServerSentEvent(
        event="error", data='{"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}'
    )
    with pytest.raises(ProviderRateLimitError, match="slow down") as info:
        provider.handle_stream_item(event, StreamState())
    assert info.value.status == 429


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
async def test_stop_reasons(mock: MakeHarness, vendor: str, normalised: str):
    h = await mock("anthropic", actions=[Reply(finish=vendor), Reply(finish=vendor)])
    assert (await h.provider.chat(user_request())).finish_reason == normalised
    assert (await collect(h.provider, user_request()))[-1].finish_reason == normalised
