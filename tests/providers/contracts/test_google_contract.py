"""Gemini API (``google`` adapter) against the ``google-genai`` SDK.

The SDK's request types (``GenerateContentConfig``, ...) are not the wire shape: the
SDK converts them to the API's JSON. So our bodies are checked against the SDK's wire
models — ``Content``/``Part`` and ``GenerationConfig``, which carry the API's camelCase
names as aliases — under a top-level ``GenerateContentRequest`` written here from the
JSON the SDK sends, and compared with that JSON (an empty ``generationConfig``, which
the SDK sends when the config holds only a system instruction, counts as absent). Both
speak API version ``v1``, the SDK's default. Replies and stream chunks are built from
``GenerateContentResponse``; the SDK's ``response.text`` (thought parts excluded) is the
text it reads.
"""

from __future__ import annotations

import functools
import typing
import warnings
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.providers.google import GEMINI_FINISH_REASONS

from ..conftest import user_request
from .cases import REQUESTS, system_texts, turns, with_params
from .conftest import sdk
from .exchange import KEY, Answer, Outcome, Relay, Vendor, ours, same_reading, same_request
from .strict import check

sdk("google.genai")
from google import genai  # noqa: E402
from google.genai import types  # noqa: E402

pytestmark = [pytest.mark.contract, pytest.mark.integration]  # checked against a vendor SDK

MODEL = "gemini-2.5-flash"
BASE_URL = "https://generativelanguage.googleapis.com"


#: The body of ``models.generateContent`` / ``streamGenerateContent`` as the SDK sends it.
class GenerateContentRequest(typing.TypedDict, total=False):
    contents: typing.Required[list[types.Content]]
    systemInstruction: types.Content
    generationConfig: types.GenerationConfig
    safetySettings: list[types.SafetySetting]
    tools: list[types.Tool]
    toolConfig: types.ToolConfig
    cachedContent: str


RELAY = Relay()


@functools.cache
def _client() -> Any:
    options = types.HttpOptions(
        base_url=BASE_URL, httpx_client=RELAY.client(), httpx_async_client=RELAY.async_client()
    )
    return genai.Client(api_key=KEY, http_options=options)


def _sdk_client(vendor: Vendor) -> Any:
    RELAY.vendor = vendor
    return _client()


def _sdk_kwargs(request: ChatRequest) -> dict[str, Any]:
    """The same conversation as ``client.models.generate_content`` arguments."""
    contents = [
        types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)])
        for m in turns(request)
    ]
    names = {
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "max_output_tokens",
        "stop": "stop_sequences",
    }
    config: dict[str, Any] = {names[k]: v for k, v in request.params.items()}
    if system_texts(request):
        config["system_instruction"] = types.Content(
            parts=[types.Part(text=t) for t in system_texts(request)]
        )
    return {
        "model": MODEL,
        "contents": contents,
        "config": types.GenerateContentConfig(**config) if config else None,
    }


def _minimal(stream: bool) -> Answer:
    reply = _response([_candidate([{"text": "ok"}], "STOP")])
    return Answer.sse([reply]) if stream else Answer.json(reply)


@pytest.mark.parametrize(("conversation", "options", "stream"), REQUESTS)
async def test_requests(conversation: str, options: str, stream: bool):
    request = with_params(conversation, options)
    vendor = Vendor(_minimal(stream))
    await ours("google", vendor, request, stream=stream, base_url=BASE_URL, model=MODEL)
    mine = vendor.last
    check(mine.body, GenerateContentRequest)
    client = _sdk_client(vendor)
    if stream:
        list(client.models.generate_content_stream(**_sdk_kwargs(request)))
    else:
        client.models.generate_content(**_sdk_kwargs(request))
    same_request(mine, vendor.last, defaults={"generationConfig": {}})


# --------------------------------------------------------------------------- replies

_USAGE = {"promptTokenCount": 11, "candidatesTokenCount": 7, "totalTokenCount": 18}
_RATINGS = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]


def _candidate(parts: list[dict[str, Any]] | None, finish: str | None, **extra: Any) -> dict[str, Any]:
    content = {"role": "model", "parts": parts} if parts is not None else None
    return {
        **({"content": content} if content else {}),
        **({"finishReason": finish} if finish else {}),
        "index": 0,
        **extra,
    }


def _response(
    candidates: list[dict[str, Any]] | None, usage: dict[str, Any] | None = _USAGE, **extra: Any
) -> dict[str, Any]:
    """A whole reply (or one stream chunk), validated by the SDK's ``GenerateContentResponse``."""
    data = {
        **({"candidates": candidates} if candidates is not None else {}),
        **({"usageMetadata": usage} if usage is not None else {}),
        "modelVersion": MODEL,
        "responseId": "resp-1",
        **extra,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unknown finishReason is a warning in the SDK
        model = types.GenerateContentResponse.model_validate(data)
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


PLAIN = {
    "text": _response([_candidate([{"text": "Hello "}, {"text": "there."}], "STOP")]),
    "thoughts-and-text": _response(
        [_candidate([{"text": "They greet me.", "thought": True}, {"text": "Hello there."}], "STOP")],
        {**_USAGE, "thoughtsTokenCount": 25, "totalTokenCount": 43},
    ),
    "safety-stop-no-content": _response([_candidate(None, "SAFETY", safetyRatings=_RATINGS)]),
    "blocked-prompt": _response(
        None,
        {"promptTokenCount": 5, "totalTokenCount": 5},
        promptFeedback={"blockReason": "PROHIBITED_CONTENT"},
    ),
    "max-tokens": _response([_candidate([{"text": "Hel"}], "MAX_TOKENS")]),
    "continuation": _response([_candidate([{"text": "Hel"}], "CONTINUATION")]),
    "function-call-and-text": _response(
        [
            _candidate(
                [{"text": "Looking."}, {"functionCall": {"name": "lookup", "args": {"q": "gold"}}}], "STOP"
            )
        ]
    ),
    "model-armor": _response([_candidate([], "MODEL_ARMOR")]),
    "malformed-response": _response([_candidate([], "MALFORMED_RESPONSE", finishMessage="bad")]),
    "future-finish-reason": _response([_candidate([{"text": "Hi."}], "SOMETHING_NEW")]),
}

STREAMS: dict[str, Answer] = {
    "text-usage-grows": Answer.sse(
        [
            _response([_candidate([{"text": "Hello "}], None)], {"promptTokenCount": 11}),
            _response(
                [_candidate([{"text": "there"}], None)], {"promptTokenCount": 11, "candidatesTokenCount": 2}
            ),
            _response([_candidate([{"text": "."}], "STOP")], _USAGE),
        ]
    ),
    "thoughts-then-text": Answer.sse(
        [
            _response(
                [_candidate([{"text": "They greet me.", "thought": True}], None)], {"promptTokenCount": 11}
            ),
            _response(
                [_candidate([{"text": "Hello there."}], "STOP")],
                {**_USAGE, "thoughtsTokenCount": 25, "totalTokenCount": 43},
            ),
        ]
    ),
    "safety-stop-without-text": Answer.sse(
        [
            _response([_candidate([{"text": "Hello "}], None)], {"promptTokenCount": 11}),
            _response([_candidate(None, "SAFETY", safetyRatings=_RATINGS)], _USAGE),
        ]
    ),
    "blocked-prompt": Answer.sse(
        [
            _response(
                None, {"promptTokenCount": 5, "totalTokenCount": 5}, promptFeedback={"blockReason": "SAFETY"}
            )
        ]
    ),
    "image-prohibited": Answer.sse([_response([_candidate([{"text": "Hi"}], "IMAGE_PROHIBITED_CONTENT")])]),
    "error-after-text": Answer.sse(
        [
            _response([_candidate([{"text": "Hello "}], None)], {"promptTokenCount": 11}),
            {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}},
        ]
    ),
}


def _finish(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


class _Reader:
    """Reads the SDK's responses (one, or a stream's chunks) into our terms."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.finish: str | None = None
        self.counts: dict[str, int | None] = {
            "prompt": None,
            "candidates": None,
            "thoughts": None,
            "total": None,
        }

    def add(self, response: Any) -> None:
        usage = response.usage_metadata
        if usage is not None:
            for key, value in (
                ("prompt", usage.prompt_token_count),
                ("candidates", usage.candidates_token_count),
                ("thoughts", usage.thoughts_token_count),
                ("total", usage.total_token_count),
            ):
                if value is not None:
                    self.counts[key] = value
        if not response.candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                self.finish = "content_filter"
            return
        self.text.append(response.text or "")
        raw = _finish(response.candidates[0].finish_reason)
        if raw is not None:
            self.finish = GEMINI_FINISH_REASONS(raw)

    def outcome(self) -> Outcome:
        if self.finish == "error":
            return Outcome.failed("".join(self.text))
        c = self.counts
        usage: dict[str, int] = {}
        if any(v is not None for v in c.values()):
            completion = (c["candidates"] or 0) + (c["thoughts"] or 0)
            prompt = c["prompt"] or 0
            total = c["total"] if c["total"] is not None else prompt + completion
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
        return Outcome(text="".join(self.text), finish=self.finish, usage=usage)


def _sdk_reads(vendor: Vendor, *, stream: bool) -> Outcome:
    client = _sdk_client(vendor)
    kwargs = _sdk_kwargs(user_request())
    reader = _Reader()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown finish reasons, non-text parts
        if not stream:
            reader.add(client.models.generate_content(**kwargs))
            return reader.outcome()
        try:
            for chunk in client.models.generate_content_stream(**kwargs):
                reader.add(chunk)
        except genai.errors.APIError:
            return Outcome.failed("".join(reader.text))
    return reader.outcome()


@pytest.mark.parametrize("case", list(PLAIN))
async def test_plain_replies_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading(
        "google", Answer.json(PLAIN[case]), _sdk_reads, stream=False, base_url=BASE_URL
    )
    if "thoughts" in case:
        assert metadata["thinking"] == "They greet me."
    if case == "future-finish-reason":
        assert (metadata["raw_finish_reason"], metadata["unknown_finish_reason"]) == ("SOMETHING_NEW", True)


@pytest.mark.parametrize("case", list(STREAMS))
async def test_streams_read_as_the_sdk_reads_them(case: str):
    metadata = await same_reading("google", STREAMS[case], _sdk_reads, stream=True, base_url=BASE_URL)
    if "thoughts" in case:
        assert metadata["thinking"] == "They greet me."


def test_every_finish_reason_of_the_sdk_is_mapped():
    values = [reason.value for reason in types.FinishReason]
    assert values and all(GEMINI_FINISH_REASONS.known(v) for v in values), values
    # What the issue asked for, read off the SDK's own enum.
    image = [v for v in values if v.startswith("IMAGE_")]
    expected = {
        "CONTINUATION": "length",
        **dict.fromkeys(["MALFORMED_RESPONSE", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE"], "error"),
        **dict.fromkeys(["ESCALATION", "PUP_LIMITED_DISABLED", "MODEL_ARMOR", *image], "content_filter"),
    }
    assert {v: GEMINI_FINISH_REASONS(v) for v in expected} == expected
