"""Character Cards in and out: V1, V2 and V3; JSON, PNG and CHARX.

Character Cards are how SillyTavern, RisuAI, Agnai, Chub and most character
repositories share personas (specs: "Character Card V2" by malfoyslastname,
"Character Card V3" by kwaroran). :func:`import_card` turns one into a
:class:`~luminora_nb.types.personality.PersonalityData` that loads, blends, chats and
exports like any persona; :func:`export_card` writes a personality (a blend included)
as a card again.

Containers (:mod:`.containers`, :mod:`.reader`):

* JSON: a V1 card (flat ``name``, ``description``, ``personality``, ``scenario``,
  ``first_mes``, ``mes_example``), or V2 / V3 (``spec`` ``chara_card_v2`` /
  ``chara_card_v3`` with the fields under ``data``);
* PNG: base64 card JSON in a ``tEXt`` chunk, ``chara`` (V1/V2) or ``ccv3`` (V3); with
  both, ``ccv3`` wins. Export writes ``chara`` for V2, and for V3 ``ccv3`` plus a V2
  backfill in ``chara`` (its ``creator_notes`` carry the spec's warning);
* CHARX: a zip with ``card.json`` at its root and the assets beside it.

Inputs are bounded: 32 MB per file, 8 MB of card JSON, 64 MB for a whole CHARX once
expanded (read in slices, so a zip bomb is refused, not inflated); anything else that
is not a card is a :class:`~luminora_nb.errors.PersonalityError` saying why.

Field mapping (card -> personality):

==============================  ==========================================================
card field                      where it goes
==============================  ==========================================================
``name`` (``nickname`` in V3)   ``name_override`` and ``persona.name``; the registry name
                                is its :func:`slug` (``"Captain Mira"`` -> ``captain_mira``)
``description``                 ``persona.description`` (its first 2,000 characters, cut
                                at a sentence), full text in the prompt's character
                                definition and in ``instructions`` (which blends carry)
``personality``, ``scenario``   the prompt's character definition and ``instructions``
``first_mes``,                  ``trigger_responses.on_greeting`` (first_mes first); the
``alternate_greetings``         prompt says the conversation opened with ``first_mes``
``mes_example``                 ``examples.sample_responses`` from the ``<START>`` blocks'
                                ``{{user}}:`` / ``{{char}}:`` lines; the whole dialogue in
                                the prompt as a style reference
``system_prompt``               replaces our compiled prompt, ``{{original}}`` standing
                                for it (:mod:`.prompt`)
``post_history_instructions``   after the history: a last system message or the end of
                                the system prompt, per provider (:mod:`.prompt`)
``character_book``              lore inserted when its keys occur in the recent messages
                                (:mod:`.lorebook`)
``tags``, ``creator``,          ``metadata`` (and ``persona.tags`` / ``author`` /
``character_version``           ``version`` where valid)
``creator_notes`` (and V3's     kept, never used in a prompt (the specs forbid it)
``creator_notes_multilingual``)
``extensions``, unknown fields  kept: the whole card is ``metadata["character_card"]``,
and everything else             exactly as read, and export writes it back unchanged
``assets`` (V3), the PNG        kept base64 in ``metadata["card_assets"]`` up to 4 MB
image, CHARX files              (a warning says when they are not); CHARX export
                                writes them back
==============================  ==========================================================

Macros (``{{char}}``, ``{{user}}``, ``<BOT>``, ``<USER>``, V3's CBS) are substituted at
compile time (:mod:`.macros`); in the stored definition (greetings, examples) with the
default user name ``"User"``.

Where we differ from a chat frontend, on purpose or for now: ``group_only_greetings``
(V3) are kept but unused (there are no group chats here); ``modification_date`` is not
rewritten on export, so an imported card exports byte-for-byte the same data; the
example dialogue is always in the prompt (the V1 spec lets a frontend prune it when the
context is full; our history is trimmed by ``max_history`` instead); V3 decorators
other than those :mod:`.lorebook` lists (``@@depth``, ``@@role``, ...) are stripped
and ignored, as the spec allows; a session starts with the user's message, so
``first_mes`` reaches the model as the greeting the conversation opened with. The
user's name for ``{{user}}`` is ``turn.context["user_name"]`` when a turn extension
sets it, else ``"User"``.

Traits: ``core_traits``, tone, syntax and the six ``advanced_parameters`` come from a
deterministic offline estimate over the card's text (:mod:`.estimate`), so a card
blends with our personas at once; ``traits=`` / ``parameters=`` override it (the
overrides travel in ``extensions["luminora_nb"]`` on export). A card we exported
carries its full definition there and comes back exactly.

The package loads its modules on first use, so the client (which checks every turn
for a card) pays nothing for it until a card is imported.

Example:
    >>> from luminora_nb.personality.cards import export_card, import_card
    >>> p = import_card({"spec": "chara_card_v2", "data": {"name": "Mira",
    ...     "description": "A cheerful cartographer.", "first_mes": "Hello, {{user}}!",
    ...     "extensions": {"depth_prompt": {"depth": 4}}}})
    >>> p.definition.trigger_responses.on_greeting
    ['Hello, User!']
    >>> export_card(p)["data"]["extensions"]
    {'depth_prompt': {'depth': 4}}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where a card personality keeps the card exactly as imported (in ``metadata``).
CARD_METADATA_KEY = "character_card"

if TYPE_CHECKING:
    from .convert import export_card, import_card, parse_examples, slug
    from .estimate import estimate_profile
    from .lorebook import DEFAULT_SCAN_DEPTH, Lorebook, approx_tokens
    from .macros import DEFAULT_USER_NAME, render
    from .prompt import (
        POST_HISTORY_PLACEMENT,
        card_of,
        card_turn_prompt,
        compile_card_prompt,
        post_history_placement,
    )

_LAZY = {
    "export_card": "convert",
    "import_card": "convert",
    "parse_examples": "convert",
    "slug": "convert",
    "estimate_profile": "estimate",
    "DEFAULT_SCAN_DEPTH": "lorebook",
    "Lorebook": "lorebook",
    "approx_tokens": "lorebook",
    "DEFAULT_USER_NAME": "macros",
    "render": "macros",
    "POST_HISTORY_PLACEMENT": "prompt",
    "card_of": "prompt",
    "card_turn_prompt": "prompt",
    "compile_card_prompt": "prompt",
    "post_history_placement": "prompt",
}

__all__ = [
    "CARD_METADATA_KEY",
    "DEFAULT_SCAN_DEPTH",
    "DEFAULT_USER_NAME",
    "POST_HISTORY_PLACEMENT",
    "Lorebook",
    "approx_tokens",
    "card_of",
    "card_turn_prompt",
    "compile_card_prompt",
    "estimate_profile",
    "export_card",
    "import_card",
    "parse_examples",
    "post_history_placement",
    "render",
    "slug",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
