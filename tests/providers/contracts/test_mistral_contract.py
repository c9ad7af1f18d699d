"""Mistral chat completions (``mistral`` adapter) against the ``mistralai`` SDK.

Request bodies are checked against ``ChatCompletionRequest`` /
``ChatCompletionStreamRequest`` (pydantic models: every key must be a field). Replies
and streams are built from ``ChatCompletionResponse`` and ``CompletionChunk``; the SDK
reads a ``content`` that is a string or a list of chunks (``TextChunk``, ``ThinkChunk``,
...), and in our terms the text chunks are the reply and a finish reason ``error`` fails
the turn.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.openai import OPENAI_FINISH_REASONS

from ..conftest import user_request
from .cases import REQUESTS, with_params
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

sdk("mistralai.client")
from mistralai.client import Mistral  # noqa: E402
from mistralai.client.errors import MistralError  # noqa: E402
from mistralai.client.models import (  # noqa: E402
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatCompletionStreamRequest,
    CompletionChunk,
    TextChunk,
    ThinkChunk,
)

pytestmark = [pytest.mark.contract, pytest.mark.integration]  # checked against a vendor SDK

MODEL = "mistral-small-latest"
ROOT = "https://api.mistral.ai"
BASE_URL = f"{ROOT}/v1"


RELAY = Relay()


@functools.cache
def _client() -> Any:
    return Mistral(api_key=KEY, server_url=ROOT, client=RELAY.client(), async_client=RELAY.async_client())


def _sdk_client(vendor: Vendor) -> Any:
    RELAY.vendor = vendor
    return _client()


def _sdk_kwargs(request: ChatRequest) -> dict[str, Any]:
    """The same conversation as ``client.chat.complete`` / ``client.chat.stream`` arguments
    (Mistral has no author names)."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return {"model": MODEL, "messages": messages, **request.params}


def _minimal(stream: bool) -> Answer:
    if not stream:
        return Answer.json(_response({"role": "assistant", "content": "ok"}, "stop"))
    return Answer.sse([_chunk({"content": "ok"}, "stop", usage=_USAGE)], done=True)


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(conversation: str, options: str, stream: bool):
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    await ours("mistral", vendor, request, stream=stream, base_url=BASE_URL, model=MODEL)
    mine = vendor.last
    model = ChatCompletionStreamRequest if stream else ChatCompletionRequest
    check(mine.body, model)
    model.model_validate(mine.body)
    client = _sdk_client(vendor)
    if stream:
        list(client.chat.stream(**_sdk_kwargs(request)))
    else:
        client.chat.complete(**_sdk_kwargs(request))
    same_request(mine, vendor.last, defaults={"prefix": False})


# --------------------------------------------------------------------------- replies

_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
_THINK = {"type": "thinking", "thinking": [{"type": "text", "text": "They greet me."}]}
_TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "gold"}'},
}


def _validated(model: Any, kind: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A reply or stream chunk of ``kind`` (its ``object``), with the fields every one
    carries, validated by the SDK's ``model``."""
    data = {"id": "cmpl-1", "object": kind, "created": 1700000000, "model": MODEL, "choices": choices}
    return model.model_validate({**data, **extra}).model_dump(mode="json", by_alias=True)


def _response(message: dict[str, Any] | None, finish: str, **choice: Any) -> dict[str, Any]:
    """A whole reply, validated by the SDK's ``ChatCompletionResponse`` model."""
    first = {"index": 0, "finish_reason": finish, **({"message": message} if message else {}), **choice}
    return _validated(ChatCompletionResponse, "chat.completion", [first], usage=_USAGE)


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One stream chunk, validated by the SDK's ``CompletionChunk`` model."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _validated(CompletionChunk, "chat.completion.chunk", [choice], **extra)


PLAIN = {
    "string-content": _response({"role": "assistant", "content": "Hello there."}, "stop"),
    "thinking-and-text-chunks": _response(
        {"role": "assistant", "content": [_THINK, {"type": "text", "text": "Hello there."}]}, "stop"
    ),
    "tool-calls-empty-content": _response(
        {"role": "assistant", "content": "", "tool_calls": [_TOOL_CALL]}, "tool_calls"
    ),
    "model-length": _response({"role": "assistant", "content": "Hel"}, "model_length"),
    "length": _response({"role": "assistant", "content": "Hel"}, "length"),
    "error": _response({"role": "assistant", "content": ""}, "error"),
    "choice-with-messages": _response(
        None, "stop", messages=[{"role": "assistant", "content": "Hello "}, {"content": "there."}]
    ),
}

STREAMS: dict[str, Answer] = {
    "string-deltas-usage-in-last-chunk": Answer.sse(
        [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"content": "Hello"}),
            _chunk({"content": " there."}),
            _chunk({"content": ""}, "stop", usage=_USAGE),
        ],
        done=True,
    ),
    "thinking-then-text-chunks": Answer.sse(
        [
            _chunk({"role": "assistant", "content": [_THINK]}),
            _chunk({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": " Be kind."}]}]}),
            _chunk({"content": [{"type": "text", "text": "Hello"}]}),
            _chunk({"content": " there."}),
            _chunk({"content": ""}, "stop", usage=_USAGE),
        ],
        done=True,
    ),
    "tool-call-deltas-null-content": Answer.sse(
        [
            _chunk({"role": "assistant", "content": None}),
            _chunk({"content": None, "tool_calls": [{**_TOOL_CALL, "index": 0}]}),
            _chunk({"content": ""}, "tool_calls", usage=_USAGE),
        ],
        done=True,
    ),
    "finish-error": Answer.sse(
        [_chunk({"role": "assistant", "content": "Hel"}), _chunk({"content": ""}, "error", usage=_USAGE)],
        done=True,
    ),
    "length": Answer.sse(
        [_chunk({"content": "Hel"}), _chunk({"content": "lo"}, "length", usage=_USAGE)], done=True
    ),
}


def _text(content: Any) -> str:
    """The reply text of an SDK ``content`` (string, or chunks: the ``TextChunk`` ones)."""
    if content is None or isinstance(content, str):
        return content or ""
    assert all(isinstance(c, TextChunk | ThinkChunk) for c in content), content
    return "".join(c.text for c in content if isinstance(c, TextChunk))


def _outcome(text: str, raw_finish: str | None, usage: dict[str, int]) -> Outcome:
    finish = OPENAI_FINISH_REASONS(raw_finish)
    return Outcome.failed(text) if finish == "error" else Outcome(text=text, finish=finish, usage=usage)


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor)
    kwargs = _sdk_kwargs(user_request())
    if not stream:
        response = client.chat.complete(**kwargs)
        choice = response.choices[0]
        messages = [choice.message] if choice.message is not None else choice.messages
        return _outcome(
            "".join(_text(m.content) for m in messages),
            choice.finish_reason,
            chat_completions_usage(response.usage),
        )
    text: list[str] = []
    finish = None
    usage: dict[str, int] = {}
    try:
        for event in client.chat.stream(**kwargs):
            chunk = event.data
            usage = chat_completions_usage(chunk.usage) or usage
            for choice in chunk.choices:
                text.append(_text(choice.delta.content))
                finish = choice.finish_reason or finish
    except MistralError:
        return Outcome.failed("".join(text))
    return _outcome("".join(text), finish, usage)


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "mistral", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url=BASE_URL
    )
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me."


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading("mistral", STREAMS[case], _sdk_reads, stream=True, base_url=BASE_URL)
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me. Be kind."


def test_every_finish_reason_of_the_sdk_is_mapped():
    import typing

    from mistralai.client.models.chatcompletionchoice import ChatCompletionChoiceFinishReason
    from mistralai.client.models.completionresponsestreamchoice import (
        CompletionResponseStreamChoiceFinishReason,
    )

    for union in (ChatCompletionChoiceFinishReason, CompletionResponseStreamChoiceFinishReason):
        (literal,) = [a for a in typing.get_args(union) if typing.get_origin(a) is typing.Literal]
        values = typing.get_args(literal)
        assert values and all(OPENAI_FINISH_REASONS.known(v) for v in values), values
