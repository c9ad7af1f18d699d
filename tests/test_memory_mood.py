"""The persona's mood (luminora_nb.memory.mood): triggers, sentiment, decay over decay_turns."""

from __future__ import annotations

import itertools

import pytest

from luminora_nb.errors import SessionError
from luminora_nb.memory.mood import (
    FALLBACK_MOODS,
    MoodStep,
    effective_mood_config,
    initial_mood,
    next_mood,
)
from luminora_nb.memory.sentiment import score_sentiment
from luminora_nb.personality.library import get_builtin
from luminora_nb.types.persona import MoodConfig, MoodDefinition, PersonaDefinition


def _step(state: MoodStep | None, text: str, config: object) -> MoodStep:
    return next_mood(state, score_sentiment(text), text, config)  # type: ignore[arg-type]


def test_a_trigger_brings_a_mood_that_decays_over_decay_turns() -> None:
    aurora = get_builtin("aurora").definition
    assert aurora is not None
    decay = aurora.mood_config.decay_turns
    step = _step(None, "I'm so stressed about my exam", aurora)
    assert (step.mood, step.reason, step.trigger, step.turns_left) == (
        "concerned",
        "trigger",
        "stressed",
        decay,
    )
    assert step.changed and step.previous_mood == aurora.mood_config.default_mood
    seen = [step]
    for _ in range(decay):
        seen.append(_step(seen[-1], "ok", aurora))
    assert [s.mood for s in seen[1:-1]] == ["concerned"] * (decay - 1)
    assert all(a.intensity > b.intensity for a, b in itertools.pairwise(seen[:-1]))
    assert seen[-1].mood == aurora.mood_config.default_mood and seen[-1].reason == "decay"
    assert seen[-1].changed and seen[-1].intensity == 1.0


def test_decay_turns_of_the_persona_is_obeyed() -> None:
    config = MoodConfig(
        default_mood="calm",
        moods=[MoodDefinition(name="calm"), MoodDefinition(name="giddy", triggers=["party"])],
        decay_turns=5,
    )
    step = _step(None, "party time", config)
    turns = 0
    while step.mood == "giddy":
        step = _step(step, "the meeting is at noon", config)
        turns += 1
    assert turns == 5


def test_a_negated_trigger_does_not_count() -> None:
    aurora = get_builtin("aurora").definition
    assert _step(None, "I'm not stressed at all", aurora).reason != "trigger"


def test_a_persona_without_moods_gets_the_fallbacks() -> None:
    assert {m.name for m in FALLBACK_MOODS} == {"cheerful", "concerned"}
    names = {m.name for m in effective_mood_config(MoodConfig()).moods}
    assert names == {"neutral", "cheerful", "concerned"}
    happy = _step(None, "I got the job, best news ever, I'm so happy!", None)
    assert happy.mood == "cheerful" and happy.reason in ("trigger", "sentiment")
    glad = _step(None, "This is wonderful, fantastic, brilliant news!", None)
    assert (glad.mood, glad.reason) == ("cheerful", "sentiment")
    sad = _step(None, "Everything is terrible, awful and hopeless.", None)
    assert sad.mood == "concerned"
    calm = _step(None, "The meeting is at noon.", None)
    assert (calm.mood, calm.reason, calm.changed) == ("neutral", "steady", False)


def test_mild_sentiment_refreshes_a_mood_of_its_side() -> None:
    happy = _step(None, "I got the job, best news ever, I'm so happy!", None)
    later = _step(happy, "That's nice.", None)
    assert (later.mood, later.reason, later.turns_left) == ("cheerful", "refresh", happy.turns_left)


def test_disabled_moods_stay_default() -> None:
    aurora = get_builtin("aurora").definition
    assert aurora is not None
    off = PersonaDefinition.model_validate(
        {
            **aurora.model_dump(mode="json"),
            "mood_config": {**aurora.mood_config.model_dump(), "enabled": False},
        }
    )
    step = _step(None, "I'm so stressed about my exam", off)
    assert (step.mood, step.reason) == (off.mood_config.default_mood, "disabled")


def test_the_state_round_trips_through_its_record() -> None:
    aurora = get_builtin("aurora").definition
    assert aurora is not None
    step = _step(None, "I'm so stressed about my exam", aurora)
    back = MoodStep.from_record(step.record(), aurora.mood_config)
    assert (back.mood, back.intensity, back.turns_left) == (step.mood, step.intensity, step.turns_left)
    assert _step(step.record(), "ok", aurora) == _step(step, "ok", aurora)  # type: ignore[arg-type]
    # a stored mood the persona no longer has starts over
    assert MoodStep.from_record({"current_mood": "gone"}, aurora.mood_config) == initial_mood(aurora)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"mood_intensity": 0.5}, "a mood record needs a current_mood string"),
        ({"current_mood": "neutral", "mood_intensity": 2}, "mood_intensity must lie between 0 and 1"),
        (
            {"current_mood": "neutral", "mood_intensity": float("nan")},
            "mood_intensity must be a finite number",
        ),
        ({"current_mood": "cheerful", "turns_left": -1}, "turns_left must be a non-negative integer"),
    ],
)
def test_bad_records(record: dict[str, object], message: str) -> None:
    with pytest.raises(SessionError, match=message):
        MoodStep.from_record(record, MoodConfig())


def test_bad_message() -> None:
    with pytest.raises(SessionError, match="message must be a string"):
        next_mood(None, score_sentiment("x"), 5, None)  # type: ignore[arg-type]
