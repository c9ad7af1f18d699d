"""The offline provider: requests, determinism, conversation memory, streaming and limits.

The simulator's other concerns have their own files: ``test_offline_analysis.py`` (intents),
``test_offline_profile.py`` (persona profiles and their cache), ``test_offline_wording.py``
(the wording tables) and ``test_offline_composer.py`` (how the persona shapes a reply).
The helpers here are shared with them. Personas are built from the shipped ``aurora``
definition with ``model_copy`` edits, so each test changes exactly the knob it is about.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luminora_nb.errors import ProviderBadRequestError, ProviderError
from luminora_nb.personality.compile import compile_prompt
from luminora_nb.personality.library import get_builtin
from luminora_nb.providers import ChatRequest, create_provider
from luminora_nb.providers.offline import _HEDGE, _HUMOUR, _METAPHOR, OfflineProvider, count_tokens
from luminora_nb.providers.offline.wording import WORDING
from luminora_nb.types import ChatMessage, ChatResponse, PersonaDefinition, ProviderConfig

ROOT = Path(__file__).resolve().parents[2]
AURORA = get_builtin("aurora").definition
assert AURORA is not None
QUESTIONS = (
    "Why is the sky blue?",
    "How does photosynthesis work?",
    "What is the speed of light?",
    "Can you explain recursion to me?",
    "When should I water tomatoes?",
)
CONTRACTION = re.compile(r"\b\w+'(?:s|re|m|t|ll|ve|d)\b")


def persona(
    base: PersonaDefinition = AURORA,
    *,
    name: str | None = None,
    vocabulary: list[str] | None = None,
    fillers: list[str] | None = None,
    punctuation: str | None = None,
    max_informality: float | None = None,
    **params: float,
) -> PersonaDefinition:
    """``base`` with some parameters, vocabulary, fillers or punctuation replaced."""
    update: dict[str, Any] = {}
    if params:
        update["advanced_parameters"] = base.advanced_parameters.model_copy(update=params)
    ling: dict[str, Any] = {}
    if vocabulary is not None:
        ling["vocabulary"] = vocabulary
    if fillers is not None:
        ling["fillers"] = fillers
    if punctuation is not None:
        ling["punctuation_style"] = punctuation
    if ling:
        update["linguistic_profile"] = base.linguistic_profile.model_copy(update=ling)
    if name is not None:
        update["persona"] = base.persona.model_copy(update={"name": name})
    if max_informality is not None:
        guards = base.safety_guards
        limits = guards.tone_limits.model_copy(update={"max_informality": max_informality})
        update["safety_guards"] = guards.model_copy(update={"tone_limits": limits})
    return base.model_copy(update=update)


def request(
    text: str,
    definition: PersonaDefinition | None = AURORA,
    *,
    history: tuple[tuple[str, str], ...] = (),
    system: str | None = None,
    persona_name: str | None = None,
    params: dict[str, Any] | None = None,
    **context: Any,
) -> ChatRequest:
    messages = [ChatMessage(role=role, content=content) for role, content in history]  # type: ignore[arg-type]
    messages.append(ChatMessage(role="user", content=text))
    if system is None and definition is not None:
        system = compile_prompt(definition)
    return ChatRequest(
        system=system,
        messages=messages,
        persona=definition,
        persona_name=persona_name,
        params=params or {},
        context=context,
    )


@pytest.fixture
def provider() -> OfflineProvider:
    return OfflineProvider(ProviderConfig(name="offline"))


async def reply(
    provider: OfflineProvider, text: str, definition: PersonaDefinition | None = AURORA, **kw: Any
) -> str:
    return (await provider.chat(request(text, definition, **kw))).content


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


# -- basics ------------------------------------------------------------------------------


def test_registry_builds_it_without_a_key() -> None:
    made = create_provider(ProviderConfig(name="offline"))
    assert isinstance(made, OfflineProvider)
    assert (made.name, made.model, made.requires_api_key) == ("offline", "luminora-sim-1", False)
    assert create_provider(ProviderConfig(name="offline", model="sim-x")).model == "sim-x"


def test_documented_as_a_simulator_not_a_language_model() -> None:
    import luminora_nb.providers.offline as module

    assert "not a language model" in (module.__doc__ or "")
    assert "not a language model" in (OfflineProvider.__doc__ or "")


def test_count_tokens_is_words_and_punctuation() -> None:
    assert count_tokens("Hello, world! It's 9 o'clock.") == 12  # It ' s and o ' clock: three each
    assert count_tokens("a\nb  c\n\n") == 3
    assert count_tokens("") == 0


async def test_response_shape_usage_and_latency(provider: OfflineProvider) -> None:
    req = request("What is the speed of light?")
    out = await provider.chat(req)
    assert isinstance(out, ChatResponse)
    assert out.role == "assistant" and out.finish_reason == "stop" and out.model == "luminora-sim-1"
    expected_prompt = count_tokens(req.system or "") + sum(count_tokens(m.content) for m in req.messages)
    assert out.usage == {
        "prompt_tokens": expected_prompt,
        "completion_tokens": count_tokens(out.content),
        "total_tokens": expected_prompt + count_tokens(out.content),
    }
    assert isinstance(out.metadata["latency_ms"], float) and out.metadata["latency_ms"] >= 0
    assert out.metadata["intent"] == "question"


# -- determinism -------------------------------------------------------------------------


async def test_same_input_same_output(provider: OfflineProvider) -> None:
    for text in (*QUESTIONS, "Hello!", "I feel sad.", "My name is Sam."):
        first, second = await provider.chat(request(text)), await provider.chat(request(text))
        assert first.content == second.content
        assert first.usage == second.usage


@pytest.mark.integration  # starts another process
async def test_same_output_in_another_process(provider: OfflineProvider) -> None:
    texts = ["Hello!", "Why is the sky blue?", "I love jazz music.", "Thanks, bye!"]
    script = (
        "import asyncio, json, sys\n"
        "from luminora_nb.personality.library import get_builtin\n"
        "from luminora_nb.providers.offline import OfflineProvider\n"
        "from luminora_nb.providers.base import ChatRequest\n"
        "from luminora_nb.types import ChatMessage, ProviderConfig\n"
        "d = get_builtin('aurora').definition\n"
        "p = OfflineProvider(ProviderConfig(name='offline'))\n"
        "out = [asyncio.run(p.chat(ChatRequest(messages=[ChatMessage(role='user', content=t)], persona=d)))"
        ".content for t in json.loads(sys.argv[1])]\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script, json.dumps(texts)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    here = [
        (
            await provider.chat(ChatRequest(messages=[ChatMessage(role="user", content=t)], persona=AURORA))
        ).content
        for t in texts
    ]
    assert json.loads(done.stdout) == here


async def test_turn_number_changes_the_variant_deterministically(provider: OfflineProvider) -> None:
    outs = {await reply(provider, "Tell me about volcanoes.", turn_index=i) for i in range(8)}
    assert len(outs) > 1  # the number of earlier turns is part of the seed
    again = {await reply(provider, "Tell me about volcanoes.", turn_index=i) for i in range(8)}
    assert outs == again


async def test_temperature_only_selects_deterministic_variants(provider: OfflineProvider) -> None:
    greedy = [await reply(provider, t, params={"temperature": 0}) for t in QUESTIONS]
    assert greedy == [await reply(provider, t, params={"temperature": 0}) for t in QUESTIONS]
    warm = [await reply(provider, t, params={"temperature": 0.9}) for t in QUESTIONS]
    assert warm == [await reply(provider, t, params={"temperature": 0.9}) for t in QUESTIONS]
    assert greedy != warm
    # temperature 0 takes the first variant: the first greeting trigger, every turn
    for turn in range(4):
        out = await reply(provider, "Hello!", params={"temperature": 0}, turn_index=turn)
        assert out.startswith(AURORA.trigger_responses.on_greeting[0])


def test_names_of_the_single_module_simulator_still_import() -> None:
    assert (
        WORDING.style.hedges,
        WORDING.style.humour,
        WORDING.style.metaphors,
    ) == (_HEDGE, _HUMOUR, _METAPHOR)


# -- memory of the conversation ----------------------------------------------------------


async def test_name_from_history_is_used_later(provider: OfflineProvider) -> None:
    history = (("user", "Hi! My name is Sam."), ("assistant", "Nice to meet you, Sam."))
    greeting = await reply(provider, "Hello again!", history=history)
    assert "Sam" in greeting
    thanks = await reply(provider, "Thanks for that.", history=history)
    assert "Sam" in thanks
    farewell = await reply(provider, "Bye!", history=history)
    assert "Sam" in farewell
    assert "Sam" not in await reply(provider, "Hello again!")


async def test_user_name_from_context_wins_over_history(provider: OfflineProvider) -> None:
    history = (("user", "My name is Sam."), ("assistant", "Hi Sam."))
    out = await reply(provider, "Hello!", history=history, user_name="Ada")
    assert "Ada" in out and "Sam" not in out
    odd = await reply(provider, "Hello!", user_name=r"Dr. \1 {topic}")
    assert r"Dr. \1 {topic}" in odd  # names are data, never a pattern or a template


async def test_earlier_statements_and_context_facts_are_recalled(provider: OfflineProvider) -> None:
    history = (("user", "I love jazz music."), ("assistant", "Good to know."))
    out = await reply(provider, "Who invented jazz?", history=history)
    assert "you love jazz music" in out
    facts = await reply(provider, "How do I tune a violin?", facts=["plays the violin in an orchestra"])
    assert "plays the violin in an orchestra" in facts


# -- streaming and limits ----------------------------------------------------------------


async def test_stream_concatenation_equals_chat(provider: OfflineProvider) -> None:
    for text in (*QUESTIONS, "Hello!", "I feel sad.", "Bye!"):
        req = request(text)
        whole = await provider.chat(req)
        chunks = [c async for c in provider.stream(req)]
        assert "".join(c.content for c in chunks) == whole.content
        assert len(chunks) == len(whole.content.split(" "))
        for chunk in chunks[:-1]:
            assert chunk.finish_reason is None and not chunk.usage
            assert chunk.content.endswith(" ") and " " not in chunk.content[:-1]
        assert chunks[-1].finish_reason == "stop"
        assert chunks[-1].usage == whole.usage
        assert "latency_ms" in chunks[-1].metadata


async def test_max_tokens_cuts_with_length(provider: OfflineProvider) -> None:
    full = await provider.chat(request("Why is the sky blue?"))
    cut = await provider.chat(request("Why is the sky blue?", params={"max_tokens": 7}))
    assert cut.finish_reason == "length"
    assert cut.usage["completion_tokens"] == 7 == count_tokens(cut.content)
    assert full.content.startswith(cut.content)
    streamed = [c async for c in provider.stream(request("Why is the sky blue?", params={"max_tokens": 7}))]
    assert "".join(c.content for c in streamed) == cut.content and streamed[-1].finish_reason == "length"
    roomy = await provider.chat(request("Why is the sky blue?", params={"max_tokens": 10_000}))
    assert roomy.content == full.content and roomy.finish_reason == "stop"


async def test_max_tokens_from_the_config() -> None:
    limited = OfflineProvider(ProviderConfig(name="offline", extra={"max_tokens": 3}))
    out = await limited.chat(request("Why is the sky blue?"))
    assert out.finish_reason == "length" and out.usage["completion_tokens"] == 3


async def test_stop_sequence_cuts_before_it(provider: OfflineProvider) -> None:
    full = (await provider.chat(request("Why is the sky blue?"))).content
    out = await provider.chat(request("Why is the sky blue?", params={"stop": ["."]}))
    assert out.content == full[: full.index(".")].rstrip() and out.finish_reason == "stop"


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"max_tokens": "ten"}, "max_tokens must be a positive integer"),
        ({"temperature": -1}, "temperature must lie between 0 and 2"),
        ({"temperature": "hot"}, "temperature must be a finite number"),
        ({"stop": 5}, "stop must be a string or a list of strings"),
    ],
)
async def test_bad_generation_parameters(
    provider: OfflineProvider, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProviderBadRequestError, match=message):
        await provider.chat(request("Hi", params=params))


def test_bad_config_extra_fails_at_creation() -> None:
    with pytest.raises(ProviderBadRequestError, match="temperature"):
        OfflineProvider(ProviderConfig(name="offline", extra={"temperature": 5}))


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"parameters": {"verbosity": "loud"}},
            r"context\['parameters'\]\['verbosity'\] must be a finite number",
        ),
        ({"parameters": {"loudness": 0.5}}, r"unknown parameter\(s\) \['loudness'\]"),
        ({"parameters": [0.5]}, "must map parameter names"),
        ({"facts": "likes tea"}, "must be a list of strings"),
        ({"user_name": 42}, "must be a string"),
    ],
)
async def test_bad_context(provider: OfflineProvider, context: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderBadRequestError, match=message):
        await provider.chat(request("Hi", **context))


async def test_request_must_end_with_a_user_message(provider: OfflineProvider) -> None:
    with pytest.raises(ProviderBadRequestError, match="must end with a user message.*'assistant'"):
        await provider.chat(ChatRequest(messages=[ChatMessage(role="assistant", content="Hi")]))
    with pytest.raises(ProviderBadRequestError, match="no messages"):
        await provider.chat(ChatRequest(messages=[]))
    with pytest.raises(ProviderBadRequestError):
        _ = [c async for c in provider.stream(ChatRequest(messages=[]))]


async def test_closed_provider_refuses(provider: OfflineProvider) -> None:
    await provider.aclose()
    await provider.aclose()  # twice is fine
    with pytest.raises(ProviderError, match="closed"):
        await provider.chat(request("Hi"))


# -- any input ---------------------------------------------------------------------------

_PROVIDER = OfflineProvider(ProviderConfig(name="offline"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=200), verbosity=st.floats(0, 1), formality=st.floats(0, 1))
def test_any_message_gets_a_deterministic_streamable_reply(
    text: str, verbosity: float, formality: float
) -> None:
    params = {**AURORA.advanced_parameters.as_dict(), "verbosity": verbosity, "formality": formality}
    req = ChatRequest(
        messages=[ChatMessage(role="user", content=text)], persona=AURORA, context={"parameters": params}
    )

    async def run() -> tuple[ChatResponse, ChatResponse, list[ChatResponse]]:
        return await _PROVIDER.chat(req), await _PROVIDER.chat(req), [c async for c in _PROVIDER.stream(req)]

    first, second, chunks = asyncio.run(run())
    assert first.content and first.content == second.content
    assert "".join(c.content for c in chunks) == first.content
    assert "  " not in first.content and first.content == first.content.strip()
    assert first.usage["completion_tokens"] == count_tokens(first.content)
