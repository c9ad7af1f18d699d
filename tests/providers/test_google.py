"""Gemini adapter: contents/systemInstruction/generationConfig, alt=sse, safety, RetryInfo."""

from __future__ import annotations

import json

import pytest

from luminora_nb.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
)
from luminora_nb.providers import ChatRequest
from luminora_nb.providers._http import StreamState
from luminora_nb.providers._sse import ServerSentEvent
from luminora_nb.providers.google import GoogleProvider
from luminora_nb.types import ChatMessage, ProviderConfig

from .conftest import MakeHarness, collect, one_turn, replies_finishing_with, turn, user_request
from .wire import Fail, Reply, StreamError


async def test_request_wire_format(mock: MakeHarness):
    h = await mock("google", temperature=0.6, top_p=0.95, max_tokens=77, stop=["END"])
    request = ChatRequest(
        system="Speak like a pirate.",
        messages=[
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content="arr"),
            ChatMessage(role="system", content="Stay in character."),
            ChatMessage(role="user", content="where is the gold?"),
        ],
    )
    reply = await h.provider.chat(request)
    assert reply.content == "Echo: where is the gold? — done."
    (sent,) = h.scenario.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.query == {}
    assert sent.headers["x-goog-api-key"] == h.key
    assert "authorization" not in sent.headers
    assert sent.body == {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "arr"}]},
            {"role": "user", "parts": [{"text": "where is the gold?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Speak like a pirate."}, {"text": "Stay in character."}]},
        "generationConfig": {
            "temperature": 0.6,
            "topP": 0.95,
            "maxOutputTokens": 77,
            "stopSequences": ["END"],
        },
    }


async def test_stream_uses_stream_generate_content_with_alt_sse(mock: MakeHarness):
    h = await mock("google", model="gemini-2.0-flash")
    chunks = await collect(h.provider, user_request())
    (sent,) = h.scenario.requests
    assert sent.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    assert sent.query == {"alt": ["sse"]}
    assert chunks[-1].model == "gemini-2.0-flash"
    assert "generationConfig" not in sent.body


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        # Values the table did not know: before, every one of them fell back to "stop".
        ("CONTINUATION", "length"),
        ("ESCALATION", "content_filter"),
        ("PUP_LIMITED_DISABLED", "content_filter"),
        ("MODEL_ARMOR", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
        ("IMAGE_OTHER", "content_filter"),
        ("IMAGE_RECITATION", "content_filter"),
        ("NO_IMAGE", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ],
)
async def test_finish_reasons(mock: MakeHarness, vendor: str, normalised: str):
    plain, last = await replies_finishing_with(mock, "google", vendor)
    assert plain.finish_reason == normalised and "unknown_finish_reason" not in plain.metadata
    assert last.finish_reason == normalised and "unknown_finish_reason" not in last.metadata


@pytest.mark.parametrize(
    "vendor",
    ["MALFORMED_RESPONSE", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE", "UNEXPECTED_TOOL_CALL"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_failed_generations_are_errors(mock: MakeHarness, vendor: str, streamed: bool):
    h = await mock("google", actions=[Reply(text="", finish=vendor)])
    with pytest.raises(ProviderError, match=vendor):
        await one_turn(h.provider, user_request(), streamed=streamed)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_a_future_finish_reason_means_stop_and_keeps_the_raw_value(mock: MakeHarness, streamed: bool):
    h = await mock("google", actions=[Reply(finish="SOMETHING_NEW")])
    _, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert reply.finish_reason == "stop"
    assert reply.metadata["raw_finish_reason"] == "SOMETHING_NEW"
    assert reply.metadata["unknown_finish_reason"] is True


def test_api_version_defaults_to_v1_and_is_configurable():
    def url(**config: object) -> str:
        p = GoogleProvider(ProviderConfig(name="google", api_key="g-123456", **config))  # type: ignore[arg-type]
        return p.url(p.endpoint(stream=False)[0])

    root = "https://generativelanguage.googleapis.com"
    assert url() == f"{root}/v1/models/gemini-2.5-flash:generateContent"
    assert url(extra={"api_version": "v1beta"}) == f"{root}/v1beta/models/gemini-2.5-flash:generateContent"
    assert url(base_url=f"{root}/v1beta") == f"{root}/v1beta/models/gemini-2.5-flash:generateContent"
    assert (
        url(base_url="https://proxy.test/gemini/")
        == "https://proxy.test/gemini/v1/models/gemini-2.5-flash:generateContent"
    )
    with pytest.raises(ProviderError, match="speaks API version 'v1beta'"):
        url(base_url=f"{root}/v1beta", extra={"api_version": "v1"})
    with pytest.raises(ProviderError, match="api_version"):
        url(extra={"api_version": "beta"})


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_error_finish_reason_is_raised_with_the_raw_reason(mock: MakeHarness, streamed: bool):
    h = await mock("google", actions=[Reply(text="", finish="MALFORMED_FUNCTION_CALL")])
    with pytest.raises(ProviderError, match="MALFORMED_FUNCTION_CALL") as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    assert not info.value.retryable and len(h.scenario.requests) == 1


async def test_retry_info_delay_in_the_error_body_is_honoured(mock: MakeHarness):
    body = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
            ],
        }
    }
    h = await mock("google", actions=[Fail(429, body=body)])
    assert (await h.provider.chat(user_request())).metadata["attempts"] == 2
    assert h.delays == [7.0]


async def test_quota_exhausted_forever_is_a_rate_limit_error_with_googles_text(mock: MakeHarness):
    h = await mock("google", actions=[Fail(429, "Resource has been exhausted")] * 3, max_retries=1)
    with pytest.raises(ProviderRateLimitError, match="Resource has been exhausted"):
        await h.provider.chat(user_request())


async def test_in_stream_error_after_text_carries_googles_code(mock: MakeHarness):
    h = await mock("google", actions=[StreamError(after=1, message="The model is overloaded.")])
    with pytest.raises(ProviderError, match="The model is overloaded") as info:
        await collect(h.provider, user_request())
    assert info.value.status == 503


def test_blocked_prompt_and_thought_parts():
    provider = GoogleProvider(ProviderConfig(name="google", api_key="g-123456"))
    blocked = provider.parse_reply({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}})
    assert (blocked.content, blocked.finish_reason, blocked.metadata["raw_finish_reason"]) == (
        "",
        "content_filter",
        "SAFETY",
    )
    thinking = provider.parse_reply(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "pondering", "thought": True}, {"text": "42"}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "thoughtsTokenCount": 9},
        }
    )
    assert thinking.content == "42" and thinking.metadata["thinking"] == "pondering"
    assert thinking.usage == {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13}


def _gemini_400(reason: str | None) -> dict[str, object]:
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
    ]
    return {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": details if reason else [],
        }
    }


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_invalid_api_key_400_is_an_authentication_error(mock: MakeHarness, streamed: bool):
    # Gemini answers a bad key with HTTP 400 INVALID_ARGUMENT + ErrorInfo reason API_KEY_INVALID.
    h = await mock("google", actions=[Fail(400, body=_gemini_400("API_KEY_INVALID"))])
    with pytest.raises(ProviderAuthenticationError, match="API key not valid") as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    err = info.value
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in str(err)
    assert "check the model name" not in str(err)
    assert "HTTP 400" in str(err) and err.status == 400 and not err.retryable
    assert len(h.scenario.requests) == 1


async def test_other_invalid_argument_400_stays_a_bad_request(mock: MakeHarness):
    h = await mock("google", actions=[Fail(400, body=_gemini_400(None))])
    with pytest.raises(ProviderBadRequestError):
        await h.provider.chat(user_request())


def test_usage_fields_left_out_of_a_later_chunk_keep_their_values():
    provider = GoogleProvider(ProviderConfig(name="google", api_key="g-123456"))
    state = StreamState()
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "a"}]}}], "usageMetadata": {"promptTokenCount": 7}},
        {
            "candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": None, "candidatesTokenCount": 2},
        },
    ]
    for chunk in chunks:
        provider.handle_stream_item(ServerSentEvent(data=json.dumps(chunk)), state)
    assert state.usage == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
