"""Mistral adapter: OpenAI-like wire format without the fields Mistral rejects."""

from __future__ import annotations

import pytest

from luminora_nb.errors import ProviderError
from luminora_nb.providers import ChatRequest
from luminora_nb.types import ChatMessage

from .conftest import MakeHarness, collect, one_turn, replies_finishing_with, turn, user_request
from .wire import Canned, Reply


async def test_request_wire_format(mock: MakeHarness):
    h = await mock("mistral", temperature=0.1, top_p=0.5, max_tokens=30, stop=["STOP"])
    request = ChatRequest(system="Be kind.", messages=[ChatMessage(role="user", content="hi", name="ana")])
    await h.provider.chat(request)
    (sent,) = h.scenario.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {h.key}"
    assert sent.body == {
        "model": "mistral-small-latest",
        "messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
        "stream": False,
        "temperature": 0.1,
        "top_p": 0.5,
        "max_tokens": 30,
        "stop": ["STOP"],
    }


async def test_stream_sends_no_stream_options_and_reads_usage_from_the_finishing_chunk(mock: MakeHarness):
    # The server answers 422 to unknown fields, as Mistral's API does.
    h = await mock("mistral")
    chunks = await collect(h.provider, user_request())
    assert "stream_options" not in h.scenario.requests[0].body
    assert chunks[-1].usage["completion_tokens"] == 5


async def test_model_length_finish_reason(mock: MakeHarness):
    plain, streamed = await replies_finishing_with(mock, "mistral", "model_length")
    assert plain.finish_reason == "length"
    assert streamed.finish_reason == "length"


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_finish_reason_error_is_raised_not_stored_as_a_reply(mock: MakeHarness, streamed: bool):
    h = await mock("mistral", actions=[Reply(text="", finish="error")] * 3)
    with pytest.raises(ProviderError, match="finish_reason 'error'") as info:
        await one_turn(h.provider, user_request(), streamed=streamed)
    assert not info.value.retryable  # nothing says the failure was transient
    assert len(h.scenario.requests) == 1 and h.delays == []


_THINKING = {"type": "thinking", "thinking": [{"type": "text", "text": "The user greets me."}]}


def _chunk(content: object, finish: str | None = None, **extra: object) -> dict[str, object]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "magistral-small-latest",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
        **extra,
    }


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_content_as_a_list_of_chunks_is_read(mock: MakeHarness, streamed: bool):
    # Reasoning models: before, a plain call failed ("unexpected reply shape") and a stream
    # dropped the text and finished an empty reply with "stop".
    plain = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "magistral-small-latest",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": [_THINKING, {"type": "text", "text": "Hello!"}]},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 12, "total_tokens": 16},
    }
    events = (
        _chunk([_THINKING]),
        _chunk([{"type": "text", "text": "Hel"}]),
        _chunk("lo!"),  # a plain string delta in the same stream is still text
        _chunk("", "stop", usage={"prompt_tokens": 4, "completion_tokens": 12, "total_tokens": 16}),
        "[DONE]",
    )
    h = await mock("mistral", actions=[Canned(plain=plain, events=events)])
    text, reply = await turn(h.provider, user_request(), streamed=streamed)
    assert text == "Hello!"
    assert reply.finish_reason == "stop"
    assert reply.metadata["thinking"] == "The user greets me."
    assert reply.usage["completion_tokens"] == 12


def test_content_chunks_of_other_types_are_not_text_and_bad_ones_are_malformed():
    from luminora_nb.providers._normalise import chunk_text

    assert chunk_text([{"type": "reference", "reference_ids": [1]}, {"type": "text", "text": "a"}]) == (
        "a",
        "",
    )
    with pytest.raises(TypeError):
        chunk_text([{"type": "text"}])
    with pytest.raises(TypeError):
        chunk_text(5)
