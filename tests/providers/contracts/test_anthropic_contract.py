"""Anthropic Messages API (``anthropic`` adapter) against the ``anthropic`` SDK.

The pinned SDK speaks API version 2026-10-21 (``Authorization: Bearer``, no sampling
settings), our default. The legacy version 2023-06-01 is checked against the same
request types once its sampling setting is set aside (the SDK no longer describes it),
and against what the SDK client sends when told to speak that version itself
(``anthropic-version`` and ``x-api-key`` as its own headers, the sampling setting as
``extra_body``). Stream replies are read on the SDK side with ``client.messages.stream()``
and its final message.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.anthropic import ANTHROPIC_FINISH_REASONS, CURRENT_API_VERSION, LEGACY_API_VERSION

from ..conftest import user_request
from .cases import REQUESTS, system_texts, turns, with_params
from .conftest import sdk
from .exchange import KEY, Answer, Outcome, Relay, Vendor, ours, same_reading, same_request
from .strict import check

anthropic = sdk("anthropic")
from anthropic.types import Message, RawMessageStreamEvent  # noqa: E402
from anthropic.types.message_create_params import (  # noqa: E402
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from pydantic import TypeAdapter  # noqa: E402

pytestmark = [pytest.mark.contract, pytest.mark.integration]  # checked against a vendor SDK

MODEL = "claude-haiku-4-5"
BASE_URL = "https://api.anthropic.com"
_EVENT = TypeAdapter(RawMessageStreamEvent)


RELAY = Relay()


@functools.cache
def _client(legacy: bool) -> Any:
    if legacy:
        # The SDK speaking the legacy version: its version header and key header as its own.
        headers = {"anthropic-version": LEGACY_API_VERSION, "x-api-key": KEY}
        return anthropic.Anthropic(
            base_url=BASE_URL, default_headers=headers, http_client=RELAY.client(), max_retries=0
        )
    return anthropic.Anthropic(api_key=KEY, base_url=BASE_URL, http_client=RELAY.client(), max_retries=0)


def _sdk_client(vendor: Vendor, *, legacy: bool = False) -> Any:
    RELAY.vendor = vendor
    return _client(legacy)


def _sdk_kwargs(request: ChatRequest, *, stream: bool, legacy: bool = False) -> dict[str, Any]:
    """The same conversation as ``client.messages.create`` arguments."""
    params = request.params
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": params.get("max_tokens", 1024),
        "messages": [{"role": m.role, "content": m.content} for m in turns(request)],
    }
    if system_texts(request):
        kwargs["system"] = "\n\n".join(system_texts(request))
    if "stop" in params:
        kwargs["stop_sequences"] = params["stop"]
    if legacy:
        # Version 2023-06-01 takes one sampling setting: temperature, else top_p.
        sampling = next(({k: params[k]} for k in ("temperature", "top_p") if k in params), {})
        if sampling:
            kwargs["extra_body"] = sampling
    if stream:
        kwargs["stream"] = True
    return kwargs


def _minimal(stream: bool) -> Answer:
    if not stream:
        return Answer.json(_message([{"type": "text", "text": "ok"}], "end_turn"))
    return Answer.sse(_stream([{"type": "text", "text": "ok"}], "end_turn"))


async def _check_request(conversation: str, options: str, stream: bool, *, legacy: bool) -> None:
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    extra = {"api_version": LEGACY_API_VERSION} if legacy else {}
    await ours("anthropic", vendor, request, stream=stream, base_url=BASE_URL, model=MODEL, extra=extra)
    mine = vendor.last
    body = dict(mine.body)
    if legacy:
        sampling = {k for k in ("temperature", "top_p") if k in body}
        assert len(sampling) <= 1, "current models refuse temperature and top_p together"
        for key in sampling:
            del body[key]
    check(body, MessageCreateParamsStreaming if stream else MessageCreateParamsNonStreaming)
    result = _sdk_client(vendor, legacy=legacy).messages.create(
        **_sdk_kwargs(request, stream=stream, legacy=legacy)
    )
    if stream:
        list(result)
    same_request(mine, vendor.last, defaults={"stream": False})
    assert mine.headers["anthropic-version"] == (LEGACY_API_VERSION if legacy else CURRENT_API_VERSION)


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(conversation: str, options: str, stream: bool):
    await _check_request(conversation, options, stream, legacy=False)


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests_of_the_legacy_api_version(conversation: str, options: str, stream: bool):
    await _check_request(conversation, options, stream, legacy=True)


# --------------------------------------------------------------------------- replies

_USAGE = {"input_tokens": 12, "output_tokens": 9}
_CACHED = {
    "input_tokens": 4,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 2048,
    "output_tokens": 9,
}
_CITATION = {
    "type": "char_location",
    "cited_text": "The sky is blue.",
    "document_index": 0,
    "document_title": "Facts",
    "start_char_index": 0,
    "end_char_index": 16,
}


def _message(
    content: list[dict[str, Any]], stop: str | None, usage: dict[str, Any] = _USAGE
) -> dict[str, Any]:
    """A whole reply, validated by the SDK's ``Message`` model."""
    data = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return Message.model_validate(data).model_dump(mode="json", exclude_unset=True)


def _event(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One named SSE event, validated by the SDK's ``RawMessageStreamEvent`` union."""
    if payload["type"] not in ("ping", "error"):
        payload = _EVENT.validate_python(payload).model_dump(mode="json", exclude_unset=True)
    return payload["type"], payload


def _stream(
    blocks: list[dict[str, Any]],
    stop: str,
    *,
    usage: dict[str, Any] = _USAGE,
    deltas: dict[int, list[dict[str, Any]]] | None = None,
    ping: bool = True,
    error_after: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a reply made of ``blocks``: each block starts empty and is filled by
    its ``deltas`` (by default one delta carrying its text); ``error_after`` ends the
    stream with an ``overloaded_error`` after that many blocks."""
    start_usage = {**usage, "output_tokens": 1}
    events = [_event({"type": "message_start", "message": _message([], None, start_usage)})]
    if ping:
        events.append(_event({"type": "ping"}))
    for index, block in enumerate(blocks):
        if error_after is not None and index == error_after:
            error = {"type": "overloaded_error", "message": "Overloaded"}
            return [*events, _event({"type": "error", "error": error})]
        empty = {"text": {"text": ""}, "thinking": {"thinking": "", "signature": ""}}.get(block["type"])
        start = {**block, **empty} if empty is not None else block
        events.append(_event({"type": "content_block_start", "index": index, "content_block": start}))
        default = [{"type": "text_delta", "text": block["text"]}] if block["type"] == "text" else []
        for delta in (deltas or {}).get(index, default):
            events.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(_event({"type": "content_block_stop", "index": index}))
    message_usage = {
        "input_tokens": None,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": None,
        "output_tokens": usage["output_tokens"],
    }
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": message_usage,
    }
    return [*events, _event(delta), _event({"type": "message_stop"})]


_TEXT = {"type": "text", "text": "Hello there."}
_THINKING = {"type": "thinking", "thinking": "The user says hi.", "signature": "c2ln"}
_REDACTED = {"type": "redacted_thinking", "data": "b3BhcXVl"}
_TOOL = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "gold"}}

PLAIN = {
    "text": _message([_TEXT], "end_turn"),
    "citations": _message(
        [{"type": "text", "text": "The sky is blue.", "citations": [_CITATION]}, _TEXT], "end_turn"
    ),
    "thinking-redacted-and-cache": _message([_THINKING, _REDACTED, _TEXT], "end_turn", _CACHED),
    "tool-use": _message([{"type": "text", "text": "Let me look."}, _TOOL], "tool_use"),
    "refusal-no-text": _message([], "refusal"),
    "max-tokens": _message([{"type": "text", "text": "Hello th"}], "max_tokens"),
    "pause-turn": _message([_TEXT], "pause_turn"),
    "context-window": _message([_TEXT], "model_context_window_exceeded"),
}

STREAMS: dict[str, Answer] = {
    "text-with-ping": Answer.sse(_stream([_TEXT], "end_turn")),
    "thinking-redacted-and-cache": Answer.sse(
        _stream(
            [_THINKING, _REDACTED, _TEXT],
            "end_turn",
            usage=_CACHED,
            deltas={
                0: [
                    {"type": "thinking_delta", "thinking": "The user "},
                    {"type": "thinking_delta", "thinking": "says hi."},
                    {"type": "signature_delta", "signature": "c2ln"},
                ],
                2: [{"type": "text_delta", "text": "Hello "}, {"type": "text_delta", "text": "there."}],
            },
        )
    ),
    "citations": Answer.sse(
        _stream(
            [{"type": "text", "text": "The sky is blue."}],
            "end_turn",
            deltas={
                0: [
                    {"type": "citations_delta", "citation": _CITATION},
                    {"type": "text_delta", "text": "The sky is blue."},
                ]
            },
        )
    ),
    "tool-use": Answer.sse(
        _stream(
            [{"type": "text", "text": "Let me look."}, {**_TOOL, "input": {}}],
            "tool_use",
            deltas={
                0: [{"type": "text_delta", "text": "Let me look."}],
                1: [
                    {"type": "input_json_delta", "partial_json": '{"q": '},
                    {"type": "input_json_delta", "partial_json": '"gold"}'},
                ],
            },
        )
    ),
    "refusal-no-text": Answer.sse(_stream([], "refusal", ping=False)),
    "error-after-text": Answer.sse(_stream([_TEXT, _TEXT], "end_turn", error_after=1)),
    "error-before-text": Answer.sse(_stream([_TEXT], "end_turn", error_after=0)),
}


def _usage(usage: Any) -> dict[str, int]:
    """Our usage from the SDK's ``Usage``: every input part is a prompt token."""
    parts = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
    }
    prompt = sum(parts.values())
    ours = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
    }
    if parts["cache_creation_input_tokens"] or parts["cache_read_input_tokens"]:
        ours.update(parts)
    return ours


def _read(message: Any) -> Outcome:
    text = "".join(block.text for block in message.content if block.type == "text")
    return Outcome(
        text=text, finish=ANTHROPIC_FINISH_REASONS(message.stop_reason), usage=_usage(message.usage)
    )


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor)
    kwargs = _sdk_kwargs(user_request(), stream=False)
    if not stream:
        return _read(client.messages.create(**kwargs))
    text: list[str] = []
    try:
        with client.messages.stream(**kwargs) as events:
            for event in events:
                if event.type == "text":
                    text.append(event.text)
            return _read(events.get_final_message())
    except anthropic.APIError:
        return Outcome.failed("".join(text))


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "anthropic", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url=BASE_URL
    )
    if "thinking" in case:
        assert metadata["thinking"] == _THINKING["thinking"]


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading("anthropic", STREAMS[case], _sdk_reads, stream=True, base_url=BASE_URL)
    if "thinking" in case:
        assert metadata["thinking"] == _THINKING["thinking"]


def test_every_stop_reason_of_the_sdk_is_mapped():
    import typing

    from anthropic.types import StopReason

    values = typing.get_args(StopReason)
    assert values and all(ANTHROPIC_FINISH_REASONS.known(v) for v in values), values
