"""Fact extraction: what a user message says about the user, and how facts are merged.

**One interface.** Every extractor is a :class:`FactExtractor`: ``extract(message)``
(synchronous; the rule-based extractor) or ``await aextract(message)`` (every extractor;
the LLM extractor of :mod:`luminora_nb.memory.llm_extractor` is asynchronous only). Both
return an :class:`ExtractionResult`: the facts, the episodes when the extractor finds
those too (the LLM one does), and, when extraction failed, ``failed=True`` with the raw
output and the error, so a failure is reported, never silently dropped.

**The rules extractor** (:class:`RulesFactExtractor`, the offline default) reads English
first-person statements with regular expressions. Each fact has a category (one of
:data:`~luminora_nb.types.memory.FACT_CATEGORIES`), a ``key``, a ``value``, a
``confidence`` (0..1) and a :class:`~luminora_nb.types.memory.MessageRef` to the message
(id, index and the sentence it was read in). What it reads:

================  ==========================================================================
category          keys (value)
================  ==========================================================================
personal_info     ``name``, ``nickname``, ``age`` (int), ``birth_year`` (int), ``location``,
                  ``hometown``, ``nationality``, ``languages`` (list), ``birthday``
work              ``job``, ``employer``, ``field``, ``workplace``, ``studies``,
                  ``employment_status``
relationships     ``partner``, ``sister``, ``brother``, ``son``, ``daughter``, ``children``,
                  ``mother``, ``father``, ... (a name, or a list of names);
                  ``number_of_<relatives>`` (int), ``marital_status``,
                  ``pet_<kind>`` (the pet's name, or the kind when unnamed)
preferences       ``<thing>`` (``likes`` / ``dislikes``), ``favorite_<thing>``, ``diet``
hobbies           ``<activity>`` (the activity)
goals             ``<goal>`` (the goal, as said: ``run a marathon``)
health            ``allergy_<x>``, ``condition_<x>``, ``injury``
events            ``engagement``, ``wedding``, ``graduation``, ``new_job``, ``promotion``,
                  ``job_loss``, ``move``, ``new_baby``, ``breakup``, ``divorce``,
                  ``retirement``, ``loss_<who>``, ``accident``, ``hospital``, ``birthday``,
                  ``upcoming_<exam|interview|...>`` (what happened, with when if said)
other             ``feeling`` (only kept when ``MemoryConfig.track_emotions``), ``car``
================  ==========================================================================

It never learns from questions, hypotheticals, wishes or other people's words
(:mod:`._text`), and it reads negation: ``I don't like jazz`` is a dislike of jazz;
``I'm not a doctor``, ``I don't have a dog`` teach nothing; ``I have no kids`` is
``number_of_kids = 0``. Hedged sentences (``I think``, ``maybe``) get 0.75 x the
confidence.

**Merging** (:func:`merge_fact`): a fact is identified by ``(category, key)``. A new
value replaces the old one, which moves to the fact's ``history`` (oldest first, at most
``history_limit`` entries); the same value again confirms the fact (confidence
``1 - (1 - old) * (1 - new)``, at most 0.99) without a history entry. Because a
preference's key is the thing itself, ``I don't like jazz`` after ``I love jazz`` turns
``preferences/jazz`` from ``likes`` to ``dislikes``, the like kept in its history.

Example:
    >>> [(f.category, f.key, f.value) for f in extract_facts("Hi, I'm Diego and I don't like jazz.")]
    [('personal_info', 'name', 'Diego'), ('preferences', 'jazz', 'dislikes')]
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel

from ..errors import SessionError, shown
from ..types._base import utcnow
from ..types.memory import (
    FACT_CATEGORIES,
    DetectedEpisode,
    ExtractedFact,
    Fact,
    FactCategory,
    FactRevision,
    MessageRef,
    check_user_id,
)
from ._fact_vocab import _RULES
from ._rules_life import _event_rule
from ._text import statements

__all__ = [
    "CATEGORY_ALIASES",
    "ExtractionResult",
    "FactExtractor",
    "FactUpdate",
    "RulesFactExtractor",
    "as_memory",
    "extract_facts",
    "fact_identity",
    "kept_categories",
    "merge_fact",
    "merge_facts",
    "persona_categories",
]

#: A memory model: a stored fact or episode.
MemoryT = TypeVar("MemoryT", bound=BaseModel)

HEDGE_FACTOR = 0.75
DEFAULT_HISTORY_LIMIT = 20

#: What the custom ``fact_categories`` of personas mean in the fact categories: a persona
#: listing ``tech_stack`` attends to ``work`` facts. A name that is neither a category
#: nor an alias selects nothing.
CATEGORY_ALIASES: dict[str, tuple[FactCategory, ...]] = {
    "systems": ("work",),
    "tech_stack": ("work",),
    "projects": ("work",),
    "career": ("work",),
    "education": ("work",),
    "skills": ("hobbies", "work"),
    "interests": ("hobbies",),
    "schedule": ("events",),
    "memories": ("events",),
    "life_events": ("events",),
    "travel_history": ("events", "hobbies"),
    "plans": ("goals",),
    "contacts": ("relationships",),
    "family": ("relationships",),
    "pets": ("relationships",),
    "opinions": ("preferences",),
    "beliefs": ("preferences",),
    "diet": ("preferences", "health"),
    "personal": ("personal_info",),
    "location": ("personal_info",),
    "emotions": ("other",),
    "feelings": ("other",),
}


@dataclass(frozen=True)
class ExtractionResult:
    """What an extractor read from one message.

    Attributes:
        facts: The facts, in message order (one per ``(category, key)``: the last wins).
        episodes: Episodes the extractor found itself (the LLM extractor); the rules
            extractor leaves this empty (see :mod:`luminora_nb.memory.episodes`).
        extractor: The extractor's name (``rules``, ``llm``).
        failed: Whether extraction failed; ``facts`` and ``episodes`` are then empty.
        raw: The extractor's raw output when it failed (the LLM's last reply text).
        error: Why it failed.
        attempts: How many tries it took (the LLM extractor retries once).
    """

    facts: tuple[ExtractedFact, ...] = ()
    episodes: tuple[DetectedEpisode, ...] = ()
    extractor: str = "rules"
    failed: bool = False
    raw: str | None = None
    error: str | None = None
    attempts: int = 1


class FactExtractor(abc.ABC):
    """Reads facts (and perhaps episodes) from one user message.

    Synchronous extractors implement :meth:`extract`; asynchronous ones set
    ``is_async = True`` and override :meth:`aextract` (their :meth:`extract` raises).
    """

    name: ClassVar[str] = ""
    is_async: ClassVar[bool] = False

    @abc.abstractmethod
    def extract(self, message: str, *, source: MessageRef | None = None) -> ExtractionResult:
        """The facts of ``message``; ``source`` says which message it is."""

    async def aextract(self, message: str, *, source: MessageRef | None = None) -> ExtractionResult:
        """The facts of ``message``, awaited (a synchronous extractor just runs)."""
        return self.extract(message, source=source)


def persona_categories(names: Iterable[str]) -> frozenset[FactCategory]:
    """The fact categories a persona's ``fact_categories`` select (aliases resolved).

    Example:
        >>> sorted(persona_categories(["work", "tech_stack", "diet", "astrology"]))
        ['health', 'preferences', 'work']
    """
    out: set[FactCategory] = set()
    for name in names:
        if name in FACT_CATEGORIES:
            out.add(name)
        else:
            out.update(CATEGORY_ALIASES.get(name, ()))
    return frozenset(out)


def kept_categories(preferences: Any) -> frozenset[FactCategory]:
    """The fact categories a persona's ``memory_preferences`` keep.

    The default ``fact_categories`` list every category; ``None`` (no preferences) keeps
    every category too.

    Example:
        >>> from luminora_nb.types.persona import MemoryPreferences
        >>> len(kept_categories(MemoryPreferences()))
        9
        >>> sorted(kept_categories(MemoryPreferences(fact_categories=["diet"])))
        ['health', 'preferences']
    """
    if preferences is None:
        return frozenset(FACT_CATEGORIES)
    return persona_categories(preferences.fact_categories)


# -- the extractor ------------------------------------------------------------------------------


def _run_rules(message: str, source: MessageRef | None, extractor: str) -> tuple[ExtractedFact, ...]:
    found: dict[tuple[str, str], ExtractedFact] = {}
    for st in statements(message):
        lowered = st.text.lower()
        factor = HEDGE_FACTOR if st.hedged else 1.0
        ref = (
            MessageRef(message_id=source.message_id, message_index=source.message_index, text=st.sentence)
            if source is not None
            else MessageRef(text=st.sentence)
        )

        def add(category: FactCategory, key: str, value: Any, confidence: float) -> None:
            key = key[:64].strip("_")
            if not key:
                return
            fact = ExtractedFact.model_construct(
                category=category,
                key=key,
                value=value,
                confidence=round(confidence * factor, 3),  # noqa: B023 - used at once
                source=ref,  # noqa: B023
                extractor=extractor,
            )
            found.pop((category, key), None)  # the last statement wins, in message order
            found[(category, key)] = fact

        for rule in _RULES:
            if rule.needs and not any(n in lowered for n in rule.needs):
                continue
            for match in rule.pattern.finditer(st.text):
                rule.apply(match, st, add)
        _event_rule(st, add)
    return tuple(found.values())


class RulesFactExtractor(FactExtractor):
    """The offline rule-based extractor (see the module docstring).

    Example:
        >>> result = RulesFactExtractor().extract("My sister Ana lives in Rome.")
        >>> [(f.key, f.value) for f in result.facts]
        [('sister', 'Ana')]
    """

    name: ClassVar[str] = "rules"

    def extract(self, message: str, *, source: MessageRef | None = None) -> ExtractionResult:
        """The facts of ``message``.

        Raises:
            SessionError: ``message`` is not a string.
        """
        if not isinstance(message, str):
            raise SessionError(f"message must be a string, got {type(message).__name__}")
        return ExtractionResult(facts=_run_rules(message, source, self.name), extractor=self.name)


def extract_facts(message: str, *, source: MessageRef | None = None) -> list[ExtractedFact]:
    """The facts of ``message`` read by the rules extractor.

    Example:
        >>> [(f.key, f.value) for f in extract_facts("I'm 34 and I work as a nurse.")]
        [('age', 34), ('job', 'nurse')]
    """
    return list(RulesFactExtractor().extract(message, source=source).facts)


# -- merging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactUpdate:
    """The result of merging one extracted fact into memory.

    Attributes:
        fact: The fact to store.
        change: ``new`` (not known before), ``updated`` (a new value; the previous one is
            in ``fact.history``) or ``confirmed`` (the same value again).
        previous_value: The value before an update.
    """

    fact: Fact
    change: Literal["new", "updated", "confirmed"]
    previous_value: Any = None

    @property
    def is_news(self) -> bool:
        """Whether something was learned (``new`` or ``updated``): worth an event."""
        return self.change != "confirmed"


def fact_identity(fact: Fact | ExtractedFact | Mapping[str, Any]) -> tuple[str, str]:
    """``(category, key)``: what identifies a fact of a user.

    Example:
        >>> fact_identity({"category": "personal_info", "key": "name", "value": "Ana"})
        ('personal_info', 'name')
    """
    if isinstance(fact, Mapping):
        return str(fact["category"]), str(fact["key"])
    return fact.category, fact.key


def _same_value(a: Any, b: Any) -> bool:
    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.casefold().split())
        if isinstance(value, list | tuple):
            return sorted(str(norm(v)) for v in value)
        return value

    return bool(norm(a) == norm(b))


def as_memory(model: type[MemoryT], item: MemoryT | Mapping[str, Any], what: str) -> MemoryT:
    """``item`` as a ``model`` (a stored fact or episode comes back from storage as a dict).

    Raises:
        SessionError: ``item`` is not a valid ``model`` (``what`` names it in the message).

    Example:
        >>> as_memory(Fact, {"user_id": "u", "category": "work", "key": "job", "value": "nurse"}, "fact").key
        'job'
    """
    if isinstance(item, model):
        return item
    try:
        return model.model_validate(dict(item))
    except Exception as exc:
        raise SessionError(f"not a valid {what}: {shown(dict(item))} ({exc})") from None


def merge_fact(
    existing: Fact | Mapping[str, Any] | None,
    new: ExtractedFact,
    *,
    user_id: str,
    session_id: str | None = None,
    now: datetime | None = None,
    history_limit: int = DEFAULT_HISTORY_LIMIT,
) -> FactUpdate:
    """Merge ``new`` into the ``existing`` fact of the same ``(category, key)``.

    A different value replaces the existing one, which is appended to ``history``
    (trimmed to the newest ``history_limit``); the same value confirms the fact.

    Raises:
        SessionError: ``user_id`` is not a non-empty string, ``existing`` is another
            fact (another category or key) or not a valid fact.

    Example:
        >>> old = merge_fact(None, ExtractedFact(category="preferences", key="jazz", value="likes",
        ...                  confidence=0.9), user_id="u1").fact
        >>> update = merge_fact(old, ExtractedFact(category="preferences", key="jazz",
        ...                     value="dislikes", confidence=0.8), user_id="u1")
        >>> update.change, update.fact.value, [r.value for r in update.fact.history]
        ('updated', 'dislikes', ['likes'])
    """
    user_id = check_user_id(user_id)
    when = now or utcnow()
    if existing is None:
        fact = Fact(
            user_id=user_id,
            category=new.category,
            key=new.key,
            value=new.value,
            confidence=new.confidence,
            session_id=session_id,
            source_message=new.source.text if new.source else None,
            created_at=when,
            updated_at=when,
            source=new.source,
        )
        return FactUpdate(fact=fact, change="new")
    old = as_memory(Fact, existing, "fact")
    if fact_identity(old) != fact_identity(new):
        raise SessionError(f"cannot merge fact {fact_identity(new)} into another fact {fact_identity(old)}")
    common: dict[str, Any] = {
        "updated_at": when,
        "source": new.source,
        "source_message": new.source.text if new.source else old.source_message,
        "session_id": session_id or old.session_id,
    }
    if _same_value(old.value, new.value):
        confidence = min(0.99, 1.0 - (1.0 - old.confidence) * (1.0 - new.confidence))
        confidence = max(confidence, old.confidence, new.confidence)
        fact = old.model_copy(update={**common, "confidence": round(confidence, 3)})
        return FactUpdate(fact=fact, change="confirmed", previous_value=old.value)
    revision = FactRevision(
        value=old.value, confidence=old.confidence, source=old.source, updated_at=old.updated_at
    )
    history = [*old.history, revision][-max(0, history_limit) :] if history_limit > 0 else []
    fact = old.model_copy(
        update={**common, "value": new.value, "confidence": new.confidence, "history": history}
    )
    return FactUpdate(fact=fact, change="updated", previous_value=old.value)


def merge_facts(
    known: Iterable[Fact | Mapping[str, Any]],
    extracted: Iterable[ExtractedFact],
    *,
    user_id: str,
    session_id: str | None = None,
    now: datetime | None = None,
    history_limit: int = DEFAULT_HISTORY_LIMIT,
) -> list[FactUpdate]:
    """Merge each extracted fact into the known fact of the same ``(category, key)``.

    Facts of one message with the same identity merge in order (the last value wins).

    Example:
        >>> updates = merge_facts([], extract_facts("I live in Oslo. I live in Bergen."), user_id="u1")
        >>> [(u.change, u.fact.value) for u in updates]
        [('new', 'Bergen')]
    """
    current: dict[tuple[str, str], Fact | Mapping[str, Any]] = {fact_identity(f): f for f in known}
    updates: dict[tuple[str, str], FactUpdate] = {}
    for fact in extracted:
        identity = fact_identity(fact)
        update = merge_fact(
            current.get(identity),
            fact,
            user_id=user_id,
            session_id=session_id,
            now=now,
            history_limit=history_limit,
        )
        first = updates.get(identity)
        if first is not None and first.change == "new":
            update = FactUpdate(fact=update.fact.model_copy(update={"history": []}), change="new")
        current[identity] = update.fact
        updates[identity] = update
    return list(updates.values())
