"""OpenAI adapter: exact request wire format, stream usage, in-stream errors, finish reasons."""

from __future__ import annotations

import json

import pytest

from luminora_nb.errors import ProviderError
from luminora_nb.providers import ChatRequest, create_provider
from luminora_nb.providers._http import StreamState
from luminora_nb.providers._sse import ServerSentEvent
from luminora_nb.providers.openai import OPENAI_FINISH_REASONS, OpenAIProvider
from luminora_nb.types import ChatMessage, ProviderConfig

from .conftest import MakeHarness, collect, replies_finishing_with, turn, user_request
from .wire import Canned, Reply, StreamError


async def test_request_wire_format(mock: MakeHarness):
    h = await mock("openai", temperature=0.2, top_p=0.9, max_tokens=64, stop="END")
    request = ChatRequest(
        system="You are terse.",
        messages=[
            ChatMessage(role="user", content="hi", name="ana"),
            ChatMessage(role="assistant", content="hello"),
            ChatMessage(role="user", content="how are you?"),
        ],
        params={"temperature": 0.7},  # per-call parameters override the config's
    )
    reply = await h.provider.chat(request)
    assert reply.content == "Echo: how are you? — done."
    (sent,) = h.scenario.requests
    assert sent.headers["authorization"] == f"Bearer {h.key}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi", "name": "ana"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "how are you?"},
        ],
        "stream": False,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,  # any base URL but api.openai.com gets the widely supported name
        "stop": ["END"],
    }


def test_api_openai_com_gets_max_completion_tokens():
    provider = OpenAIProvider(ProviderConfig(name="openai", api_key="sk-123456", extra={"max_tokens": 10}))
    body = provider.build_body(user_request(), stream=False)
    assert body["max_completion_tokens"] == 10 and "max_tokens" not in body


async def test_stream_asks_for_usage_and_reports_it(mock: MakeHarness):
    h = await mock("openai")
    chunks = await collect(h.provider, user_request())
    (sent,) = h.scenario.requests
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.headers["accept"] == "text/event-stream"
    assert chunks[-1].usage["completion_tokens"] == 5


async def test_stream_usage_can_be_turned_off_for_servers_that_reject_it(mock: MakeHarness):
    h = await mock("openai", stream_usage=False)
    chunks = await collect(h.provider, user_request())
    assert "stream_options" not in h.scenario.requests[0].body
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage == {}  # nothing reported, nothing invented


async def test_in_stream_error_before_any_text_is_retried(mock: MakeHarness):
    h = await mock("openai", actions=[StreamError(after=0, message="The server had an error")])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2 and chunks[-1].metadata["attempts"] == 2


async def test_in_stream_error_after_text_is_raised_with_the_vendor_text(mock: MakeHarness):
    h = await mock("openai", actions=[StreamError(after=2, message="The server had an error")])
    with pytest.raises(ProviderError, match="The server had an error") as info:
        await collect(h.provider, user_request())
    assert "broke after 2 chunk(s)" in str(info.value)
    assert len(h.scenario.requests) == 1


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
    ],
)
async def test_finish_reasons(mock: MakeHarness, vendor: str, normalised: str):
    plain, streamed = await replies_finishing_with(mock, "openai", vendor)
    assert (plain.finish_reason, plain.metadata["raw_finish_reason"]) == (normalised, vendor)
    assert streamed.finish_reason == normalised


def test_finish_reason_mapping_of_unknown_values():
    assert OPENAI_FINISH_REASONS(None) is None
    assert OPENAI_FINISH_REASONS("something_new") == "stop"


async def test_an_empty_reply_is_still_a_complete_turn(mock: MakeHarness):
    h = await mock("openai", actions=[Reply(text=""), Reply(text="")])
    assert (await h.provider.chat(user_request())).content == ""
    chunks = await collect(h.provider, user_request())
    assert [c.content for c in chunks] == [""] and chunks[-1].finish_reason == "stop"


def test_repr_hides_the_key():
    provider = create_provider(ProviderConfig(name="openai", api_key="sk-secret-abcdef"))
    assert "sk-secret-abcdef" not in repr(provider)
    assert repr(provider) == "<OpenAIProvider name='openai' model='gpt-4o-mini'>"


async def test_in_stream_error_of_a_non_transient_type_is_not_retried(mock: MakeHarness):
    h = await mock(
        "openai", actions=[StreamError(after=0, message="context too long", kind="invalid_request_error")]
    )
    with pytest.raises(ProviderError, match="context too long") as info:
        await collect(h.provider, user_request())
    assert not info.value.retryable
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("kind", ["server_error", "rate_limit_exceeded", "overloaded_error", "api_error"])
async def test_in_stream_error_of_a_transient_type_is_retried(mock: MakeHarness, kind: str):
    h = await mock("openai", actions=[StreamError(after=0, message="try later", kind=kind)])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2


def test_null_usage_counts_in_a_later_chunk_keep_the_earlier_ones():
    # vLLM with continuous usage stats reports usage on every chunk; a null must not erase a count.
    provider = OpenAIProvider(ProviderConfig(name="openai", api_key="sk-123456"))
    state = StreamState()
    first = {
        "choices": [{"index": 0, "delta": {"content": "a"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1},
    }
    last = {"choices": [], "usage": {"prompt_tokens": None, "completion_tokens": 4, "total_tokens": None}}
    for chunk in (first, last):
        provider.handle_stream_item(ServerSentEvent(data=json.dumps(chunk)), state)
    assert state.usage == {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


@pytest.mark.parametrize(
    "host",
    ["api.openai.com", "eu.api.openai.com", "us.api.openai.com", "jp.api.openai.com", "mtls.api.openai.com"],
)
def test_every_openai_host_gets_max_completion_tokens(host: str):
    # Regional and mTLS hosts used to get the deprecated max_tokens (the check was host == "api.openai.com").
    provider = OpenAIProvider(
        ProviderConfig(
            name="openai", api_key="sk-123456", base_url=f"https://{host}/v1", extra={"max_tokens": 10}
        )
    )
    body = provider.build_body(user_request(), stream=False)
    assert body["max_completion_tokens"] == 10 and "max_tokens" not in body


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000/v1", "https://api.openai.com.example.net/v1"])
def test_other_hosts_keep_max_tokens(base_url: str):
    provider = OpenAIProvider(
        ProviderConfig(name="openai", api_key="sk-123456", base_url=base_url, extra={"max_tokens": 10})
    )
    assert provider.build_body(user_request(), stream=False)["max_tokens"] == 10


_REFUSAL = "I'm sorry, I can't help with that."


def _refusal_reply() -> dict[str, object]:
    return {
        "id": "chatcmpl-r",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": _REFUSAL},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }


def _refusal_stream() -> tuple[object, ...]:
    def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-r",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    usage = {"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    return (
        chunk({"role": "assistant", "content": None, "refusal": ""}),
        chunk({"content": None, "refusal": "I'm sorry, "}),
        chunk({"content": None, "refusal": "I can't help with that."}),
        chunk({}, "stop"),
        {**usage, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}},
        "[DONE]",
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_a_refusal_is_the_reply_with_finish_reason_content_filter(mock: MakeHarness, streamed: bool):
    # Before: the plain reply was empty (refusal in metadata only), the stream empty with "stop".
    h = await mock("openai", actions=[Canned(plain=_refusal_reply(), events=_refusal_stream())])
    text, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert text == _REFUSAL
    assert reply.finish_reason == "content_filter"
    assert reply.metadata["raw_finish_reason"] == "stop"
    assert reply.metadata["refusal"] == _REFUSAL
    assert reply.usage == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_an_unknown_finish_reason_means_stop_and_is_flagged(mock: MakeHarness, streamed: bool):
    h = await mock("openai", actions=[Reply(finish="brand_new_reason")])
    _, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert reply.finish_reason == "stop"
    assert reply.metadata["raw_finish_reason"] == "brand_new_reason"
    assert reply.metadata["unknown_finish_reason"] is True
    known = await h.provider.chat(user_request())
    assert "unknown_finish_reason" not in known.metadata
