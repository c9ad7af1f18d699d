"""The offline provider: the :class:`~luminora_nb.providers.base.Provider` face of the simulator.

:class:`OfflineProvider` turns a :class:`~luminora_nb.providers.base.ChatRequest` into a
reply: it checks the request, picks the persona profile (``request.persona``, else a
neutral profile named ``request.persona_name``), applies the effective parameters of
``context["parameters"]``, reads the conversation's memory (the user's name and what
they said about themselves in earlier user messages, ``context["user_name"]`` and
``context["facts"]``), seeds the turn's :class:`~.composer.Choices`, composes, and
then applies the generation parameters:

* ``stop`` (a string or a list of strings) cuts the reply before each stop sequence
  found, in the order given;
* ``max_tokens`` caps the reply at that many tokens (``finish_reason="length"``);
* ``temperature`` (0..2) picks among deterministic variants (0 = always the first);
* ``top_p`` is accepted and ignored: there is no sampling.

They come from ``ProviderConfig.extra`` overridden per call; bad values in the config
fail when the provider is created, not at the first turn.

Token counts use a simple documented tokenizer, :data:`TOKEN_PATTERN`: every run of
word characters is one token and so is every other non-space character. The prompt
counts the system prompt and every message.

Simulated timing, off by default (``ProviderConfig.extra``): ``latency`` seconds before
a reply (or its first chunk) and ``chunk_delay`` seconds between streamed chunks, each
0..60, so notebooks can show a reply being typed and tests can stop one midway.

Example:
    >>> count_tokens("Don't!")
    4
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any, ClassVar, Final

from ...errors import ProviderBadRequestError, ProviderError
from ...types.persona import PARAMETER_NAMES
from ...types.provider import ChatMessage, ChatResponse, ProviderConfig
from ..base import ChatRequest, Provider
from .analysis import Intent, analyse
from .composer import Choices, Composer, ConversationMemory
from .profile import PersonaProfile, neutral_profile, profile_for

__all__ = ["TOKEN_PATTERN", "OfflineProvider", "count_tokens"]

#: The documented tokenizer of the offline provider: one token per run of word
#: characters and one per other non-space character ("Don't!" -> ``Don``, ``'``, ``t``, ``!``).
TOKEN_PATTERN: Final = re.compile(r"\w+|[^\w\s]")

_PARAMETER_SET: Final = frozenset(PARAMETER_NAMES)
_CONTENT: Final = attrgetter("content")


@lru_cache(maxsize=8192)
def _count_piece(piece: str) -> int:
    return len(TOKEN_PATTERN.findall(piece))


@lru_cache(maxsize=1024)
def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` by :data:`TOKEN_PATTERN`.

    Tokens never span whitespace, so the text is counted line by line with a cache:
    a system prompt that changes in one line per turn costs one line's work, and an
    unchanged one costs a dictionary look-up.

    Example:
        >>> count_tokens("Hello, world! It's 9 o'clock.")
        12
    """
    if "\n" not in text:
        return _count_piece(text)
    return sum(_count_piece(line) for line in text.split("\n"))


def _bad_request(message: str) -> ProviderBadRequestError:
    return ProviderBadRequestError(f"offline provider: {message}", provider="offline")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad_request(f"{what} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    intent: Intent


def _memory_of(
    messages: Sequence[ChatMessage], context: Mapping[str, Any], prior_turns: int
) -> ConversationMemory:
    """What the conversation tells about the user, and the last reply.

    The name: the latest one given in an earlier user message, replaced by
    ``context["user_name"]`` when that is not blank, and by a name given in the new
    message above all. The facts: ``context["facts"]``, then what earlier user messages
    said, oldest first.
    """
    user_name: str | None = None
    facts: list[str] = []
    last_reply = ""
    for message in messages[:-1]:
        if message.role == "user":
            earlier = analyse(message.content).user
            if earlier.name:
                user_name = earlier.name
            if earlier.facts:
                facts.extend(earlier.facts)
        elif message.role == "assistant":
            last_reply = message.content
    given_name = context.get("user_name")
    if given_name is not None:
        if not isinstance(given_name, str):
            raise _bad_request(f"context['user_name'] must be a string, got {type(given_name).__name__}")
        user_name = given_name.strip() or user_name
    given_facts = context.get("facts")
    if given_facts is not None:
        if not isinstance(given_facts, list | tuple) or not all(
            isinstance(fact, str) for fact in given_facts
        ):
            raise _bad_request("context['facts'] must be a list of strings")
        facts = [*given_facts, *facts]
    current = analyse(messages[-1].content).user
    if current.name:
        user_name = current.name
    return ConversationMemory(user_name, facts, last_reply, prior_turns)


class OfflineProvider(Provider):
    """A deterministic persona simulator that answers without a network or an API key.

    It is not a language model: it recognises a handful of intents and composes the
    reply from the persona's trigger lines, vocabulary and fillers, shaped by the six
    advanced parameters (see :mod:`luminora_nb.providers.offline` for every rule). It uses
    ``request.persona`` when given, else a neutral profile named ``request.persona_name``
    described by the first line of ``request.system``; ``request.context`` may carry the
    effective ``parameters``, ``relationship_level``, ``affinity_points``, ``mood``,
    ``mood_intensity``, ``user_name``, ``facts`` and ``turn_index``.

    Generation parameters: ``max_tokens`` caps the reply (``finish_reason="length"``),
    ``stop`` (a string or a list of strings) cuts it before the first stop sequence,
    ``temperature`` picks among deterministic variants (0 = always the first), and
    ``top_p`` is accepted and ignored: there is no sampling.

    Simulated timing, off by default (``ProviderConfig.extra``): ``latency`` seconds
    before a reply (or its first chunk), and ``chunk_delay`` seconds between streamed
    chunks, so notebooks can show a reply being typed and tests can stop one midway.

    Example:
        >>> import asyncio
        >>> from luminora_nb.types import ChatMessage, ProviderConfig
        >>> provider = OfflineProvider(ProviderConfig(name="offline"))
        >>> req = ChatRequest(messages=[ChatMessage(role="user", content="My name is Sam.")])
        >>> "Sam" in asyncio.run(provider.chat(req)).content
        True
    """

    name: ClassVar[str] = "offline"
    default_model: ClassVar[str] = "luminora-sim-1"
    requires_api_key: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._closed = False
        # Bad generation parameters in config.extra fail at session creation, not at the first turn.
        self.config_params()
        extra = config.extra or {}
        self._latency = self._delay(extra.get("latency"), "latency")
        self._chunk_delay = self._delay(extra.get("chunk_delay"), "chunk_delay")

    @staticmethod
    def _delay(value: Any, what: str) -> float:
        if value is None:
            return 0.0
        seconds = _number(value, what)
        if not 0.0 <= seconds <= 60.0:
            raise _bad_request(f"{what} must lie between 0 and 60 seconds, got {value!r}")
        return seconds

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` with one complete, deterministic reply."""
        started = time.perf_counter()
        if self._latency:
            await asyncio.sleep(self._latency)
        reply = self._reply(request)
        return ChatResponse(
            content=reply.text,
            role="assistant",
            finish_reason=reply.finish_reason,
            usage=self._usage(reply),
            model=self.model,
            metadata={"latency_ms": (time.perf_counter() - started) * 1000.0, "intent": reply.intent},
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        """Answer ``request`` in word chunks (a word and its following space each).

        The concatenation of the chunks equals :meth:`chat`'s content; the last chunk
        carries ``finish_reason``, ``usage`` and ``metadata["latency_ms"]``.
        """
        started = time.perf_counter()
        if self._latency:
            await asyncio.sleep(self._latency)
        reply = self._reply(request)
        words = reply.text.split(" ")
        model = self.model
        for word in words[:-1]:
            yield ChatResponse(content=f"{word} ", model=model)
            await asyncio.sleep(self._chunk_delay)
        yield ChatResponse(
            content=words[-1],
            role="assistant",
            finish_reason=reply.finish_reason,
            usage=self._usage(reply),
            model=model,
            metadata={"latency_ms": (time.perf_counter() - started) * 1000.0, "intent": reply.intent},
        )

    async def aclose(self) -> None:
        """Mark the provider closed; it holds no connections. Safe to call twice."""
        self._closed = True

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _usage(reply: _Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    @staticmethod
    def _sampling(params: Mapping[str, Any]) -> tuple[int | None, float | None, tuple[str, ...]]:
        """``max_tokens``, ``temperature`` and the stop sequences of checked parameters."""
        temperature = params.get("temperature")
        return (
            params.get("max_tokens"),
            None if temperature is None else float(temperature),
            tuple(params.get("stop") or ()),
        )

    def _reply(self, request: ChatRequest) -> _Reply:
        if self._closed:
            raise ProviderError(
                "the offline provider was closed (aclose); create a new session or provider to keep chatting",
                provider="offline",
            )
        messages = request.messages
        if not messages or messages[-1].role != "user":
            got = "no messages" if not messages else f"a last message with role {messages[-1].role!r}"
            raise _bad_request(f"the request must end with a user message (the new turn); got {got}")
        # checked in the provider base, as for every adapter
        max_tokens, temperature, stops = self._sampling(self.generation_params(request))
        context = request.context or {}
        if request.persona is not None:
            profile = profile_for(request.persona)
        else:
            first_line = (request.system or "").strip().split("\n", 1)[0]
            persona_name = (request.persona_name or "").strip() or "Assistant"
            if persona_name.islower():  # a registry key such as "helpful_assistant" -> "Helpful Assistant"
                persona_name = persona_name.replace("_", " ").title()
            profile = neutral_profile(persona_name, first_line)
        params = self._parameters(profile, context)
        user_text = messages[-1].content
        turn_index = context.get("turn_index")
        prior_turns = (
            turn_index
            if isinstance(turn_index, int) and not isinstance(turn_index, bool)
            else sum(1 for message in messages[:-1] if message.role == "user")
        )
        choices = Choices.for_turn(profile.name, params, user_text, prior_turns, temperature)
        turn = analyse(user_text)
        memory = _memory_of(messages, context, prior_turns)
        text = " ".join(Composer(profile, params, turn, memory, context, choices).compose(user_text).split())
        finish = "stop"
        for stop in stops:
            cut = text.find(stop)
            if cut != -1:
                text = text[:cut].rstrip()
        text, completion, cut_short = self._cap(text, max_tokens)
        if cut_short:
            finish = "length"
        prompt = count_tokens(request.system) if request.system else 0
        prompt += sum(map(count_tokens, map(_CONTENT, messages)))  # C-level loops: long histories
        return _Reply(text, finish, prompt, completion, turn.intent)

    @staticmethod
    def _cap(text: str, max_tokens: int | None) -> tuple[str, int, bool]:
        """``text`` cut to ``max_tokens`` (inside a word if need be), its token count, whether cut."""
        words = text.split(" ") if text else []
        total = 0
        for position, word in enumerate(words):
            tokens = _count_piece(word)
            if max_tokens is not None and total + tokens > max_tokens:
                keep = max_tokens - total
                if keep == 0:
                    return " ".join(words[:position]), total, True
                ends = [match.end() for match in TOKEN_PATTERN.finditer(word)]
                return " ".join([*words[:position], word[: ends[keep - 1]]]), max_tokens, True
            total += tokens
        return text, total, False

    @staticmethod
    def _parameters(profile: PersonaProfile, context: Mapping[str, Any]) -> Mapping[str, float]:
        """The effective parameters: the profile's, overridden by ``context["parameters"]``."""
        given = context.get("parameters")
        if given is None:
            return profile.params
        if not isinstance(given, Mapping):
            raise _bad_request("context['parameters'] must map parameter names to numbers 0..1")
        if len(given) > len(PARAMETER_NAMES) or not _PARAMETER_SET.issuperset(given):
            unknown = sorted(set(given) - _PARAMETER_SET)
            raise _bad_request(
                f"unknown parameter(s) {unknown} in context['parameters']; "
                f"expected some of {list(PARAMETER_NAMES)}"
            )
        params = dict(profile.params)
        for key, value in given.items():
            if type(value) is not float or not 0.0 <= value <= 1.0:  # the client's own floats skip this
                value = min(1.0, max(0.0, _number(value, f"context['parameters'][{key!r}]")))
            params[key] = value
        return params
