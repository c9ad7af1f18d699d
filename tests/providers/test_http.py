"""The behaviour every adapter inherits from the HTTP core — construction, the registry,
retries, error mapping, malformed replies — for all six providers (llama in both of its
modes), each vendor answering in its own wire format through ``httpx.MockTransport``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from luminora_nb.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from luminora_nb.providers import Provider, available_providers, create_provider, register_provider
from luminora_nb.providers.base import ChatRequest
from luminora_nb.providers.registry import _custom
from luminora_nb.types import ChatMessage, ChatResponse, ProviderConfig

from .conftest import (
    ALL_CASES,
    CASES,
    KEYED_CASES,
    MakeHarness,
    collect,
    one_turn,
    replies_finishing_with,
    stream_into,
    user_request,
)
from .mock_vendor import MockVendor
from .wire import Fail, Malformed

# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("case_id", KEYED_CASES)
def test_missing_key_fails_in_the_constructor_naming_the_env_variable(case_id):
    name = CASES[case_id].provider
    with pytest.raises(ProviderAuthenticationError) as info:
        create_provider(ProviderConfig(name=name))
    cls = type(info.value)
    assert cls is ProviderAuthenticationError and info.value.provider == name
    expected = {
        "openai": ["OPENAI_API_KEY"],
        "anthropic": ["ANTHROPIC_API_KEY"],
        "mistral": ["MISTRAL_API_KEY"],
        "cohere": ["CO_API_KEY", "COHERE_API_KEY"],
        "google": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    }[name]
    for var in expected:
        assert var in str(info.value)


@pytest.mark.parametrize(
    ("name", "var"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("mistral", "MISTRAL_API_KEY"),
        ("cohere", "CO_API_KEY"),
        ("cohere", "COHERE_API_KEY"),
        ("google", "GEMINI_API_KEY"),
        ("google", "GOOGLE_API_KEY"),
    ],
)
def test_key_is_read_from_the_environment(monkeypatch, name, var):
    monkeypatch.setenv(var, f"env-key-for-{var}")
    provider = create_provider(ProviderConfig(name=name))
    assert provider.api_key == f"env-key-for-{var}"  # type: ignore[attr-defined]
    assert f"env-key-for-{var}" not in repr(provider)
    assert f"env-key-for-{var}" not in repr(vars(provider))


def test_explicit_key_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env-123456")
    provider = create_provider(ProviderConfig(name="openai", api_key="explicit-123456"))
    assert provider.api_key == "explicit-123456"  # type: ignore[attr-defined]


def test_llama_needs_no_key():
    assert create_provider(ProviderConfig(name="llama")).api_key is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("base_url", ["not a url", "ftp://example.com", "/relative/path", "http://"])
def test_bad_base_url_is_rejected_at_construction(base_url):
    with pytest.raises(ProviderError, match="base_url"):
        create_provider(ProviderConfig(name="openai", api_key="k-123456", base_url=base_url))


@pytest.mark.parametrize(
    ("name", "base_url", "path", "expected"),
    [
        ("openai", None, "/chat/completions", "https://api.openai.com/v1/chat/completions"),
        ("anthropic", None, "/v1/messages", "https://api.anthropic.com/v1/messages"),
        ("anthropic", "https://proxy.example/v1/", "/v1/messages", "https://proxy.example/v1/messages"),
        ("cohere", None, "/v2/chat", "https://api.cohere.com/v2/chat"),
        ("cohere", "https://api.cohere.com/v2", "/v2/chat", "https://api.cohere.com/v2/chat"),
        ("mistral", None, "/chat/completions", "https://api.mistral.ai/v1/chat/completions"),
        (
            "google",
            None,
            "/models/gemini-2.5-flash:generateContent",
            "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:generateContent",
        ),
        ("llama", None, "/api/chat", "http://localhost:11434/api/chat"),
        (
            "llama",
            "http://127.0.0.1:8080/v1",
            "/v1/chat/completions",
            "http://127.0.0.1:8080/v1/chat/completions",
        ),
    ],
)
def test_default_base_urls_and_version_segments_are_not_doubled(name, base_url, path, expected):
    provider = create_provider(ProviderConfig(name=name, api_key="k-123456", base_url=base_url))
    assert provider.url(path) == expected  # type: ignore[attr-defined]


def test_default_models():
    models = {
        name: create_provider(ProviderConfig(name=name, api_key="k-123456")).model
        for name in ("openai", "anthropic", "mistral", "cohere", "google", "llama")
    }
    assert models == {
        "openai": "gpt-4o-mini",
        "anthropic": "claude-haiku-4-5",
        "mistral": "mistral-small-latest",
        "cohere": "command-a-03-2025",
        "google": "gemini-2.5-flash",
        "llama": "llama3.2",
    }


# --------------------------------------------------------------------------- registry


def test_unknown_provider_lists_the_supported_names():
    with pytest.raises(ProviderError) as info:
        create_provider(ProviderConfig(name="nope"))
    message = str(info.value)
    assert "unknown provider 'nope'" in message
    for name in ("openai", "anthropic", "mistral", "cohere", "google", "llama"):
        assert name in message
    assert info.value.provider == "nope"


async def test_register_provider_lets_users_add_an_adapter():
    class ShoutProvider(Provider):
        name = "shout"

        async def chat(self, request: ChatRequest) -> ChatResponse:
            return ChatResponse(content=request.messages[-1].content.upper(), finish_reason="stop")

        async def stream(self, request: ChatRequest):
            yield await self.chat(request)

    try:
        register_provider("shout", ShoutProvider)
        assert "shout" in available_providers()
        provider = create_provider(ProviderConfig(name="Shout"))
        assert isinstance(provider, ShoutProvider)
        assert (await provider.chat(user_request("hey"))).content == "HEY"
        with pytest.raises(ProviderError, match="already registered"):
            register_provider("shout", ShoutProvider)
        with pytest.raises(ProviderError, match="already registered"):
            register_provider("openai", ShoutProvider)
    finally:
        _custom.pop("shout", None)
    assert "shout" not in available_providers()


# --------------------------------------------------------------------------- transport injection


_HTTP_PROVIDERS = ["openai", "anthropic", "mistral", "cohere", "google", "llama"]


@pytest.mark.parametrize("name", _HTTP_PROVIDERS)
async def test_an_injected_transport_carries_every_request(name: str):
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error": {"message": "mock says no"}})

    config = ProviderConfig(name=name, api_key="k-123456", extra={"max_retries": 0})
    provider = create_provider(config, transport=httpx.MockTransport(vendor))
    try:
        with pytest.raises(ProviderError, match="mock says no"):
            await provider.chat(user_request())
        with pytest.raises(ProviderError, match="mock says no"):
            await collect(provider, user_request())
    finally:
        await provider.aclose()
    assert len(seen) == 2 and all(r.method == "POST" for r in seen)


async def test_requests_are_the_bytes_and_headers_client_post_would_send(mock: MakeHarness):
    h = await mock("openai", temperature=0.5)
    await h.provider.chat(ChatRequest(messages=[ChatMessage(role="user", content='Grüße, ☺ "quoted"')]))
    assert h.scenario.transport is not None
    (sent,) = h.scenario.requests
    async with httpx.AsyncClient() as client:  # what client.post(url, json=body, headers=...) sends
        expected = client.build_request(
            "POST",
            f"{h.scenario.base_url}/chat/completions",
            json=sent.body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "luminora_nb",
                "Authorization": f"Bearer {h.key}",
            },
        )
    assert list(sent.headers.items()) == [(k.lower(), v) for k, v in expected.headers.items()]
    assert int(sent.headers["content-length"]) == len(expected.content)  # same encoding, key order aside


def test_the_transport_is_never_part_of_the_config():
    config = ProviderConfig(name="openai", api_key="k-123456", extra={"transport": "anything"})
    with pytest.raises(ProviderError, match=r"extra\['transport'\] is not supported.*transport="):
        create_provider(config)


def test_only_http_adapters_take_a_transport():
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    with pytest.raises(ProviderError, match="'offline' takes no transport"):
        create_provider(ProviderConfig(name="offline"), transport=mock)


async def test_providers_with_a_transport_get_a_client_of_their_own(vendor_mock: MockVendor):
    scenario = vendor_mock.scenario("openai", key="sk-own-123456", model="gpt-4o-mini")
    config = ProviderConfig(name="openai", api_key="sk-own-123456", base_url=scenario.base_url)
    mocked, again, plain = (
        create_provider(config, transport=scenario.transport),
        create_provider(config, transport=scenario.transport),
        create_provider(config),
    )
    try:
        assert (await mocked.chat(user_request("a"))).content == "Echo: a — done."
        assert (await again.chat(user_request("b"))).content == "Echo: b — done."
        clients = [p._client for p in (mocked, again)]  # type: ignore[attr-defined]
        assert clients[0] is clients[1] and clients[0] is not None
        assert plain._clients.get() is not clients[0]  # type: ignore[attr-defined]  # a pooled one
    finally:
        for provider in (mocked, again, plain):
            await provider.aclose()
    assert len(scenario.requests) == 2


# --------------------------------------------------------------------------- generation parameters


@pytest.mark.parametrize("name", _HTTP_PROVIDERS)
def test_a_bad_generation_parameter_in_the_config_fails_at_construction(name: str):
    with pytest.raises(ProviderBadRequestError, match=f"{name}: top_p must lie between 0 and 1"):
        create_provider(ProviderConfig(name=name, api_key="k-123456", extra={"top_p": 3}))


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_a_bad_generation_parameter_per_call_is_refused_before_sending(
    mock: MakeHarness, case_id: str, streamed: bool
):
    h = await mock(case_id)
    request = ChatRequest(messages=[ChatMessage(role="user", content="hi")], params={"stop": 42})
    with pytest.raises(ProviderBadRequestError, match="stop must be a string or a list of strings"):
        await one_turn(h.provider, request, streamed=streamed)
    assert h.scenario.requests == [] and h.delays == []


# --------------------------------------------------------------------------- every adapter: finish reasons


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_finish_reason_length_is_normalised(mock: MakeHarness, case_id: str):
    vendor_value = {
        "openai": "length",
        "mistral": "model_length",
        "openai_compat": "length",
        "anthropic": "max_tokens",
        "cohere": "MAX_TOKENS",
        "google": "MAX_TOKENS",
        "ollama": "length",
    }[CASES[case_id].vendor]
    plain, streamed = await replies_finishing_with(mock, case_id, vendor_value)
    assert plain.finish_reason == "length"
    assert streamed.finish_reason == "length"
    assert streamed.metadata["raw_finish_reason"] == vendor_value


# --------------------------------------------------------------------------- every adapter: faults


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_429_with_retry_after_seconds_is_honoured(mock: MakeHarness, case_id: str, streamed: bool):
    h = await mock(case_id, actions=[Fail(429, "Rate limit reached", headers={"Retry-After": "2"})])
    text = await one_turn(h.provider, user_request(), streamed=streamed)
    assert text == "Echo: hello there — done."
    assert h.delays == [2.0]  # the server's Retry-After, not the jittered backoff
    assert len(h.scenario.requests) == 2


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_retry_after_as_http_date_within_the_cap_is_honoured(mock: MakeHarness, case_id: str):
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    h = await mock(
        case_id,
        actions=[Fail(429, "slow down", headers={"Retry-After": soon}), Fail(503, "busy")],
        retry_after_cap=60.0,
    )
    reply = await h.provider.chat(user_request())
    assert reply.metadata["attempts"] == 3
    assert 25.0 <= h.delays[0] <= 30.0  # the server's date (second precision), not the backoff
    assert 0.0 <= h.delays[1] <= 0.002  # no Retry-After: jittered backoff (1 ms * 2**1)


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_retry_after_beyond_the_cap_gives_up_at_once(mock: MakeHarness, case_id: str, streamed: bool):
    # Sleeping the cap and retrying would only earn another 429.
    h = await mock(
        case_id,
        actions=[Fail(429, "daily quota used up", headers={"Retry-After": "3600"})] * 3,
        retry_after_cap=3.0,
    )
    with pytest.raises(ProviderRateLimitError, match="daily quota used up") as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    assert "the provider asks to retry in 3600 s" in str(info.value)
    assert "retry_after_cap" in str(info.value)
    assert info.value.status == 429
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_transient_server_error_then_success(mock: MakeHarness, case_id: str, status: int):
    h = await mock(case_id, actions=[Fail(status, "upstream hiccup")])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert chunks[-1].metadata["attempts"] == 2
    assert len(h.delays) == 1 and 0.0 <= h.delays[0] <= 0.001


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_503_forever_gives_up_after_max_retries_with_a_clear_error(
    mock: MakeHarness, case_id: str, streamed: bool
):
    h = await mock(case_id, actions=[Fail(503, "The engine is currently overloaded")] * 10, max_retries=3)
    with pytest.raises(ProviderError) as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    err = info.value
    assert type(err) is ProviderError
    assert (err.status, err.retryable, err.provider) == (503, True, CASES[case_id].provider)
    assert "HTTP 503" in str(err) and "The engine is currently overloaded" in str(err)
    assert "after 4 attempts" in str(err)
    assert len(h.scenario.requests) == 4 and len(h.delays) == 3
    # exponential ceilings: 1 ms, 2 ms, 4 ms (capped at retry_max_delay 5 ms)
    assert all(0.0 <= d <= c for d, c in zip(h.delays, [0.001, 0.002, 0.004], strict=True))


@pytest.mark.parametrize("case_id", KEYED_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_401_is_not_retried_and_never_shows_the_key(mock: MakeHarness, case_id: str, streamed: bool):
    h = await mock(case_id)
    h.scenario.key = "sk-the-server-expects-another-key"  # the adapter's key is now wrong
    with pytest.raises(ProviderAuthenticationError) as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    err = info.value
    assert (err.status, err.retryable) == (401, False)
    assert "Incorrect API key provided" in str(err)  # the vendor's own text...
    assert (
        h.key is not None and h.key not in str(err) and h.key not in repr(err)
    )  # ...minus the key it echoed
    assert "***" in str(err)
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_4xx_fail_at_once_as_bad_request(mock: MakeHarness, case_id: str, status: int):
    h = await mock(case_id, actions=[Fail(status, "model `nope` does not exist")])
    with pytest.raises(ProviderBadRequestError, match="model `nope` does not exist") as info:
        await h.provider.chat(user_request())
    assert (info.value.status, info.value.retryable) == (status, False)
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_408_request_timeout_is_retried(mock: MakeHarness, case_id: str, streamed: bool):
    h = await mock(case_id, actions=[Fail(408, "request timed out")])
    assert await one_turn(h.provider, user_request(), streamed=streamed) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2 and len(h.delays) == 1


async def test_408_forever_says_the_server_timed_out_waiting_for_the_request(mock: MakeHarness):
    h = await mock("openai", actions=[Fail(408, "request timed out")] * 2, max_retries=1)
    with pytest.raises(ProviderTimeoutError) as info:
        await h.provider.chat(user_request())
    message = str(info.value)
    assert "HTTP 408" in message and "after 2 attempts" in message
    assert "waiting for the request" in message and "extra['timeout']" not in message


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_413_says_the_request_is_too_large(mock: MakeHarness, case_id: str):
    h = await mock(case_id, actions=[Fail(413, "prompt is too long: 250000 tokens > 200000 maximum")])
    with pytest.raises(ProviderBadRequestError, match="prompt is too long") as info:
        await h.provider.chat(user_request())
    message = str(info.value)
    assert "too large" in message and "max_history" in message and "max_tokens" in message
    assert "check the model name" not in message
    assert not info.value.retryable and len(h.scenario.requests) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_429_forever_is_a_rate_limit_error(mock: MakeHarness, case_id: str):
    h = await mock(
        case_id, actions=[Fail(429, "quota exceeded", headers={"retry-after": "0"})] * 5, max_retries=1
    )
    with pytest.raises(ProviderRateLimitError, match="quota exceeded") as info:
        await collect(h.provider, user_request())
    assert (info.value.status, info.value.retryable) == (429, True)
    assert h.delays == [0.0]


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_malformed_stream_chunk_is_a_clear_error(mock: MakeHarness, case_id: str):
    h = await mock(case_id, actions=[Malformed(after=2)])
    received: list[str] = []
    with pytest.raises(ProviderError, match="malformed stream") as info:
        await stream_into(h.provider, user_request("one two three"), into=received)
    assert received == ["Echo: ", "one "]
    assert "oops" in str(info.value)  # quotes the offending input
    assert len(h.scenario.requests) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_malformed_plain_reply_is_a_clear_error_and_not_retried(mock: MakeHarness, case_id: str):
    h = await mock(case_id, actions=[Malformed()])
    with pytest.raises(ProviderError, match="malformed reply") as info:
        await h.provider.chat(user_request())
    assert not info.value.retryable
    assert len(h.scenario.requests) == 1


async def test_httpx_logs_do_not_include_request_headers(mock: MakeHarness, caplog):
    # --------------------------------------------------------------------------- construction

    caplog.set_level("DEBUG")
    h = await mock("openai")
    await h.provider.chat(user_request())
    assert h.key is not None
    assert all(h.key not in record.getMessage() for record in caplog.records)
    assert any("HTTP Request: POST" in record.getMessage() for record in caplog.records)
