"""The offline provider: a deterministic persona simulator, **not a language model**.

``ProviderConfig(name="offline")`` is the embedded default of luminora_nb. It needs no
API key and no network, and it answers in microseconds, so notebooks, tests and
benchmarks run anywhere and give the same output every time.

It does not understand language and knows no facts. It recognises a few intents in the
user's message with regular expressions (greeting, farewell, thanks, a question, success,
a mistake or complaint, confusion, statements about the user such as "my name is Sam",
"I love jazz", "I work as a nurse", "I feel tired", and everything else as a plain
statement) and composes a reply from templates shaped by the persona definition:
trigger responses, vocabulary and fillers, the six advanced parameters (verbosity,
formality, humor, empathy, directness, creativity), punctuation and communication
style, safety guards, the current mood and relationship level, and what the user said
earlier in the conversation.

Questions are answered around their topic words ("On speed of light, ..."): the
simulator echoes the topic, it cannot say anything true about it. Replies never claim
to be a simulation; this docstring is where that is said.

Every choice is drawn from a hash of the turn's inputs: same input, same output, in
any process; ``temperature=0`` always takes the first, most characteristic variant.

One module per concern, each documenting its rules:

* :mod:`~luminora_nb.providers.offline.analysis`: what a user message is doing (its
  :data:`~.analysis.Intent`), its topic, and what it says about the user (pure, cached);
* :mod:`~luminora_nb.providers.offline.profile`: what the composer needs from a persona
  definition, cached on the definition's content;
* :mod:`~luminora_nb.providers.offline.wording`: the sentences the simulator writes
  itself, as data in ``luminora_nb/personality/wording/*.json``, loaded once, and the
  register (contractions);
* :mod:`~luminora_nb.providers.offline.composer`: builds the reply (every rule of the
  parameters, styles, memory and mood), and the deterministic choices;
* :mod:`~luminora_nb.providers.offline.provider`: :class:`OfflineProvider` (chat and
  stream, generation parameters, token counts, simulated latency).

Imports point one way: analysis needs none of the others; profile and wording need only
analysis; composer needs those three; provider needs all four.

Example:
    >>> import asyncio
    >>> from luminora_nb.providers.base import ChatRequest
    >>> from luminora_nb.types import ChatMessage, ProviderConfig
    >>> provider = OfflineProvider(ProviderConfig(name="offline"))
    >>> request = ChatRequest(messages=[ChatMessage(role="user", content="Hello!")], persona_name="Guide")
    >>> reply = asyncio.run(provider.chat(request))
    >>> reply.content == asyncio.run(provider.chat(request)).content, reply.finish_reason
    (True, 'stop')
"""

from __future__ import annotations

from .provider import TOKEN_PATTERN, OfflineProvider, count_tokens
from .wording import WORDING

__all__ = ["TOKEN_PATTERN", "OfflineProvider", "count_tokens"]

# Names of the single-module simulator that code and tests still import from here.
_HEDGE = WORDING.style.hedges
_HUMOUR = WORDING.style.humour
_METAPHOR = WORDING.style.metaphors
