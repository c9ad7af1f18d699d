"""Ollama's native API (``llama`` adapter, ``api="ollama"``) against the ``ollama`` SDK.

Request bodies are checked against the SDK's ``ChatRequest`` model, its messages read
as ``Message`` and its options as ``Options`` (the SDK also accepts any mapping there;
the strict reading is the typed one). The SDK always sends ``"tools": []``, the API's
default, which counts as absent. Replies and NDJSON streams are built from the SDK's
``ChatResponse``; ``message.thinking`` is not reply text.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.llama import OLLAMA_FINISH_REASONS

from ..conftest import user_request
from .cases import REQUESTS, with_params
from .conftest import sdk
from .exchange import Answer, Outcome, Relay, Vendor, ours, same_reading, same_request
from .strict import check

ollama = sdk("ollama")
from ollama._types import ChatRequest as OllamaChatRequest  # noqa: E402
from ollama._types import ChatResponse  # noqa: E402

pytestmark = [pytest.mark.contract, pytest.mark.integration]  # checked against a vendor SDK

MODEL = "llama3.2"
BASE_URL = "http://localhost:11434"


RELAY = Relay()


@functools.cache
def _client() -> Any:
    return ollama.Client(host=BASE_URL, transport=RELAY.transport("httpx"))


def _sdk_client(vendor: Vendor) -> Any:
    RELAY.vendor = vendor
    return _client()


def _sdk_kwargs(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The same conversation as ``client.chat`` arguments (no author names, no API key)."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "num_predict", "stop": "stop"}
    options = {names[k]: v for k, v in request.params.items()}
    return {"model": MODEL, "messages": messages, "options": options or None, "stream": stream}


def _minimal(stream: bool) -> Answer:
    done = _reply({"role": "assistant", "content": "ok"}, done=True, done_reason="stop")
    return Answer.ndjson([done]) if stream else Answer.json(done)


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(conversation: str, options: str, stream: bool):
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    # No API key: Ollama has none (the SDK sends no Authorization either).
    await ours("llama", vendor, request, stream=stream, base_url=BASE_URL, model=MODEL, api_key=None)
    mine = vendor.last
    check(mine.body, OllamaChatRequest)
    OllamaChatRequest.model_validate(mine.body)
    result = _sdk_client(vendor).chat(**_sdk_kwargs(request, stream=stream))
    if stream:
        list(result)
    same_request(mine, vendor.last, defaults={"tools": []})


# --------------------------------------------------------------------------- replies


def _reply(message: dict[str, Any], *, done: bool, **extra: Any) -> dict[str, Any]:
    """One reply or stream line, validated by the SDK's ``ChatResponse`` model."""
    data = {"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "message": message, "done": done, **extra}
    return ChatResponse.model_validate(data).model_dump(mode="json", exclude_none=True)


_COUNTS = {"prompt_eval_count": 11, "eval_count": 7, "total_duration": 1000, "eval_duration": 500}
_TOOL_CALL = {"function": {"name": "lookup", "arguments": {"q": "gold"}}}

PLAIN = {
    "text": _reply(
        {"role": "assistant", "content": "Hello there."}, done=True, done_reason="stop", **_COUNTS
    ),
    "thinking": _reply(
        {"role": "assistant", "content": "Hello there.", "thinking": "They greet me."},
        done=True,
        done_reason="stop",
        **_COUNTS,
    ),
    "length": _reply({"role": "assistant", "content": "Hel"}, done=True, done_reason="length", **_COUNTS),
    "tool-calls-empty-content": _reply(
        {"role": "assistant", "content": "", "tool_calls": [_TOOL_CALL]},
        done=True,
        done_reason="stop",
        **_COUNTS,
    ),
    "cached-prompt-no-prompt-count": _reply(
        {"role": "assistant", "content": "Hi."}, done=True, done_reason="stop", eval_count=2
    ),
}

STREAMS: dict[str, Answer] = {
    "text": Answer.ndjson(
        [
            _reply({"role": "assistant", "content": "Hello"}, done=False),
            _reply({"role": "assistant", "content": " there."}, done=False),
            _reply({"role": "assistant", "content": ""}, done=True, done_reason="stop", **_COUNTS),
        ]
    ),
    "thinking-then-text": Answer.ndjson(
        [
            _reply({"role": "assistant", "content": "", "thinking": "They greet "}, done=False),
            _reply({"role": "assistant", "content": "", "thinking": "me."}, done=False),
            _reply({"role": "assistant", "content": "Hello there."}, done=False),
            _reply({"role": "assistant", "content": ""}, done=True, done_reason="stop", **_COUNTS),
        ]
    ),
    "length": Answer.ndjson(
        [
            _reply({"role": "assistant", "content": "Hel"}, done=False),
            _reply({"role": "assistant", "content": ""}, done=True, done_reason="length", **_COUNTS),
        ]
    ),
    "tool-call-chunk": Answer.ndjson(
        [
            _reply({"role": "assistant", "content": "", "tool_calls": [_TOOL_CALL]}, done=False),
            _reply({"role": "assistant", "content": ""}, done=True, done_reason="stop", **_COUNTS),
        ]
    ),
    "error-after-text": Answer.ndjson(
        [_reply({"role": "assistant", "content": "Hel"}, done=False), {"error": "model runner has crashed"}]
    ),
}


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor)
    kwargs = _sdk_kwargs(user_request(), stream=stream)
    parts = [client.chat(**kwargs)] if not stream else None
    text: list[str] = []
    counts: dict[str, int] = {}
    finish = None
    try:
        for part in parts or client.chat(**kwargs):
            text.append(part.message.content or "")
            if part.done:
                finish = OLLAMA_FINISH_REASONS(part.done_reason)
                counts = {
                    "prompt_tokens": part.prompt_eval_count or 0,
                    "completion_tokens": part.eval_count or 0,
                }
    except ollama.ResponseError:
        return Outcome.failed("".join(text))
    usage = {**counts, "total_tokens": sum(counts.values())} if counts else {}
    return Outcome(text="".join(text), finish=finish, usage=usage)


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "llama", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url=BASE_URL, api_key=None
    )
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me."


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "llama", STREAMS[case], _sdk_reads, stream=True, base_url=BASE_URL, api_key=None
    )
    if "thinking" in case:
        assert metadata["thinking"] == "They greet me."
