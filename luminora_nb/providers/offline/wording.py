"""Wording tables: every sentence the offline simulator writes itself, kept as data.

The templates live in JSON files in ``luminora_nb/personality/wording/``, next to the
shipped personas, so they ship inside the package and can be read and edited without
touching code. They are loaded and validated once, on first import
(:data:`WORDING`); a missing table, an unknown key or an empty pool fails at import
with pydantic's message naming the file's model (``Replies`` for ``replies.json``, ...)
and the field.

=================  ====================================================================
file               tables
=================  ====================================================================
register.json      contractions (all, and the light set), salutations per register,
                   casual and formal sentence openers
replies.json       the core of a reply per question type and per intent, what is said
                   about the user, follow-up questions, fixed lines (self-introduction,
                   farewell by name, recalled facts)
style.json         empathy acknowledgements, humorous asides, metaphors, hedges, the
                   gentle-mood line, the mood names that count as energetic or gentle
closers.json       how a reply closes, per communication style: when explaining and when
                   chatting
elaborations.json  extra sentences that fill a verbose reply, per family, and the family
                   of each intent
=================  ====================================================================

Every table value is a pool of variants; the composer picks one deterministically
(the first at ``temperature=0``), so the order of a pool matters: the first variant is
the most characteristic. Templates are written in full forms ("it is", "let us");
:func:`in_register` contracts them for the register: all contractions when casual
(formality below 0.4), the light set ("it's", "let's", "I'm", "that's", "what's") when
neutral, none when formal (0.7 and above). ``{topic}``, ``{name}``, ``{obj}``,
``{what}``, ``{feeling}``, ``{fact}``, ``{forbidden}`` and ``{description}`` are filled
in by the composer.

Example:
    >>> WORDING.replies.core["thanks"][0]
    'You are welcome.'
    >>> in_register("It is what it is, and I am sure.", "casual")
    "It's what it's, and I'm sure."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...types.persona import CommunicationStyle
from .analysis import Intent, QuestionType

__all__ = [
    "WORDING",
    "WORDING_DIR",
    "Closers",
    "Elaborations",
    "Register",
    "RegisterWording",
    "Replies",
    "Style",
    "Variants",
    "Wording",
    "in_register",
    "load_wording",
]

#: Where the wording tables live: ``luminora_nb/personality/wording``.
WORDING_DIR: Final = Path(__file__).resolve().parents[2] / "personality" / "wording"

#: The register a reply is worded in, from the effective formality.
Register = Literal["casual", "neutral", "formal"]
#: A pool of variants of one line; never empty.
Variants = Annotated[tuple[str, ...], Field(min_length=1)]

# The keys each keyed table must have: exactly these, no more (the composer's contract).
CoreKey = Literal[
    "statement",
    "statement_bare",
    "success",
    "success_bare",
    "error",
    "error_bare",
    "confusion",
    "confusion_bare",
    "thanks",
    "thanks_casual",
    "thanks_formal",
    "how_are_you",
    "empty",
    "greeting",
    "farewell",
    "refuse",
]
AboutUserKey = Literal[
    "name",
    "name_formal",
    "love",
    "like",
    "hate",
    "identity",
    "work",
    "feel_negative",
    "feel_positive",
    "feel_neutral",
]
FollowUpKey = Literal["love", "like", "hate", "identity", "work", "how_are_you", "about_self", "thanks"]
LineKey = Literal["self_introduction", "farewell_with_name", "recall_told", "recall_known"]
EmpathyKey = Literal[
    "neg_high",
    "neg_mid",
    "neg_low",
    "pos_high",
    "pos_mid",
    "neutral_high",
    "question",
    "confusion",
    "error",
    "statement",
]
ElaborationFamily = Literal["explain", "chat", "greeting", "farewell", "success", "thanks", "self"]


class _Tables(BaseModel):
    """One wording file: a description for its readers, then the tables.

    ``exact_keys`` names, per keyed table, the Literal type whose values must be
    exactly that table's keys: the composer's contract with the data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    exact_keys: ClassVar[dict[str, Any]] = {}

    description: str

    @model_validator(mode="after")
    def _keys_are_exact(self) -> Self:
        for field, keys in self.exact_keys.items():
            expected, found = set(get_args(keys)), set(getattr(self, field))
            missing, unknown = sorted(expected - found), sorted(found - expected)
            if missing or unknown:
                raise ValueError(
                    f"{field}: keys must be exactly {sorted(expected)}; missing {missing}, unknown {unknown}"
                )
        return self


class RegisterWording(_Tables):
    """``register.json``: contractions, salutations and sentence openers."""

    exact_keys: ClassVar[dict[str, Any]] = {"salutations": Register}

    contractions: dict[str, str]
    light_contractions: tuple[str, ...]
    salutations: dict[str, str]
    casual_openers: Variants
    formal_openers: Variants

    @model_validator(mode="after")
    def _light_set_is_contracted(self) -> Self:
        unknown = sorted(set(self.light_contractions) - set(self.contractions))
        if unknown:
            raise ValueError(f"light_contractions {unknown} are not among the contractions")
        return self


class Replies(_Tables):
    """``replies.json``: what a reply says, per question type and intent."""

    exact_keys: ClassVar[dict[str, Any]] = {
        "questions": QuestionType,
        "core": CoreKey,
        "about_user": AboutUserKey,
        "follow_ups": FollowUpKey,
        "lines": LineKey,
    }

    questions: dict[str, Variants]
    core: dict[str, Variants]
    about_user: dict[str, Variants]
    follow_ups: dict[str, Variants]
    lines: dict[str, Variants]


class Style(_Tables):
    """``style.json``: empathy, humour, metaphors, hedges and mood."""

    exact_keys: ClassVar[dict[str, Any]] = {"empathy": EmpathyKey}

    empathy: dict[str, Variants]
    humour: Variants
    metaphors: Variants
    hedges: Variants
    gentle_mood_lines: Variants
    energetic_moods: frozenset[str]
    gentle_moods: frozenset[str]


class Closers(_Tables):
    """``closers.json``: the closing line per communication style."""

    exact_keys: ClassVar[dict[str, Any]] = {"explaining": CommunicationStyle, "chatting": CommunicationStyle}

    explaining: dict[str, Variants]
    chatting: dict[str, Variants]


class Elaborations(_Tables):
    """``elaborations.json``: sentences that fill a verbose reply."""

    exact_keys: ClassVar[dict[str, Any]] = {"families": ElaborationFamily, "family_of_intent": Intent}

    families: dict[str, Variants]
    family_of_intent: dict[str, str]

    @model_validator(mode="after")
    def _families_exist(self) -> Self:
        unknown = sorted(set(self.family_of_intent.values()) - set(self.families))
        if unknown:
            raise ValueError(f"family_of_intent names unknown families {unknown}")
        return self


_TablesT = TypeVar("_TablesT", bound=_Tables)


@dataclass(frozen=True, slots=True)
class Wording:
    """All the wording tables, one attribute per file."""

    register: RegisterWording
    replies: Replies
    style: Style
    closers: Closers
    elaborations: Elaborations


def load_wording(directory: Path = WORDING_DIR) -> Wording:
    """Read and validate the wording files in ``directory``.

    Raises:
        pydantic.ValidationError: a file is not valid JSON or breaks its table's shape.
        OSError: a file is missing.
    """

    def read(model: type[_TablesT], name: str) -> _TablesT:
        return model.model_validate_json((directory / f"{name}.json").read_bytes())

    return Wording(
        register=read(RegisterWording, "register"),
        replies=read(Replies, "replies"),
        style=read(Style, "style"),
        closers=read(Closers, "closers"),
        elaborations=read(Elaborations, "elaborations"),
    )


#: The wording tables, loaded once.
WORDING: Final = load_wording()


def _contraction_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    longest_first = sorted(keys, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(key) for key in longest_first) + r")\b", re.IGNORECASE)


_CONTRACTIONS: Final = WORDING.register.contractions
_CONTRACT: Final[dict[str, re.Pattern[str]]] = {
    "casual": _contraction_pattern(tuple(_CONTRACTIONS)),
    "neutral": _contraction_pattern(WORDING.register.light_contractions),
}


def _contract(match: re.Match[str]) -> str:
    found = match.group(0)
    short = _CONTRACTIONS[found.lower()]
    return short[0].upper() + short[1:] if found[0].isupper() else short


@lru_cache(maxsize=2048)
def in_register(template: str, register: Register) -> str:
    """``template`` contracted for ``register`` (see the module docstring; cached).

    Example:
        >>> in_register("Let us see what is there.", "neutral")
        "Let's see what's there."
    """
    pattern = _CONTRACT.get(register)
    return template if pattern is None else pattern.sub(_contract, template)
