"""The shared HTTP layer: parsers, retry policy, error mapping, settings, clients — and the
fault behaviour every adapter inherits from it, run against the loopback vendor server for
all six providers (llama in both of its modes)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from luminora_nb.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from luminora_nb.providers import Provider, available_providers, create_provider, register_provider
from luminora_nb.providers._http import (
    HTTPSettings,
    RetryPolicy,
    ServerSentEvent,
    error_from_status,
    iter_ndjson,
    iter_sse,
    parse_retry_after,
    scrub,
    vendor_error_message,
)
from luminora_nb.providers.base import ChatRequest
from luminora_nb.providers.registry import _custom
from luminora_nb.types import ChatResponse, ProviderConfig

from .conftest import ALL_CASES, CASES, KEYED_CASES, MakeHarness, collect, user_request
from .vendor_server import Drop, Fail, Malformed, Reply, Stall, VendorServer


async def turn(provider: Provider, request: ChatRequest, *, streamed: bool) -> str:
    """One turn, plain or streamed; the reply text."""
    if streamed:
        return "".join(c.content for c in await collect(provider, request))
    return (await provider.chat(request)).content


async def consume(provider: Provider, request: ChatRequest, *, into: list[str]) -> None:
    """Stream ``request``, appending each chunk's text to ``into`` as it arrives."""
    async for chunk in provider.stream(request):
        into.append(chunk.content)


async def _lines(*lines: str):
    for line in lines:
        yield line


async def _sse(*lines: str) -> list[ServerSentEvent]:
    return [event async for event in iter_sse(_lines(*lines))]


# --------------------------------------------------------------------------- SSE parser


async def test_sse_joins_multiline_data_and_keeps_event_names():
    events = await _sse("event: delta", "data: line one", "data: line two", "", "data: {}", "")
    assert events == [
        ServerSentEvent(event="delta", data="line one\nline two"),
        ServerSentEvent(event="message", data="{}"),
    ]


async def test_sse_skips_comments_strips_one_space_and_handles_cr_lf():
    events = await _sse("\ufeff: comment", "data:no-space\r", "data:  two spaces\r", "\r", ": ping", "")
    assert events == [ServerSentEvent(data="no-space\n two spaces")]


async def test_sse_id_retry_and_event_reset_between_events():
    events = await _sse("id: 7", "retry: 1500", "event: a", "data: x", "", "data: y", "")
    assert events[0] == ServerSentEvent(event="a", data="x", id="7", retry=1500)
    # event name resets after dispatch; the last id persists as the spec says.
    assert events[1] == ServerSentEvent(event="message", data="y", id="7", retry=1500)


async def test_sse_ignores_events_without_data_and_discards_unterminated_event():
    events = await _sse("event: ping", "", "data: complete", "", "data: cut off")
    assert [e.data for e in events] == ["complete"]


async def test_sse_field_without_colon_and_empty_data_line():
    events = await _sse("data", "data", "")
    assert events == [ServerSentEvent(data="\n")]


async def test_sse_done_marker_is_an_ordinary_event_for_adapters_to_interpret():
    events = await _sse('data: {"a": 1}', "", "data: [DONE]", "")
    assert [e.data for e in events] == ['{"a": 1}', "[DONE]"]


# --------------------------------------------------------------------------- NDJSON parser


async def test_ndjson_parses_each_line_and_skips_blank_lines():
    values = [v async for v in iter_ndjson(_lines('{"a": 1}', "", "  ", '{"b": [2]}'), provider="llama")]
    assert values == [{"a": 1}, {"b": [2]}]


async def test_ndjson_malformed_line_is_a_provider_error_quoting_it():
    with pytest.raises(ProviderError, match=r"llama: malformed stream line .*not json") as info:
        [v async for v in iter_ndjson(_lines('{"ok": 1}', "{not json"), provider="llama")]
    assert info.value.provider == "llama"
    assert not info.value.retryable


# --------------------------------------------------------------------------- Retry-After and backoff


def test_retry_after_seconds_ms_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now) == 42.0
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after({"Retry-After": earlier}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, rng=random.Random(1234))
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0), (500, 4.0)]:
        samples = [policy.backoff(attempt) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: spread over the whole range, not clustered at the ceiling.
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9


def test_retry_after_wins_over_backoff_and_is_capped():
    policy = RetryPolicy(base_delay=100.0, retry_after_cap=10.0)
    assert policy.delay(0, retry_after=2.5) == 2.5
    assert policy.delay(5, retry_after=3600.0) == 10.0


def test_retry_settings_come_from_extra_and_are_validated():
    policy = RetryPolicy.from_extra({"max_retries": 5, "retry_base_delay": 0.1}, provider="openai")
    assert (policy.max_retries, policy.base_delay, policy.max_delay) == (5, 0.1, 8.0)
    assert RetryPolicy.from_extra(None, provider="x").max_retries == 2
    for bad in ({"max_retries": -1}, {"max_retries": 1.5}, {"max_retries": True}, {"retry_base_delay": "1"}):
        with pytest.raises(ProviderError, match="extra"):
            RetryPolicy.from_extra(bad, provider="openai")


# --------------------------------------------------------------------------- settings / timeouts


def test_timeouts_are_separate_and_never_a_total_deadline():
    s = HTTPSettings.from_extra({"timeout": 30, "read_timeout": 120}, provider="openai")
    t = s.httpx_timeout()
    assert (t.connect, t.read, t.write, t.pool) == (10.0, 120.0, 30.0, 30.0)
    s = HTTPSettings.from_extra({"timeout": 2}, provider="openai")
    assert (s.connect_timeout, s.read_timeout) == (2.0, 2.0)
    assert HTTPSettings.from_extra(None, provider="openai") == HTTPSettings()
    for bad in ({"timeout": 0}, {"timeout": "5"}, {"connect_timeout": float("nan")}, {"max_connections": 0}):
        with pytest.raises(ProviderError, match="extra"):
            HTTPSettings.from_extra(bad, provider="openai")


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, ProviderBadRequestError, False),
        (401, ProviderAuthenticationError, False),
        (403, ProviderAuthenticationError, False),
        (404, ProviderBadRequestError, False),
        (408, ProviderTimeoutError, True),
        (409, ProviderError, False),
        (413, ProviderBadRequestError, False),
        (422, ProviderBadRequestError, False),
        (429, ProviderRateLimitError, True),
        (500, ProviderError, True),
        (501, ProviderError, False),
        (502, ProviderError, True),
        (503, ProviderError, True),
        (504, ProviderError, True),
    ],
)
def test_status_mapping(status, cls, retryable):
    err = error_from_status(status, provider="openai", vendor_text="  the\n vendor   says no  ")
    assert type(err) is cls
    assert (err.provider, err.status, err.retryable) == ("openai", status, retryable)
    assert f"HTTP {status}" in str(err)
    assert "the vendor says no" in str(err)  # whitespace collapsed, text kept


def test_long_vendor_text_is_trimmed_and_secrets_scrubbed():
    key = "sk-test-abcdef0123456789"
    err = error_from_status(401, provider="openai", vendor_text=f"bad key {key} " + "x" * 5000, secrets=[key])
    assert key not in str(err)
    assert "***" in str(err)
    assert len(str(err)) < 700
    assert "OPENAI_API_KEY" not in str(err)  # only named when the caller passes env_hint
    err = error_from_status(401, provider="openai", vendor_text="no", env_hint="OPENAI_API_KEY")
    assert "OPENAI_API_KEY" in str(err)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"error": {"message": "OpenAI style", "type": "invalid_request_error"}}, "OpenAI style"),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "Overloaded"),
        ({"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}, "Quota"),
        ({"id": "x", "message": "invalid api token"}, "invalid api token"),
        ({"error": "model 'llama9' not found"}, "model 'llama9' not found"),
        ({"detail": [{"loc": ["body", "x"], "msg": "field required"}]}, "field required"),
        ("plain text body", "plain text body"),
        ({"unrelated": True}, None),
        (None, None),
    ],
)
def test_vendor_error_message_shapes(body, text):
    assert vendor_error_message(body) == text


def test_scrub_masks_known_secrets_and_bearer_tokens():
    assert scrub("key=sk-live-123456 used", ["sk-live-123456"]) == "key=*** used"
    assert scrub("Authorization: Bearer abcdefghijklmnop", []) == "Authorization: Bearer ***"
    assert scrub("short ab", ["ab"]) == "short ab"  # too short to be a key; avoids mangling text


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
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
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


# --------------------------------------------------------------------------- clients and connections


async def test_connections_are_reused_across_turns(make: MakeHarness):
    h = await make("openai")
    for text in ("one", "two", "three"):
        assert (await h.provider.chat(user_request(text))).content == f"Echo: {text} — done."
    chunks = await collect(h.provider, user_request("four"))
    assert chunks[-1].finish_reason == "stop"
    ports = {r.client_port for r in h.scenario.requests}
    assert len(h.scenario.requests) == 4 and len(ports) == 1


async def test_equal_configs_share_one_client_until_the_last_one_closes(vendor_server: VendorServer):
    scenario = vendor_server.scenario("openai", key="sk-shared-123456", model="gpt-4o-mini")
    config = ProviderConfig(name="openai", api_key="sk-shared-123456", base_url=scenario.base_url)
    first, second = create_provider(config), create_provider(config)
    await first.chat(user_request("a"))
    await second.chat(user_request("b"))
    assert len({r.client_port for r in scenario.requests}) == 1  # one pool, one kept-alive connection
    await first.aclose()
    await first.aclose()  # idempotent
    await second.chat(user_request("c"))  # still works: the shared client stays open for it
    await second.aclose()
    third = create_provider(config)
    await third.chat(user_request("d"))  # a fresh client after the last one was closed
    await third.aclose()
    assert len(scenario.requests) == 4


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_cookies_set_by_one_answer_are_never_sent_again(vendor_server: VendorServer, streamed: bool):
    # Equal configs share one client even with different keys: a cookie jar would leak one
    # user's session cookie into another user's requests.
    scenario = vendor_server.scenario("openai_compat", key=None, model="m")
    cookie = {"Set-Cookie": "session=user-a-secret; Path=/; Max-Age=3600"}
    scenario.push(Reply(headers=cookie), Reply(headers=cookie))
    configs = [
        ProviderConfig(name="llama", model="m", base_url=scenario.base_url, api_key=key)
        for key in ("key-user-a-123", "key-user-b-456")
    ]
    a, b = create_provider(configs[0]), create_provider(configs[1])
    try:
        await turn(a, user_request(), streamed=False)
        await turn(b, user_request(), streamed=streamed)
        await turn(a, user_request(), streamed=streamed)
    finally:
        await a.aclose()
        await b.aclose()
    assert all("cookie" not in r.headers for r in scenario.requests)


async def test_concurrent_streams_on_one_provider_get_their_own_replies(make: MakeHarness):
    h = await make("openai")

    async def one(i: int) -> str:
        chunks = await collect(h.provider, user_request(f"message number {i}"))
        assert chunks[-1].finish_reason == "stop"
        return "".join(c.content for c in chunks)

    replies = await asyncio.gather(*(one(i) for i in range(25)))
    assert replies == [f"Echo: message number {i} — done." for i in range(25)]


# --------------------------------------------------------------------------- every adapter: normal turns


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_plain_reply_is_normalised(make: MakeHarness, case_id: str):
    h = await make(case_id)
    reply = await h.provider.chat(user_request("hello there"))
    assert reply.content == "Echo: hello there — done."
    assert reply.role == "assistant"
    assert reply.finish_reason == "stop"
    assert reply.model == h.scenario.model
    usage = reply.usage
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert reply.metadata["latency_ms"] > 0 and reply.metadata["attempts"] == 1
    (request,) = h.scenario.requests
    assert request.method == "POST" and request.path == h.scenario.expected_path(False)
    assert not request.stream


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_streamed_reply_chunks_concatenate_and_the_last_carries_finish_and_usage(
    make: MakeHarness, case_id: str
):
    h = await make(case_id)
    chunks = await collect(h.provider, user_request("stream this reply please"))
    text = "".join(c.content for c in chunks)
    assert text == "Echo: stream this reply please — done."
    assert len(chunks) >= 7  # one chunk per word, plus the final one
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert all(c.content for c in chunks[:-1])
    last = chunks[-1]
    assert last.content == "" and last.finish_reason == "stop"
    assert last.usage["completion_tokens"] == 7 and last.usage["prompt_tokens"] > 0
    assert last.usage["total_tokens"] == last.usage["prompt_tokens"] + 7
    assert last.model == h.scenario.model
    assert last.metadata["latency_ms"] > 0 and last.metadata["chunks"] == len(chunks) - 1
    (request,) = h.scenario.requests
    assert request.stream and request.path == h.scenario.expected_path(True)


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_finish_reason_length_is_normalised(make: MakeHarness, case_id: str):
    vendor_value = {
        "openai": "length",
        "mistral": "model_length",
        "openai_compat": "length",
        "anthropic": "max_tokens",
        "cohere": "MAX_TOKENS",
        "google": "MAX_TOKENS",
        "ollama": "length",
    }[CASES[case_id].vendor]
    h = await make(case_id, actions=[Reply(finish=vendor_value), Reply(finish=vendor_value)])
    assert (await h.provider.chat(user_request())).finish_reason == "length"
    chunks = await collect(h.provider, user_request())
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].metadata["raw_finish_reason"] == vendor_value


# --------------------------------------------------------------------------- every adapter: faults


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_429_with_retry_after_seconds_is_honoured(make: MakeHarness, case_id: str, streamed: bool):
    h = await make(case_id, actions=[Fail(429, "Rate limit reached", headers={"Retry-After": "2"})])
    text = await turn(h.provider, user_request(), streamed=streamed)
    assert text == "Echo: hello there — done."
    assert h.delays == [2.0]  # the server's Retry-After, not the jittered backoff
    assert len(h.scenario.requests) == 2


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_retry_after_as_http_date_within_the_cap_is_honoured(make: MakeHarness, case_id: str):
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    h = await make(
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
async def test_retry_after_beyond_the_cap_gives_up_at_once(make: MakeHarness, case_id: str, streamed: bool):
    # Sleeping the cap and retrying would only earn another 429.
    h = await make(
        case_id,
        actions=[Fail(429, "daily quota used up", headers={"Retry-After": "3600"})] * 3,
        retry_after_cap=3.0,
    )
    with pytest.raises(ProviderRateLimitError, match="daily quota used up") as info:
        await turn(h.provider, user_request(), streamed=streamed)
    assert "the provider asks to retry in 3600 s" in str(info.value)
    assert "retry_after_cap" in str(info.value)
    assert info.value.status == 429
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("status", [500, 502, 504])
async def test_transient_server_error_then_success(make: MakeHarness, case_id: str, status: int):
    h = await make(case_id, actions=[Fail(status, "upstream hiccup")])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert chunks[-1].metadata["attempts"] == 2
    assert len(h.delays) == 1 and 0.0 <= h.delays[0] <= 0.001


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_503_forever_gives_up_after_max_retries_with_a_clear_error(
    make: MakeHarness, case_id: str, streamed: bool
):
    h = await make(case_id, actions=[Fail(503, "The engine is currently overloaded")] * 10, max_retries=3)
    with pytest.raises(ProviderError) as info:
        await turn(h.provider, user_request(), streamed=streamed)
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
async def test_401_is_not_retried_and_never_shows_the_key(make: MakeHarness, case_id: str, streamed: bool):
    h = await make(case_id)
    h.scenario.key = "sk-the-server-expects-another-key"  # the adapter's key is now wrong
    with pytest.raises(ProviderAuthenticationError) as info:
        await turn(h.provider, user_request(), streamed=streamed)
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
async def test_other_4xx_fail_at_once_as_bad_request(make: MakeHarness, case_id: str, status: int):
    h = await make(case_id, actions=[Fail(status, "model `nope` does not exist")])
    with pytest.raises(ProviderBadRequestError, match="model `nope` does not exist") as info:
        await h.provider.chat(user_request())
    assert (info.value.status, info.value.retryable) == (status, False)
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_408_request_timeout_is_retried(make: MakeHarness, case_id: str, streamed: bool):
    h = await make(case_id, actions=[Fail(408, "request timed out")])
    assert await turn(h.provider, user_request(), streamed=streamed) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2 and len(h.delays) == 1


async def test_408_forever_says_the_server_timed_out_waiting_for_the_request(make: MakeHarness):
    h = await make("openai", actions=[Fail(408, "request timed out")] * 2, max_retries=1)
    with pytest.raises(ProviderTimeoutError) as info:
        await h.provider.chat(user_request())
    message = str(info.value)
    assert "HTTP 408" in message and "after 2 attempts" in message
    assert "waiting for the request" in message and "extra['timeout']" not in message


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_413_says_the_request_is_too_large(make: MakeHarness, case_id: str):
    h = await make(case_id, actions=[Fail(413, "prompt is too long: 250000 tokens > 200000 maximum")])
    with pytest.raises(ProviderBadRequestError, match="prompt is too long") as info:
        await h.provider.chat(user_request())
    message = str(info.value)
    assert "too large" in message and "max_history" in message and "max_tokens" in message
    assert "check the model name" not in message
    assert not info.value.retryable and len(h.scenario.requests) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_429_forever_is_a_rate_limit_error(make: MakeHarness, case_id: str):
    h = await make(
        case_id, actions=[Fail(429, "quota exceeded", headers={"retry-after": "0"})] * 5, max_retries=1
    )
    with pytest.raises(ProviderRateLimitError, match="quota exceeded") as info:
        await collect(h.provider, user_request())
    assert (info.value.status, info.value.retryable) == (429, True)
    assert h.delays == [0.0]


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_connection_dropped_mid_stream_is_an_error_and_not_retried(make: MakeHarness, case_id: str):
    h = await make(case_id, actions=[Drop(after=2)])
    received: list[str] = []
    with pytest.raises(ProviderError) as info:
        await consume(h.provider, user_request("one two three four"), into=received)
    assert received == ["Echo: ", "one "]  # what arrived before the drop was delivered
    err = info.value
    assert "broke after 2 chunk(s)" in str(err) and "not retried" in str(err)
    assert err.retryable  # the caller may repeat the whole turn
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_connection_dropped_before_any_answer_is_retried(
    make: MakeHarness, case_id: str, streamed: bool
):
    h = await make(case_id, actions=[Drop()])
    text = await turn(h.provider, user_request(), streamed=streamed)
    assert text == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2 and len(h.delays) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_malformed_stream_chunk_is_a_clear_error(make: MakeHarness, case_id: str):
    h = await make(case_id, actions=[Malformed(after=2)])
    received: list[str] = []
    with pytest.raises(ProviderError, match="malformed stream") as info:
        await consume(h.provider, user_request("one two three"), into=received)
    assert received == ["Echo: ", "one "]
    assert "oops" in str(info.value)  # quotes the offending input
    assert len(h.scenario.requests) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_malformed_plain_reply_is_a_clear_error_and_not_retried(make: MakeHarness, case_id: str):
    h = await make(case_id, actions=[Malformed()])
    with pytest.raises(ProviderError, match="malformed reply") as info:
        await h.provider.chat(user_request())
    assert not info.value.retryable
    assert len(h.scenario.requests) == 1


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_slow_stream_longer_than_the_read_timeout_succeeds(make: MakeHarness, case_id: str):
    read_timeout, gap = 0.35, 0.1
    text = "slow healthy stream"
    h = await make(case_id, actions=[Reply(gap=gap)], read_timeout=read_timeout, max_retries=0)
    chunks = await collect(h.provider, user_request(text))
    words = len(f"Echo: {text} — done.".split())
    assert (words - 1) * gap > read_timeout  # total stream time exceeds the read timeout...
    assert gap < read_timeout / 2  # ...while every gap stays well under it
    assert "".join(c.content for c in chunks) == f"Echo: {text} — done."
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_a_stream_that_goes_silent_hits_the_read_timeout_and_is_retried(
    make: MakeHarness, case_id: str
):
    h = await make(case_id, actions=[Stall(1.0)], read_timeout=0.15, max_retries=0)
    with pytest.raises(ProviderTimeoutError, match="timed out") as info:
        await collect(h.provider, user_request())
    assert info.value.retryable and info.value.status is None
    assert "no data for 0.15 s" in str(info.value)


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_a_plain_reply_slower_than_the_read_timeout_is_not_retried(make: MakeHarness, case_id: str):
    # The server may still be generating (and billing) the reply: retrying would pay twice.
    h = await make(case_id, actions=[Stall(0.6)] * 3, read_timeout=0.15, max_retries=2)
    with pytest.raises(ProviderTimeoutError) as info:
        await h.provider.chat(user_request())
    err = info.value
    assert not err.retryable and err.status is None
    assert "no reply within read_timeout 0.15 s" in str(err)
    assert "extra['read_timeout']" in str(err) and "not retried" in str(err)
    assert len(h.scenario.requests) == 1 and h.delays == []


def test_plain_calls_wait_600_s_for_the_reply_unless_told_otherwise():
    s = HTTPSettings.from_extra(None, provider="openai")
    assert (s.read_timeout, s.chat_read_timeout) == (60.0, 600.0)
    assert HTTPSettings.from_extra({"timeout": 30}, provider="openai").chat_read_timeout == 30.0
    s = HTTPSettings.from_extra({"timeout": 30, "read_timeout": 900}, provider="openai")
    assert (s.read_timeout, s.chat_read_timeout) == (900.0, 900.0)
    assert s.httpx_timeout(stream=False).read == 900.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_connection_refused_is_retried_then_reported(case_id: str):
    case = CASES[case_id]
    provider = create_provider(
        ProviderConfig(
            name=case.provider,
            api_key="k-123456" if case.needs_key else None,
            base_url=f"http://127.0.0.1:{_closed_port()}",
            extra={**dict(case.extra), "max_retries": 2, "retry_base_delay": 0.001, "retry_max_delay": 0.002},
        )
    )
    try:
        with pytest.raises(ProviderError, match="connection to http://127.0.0.1:.* failed") as info:
            await provider.chat(user_request())
        assert info.value.retryable and "after 3 attempts" in str(info.value)
        with pytest.raises(ProviderError, match="ConnectError"):
            await collect(provider, user_request())
    finally:
        await provider.aclose()


async def test_closing_mid_stream_releases_the_connection(make: MakeHarness):
    h = await make("openai", actions=[Reply(gap=0.05)])
    stream = h.provider.stream(user_request("many words to stream slowly here"))
    first = await anext(stream)
    assert first.content == "Echo: "
    await stream.aclose()  # the consumer stops early
    reply = await h.provider.chat(user_request("after"))
    assert reply.content == "Echo: after — done."


async def test_httpx_logs_do_not_include_request_headers(make: MakeHarness, caplog):
    caplog.set_level("DEBUG")
    h = await make("openai")
    await h.provider.chat(user_request())
    assert h.key is not None
    assert all(h.key not in record.getMessage() for record in caplog.records)
    assert any("HTTP Request: POST" in record.getMessage() for record in caplog.records)


def test_a_provider_used_from_another_event_loop_moves_its_connections(vendor_server: VendorServer):
    scenario = vendor_server.scenario("openai", key="sk-loops-123456", model="gpt-4o-mini")
    provider = create_provider(
        ProviderConfig(name="openai", api_key="sk-loops-123456", base_url=scenario.base_url)
    )
    background = asyncio.new_event_loop()
    thread = threading.Thread(target=background.run_forever, daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(provider.chat(user_request("there")), background)
        assert future.result(timeout=10).content == "Echo: there — done."
        old_client = provider._client  # type: ignore[attr-defined]
        assert old_client is not None and not old_client.is_closed

        async def here() -> str:
            text = (await provider.chat(user_request("here"))).content
            await provider.aclose()
            return text

        assert asyncio.run(here()) == "Echo: here — done."
        # The first loop's client was closed on its own loop once this provider left it.
        deadline = time.monotonic() + 5
        while not old_client.is_closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert old_client.is_closed
    finally:
        background.call_soon_threadsafe(background.stop)
        thread.join(timeout=5)
        background.close()
    assert len({r.client_port for r in scenario.requests}) == 2
