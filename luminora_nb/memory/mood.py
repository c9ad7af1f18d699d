"""The persona's mood in a session: a small, pure state machine.

The moods come from the personality's ``mood_config`` (``default_mood``, ``moods`` with
``triggers``, ``decay_turns``). One step, :func:`next_mood`, takes the previous state,
the user message and its sentiment, and returns the next :class:`MoodStep`:

1. **Triggers.** A mood whose trigger words or phrases occur in the message (whole
   words, any case, not negated: ``I'm not stressed`` does not trigger) takes over; the
   mood with the most distinct triggers wins, ties going to the one listed first.
   Intensity ``0.6 + 0.15 per extra trigger + 0.3 x |valence|`` (at most 1); the same
   mood triggered again keeps at least its intensity plus 0.1.
2. **Sentiment.** Otherwise a very positive (very negative) message brings on the
   persona's positive (negative) mood with intensity ``max(0.5, |valence|)``. Which mood
   that is: ``metadata["sentiment_moods"] = {"positive": ..., "negative": ...}`` in the
   persona definition if given; else a mood named like one (``happy``, ``excited``,
   ``joyful`` ... / ``concerned``, ``sad``, ``gentle``, ``protective`` ...); else the
   mood whose modifiers lean that way (``humor - empathy / 2`` at least +0.05 for
   positive, at most -0.05 for negative). A mood with neither leaning reacts to its
   triggers only. A mildly positive (negative) message keeps the current mood of that
   side from fading (``refresh``) but does not switch moods.
3. **Decay.** Any other turn, a mood other than the default fades: its turns left drop
   by one and the intensity with them (linearly), and after ``decay_turns`` turns
   without a new cause the default mood returns (intensity 1.0, so the default mood's
   own modifiers, if any, apply fully).

**Defaults.** A persona that defines only its default mood (the schema's default is a
lone ``neutral``) would never change mood, so it gets two fallback moods,
:data:`FALLBACK_MOODS`: ``cheerful`` (good news, very positive messages) and
``concerned`` (distress, very negative messages), both with mild modifiers. A persona
with two or more moods keeps exactly its own. ``mood_config.enabled = False`` keeps the
default mood, always (``reason="disabled"``).

The state (:class:`MoodStep`) is what the storage keeps per session: ``record()`` gives
the fields for ``save_mood`` (``current_mood``, ``mood_intensity`` and ``turns_left`` as
an extra), :meth:`MoodStep.from_record` reads them back.

Example:
    >>> from luminora_nb.memory.sentiment import score_sentiment
    >>> from luminora_nb.personality.library import get_builtin
    >>> aurora = get_builtin("aurora").definition
    >>> step = next_mood(None, score_sentiment("I'm so stressed about my exam"),
    ...                  "I'm so stressed about my exam", aurora)
    >>> step.mood, step.reason, step.trigger, step.turns_left
    ('concerned', 'trigger', 'stressed', 3)
    >>> later = next_mood(step, score_sentiment("ok"), "ok", aurora)
    >>> later.mood, later.turns_left, later.intensity < step.intensity
    ('concerned', 2, True)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from ..errors import PersonalityError, SessionError, shown
from ..types.memory import check_unit
from ..types.persona import MoodConfig, MoodDefinition, ParameterModifiers, PersonaDefinition
from ._text import negated_before, normalise, wordlist
from .sentiment import SentimentResult

__all__ = [
    "FALLBACK_MOODS",
    "MoodReason",
    "MoodStep",
    "effective_mood_config",
    "initial_mood",
    "mood_definition",
    "next_mood",
    "sentiment_moods",
]

MoodReason = Literal["initial", "trigger", "sentiment", "refresh", "decay", "steady", "disabled"]
Side = Literal["positive", "negative"]
T = TypeVar("T")

#: Moods added to a persona that defines only its default mood.
FALLBACK_MOODS: tuple[MoodDefinition, ...] = (
    MoodDefinition(
        name="cheerful",
        description="Warm and upbeat, sharing in good news.",
        modifiers=ParameterModifiers(humor=0.1, verbosity=0.05),
        triggers=["good news", "great news", "so happy", "i did it", "yay", "can't wait"],
    ),
    MoodDefinition(
        name="concerned",
        description="Gentle and attentive; the user is having a hard time.",
        modifiers=ParameterModifiers(empathy=0.2, humor=-0.2),
        triggers=["sad", "worried", "stressed", "anxious", "upset", "lonely", "scared", "awful day"],
    ),
)

_POSITIVE_NAMES = wordlist(
    """
    happy joyful excited cheerful giddy enchanted delighted amused gratified satisfied playful proud
    elated jolly mischievous upbeat pleased content grateful enthusiastic thrilled glad"""
)
_NEGATIVE_NAMES = wordlist(
    """
    concerned sad sorrowful gentle protective worried sympathetic sincere respectful caring comforting
    compassionate somber sombre melancholy alarmed serious soft supportive empathetic soothing
    reassuring"""
)
_TRIGGER_INTENSITY, _PER_EXTRA_TRIGGER, _VALENCE_WEIGHT = 0.6, 0.15, 0.3
_RETRIGGER_BONUS = 0.1
_MIN_SENTIMENT_INTENSITY = 0.5
_STRONG: dict[str, Side] = {"very_positive": "positive", "very_negative": "negative"}
_MILD: dict[str, Side] = {"positive": "positive", "negative": "negative"}


@dataclass(frozen=True)
class MoodStep:
    """The persona's mood after one turn (the session's mood state).

    Attributes:
        mood: The current mood's name.
        intensity: 0..1; scales the mood's modifiers in the compiled prompt.
        turns_left: Turns until a non-default mood fades back to the default (0 for it).
        previous_mood: The mood before this turn (``None`` for a fresh state).
        previous_intensity: Its intensity.
        reason: Why the mood is what it is: ``initial``, ``trigger``, ``sentiment``,
            ``refresh``, ``decay`` (faded, or back to the default), ``steady`` (the default
            mood, nothing happened) or ``disabled``.
        trigger: The trigger word that caused a ``trigger`` change.
    """

    mood: str
    intensity: float = 1.0
    turns_left: int = 0
    previous_mood: str | None = None
    previous_intensity: float | None = None
    reason: MoodReason = "initial"
    trigger: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the mood itself changed this turn (worth a ``MoodChanged`` event)."""
        return self.previous_mood is not None and self.previous_mood != self.mood

    def record(self) -> dict[str, Any]:
        """The fields to store (``save_mood(session_id, user_id, **step.record())``).

        Example:
            >>> MoodStep("excited", 0.8, 2).record()
            {'current_mood': 'excited', 'mood_intensity': 0.8, 'turns_left': 2}
        """
        return {"current_mood": self.mood, "mood_intensity": self.intensity, "turns_left": self.turns_left}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None, config: MoodConfig | None = None) -> MoodStep:
        """The state stored by :meth:`record` (the initial state when ``record`` is ``None``).

        A stored mood the persona no longer has yields the initial state.

        Raises:
            SessionError: a record without ``current_mood`` or with a bad intensity.
        """
        effective = effective_mood_config(config)
        if record is None:
            return initial_mood(effective)
        mood = record.get("current_mood")
        if not isinstance(mood, str) or not mood:
            raise SessionError(f"a mood record needs a current_mood string, got {shown(mood)}")
        if all(m.name != mood for m in effective.moods):
            return initial_mood(effective)
        intensity = check_unit("mood_intensity", record.get("mood_intensity", 1.0))
        turns_left = record.get("turns_left", 0)
        if isinstance(turns_left, bool) or not isinstance(turns_left, int) or turns_left < 0:
            raise SessionError(f"turns_left must be a non-negative integer, got {shown(turns_left)}")
        if mood == effective.default_mood:
            turns_left = 0
        elif turns_left == 0:
            turns_left = 1  # stored without it: one more turn before it fades
        return cls(mood=mood, intensity=intensity, turns_left=min(turns_left, effective.decay_turns))


def _config_of(config: MoodConfig | PersonaDefinition | None) -> tuple[MoodConfig, Mapping[str, Any]]:
    if isinstance(config, PersonaDefinition):
        return config.mood_config, config.metadata
    if config is None or isinstance(config, MoodConfig):
        return config or MoodConfig(), {}
    raise PersonalityError(
        f"mood config must be a MoodConfig or a PersonaDefinition, got {type(config).__name__}"
    )


_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LIMIT = 512


def _key(config: MoodConfig) -> tuple[Any, ...]:
    return (
        config.enabled,
        config.default_mood,
        config.decay_turns,
        tuple((m.name, tuple(m.triggers), tuple(m.modifiers.as_dict().values())) for m in config.moods),
    )


def _cached(kind: str, config: MoodConfig, build: Callable[[], T], *extra: Any) -> T:
    """``build()`` memoised per mood configuration (models are not hashable)."""
    key = (kind, _key(config), *extra)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        found = _CACHE[key] = build()
    return cast(T, found)


def _with_fallbacks(config: MoodConfig) -> MoodConfig:
    return _cached("fallbacks", config, lambda: _add_fallbacks(config))


def _add_fallbacks(config: MoodConfig) -> MoodConfig:
    names = {m.name for m in config.moods}
    extra = [m for m in FALLBACK_MOODS if m.name not in names]
    return config.model_copy(update={"moods": [*config.moods, *extra]})


def effective_mood_config(config: MoodConfig | PersonaDefinition | None) -> MoodConfig:
    """The moods in use: the persona's own, plus :data:`FALLBACK_MOODS` when it has only one.

    Example:
        >>> [m.name for m in effective_mood_config(None).moods]
        ['neutral', 'cheerful', 'concerned']
    """
    mood_config, _ = _config_of(config)
    if len(mood_config.moods) == 1 and mood_config.enabled:
        return _with_fallbacks(mood_config)
    return mood_config


def initial_mood(config: MoodConfig | PersonaDefinition | None) -> MoodStep:
    """The default mood at full intensity.

    Example:
        >>> initial_mood(None)
        MoodStep(mood='neutral', intensity=1.0, turns_left=0, previous_mood=None, previous_intensity=None, \
reason='initial', trigger=None)
    """
    mood_config, _ = _config_of(config)
    return MoodStep(mood=mood_config.default_mood, intensity=1.0)


def mood_definition(config: MoodConfig | PersonaDefinition | None, name: str) -> MoodDefinition:
    """The definition of mood ``name`` (fallback moods included), for ``compile_prompt``.

    Raises:
        PersonalityError: the persona has no such mood.

    Example:
        >>> mood_definition(None, "concerned").modifiers.empathy
        0.2
    """
    for mood in effective_mood_config(config).moods:
        if mood.name == name:
            return mood
    known = ", ".join(m.name for m in effective_mood_config(config).moods)
    raise PersonalityError(f"unknown mood {shown(name)}; this persona's moods are: {known}")


def _leaning(mood: MoodDefinition) -> float:
    return mood.modifiers.humor - mood.modifiers.empathy / 2


def sentiment_moods(config: MoodConfig | PersonaDefinition | None) -> dict[Side, str | None]:
    """Which mood a very positive and a very negative message bring on (``None``: none).

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> sentiment_moods(get_builtin("willow").definition)
        {'positive': 'joyful', 'negative': 'protective'}
    """
    effective = effective_mood_config(config)
    _, metadata = _config_of(config)
    return dict(_sides(effective, _metadata_sides(metadata)))


def _metadata_sides(metadata: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    chosen = metadata.get("sentiment_moods")
    if not isinstance(chosen, Mapping):
        return ()
    return tuple((str(k), str(v)) for k, v in chosen.items() if k in ("positive", "negative") and v)


def _sides(config: MoodConfig, chosen: tuple[tuple[str, str], ...]) -> tuple[tuple[Side, str | None], ...]:
    return _cached("sides", config, lambda: _find_sides(config, chosen), chosen)


def _find_sides(
    config: MoodConfig, chosen: tuple[tuple[str, str], ...]
) -> tuple[tuple[Side, str | None], ...]:
    others = [m for m in config.moods if m.name != config.default_mood]
    names = {m.name for m in others}
    explicit = {k: v for k, v in chosen if v in names}
    out: list[tuple[Side, str | None]] = []
    plan: tuple[tuple[Side, frozenset[str], float], ...] = (
        ("positive", _POSITIVE_NAMES, 1.0),
        ("negative", _NEGATIVE_NAMES, -1.0),
    )
    for side, lexicon, sign in plan:
        pick = explicit.get(side) or next((m.name for m in others if m.name in lexicon), None)
        if pick is None:
            leaning = [(sign * _leaning(m), m.name) for m in others if sign * _leaning(m) >= 0.05]
            pick = max(leaning, key=lambda item: item[0])[1] if leaning else None
        out.append((side, pick))
    return tuple(out)


def _trigger_patterns(config: MoodConfig) -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    return _cached("triggers", config, lambda: _compile_triggers(config))


def _compile_triggers(config: MoodConfig) -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    out = []
    for mood in config.moods:
        words = tuple(dict.fromkeys(t.strip().lower() for t in mood.triggers if t.strip()))
        if words:
            alternatives = "|".join(
                re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)
            )
            out.append((mood.name, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I), words))
    return tuple(out)


def _triggered(config: MoodConfig, message: str) -> tuple[str, str, int] | None:
    """``(mood, first trigger, distinct triggers)`` of the most-triggered mood, or ``None``."""
    best: tuple[str, str, int] | None = None
    text = normalise(message)
    for name, pattern, _ in _trigger_patterns(config):
        hits = [m for m in pattern.finditer(text) if not negated_before(text, m.start())]
        distinct = list(dict.fromkeys(" ".join(m.group(0).lower().split()) for m in hits))
        if distinct and (best is None or len(distinct) > best[2]):
            best = (name, distinct[0], len(distinct))
    return best


def _side_of(sides: Mapping[Side, str | None], mood: str) -> Side | None:
    return next((side for side, name in sides.items() if name == mood), None)


def next_mood(
    state: MoodStep | Mapping[str, Any] | None,
    sentiment: SentimentResult,
    message: str,
    config: MoodConfig | PersonaDefinition | None,
) -> MoodStep:
    """The mood after the user's ``message`` (see the module docstring for the rules).

    Args:
        state: The previous :class:`MoodStep`, a stored record, or ``None`` (initial).
        sentiment: The message's sentiment.
        message: The user's message.
        config: The persona's ``mood_config``, or its whole definition (which also
            provides ``metadata["sentiment_moods"]``).

    Raises:
        SessionError: ``message`` is not a string, a bad stored record.
        PersonalityError: ``config`` is neither a mood config nor a definition.

    Example:
        >>> from luminora_nb.memory.sentiment import score_sentiment
        >>> text = "I got the job, best news ever, I'm so happy!"
        >>> next_mood(None, score_sentiment(text), text, None).mood
        'cheerful'
    """
    if not isinstance(message, str):
        raise SessionError(f"message must be a string, got {type(message).__name__}")
    mood_config, metadata = _config_of(config)
    effective = effective_mood_config(mood_config)
    previous = state if isinstance(state, MoodStep) else MoodStep.from_record(state, effective)
    if all(m.name != previous.mood for m in effective.moods):
        previous = initial_mood(effective)

    def step(
        mood: str, intensity: float, turns_left: int, reason: MoodReason, trigger: str | None = None
    ) -> MoodStep:
        return MoodStep(
            mood=mood,
            intensity=round(min(1.0, max(0.0, intensity)), 3),
            turns_left=turns_left,
            previous_mood=previous.mood,
            previous_intensity=previous.intensity,
            reason=reason,
            trigger=trigger,
        )

    default = effective.default_mood
    if not effective.enabled:
        return step(default, 1.0, 0, "disabled")
    decay = effective.decay_turns
    triggered = _triggered(effective, message)
    if triggered is not None and triggered[0] != default:
        name, word, count = triggered
        intensity = (
            _TRIGGER_INTENSITY + _PER_EXTRA_TRIGGER * (count - 1) + _VALENCE_WEIGHT * sentiment.intensity
        )
        if name == previous.mood:
            intensity = max(intensity, previous.intensity + _RETRIGGER_BONUS)
        return step(name, intensity, decay, "trigger", word)
    sides = dict(_sides(effective, _metadata_sides(metadata)))
    strong = _STRONG.get(sentiment.label)
    chosen = sides.get(strong) if strong is not None else None
    if chosen is not None:
        intensity = max(_MIN_SENTIMENT_INTENSITY, sentiment.intensity)
        if chosen == previous.mood:
            intensity = max(intensity, previous.intensity)
        return step(chosen, intensity, decay, "sentiment")
    if previous.mood == default:
        return step(default, previous.intensity, 0, "steady")
    mild = _MILD.get(sentiment.label)
    if mild is not None and mild == _side_of(sides, previous.mood):
        return step(previous.mood, previous.intensity, decay, "refresh")
    was = max(1, min(previous.turns_left, decay))
    left = was - 1
    if left <= 0:
        return step(default, 1.0, 0, "decay")
    return step(previous.mood, previous.intensity * left / was, left, "decay")
