"""Cohere Chat API v2 (``cohere`` adapter) against the ``cohere`` SDK.

The SDK has no model of the request body: its ``ClientV2.chat`` / ``chat_stream``
signatures are the request types (each keyword a body field, typed), so the bodies are
checked against a ``TypedDict`` made from those annotations, plus ``stream``. Replies
and stream events are built from ``V2ChatResponse`` and ``V2ChatStreamResponse``; in
our terms, text carried by ``content-start`` and ``content-delta`` is the reply,
thinking is not, and a ``message-end`` with an error (or finish reason ``ERROR``) fails
the turn.
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any, Literal

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.cohere import COHERE_FINISH_REASONS

from ..conftest import user_request
from .cases import REQUESTS, with_params
from .conftest import sdk
from .exchange import KEY, Answer, Outcome, Relay, Vendor, ours, same_reading, same_request
from .strict import check

cohere = sdk("cohere")
from cohere import V2ChatResponse, V2ChatStreamResponse  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

pytestmark = [
    pytest.mark.contract,
    pytest.mark.integration,  # checked against a vendor SDK
    # The SDK's own union parsing uses pydantic's deprecated ``__fields__``.
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]

MODEL = "command-a-03-2025"
BASE_URL = "https://api.cohere.com"
_EVENT = TypeAdapter(V2ChatStreamResponse)


def _request_type(method: Any, *, stream: bool) -> Any:
    """A ``TypedDict`` of the body ``method`` sends: its keywords and their annotations."""
    hints = typing.get_type_hints(method)
    fields = {
        name: hints[name]
        for name in inspect.signature(method).parameters
        if name not in ("self", "request_options")
    }
    required = {name for name, p in inspect.signature(method).parameters.items() if p.default is p.empty}
    fields = {k: (typing.Required[v] if k in required else v) for k, v in fields.items()}
    fields["stream"] = Literal[True] if stream else Literal[False]
    return typing.TypedDict("V2ChatStreamRequest" if stream else "V2ChatRequest", fields, total=False)  # type: ignore[operator]


CHAT_REQUEST = _request_type(cohere.ClientV2.chat, stream=False)
CHAT_STREAM_REQUEST = _request_type(cohere.ClientV2.chat_stream, stream=True)


RELAY = Relay()


@functools.cache
def _client() -> Any:
    return cohere.ClientV2(api_key=KEY, base_url=BASE_URL, httpx_client=RELAY.client("httpx"))


def _sdk_client(vendor: Vendor) -> Any:
    RELAY.vendor = vendor
    return _client()


def _sdk_kwargs(request: ChatRequest) -> dict[str, Any]:
    """The same conversation as ``client.chat`` / ``client.chat_stream`` arguments."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    names = {"temperature": "temperature", "top_p": "p", "max_tokens": "max_tokens", "stop": "stop_sequences"}
    return {"model": MODEL, "messages": messages, **{names[k]: v for k, v in request.params.items()}}


def _minimal(stream: bool) -> Answer:
    if not stream:
        return Answer.json(_response([{"type": "text", "text": "ok"}], "COMPLETE"))
    return Answer.sse(_stream([("text", "ok")], "COMPLETE"))


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(conversation: str, options: str, stream: bool):
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    await ours("cohere", vendor, request, stream=stream, base_url=BASE_URL, model=MODEL)
    mine = vendor.last
    check(mine.body, CHAT_STREAM_REQUEST if stream else CHAT_REQUEST)
    client = _sdk_client(vendor)
    if stream:
        list(client.chat_stream(**_sdk_kwargs(request)))
    else:
        client.chat(**_sdk_kwargs(request))
    same_request(mine, vendor.last)


# --------------------------------------------------------------------------- replies

_USAGE = {
    "billed_units": {"input_tokens": 9.0, "output_tokens": 7.0},
    "tokens": {"input_tokens": 120.0, "output_tokens": 7.0},
}
_TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "gold"}'},
}


def _response(
    content: list[dict[str, Any]] | None, finish: str, usage: dict[str, Any] | None = _USAGE, **message: Any
) -> dict[str, Any]:
    """A whole reply, validated by the SDK's ``V2ChatResponse`` model."""
    data = {
        "id": "c0ffee",
        "finish_reason": finish,
        "message": {"role": "assistant", **({"content": content} if content is not None else {}), **message},
        **({"usage": usage} if usage is not None else {}),
    }
    return V2ChatResponse.model_validate(data).model_dump(mode="json", exclude_unset=True)


def _event(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """One named SSE event, validated by the SDK's ``V2ChatStreamResponse`` union."""
    dumped = _EVENT.validate_python(payload).model_dump(mode="json", exclude_unset=True)
    return payload["type"], dumped


def _stream(
    items: list[tuple[str, str]],
    finish: str,
    *,
    start_text: bool = False,
    middle: list[dict[str, Any]] | None = None,
    error: str | None = None,
    usage: dict[str, Any] | None = _USAGE,
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a reply made of ``items`` (``("text" | "thinking", words)``): each a
    content-start, one delta per word, a content-end; ``start_text`` puts each item's first
    word in its content-start, as Cohere may."""
    events = [_event({"type": "message-start", "id": "c0ffee", "delta": {"message": {"role": "assistant"}}})]
    for index, (kind, words) in enumerate(items):
        pieces = words.split(" ")
        pieces = [p + " " for p in pieces[:-1]] + pieces[-1:]
        first = {kind: pieces.pop(0)} if start_text else {}
        content = {"type": kind, **first}
        events.append(
            _event({"type": "content-start", "index": index, "delta": {"message": {"content": content}}})
        )
        for piece in pieces:
            delta = {"message": {"content": {kind: piece}}}
            events.append(_event({"type": "content-delta", "index": index, "delta": delta}))
        events.append(_event({"type": "content-end", "index": index}))
    events += [_event(e) for e in middle or []]
    end: dict[str, Any] = {"finish_reason": finish}
    if usage is not None:
        end["usage"] = usage
    if error is not None:
        end["error"] = error
    return [*events, _event({"type": "message-end", "delta": end})]


PLAIN = {
    "text": _response([{"type": "text", "text": "Hello there."}], "COMPLETE"),
    "thinking-and-text": _response(
        [{"type": "thinking", "thinking": "They greet me."}, {"type": "text", "text": "Hello there."}],
        "COMPLETE",
    ),
    "tool-calls-with-plan": _response(
        None, "TOOL_CALL", tool_plan="I will look it up.", tool_calls=[_TOOL_CALL]
    ),
    "max-tokens": _response([{"type": "text", "text": "Hel"}], "MAX_TOKENS"),
    "stop-sequence": _response([{"type": "text", "text": "Hello"}], "STOP_SEQUENCE"),
    "billed-units-only": _response(
        [{"type": "text", "text": "Hi."}],
        "COMPLETE",
        usage={"billed_units": {"input_tokens": 3, "output_tokens": 1}},
    ),
    "no-usage": _response([{"type": "text", "text": "Hi."}], "COMPLETE", usage=None),
    "error": _response([], "ERROR"),
}

STREAMS: dict[str, Answer] = {
    "text": Answer.sse(_stream([("text", "Hello there.")], "COMPLETE")),
    "text-in-content-start": Answer.sse(
        _stream([("text", "Hello there friend.")], "COMPLETE", start_text=True)
    ),
    "thinking-then-text": Answer.sse(
        _stream([("thinking", "They greet me."), ("text", "Hello there.")], "COMPLETE", start_text=True)
    ),
    "tool-plan-tool-calls-citations-debug": Answer.sse(
        _stream(
            [("text", "The sky is blue.")],
            "TOOL_CALL",
            middle=[
                {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look."}}},
                {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {**_TOOL_CALL}}}},
                {
                    "type": "tool-call-delta",
                    "index": 0,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}},
                },
                {"type": "tool-call-end", "index": 0},
                {
                    "type": "citation-start",
                    "index": 0,
                    "delta": {"message": {"citations": {"start": 0, "end": 3, "text": "The", "sources": []}}},
                },
                {"type": "citation-end", "index": 0},
                {"type": "debug", "prompt": "..."},
            ],
        )
    ),
    "max-tokens": Answer.sse(_stream([("text", "Hello there")], "MAX_TOKENS")),
    "error-in-message-end": Answer.sse(
        _stream([("text", "Hello")], "ERROR", error="internal error", usage=None)
    ),
}


def _usage(usage: Any) -> dict[str, int]:
    counts = usage and (usage.tokens or usage.billed_units)
    if counts is None:
        return {}
    prompt, completion = int(counts.input_tokens or 0), int(counts.output_tokens or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _outcome(text: str, raw_finish: Any, usage: dict[str, int], error: str | None = None) -> Outcome:
    finish = COHERE_FINISH_REASONS(raw_finish)
    if error or finish == "error":
        return Outcome.failed(text)
    return Outcome(text=text, finish=finish, usage=usage)


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor)
    kwargs = _sdk_kwargs(user_request())
    if not stream:
        response = client.chat(**kwargs)
        text = "".join(item.text for item in response.message.content or [] if item.type == "text")
        return _outcome(text, response.finish_reason, _usage(response.usage))
    text_pieces: list[str] = []
    for event in client.chat_stream(**kwargs):
        if event.type in ("content-start", "content-delta"):
            content = event.delta.message.content
            if getattr(content, "type", None) != "thinking" and content.text:
                text_pieces.append(content.text)
        elif event.type == "message-end":
            return _outcome(
                "".join(text_pieces), event.delta.finish_reason, _usage(event.delta.usage), event.delta.error
            )
    raise AssertionError("the stream had no message-end")


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "cohere", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url=BASE_URL
    )
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me."


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading("cohere", STREAMS[case], _sdk_reads, stream=True, base_url=BASE_URL)
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me."


def test_every_finish_reason_of_the_sdk_is_mapped():
    from cohere import ChatFinishReason

    (literal,) = [a for a in typing.get_args(ChatFinishReason) if typing.get_origin(a) is Literal]
    values = typing.get_args(literal)
    assert values and all(COHERE_FINISH_REASONS.known(v) for v in values), values
