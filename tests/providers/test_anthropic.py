"""Anthropic adapter: Messages API request shape, SSE events, 529 and in-stream errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from luminora_nb.errors import ProviderError, ProviderRateLimitError
from luminora_nb.providers import ChatRequest
from luminora_nb.providers._http import StreamState
from luminora_nb.providers._sse import ServerSentEvent
from luminora_nb.providers.anthropic import CURRENT_API_VERSION, AnthropicProvider
from luminora_nb.types import ChatMessage, ProviderConfig

from .conftest import MakeHarness, collect, replies_finishing_with, turn, user_request
from .wire import Canned, Fail, StreamError, named_by_type


async def test_request_wire_format(mock: MakeHarness, caplog: pytest.LogCaptureFixture):
    # The current API version: Bearer auth, and no sampling settings in the request (the
    # old assertions expected version 2023-06-01, x-api-key and temperature + top_p).
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
    with caplog.at_level(logging.WARNING, logger="luminora_nb.providers"):
        await h.provider.chat(request)
        await h.provider.chat(request)
    sent = h.scenario.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["anthropic-version"] == CURRENT_API_VERSION == "2026-10-21"
    assert sent.headers["authorization"] == f"Bearer {h.key}"
    assert "x-api-key" not in sent.headers
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
        "stop_sequences": ["\n\nHuman:", "END"],
    }
    # Said once per provider, not on every turn.
    (warning,) = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "temperature and top_p not sent" in warning and "2023-06-01" in warning


async def test_legacy_api_version_sends_x_api_key_and_never_temperature_with_top_p(mock: MakeHarness):
    h = await mock("anthropic", api_version="2023-06-01", temperature=0.3, top_p=0.8)
    await h.provider.chat(user_request())
    sent = h.scenario.requests[0]
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-api-key"] == h.key and "authorization" not in sent.headers
    # Current models answer 400 to the pair (the test vendor too): temperature wins.
    assert sent.body["temperature"] == 0.3 and "top_p" not in sent.body
    h2 = await mock("anthropic", api_version="2023-06-01", top_p=0.8)
    await collect(h2.provider, user_request())
    assert h2.scenario.requests[0].body["top_p"] == 0.8 and "temperature" not in h2.scenario.requests[0].body


@pytest.mark.parametrize("version", ["2024-01-01", "latest", 20230601])
def test_an_api_version_the_adapter_does_not_speak_is_refused(version: object):
    with pytest.raises(ProviderError, match="api_version"):
        AnthropicProvider(
            ProviderConfig(name="anthropic", api_key="sk-ant-123456", extra={"api_version": version})
        )


def _block_events(index: int, start: dict[str, Any], *deltas: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events of one content block: its start, one event per delta, its stop.

    Args:
        index: The block's place in the message.
        start: The block as ``content_block_start`` announces it (text still empty).
        *deltas: The ``delta`` of each ``content_block_delta``, in order.

    Returns:
        The event payloads, to be named with :func:`~.wire.named_by_type`.
    """
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas),
        {"type": "content_block_stop", "index": index},
    ]


_CACHED_USAGE = {
    "input_tokens": 3,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 2000,
    "output_tokens": 7,
}


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_prompt_cache_tokens_count_as_prompt_tokens(mock: MakeHarness, streamed: bool):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _CACHED_USAGE,
    }
    events = named_by_type(
        {
            "type": "message_start",
            "message": {
                **message,
                "content": [],
                "stop_reason": None,
                "usage": {**_CACHED_USAGE, "output_tokens": 1},
            },
        },
        *_block_events(0, {"type": "text", "text": ""}, {"type": "text_delta", "text": "Hi"}),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {
                "input_tokens": None,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "output_tokens": 7,
            },
        },
        {"type": "message_stop"},
    )
    h = await mock("anthropic", actions=[Canned(plain=message, events=events)])
    _, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert reply.usage == {
        "prompt_tokens": 2103,  # was 3: the cached and cache-written tokens were left out
        "completion_tokens": 7,
        "total_tokens": 2110,
        "input_tokens": 3,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2000,
    }


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_thinking_blocks_are_kept_out_of_the_reply(mock: MakeHarness, streamed: bool):
    blocks = [
        {"type": "thinking", "thinking": "Let me see.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Hello."},
    ]
    message = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": blocks,
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    events = named_by_type(
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}},
        *_block_events(
            0,
            {"type": "thinking", "thinking": "", "signature": ""},
            {"type": "thinking_delta", "thinking": "Let me see."},
            {"type": "signature_delta", "signature": "sig"},
        ),
        *_block_events(1, blocks[1]),
        *_block_events(2, {"type": "text", "text": ""}, {"type": "text_delta", "text": "Hello."}),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
    h = await mock("anthropic", actions=[Canned(plain=message, events=events)])
    text, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert text == "Hello."
    assert reply.metadata["thinking"] == "Let me see."


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
    plain, streamed = await replies_finishing_with(mock, "anthropic", vendor)
    assert plain.finish_reason == normalised
    assert streamed.finish_reason == normalised
