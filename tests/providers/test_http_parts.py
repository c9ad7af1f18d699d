"""The pure parts of the HTTP core: parsers, retry policy, settings, error mapping, redaction,
request bodies and finish reasons."""

from __future__ import annotations

import json
import pickle
import random
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
from luminora_nb.providers._body import MessageEncoder, dumps_body
from luminora_nb.providers._errors import (
    error_from_status,
    error_from_transport,
    vendor_error_message,
    with_context,
)
from luminora_nb.providers._normalise import FinishReasons, vendor_params
from luminora_nb.providers._redact import Secret, redact
from luminora_nb.providers._retry import (
    RetryPolicy,
    is_transient_error,
    parse_retry_after,
    transport_retryable,
)
from luminora_nb.providers._settings import HTTPSettings
from luminora_nb.providers._sse import ServerSentEvent, iter_ndjson, iter_sse


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


def test_plain_calls_wait_600_s_for_the_reply_unless_told_otherwise():
    s = HTTPSettings.from_extra(None, provider="openai")
    assert (s.read_timeout, s.chat_read_timeout) == (60.0, 600.0)
    assert HTTPSettings.from_extra({"timeout": 30}, provider="openai").chat_read_timeout == 30.0
    s = HTTPSettings.from_extra({"timeout": 30, "read_timeout": 900}, provider="openai")
    assert (s.read_timeout, s.chat_read_timeout) == (900.0, 900.0)
    assert s.httpx_timeout(stream=False).read == 900.0


# --------------------------------------------------------------------------- error mapping and redaction


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


def test_redact_masks_known_secrets_and_bearer_tokens():
    assert redact("key=sk-live-123456 used", ["sk-live-123456"]) == "key=*** used"
    assert redact("Authorization: Bearer abcdefghijklmnop", []) == "Authorization: Bearer ***"
    assert redact("short ab", ["ab"]) == "short ab"  # too short to be a key; avoids mangling text


def test_redact_removes_credentials_from_urls():
    text = "connection to https://user:pw-secret@proxy.example/v1?key=sk-9&v=2 failed"
    assert redact(text) == "connection to https://proxy.example/v1?v=2 failed"


def test_secret_never_shows_and_never_pickles():
    secret = Secret("sk-live-abcdef")
    assert "sk-live" not in repr(secret) and "sk-live" not in str(secret)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)


def test_transport_errors_name_the_url_without_its_credentials():
    err = error_from_transport(
        httpx.ConnectError("All connection attempts failed"),
        provider="llama",
        url="http://admin:hunter22@gpu-box:11434",
        settings=HTTPSettings(),
        stream=False,
        secrets=["hunter22"],
    )
    assert "hunter22" not in str(err) and "admin" not in str(err)
    assert "connection to http://gpu-box:11434 failed" in str(err) and err.retryable


@pytest.mark.parametrize(
    ("exc", "stream", "retryable"),
    [
        (httpx.ConnectError("refused"), False, True),
        (httpx.ConnectTimeout("slow"), False, True),
        (httpx.ReadTimeout("slow"), True, True),
        (httpx.ReadTimeout("slow"), False, False),  # the server may still be generating (and billing)
        (httpx.RemoteProtocolError("hung up"), True, True),
        (httpx.DecodingError("bad gzip"), False, False),
    ],
)
def test_what_transport_failures_are_retried(exc, stream, retryable):
    assert transport_retryable(exc, stream=stream) is retryable


def test_transient_error_kinds():
    assert is_transient_error({"type": "overloaded_error"})
    assert not is_transient_error({"error": {"code": "context_length_exceeded"}})
    assert not is_transient_error(None)


@pytest.mark.parametrize(
    "cls", [ProviderError, ProviderAuthenticationError, ProviderRateLimitError, ProviderTimeoutError]
)
def test_with_context_keeps_the_kind_and_the_attributes(cls):
    error = cls("openai: HTTP 429: slow down", provider="openai", status=429, retryable=True)
    longer = with_context(error, " (gave up after 3 attempts)")
    assert type(longer) is cls and str(longer) == "openai: HTTP 429: slow down (gave up after 3 attempts)"
    assert (longer.provider, longer.status, longer.retryable) == ("openai", 429, True)


# --------------------------------------------------------------------------- finish reasons, parameters


def test_finish_reasons_map_known_values_and_default_to_stop():
    reasons = FinishReasons(length="max_tokens", content_filter="refusal", tool_calls="tool_use", error="x")
    assert [reasons(v) for v in ("max_tokens", "refusal", "tool_use", "x", "end_turn", 7)] == [
        "length",
        "content_filter",
        "tool_calls",
        "error",
        "stop",
        "stop",
    ]
    assert reasons(None) is None
    assert FinishReasons(error="ERROR", fold_case=True)("error") == "error"
    assert FinishReasons(error="ERROR")("error") == "stop"


def test_vendor_params_rename_and_leave_out_what_the_vendor_lacks():
    params = {"temperature": 0.2, "max_tokens": 9, "stop": ["END"]}
    assert vendor_params(params, {"max_tokens": "num_predict", "temperature": "temperature"}) == {
        "num_predict": 9,
        "temperature": 0.2,
    }


# --------------------------------------------------------------------------- request bodies


def _wire(role: str, content: str, name: str | None) -> dict[str, object]:
    return {"role": role, "content": content}


def test_bodies_are_the_bytes_httpx_json_would_send():
    encoder = MessageEncoder(_wire)
    messages = [("system", "Tu es Aurore, née à Genève.", None), ("user", 'say "hi" \u263a', None)]
    body = {"model": "m", "messages": encoder.encode(messages), "stream": False, "temperature": 0.5}
    ours = dumps_body(body)
    theirs = httpx.Request("POST", "http://x.test/", json=body).content
    assert json.loads(ours) == json.loads(theirs) == body
    assert len(ours) == len(theirs)  # same encoding rules (UTF-8, compact), only the key order differs
    assert "née".encode() in ours


def test_each_message_is_encoded_once_and_reused():
    calls: list[str] = []

    def shape(role: str, content: str, name: str | None) -> dict[str, object]:
        calls.append(content)
        return {"role": role, "content": content}

    encoder = MessageEncoder(shape)
    first = encoder.encode([("user", "hello", None), ("assistant", "hi", None)])
    again = encoder.encode(
        [("user", "".join(["hel", "lo"]), None), ("assistant", "hi", None), ("user", "new", None)]
    )
    assert calls == ["hello", "hi", "new"]  # equal content is a hit, whatever the string object
    assert again[0] is first[0] and again.encoded[:2] == first.encoded
    assert len(encoder) == 3


def test_the_message_cache_is_bounded_by_bytes_and_drops_the_oldest():
    encoder = MessageEncoder(_wire, max_bytes=100)
    encoder.encode([("user", "a" * 40, None), ("user", "b" * 40, None)])  # 67 bytes each: one fits
    assert len(encoder) == 1
    encoder.encode([("user", "c" * 500, None)])  # larger than the whole cache: encoded, not kept
    assert len(encoder) == 1
    encoder.clear()
    assert len(encoder) == 0
