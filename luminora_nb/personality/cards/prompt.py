"""Compile a card personality's prompt for one turn: system prompt, lore, post-history.

The prompt of a card is built in this order:

1. the main prompt: the card's ``system_prompt`` with ``{{original}}`` replaced by the
   prompt we compile for its persona definition (traits, parameters, relationship
   level, mood, memories); the compiled prompt itself when ``system_prompt`` is empty
   (the V2 spec's "internal fallback");
2. lore entries placed ``before_char`` (see :mod:`.lorebook`);
3. the character definition: description, personality, scenario;
4. lore entries placed ``after_char``;
5. the example dialogue (``mes_example``, ``<START>`` shown as a new conversation) and
   the greeting the conversation opened with (``first_mes``).

Every card text has its macros substituted (:mod:`.macros`) with the card's name and
the user's name (``turn.context["user_name"]`` in a session, else ``"User"``).

``post_history_instructions`` go after the history (:data:`POST_HISTORY_PLACEMENT`):

* ``openai``: a last ``system`` message after the user's message (the Chat
  Completions API accepts system messages anywhere);
* every other provider: appended to the end of the system prompt, under a heading —
  ``anthropic`` and ``google`` have no system role inside the conversation, Mistral's
  API refuses a conversation that ends on a system message, Cohere and the
  OpenAI-compatible local servers (``llama``: llama.cpp, Ollama) apply chat templates
  that may reject or misplace a system message after the first, and the ``offline``
  simulator answers the last user message.

Example:
    >>> from luminora_nb.personality.cards import import_card
    >>> p = import_card({"spec": "chara_card_v2", "data": {"name": "Mira",
    ...     "description": "{{char}} maps {{user}}'s dreams.",
    ...     "post_history_instructions": "Stay in character."}})
    >>> system, after = card_turn_prompt(p, history=[], user_message="hi", provider="openai", user_name="Sam")
    >>> "Mira maps Sam's dreams." in system, after[0].role, after[0].content
    (True, 'system', 'Stay in character.')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from ...types.persona import Examples, PersonaDefinition
from ...types.provider import ChatMessage
from ..compile import PromptState, compile_prompt
from . import CARD_METADATA_KEY
from .lorebook import LoreEntry, lorebook_for
from .macros import DEFAULT_USER_NAME, render
from .reader import card_fields

if TYPE_CHECKING:
    from ...types.personality import PersonalityData

__all__ = [
    "CARD_METADATA_KEY",
    "POST_HISTORY_PLACEMENT",
    "card_of",
    "card_turn_prompt",
    "compile_card_prompt",
    "post_history_placement",
]

#: Providers that take ``post_history_instructions`` as a last system message; all
#: others get them appended to the system prompt (see the module docstring).
POST_HISTORY_PLACEMENT: dict[str, str] = {"openai": "message"}
_ORIGINAL = re.compile(r"\{\{\s*original\s*\}\}", re.I)
_START = re.compile(r"^\s*<start>\s*$", re.I | re.M)


def post_history_placement(provider: str | None) -> str:
    """``"message"`` (a last system message) or ``"system"`` (end of the system prompt).

    Example:
        >>> post_history_placement("openai"), post_history_placement("anthropic")
        ('message', 'system')
    """
    return POST_HISTORY_PLACEMENT.get(provider or "", "system")


def card_of(personality: PersonalityData) -> tuple[Mapping[str, Any], str] | None:
    """``(card fields, spec)`` of a personality imported from a card, else ``None``."""
    card = personality.metadata.get(CARD_METADATA_KEY) if personality.metadata else None
    if not isinstance(card, Mapping):
        return None
    spec = personality.metadata.get("card_spec")
    spec = spec if isinstance(spec, str) else "chara_card_v2"
    try:
        return card_fields(card, spec), spec
    except (KeyError, TypeError):
        return None


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def char_name(data: Mapping[str, Any]) -> str:
    """The name ``{{char}}`` stands for: V3's ``nickname`` when set, else ``name``."""
    return _text(data, "nickname").strip() or _text(data, "name").strip()


def _original_base(definition: PersonaDefinition) -> PersonaDefinition:
    # The card's own text (instructions) and examples are placed by the card sections.
    return definition.model_copy(update={"instructions": None, "examples": Examples()})


def _lore(entries: Sequence[LoreEntry], char: str, user: str) -> str:
    return "\n\n".join(render(e.content, char=char, user=user).strip() for e in entries)


def compile_card_prompt(
    data: Mapping[str, Any],
    definition: PersonaDefinition,
    *,
    messages: Sequence[str] = (),
    user_name: str = DEFAULT_USER_NAME,
    **state: Unpack[PromptState],
) -> tuple[str, str]:
    """``(system prompt, post-history instructions)`` of a card for the given recent messages.

    Args:
        data: The card's fields (``data`` of a V2/V3 card, the V1 card itself).
        definition: The persona definition imported with it.
        messages: The recent conversation, oldest first, the user's new message last;
            the lorebook scans it.
        user_name: What ``{{user}}`` stands for.
        state: Relationship level, affinity points, mood and memories, as for
            :func:`~luminora_nb.personality.compile.compile_prompt`.
    """
    char = char_name(data)

    def r(key: str) -> str:
        return render(_text(data, key), char=char, user=user_name).strip()

    original = compile_prompt(_original_base(definition), **state)
    override = _text(data, "system_prompt")
    if override.strip():
        rendered = render(override, char=char, user=user_name).strip()
        main = _ORIGINAL.sub(lambda _: original, rendered)
    else:
        main = original
    book = data.get("character_book")
    entries = lorebook_for(book).activate(messages) if isinstance(book, Mapping) else []
    before = _lore([e for e in entries if e.position == "before_char"], char, user_name)
    after = _lore([e for e in entries if e.position == "after_char"], char, user_name)
    parts = [main]
    if before:
        parts.append("Lore (background for this conversation):\n" + before)
    sheet = [
        f"{label}: {text}"
        for label, text in (
            ("Description", r("description")),
            ("Personality", r("personality")),
            ("Scenario", r("scenario")),
        )
        if text
    ]
    if sheet:
        parts.append(f"Character definition of {char}:\n" + "\n".join(sheet))
    if after:
        parts.append("Lore (background for this conversation):\n" + after)
    examples = r("mes_example")
    if examples:
        examples = _START.sub("(a new example conversation)", examples).strip()
        parts.append("Example dialogue (style reference only, not part of this conversation):\n" + examples)
    greeting = r("first_mes")
    if greeting:
        parts.append(f"The conversation opened with your greeting:\n{greeting}")
    return "\n\n".join(p for p in parts if p), r("post_history_instructions")


def card_turn_prompt(
    personality: PersonalityData,
    *,
    history: Sequence[str],
    user_message: str,
    provider: str | None,
    user_name: object = None,
    **state: Unpack[PromptState],
) -> tuple[str, list[ChatMessage]]:
    """The system prompt and the messages to send after the user's for one turn of a card.

    ``user_name`` is what ``{{user}}`` stands for; anything but a non-empty string (a
    turn extension's ``context["user_name"]`` may hold anything) means ``"User"``.

    Raises:
        ValueError: ``personality`` was not imported from a card.
    """
    found = card_of(personality)
    if found is None:
        raise ValueError(f"personality {personality.name!r} was not imported from a character card")
    data, _ = found
    from ..validate import definition_for  # local: validate imports the types only

    system, post = compile_card_prompt(
        data,
        definition_for(personality),
        messages=[*history, user_message],
        user_name=user_name.strip()
        if isinstance(user_name, str) and user_name.strip()
        else DEFAULT_USER_NAME,
        **state,
    )
    if not post:
        return system, []
    if post_history_placement(provider) == "message":
        return system, [ChatMessage.model_construct(role="system", content=post, name=None)]
    return f"{system}\n\nAfter the conversation so far, follow these instructions:\n{post}", []
