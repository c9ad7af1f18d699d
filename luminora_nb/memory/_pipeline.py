"""The memory and relationship pipeline of one user message, as one pure object.

:class:`MemoryPipeline` runs everything v1.1 learns from a user message, with no I/O:

1. sentiment (:mod:`.sentiment`, the lexicon scorer by default);
2. facts (:mod:`.facts`, the rules extractor by default, or any
   :class:`~.facts.FactExtractor` such as the LLM one), filtered by the settings below
   and merged into the user's known facts (:func:`~.facts.merge_facts`);
3. the episode (:mod:`.episodes`; the LLM extractor's own episodes when it gives them),
   and whether the persona keeps it;
4. the interaction type and its affinity change
   (:mod:`luminora_nb.relationship`);
5. the persona's next mood (:mod:`.mood`).

It returns a :class:`TurnLearning`; storing it and publishing events is the caller's
job (the v1.1 client's turn extension). For the next prompt,
:meth:`MemoryPipeline.prompt_memories` ranks what is remembered (:mod:`.ranking`).

**What the settings do** (the client-wide ``MemoryConfig`` and the persona's
``memory_preferences``):

* ``MemoryConfig.track_preferences`` (default on): keep ``preferences`` facts;
* ``MemoryConfig.track_topics`` (default on): keep ``hobbies`` facts (what the user
  spends time on);
* ``MemoryConfig.track_context`` (default on): keep ``events`` and ``goals`` facts
  (what is going on in the user's life);
* ``MemoryConfig.track_emotions`` (default **off**): keep the user's stated feelings
  as the fact ``other/feeling``; feelings are transient and sensitive, so they are not
  remembered unless asked. Sentiment itself is always scored: it drives affinity and
  mood, which are the persona's state, and is returned in every :class:`TurnLearning`;
* ``MemoryConfig.importance_threshold`` and ``decay_factor``: see :mod:`.ranking`
  (what reaches the prompt);
* ``MemoryConfig.enabled`` and ``max_entries`` govern the v1.0 key/value memory
  (``store_memory``) only; the pipeline does not read them;
* ``MemoryPreferences.remember_facts`` / ``remember_episodes``: off means no facts / no
  stored episodes (they are still read: a personal share still earns affinity);
* ``MemoryPreferences.fact_categories``: only facts of these categories are kept
  (custom names through :data:`~.facts.CATEGORY_ALIASES`); a persona that does not set
  it keeps every category, ``events`` and ``other`` included;
* ``MemoryPreferences.episode_min_importance``: episodes below it are detected but not
  stored (see :class:`~.episodes.EpisodeDetection`);
* ``MemoryPreferences.max_facts_in_prompt`` / ``max_episodes_in_prompt``: prompt caps.

**Defaults.** With no configuration at all (``MemoryConfig()`` and a persona without
v1.1 sections) the pipeline learns facts of the default categories, scores sentiment,
moves affinity by the default interaction points (capped at 10 per turn) and moves the
mood among the default mood and the fallback moods (``cheerful``, ``concerned``).

Example:
    >>> pipeline = MemoryPipeline()
    >>> learned = pipeline.analyse("Hi, I'm Diego! My dog Rex died yesterday, I'm heartbroken.",
    ...                            LearningState(user_id="u1"))
    >>> [(u.fact.key, u.fact.value, u.change) for u in learned.facts]
    [('name', 'Diego', 'new'), ('loss_dog', 'dog Rex died (yesterday)', 'new')]
    >>> learned.sentiment.label, learned.interaction.type, learned.affinity.points_after
    ('very_negative', 'personal_share', 4)
    >>> learned.stored_episode.title, learned.mood.mood
    ('Loss of a pet', 'concerned')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import SessionError, shown
from ..personality.validate import definition_for
from ..relationship.affinity import AffinityChange, check_points, interaction_change, starting_points
from ..relationship.interactions import Interaction, classify_interaction
from ..types._base import utcnow
from ..types.memory import DetectedEpisode, Episode, ExtractedFact, Fact, MessageRef, check_user_id
from ..types.persona import PersonaDefinition
from ..types.personality import PersonalityData
from ..types.session import MemoryConfig
from .episodes import EpisodeContext, EpisodeDetection, EpisodeDetector
from .facts import (
    DEFAULT_HISTORY_LIMIT,
    ExtractionResult,
    FactExtractor,
    FactUpdate,
    RulesFactExtractor,
    kept_categories,
    merge_facts,
)
from .mood import MoodStep, next_mood
from .ranking import MemorySelection, rank_memories
from .sentiment import LexiconSentimentScorer, SentimentResult, SentimentScorer

__all__ = ["LearningState", "MemoryPipeline", "SkippedFact", "TurnLearning"]


@dataclass(frozen=True)
class LearningState:
    """What the pipeline needs to know besides the message (the caller loads it).

    Attributes:
        user_id: The user (a non-empty string).
        session_id: The session, stamped on facts and episodes.
        turn_index: The message's index in the conversation (its source pointer).
        message_id: The message's id, if it has one.
        affinity_points: The current affinity; ``None`` for a new relationship (the
            persona's ``initial_points``).
        mood: The session's mood state (a :class:`~.mood.MoodStep`, the stored record,
            or ``None`` for the default mood).
        known_facts: The user's stored facts (models or dicts), for merging.
        now: The time of the message (now when ``None``).
    """

    user_id: str
    session_id: str | None = None
    turn_index: int | None = None
    message_id: str | None = None
    affinity_points: int | None = None
    mood: MoodStep | Mapping[str, Any] | None = None
    known_facts: Sequence[Fact | Mapping[str, Any]] = ()
    now: datetime | None = None


@dataclass(frozen=True)
class SkippedFact:
    """A fact read from the message but not kept, and why."""

    fact: ExtractedFact
    reason: str


@dataclass(frozen=True)
class TurnLearning:
    """Everything one user message taught.

    Attributes:
        sentiment: The message's sentiment.
        extraction: The extractor's result (``failed``/``raw``/``error`` when it failed:
            report it).
        fallback: The rules extractor's result when the primary extractor failed and the
            pipeline fell back to it.
        facts: The merged facts to store (``new``, ``updated`` or ``confirmed``).
        skipped_facts: Facts read but not kept (settings), with the reason.
        episode: The detected moment and whether it is kept.
        stored_episode: The episode to store (``None`` if none is kept).
        interaction: The message's interaction type and points.
        affinity: The affinity change (``None`` when the persona's affinity is off).
        mood: The persona's mood after the message.
    """

    sentiment: SentimentResult
    extraction: ExtractionResult
    fallback: ExtractionResult | None
    facts: tuple[FactUpdate, ...]
    skipped_facts: tuple[SkippedFact, ...]
    episode: EpisodeDetection
    stored_episode: Episode | None
    interaction: Interaction
    affinity: AffinityChange | None
    mood: MoodStep

    @property
    def new_facts(self) -> tuple[FactUpdate, ...]:
        """The facts that are news (``new`` or ``updated``): one ``FactLearned`` event each."""
        return tuple(u for u in self.facts if u.is_news)

    @property
    def extraction_failed(self) -> bool:
        """Whether the primary extractor failed (report ``extraction.raw`` and ``.error``)."""
        return self.extraction.failed


def _definition(personality: PersonalityData | PersonaDefinition | None) -> PersonaDefinition | None:
    if personality is None or isinstance(personality, PersonaDefinition):
        return personality
    if isinstance(personality, PersonalityData):
        return definition_for(personality)
    raise SessionError(
        "personality must be a PersonalityData, a PersonaDefinition or None, "
        f"got {type(personality).__name__}"
    )


def _skip_reason(
    fact: ExtractedFact, config: MemoryConfig, definition: PersonaDefinition | None
) -> str | None:
    category = fact.category
    if category == "preferences" and not config.track_preferences:
        return "MemoryConfig.track_preferences is off"
    if category == "hobbies" and not config.track_topics:
        return "MemoryConfig.track_topics is off"
    if category in ("events", "goals") and not config.track_context:
        return "MemoryConfig.track_context is off"
    if category == "other" and fact.key == "feeling" and not config.track_emotions:
        return "MemoryConfig.track_emotions is off"
    preferences = definition.memory_preferences if definition is not None else None
    if preferences is not None and not preferences.remember_facts:
        return "the persona's memory_preferences.remember_facts is off"
    if category not in kept_categories(preferences):
        return f"{shown(category)} is not in the persona's memory_preferences.fact_categories"
    return None


class MemoryPipeline:
    """The pure memory and relationship pipeline (see the module docstring).

    Args:
        extractor: The fact extractor (the rules one by default). An asynchronous one
            (the LLM extractor) needs :meth:`aanalyse`.
        scorer: The sentiment scorer (the lexicon one by default).
        detector: The episode detector (the rules one by default).
        fallback_to_rules: When the extractor fails, keep the rules extractor's facts
            (the failure is still reported in ``TurnLearning.extraction``).
        history_limit: Earlier values kept per fact.
    """

    def __init__(
        self,
        extractor: FactExtractor | None = None,
        scorer: SentimentScorer | None = None,
        detector: EpisodeDetector | None = None,
        *,
        fallback_to_rules: bool = True,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        self.extractor = extractor or RulesFactExtractor()
        self.scorer = scorer or LexiconSentimentScorer()
        self.detector = detector or EpisodeDetector()
        self.fallback_to_rules = fallback_to_rules
        self.history_limit = history_limit
        self._rules = RulesFactExtractor()

    def __repr__(self) -> str:
        return f"<MemoryPipeline extractor={self.extractor.name!r}>"

    @staticmethod
    def _check(message: Any, state: Any) -> None:
        if not isinstance(message, str) or not message.strip():
            raise SessionError("message must be a non-empty string")
        if not isinstance(state, LearningState):
            raise SessionError(f"state must be a LearningState, got {type(state).__name__}")
        check_user_id(state.user_id)
        if state.affinity_points is not None:
            check_points(state.affinity_points)

    def analyse(
        self,
        message: str,
        state: LearningState,
        personality: PersonalityData | PersonaDefinition | None = None,
        config: MemoryConfig | None = None,
    ) -> TurnLearning:
        """What ``message`` teaches, with a synchronous extractor.

        Raises:
            SessionError: an empty message, a bad state (user id not a string, points
                outside 0..100), an asynchronous extractor (use :meth:`aanalyse`).
        """
        self._check(message, state)
        if self.extractor.is_async:
            raise SessionError(f"the {self.extractor.name!r} extractor is asynchronous: use aanalyse()")
        source = MessageRef(message_id=state.message_id, message_index=state.turn_index)
        return self._learn(
            message, state, personality, config, self.extractor.extract(message, source=source)
        )

    async def aanalyse(
        self,
        message: str,
        state: LearningState,
        personality: PersonalityData | PersonaDefinition | None = None,
        config: MemoryConfig | None = None,
    ) -> TurnLearning:
        """What ``message`` teaches, with any extractor (awaited).

        Raises:
            SessionError: as :meth:`analyse`.
        """
        self._check(message, state)
        source = MessageRef(message_id=state.message_id, message_index=state.turn_index)
        extraction = await self.extractor.aextract(message, source=source)
        return self._learn(message, state, personality, config, extraction)

    def _learn(
        self,
        message: str,
        state: LearningState,
        personality: PersonalityData | PersonaDefinition | None,
        config: MemoryConfig | None,
        extraction: ExtractionResult,
    ) -> TurnLearning:
        definition = _definition(personality)
        config = config or MemoryConfig()
        now = state.now or utcnow()
        sentiment = self.scorer.score(message)
        source = MessageRef(message_id=state.message_id, message_index=state.turn_index)
        fallback = None
        facts_read = extraction
        if extraction.failed and self.fallback_to_rules:
            fallback = facts_read = self._rules.extract(message, source=source)
        kept: list[ExtractedFact] = []
        skipped: list[SkippedFact] = []
        for fact in facts_read.facts:
            reason = _skip_reason(fact, config, definition)
            if reason is None:
                kept.append(fact)
            else:
                skipped.append(SkippedFact(fact, reason))
        updates = merge_facts(
            state.known_facts,
            kept,
            user_id=state.user_id,
            session_id=state.session_id,
            now=now,
            history_limit=self.history_limit,
        )
        preferences = definition.memory_preferences if definition is not None else None
        candidate: DetectedEpisode | None
        if extraction.episodes:
            candidate = max(extraction.episodes, key=lambda e: e.importance)
        else:
            context = EpisodeContext(
                message_id=state.message_id, message_index=state.turn_index, timestamp=now
            )
            candidate = self.detector.detect(message, sentiment, context)
        detection = EpisodeDetection(
            candidate=candidate,
            min_importance=preferences.episode_min_importance if preferences is not None else 5.0,
            remember=preferences.remember_episodes if preferences is not None else True,
        )
        stored = detection.stored
        episode = (
            stored.to_episode(
                state.user_id,
                session_id=state.session_id,
                personality_name=definition.persona.name if definition is not None else None,
            )
            if stored is not None
            else None
        )
        interaction = classify_interaction(
            message,
            sentiment,
            definition,
            facts=list(facts_read.facts),
            episode=candidate,
        )
        points = state.affinity_points if state.affinity_points is not None else starting_points(definition)
        affinity = interaction_change(points, interaction.type, definition, now=now)
        mood = next_mood(state.mood, sentiment, message, definition)
        return TurnLearning(
            sentiment=sentiment,
            extraction=extraction,
            fallback=fallback,
            facts=tuple(updates),
            skipped_facts=tuple(skipped),
            episode=detection,
            stored_episode=episode,
            interaction=interaction,
            affinity=affinity,
            mood=mood,
        )

    @staticmethod
    def prompt_memories(
        facts: Sequence[Fact | Mapping[str, Any]],
        episodes: Sequence[Episode | Mapping[str, Any]],
        personality: PersonalityData | PersonaDefinition | None = None,
        config: MemoryConfig | None = None,
        *,
        now: datetime | None = None,
        query: str | None = None,
    ) -> MemorySelection:
        """The memories for the next prompt (:func:`~.ranking.rank_memories`); ``.lines``
        go to ``TurnState.memories``.
        """
        definition = _definition(personality)
        return rank_memories(
            facts,
            episodes,
            preferences=definition.memory_preferences if definition is not None else None,
            config=config,
            now=now,
            query=query,
        )
