"""OpenAI Chat Completions (``openai`` adapter, and ``llama`` with ``api="openai"``) against
the ``openai`` SDK: request types and bytes, and replies read as the SDK reads them.

Replies are read on the SDK side with its own accumulator for streams
(``ChatCompletionStreamState``, what ``client.chat.completions.stream()`` uses); in our
terms, a refusal is the reply text with finish reason ``content_filter``.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.openai import OPENAI_FINISH_REASONS

from ..conftest import user_request
from .cases import OPTIONS, REQUESTS, with_params
from .conftest import sdk
from .exchange import (
    KEY,
    Answer,
    Outcome,
    Relay,
    Vendor,
    chat_completions_usage,
    ours,
    same_reading,
    same_request,
)
from .strict import check

openai = sdk("openai")
from openai.lib.streaming.chat import ChatCompletionStreamState  # noqa: E402
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402
from openai.types.chat.completion_create_params import (  # noqa: E402
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

pytestmark = [pytest.mark.contract, pytest.mark.integration]  # checked against a vendor SDK

MODEL = "gpt-4o-mini"
#: Each adapter speaking this format: (provider, base URL, its extra, its token-limit field).
ADAPTERS = {
    "openai": ("openai", "https://api.openai.com/v1", {}, "max_completion_tokens"),
    "openai-eu": ("openai", "https://eu.api.openai.com/v1", {}, "max_completion_tokens"),
    "llama_openai": ("llama", "http://127.0.0.1:8000/v1", {"api": "openai"}, "max_tokens"),
}


RELAY = Relay()


@functools.cache
def _client(base_url: str) -> Any:
    return openai.OpenAI(api_key=KEY, base_url=base_url, http_client=RELAY.client(), max_retries=0)


def _sdk_client(vendor: Vendor, base_url: str) -> Any:
    RELAY.vendor = vendor
    return _client(base_url)


def _sdk_kwargs(request: ChatRequest, *, stream: bool, max_tokens_field: str) -> dict[str, Any]:
    """The same conversation as ``client.chat.completions.create`` arguments."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    for m in request.messages:
        messages.append({"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})})
    names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": max_tokens_field, "stop": "stop"}
    kwargs: dict[str, Any] = {"model": MODEL, "messages": messages}
    kwargs.update({names[k]: v for k, v in request.params.items()})
    if stream:
        kwargs.update(stream=True, stream_options={"include_usage": True})
    return kwargs


def _minimal(stream: bool) -> Answer:
    if not stream:
        return Answer.json(_completion({"role": "assistant", "content": "ok"}, "stop"))
    return Answer.sse([_chunk({"content": "ok"}), _chunk({}, "stop")], done=True)


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(adapter: str, conversation: str, options: str, stream: bool):
    provider, base_url, extra, max_tokens_field = ADAPTERS[adapter]
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    await ours(provider, vendor, request, stream=stream, base_url=base_url, model=MODEL, extra=extra)
    mine = vendor.last
    check(mine.body, CompletionCreateParamsStreaming if stream else CompletionCreateParamsNonStreaming)
    client = _sdk_client(vendor, base_url)
    kwargs = _sdk_kwargs(request, stream=stream, max_tokens_field=max_tokens_field)
    result = client.chat.completions.create(**kwargs)
    if stream:
        list(result)
    same_request(mine, vendor.last, defaults={"stream": False})
    if "max_tokens" in OPTIONS[options]:
        assert mine.body[max_tokens_field] == OPTIONS[options]["max_tokens"]


# --------------------------------------------------------------------------- replies

_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _validated(model: Any, kind: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A reply or stream chunk of ``kind`` (its ``object``), with the fields every one
    carries, validated by the SDK's ``model``."""
    data = {"id": "chatcmpl-1", "object": kind, "created": 1700000000, "model": MODEL, "choices": choices}
    return model.model_validate({**data, **extra}).model_dump(mode="json", exclude_unset=True)


def _completion(
    message: dict[str, Any], finish: str, usage: dict[str, Any] | None = _USAGE
) -> dict[str, Any]:
    """A whole reply, validated by the SDK's ``ChatCompletion`` model."""
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return _validated(
        ChatCompletion, "chat.completion", [choice], **({"usage": usage} if usage is not None else {})
    )


def _chunk(
    delta: dict[str, Any], finish: str | None = None, *, choices: bool = True, **extra: Any
) -> dict[str, Any]:
    """One stream chunk, validated by the SDK's ``ChatCompletionChunk`` model."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _validated(ChatCompletionChunk, "chat.completion.chunk", [choice] if choices else [], **extra)


_TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "gold"}'},
}

PLAIN = {
    "text": _completion({"role": "assistant", "content": "Hello there."}, "stop"),
    "refusal": _completion(
        {"role": "assistant", "content": None, "refusal": "I can't help with that."}, "stop"
    ),
    "length": _completion({"role": "assistant", "content": "Hello th"}, "length"),
    "tool-calls-null-content": _completion(
        {"role": "assistant", "content": None, "tool_calls": [_TOOL_CALL]}, "tool_calls"
    ),
    "content-filter-empty": _completion({"role": "assistant", "content": ""}, "content_filter"),
    "no-usage": _completion({"role": "assistant", "content": "Hi."}, "stop", usage=None),
    "usage-details": _completion(
        {"role": "assistant", "content": "Hi."},
        "stop",
        usage={
            **_USAGE,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0},
        },
    ),
}

STREAMS: dict[str, Answer] = {
    "text-with-usage-only-last-chunk": Answer.sse(
        [
            _chunk({"role": "assistant", "content": "", "refusal": None}),
            _chunk({"content": "Hello"}),
            _chunk({"content": " there."}, obfuscation="xyz"),
            _chunk({}, "stop"),
            _chunk({}, choices=False, usage=_USAGE),
        ],
        done=True,
    ),
    "refusal-null-content": Answer.sse(
        [
            _chunk({"role": "assistant", "content": None, "refusal": ""}),
            _chunk({"content": None, "refusal": "I can't "}),
            _chunk({"content": None, "refusal": "help with that."}),
            _chunk({}, "stop"),
            _chunk({}, choices=False, usage=_USAGE),
        ],
        done=True,
    ),
    "tool-call-deltas-null-content": Answer.sse(
        [
            _chunk({"role": "assistant", "content": None}),
            _chunk(
                {
                    "content": None,
                    "tool_calls": [
                        {"index": 0, **_TOOL_CALL, "function": {"name": "lookup", "arguments": ""}}
                    ],
                }
            ),
            _chunk(
                {"content": None, "tool_calls": [{"index": 0, "function": {"arguments": '{"q": "gold"}'}}]}
            ),
            _chunk({}, "tool_calls"),
            _chunk({}, choices=False, usage=_USAGE),
        ],
        done=True,
    ),
    "length-without-usage": Answer.sse(
        [_chunk({"role": "assistant", "content": "Hel"}), _chunk({"content": "lo"}, "length")], done=True
    ),
    "content-filter-no-text": Answer.sse(
        [_chunk({"role": "assistant"}), _chunk({}, "content_filter")], done=True
    ),
    "error-after-text": Answer.sse(
        [
            _chunk({"role": "assistant", "content": "Hel"}),
            {
                "error": {
                    "message": "The server had an error",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        ],
        done=True,
    ),
}


def _read(completion: Any) -> Outcome:
    """What the SDK's ``ChatCompletion`` says, in our terms."""
    choice = completion.choices[0]
    message = choice.message
    refusal = message.refusal or ""
    finish = "content_filter" if refusal else OPENAI_FINISH_REASONS(choice.finish_reason)
    return Outcome(
        text=(message.content or "") + refusal, finish=finish, usage=chat_completions_usage(completion.usage)
    )


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor, "https://api.openai.com/v1")
    kwargs = _sdk_kwargs(user_request(), stream=stream, max_tokens_field="max_completion_tokens")
    if not stream:
        return _read(client.chat.completions.create(**kwargs))
    state: Any = ChatCompletionStreamState()
    text: list[str] = []
    try:
        for chunk in client.chat.completions.create(**kwargs):
            list(state.handle_chunk(chunk))
            for choice in chunk.choices:
                text.extend(p for p in (choice.delta.content, choice.delta.refusal) if p)
    except openai.APIError:
        return Outcome.failed("".join(text))
    return _read(state.current_completion_snapshot)


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    await same_reading(
        "openai", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url="https://api.openai.com/v1"
    )


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    await same_reading("openai", STREAMS[case], _sdk_reads, stream=True, base_url="https://api.openai.com/v1")


def test_every_finish_reason_of_the_sdk_is_mapped():
    from openai.types.chat.chat_completion import Choice
    from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice

    for choice in (Choice, ChunkChoice):
        values = _literals(choice.model_fields["finish_reason"].annotation)
        assert values and all(OPENAI_FINISH_REASONS.known(v) for v in values), values


def _literals(tp: Any) -> list[str]:
    import typing

    if typing.get_origin(tp) is typing.Literal:
        return list(typing.get_args(tp))
    return [v for arg in typing.get_args(tp) for v in _literals(arg)]
