"""Episode detection (luminora_nb.memory.episodes): types, importance, sentiment, sources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from luminora_nb.errors import SessionError
from luminora_nb.memory.episodes import EpisodeContext, EpisodeDetector, detect_episode, detect_episodes
from luminora_nb.memory.sentiment import score_sentiment
from luminora_nb.types.memory import EPISODE_TYPES, SENTIMENTS, DetectedEpisode, MessageRef
from luminora_nb.types.persona import MemoryPreferences

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "episode_type", "title"),
    [
        ("My dog Rex died yesterday, I'm heartbroken.", "emotional_moment", "Loss of a pet"),
        ("I just got engaged!!", "milestone", "Engagement"),
        ("I finally passed my driving test!", "achievement", None),
        ("I've never told anyone this, but I'm scared of the dark.", "confession", None),
        ("My brother and I had a huge fight last night.", "conflict", None),
        ("You're useless and stupid.", "conflict", None),
        ("Thank you for listening, you really understand me.", "bonding", None),
        ("I just had lunch.", "routine", None),
    ],
)
def test_each_episode_type(text: str, episode_type: str, title: str | None) -> None:
    episode = detect_episode(text)
    assert episode is not None, text
    assert episode.episode_type == episode_type
    assert episode.episode_type in EPISODE_TYPES and episode.sentiment in SENTIMENTS
    assert 0.0 <= episode.importance <= 10.0
    assert episode.title and episode.summary
    if title is not None:
        assert episode.title == title


@pytest.mark.parametrize(
    "text",
    [
        "If my dog died I would be devastated.",  # hypothetical
        "Did you get engaged?",  # a question about someone else
        "The meeting is at noon.",  # nothing memorable
        "What's the capital of France?",
    ],
)
def test_no_episode(text: str) -> None:
    assert detect_episode(text) is None


def test_importance_grows_with_the_strength_of_the_feeling() -> None:
    flat = detect_episode("My dog Rex died.")
    strong = detect_episode("My dog Rex died, I'm heartbroken and devastated.")
    assert flat is not None and strong is not None
    assert strong.importance > flat.importance
    assert strong.sentiment in ("negative", "very_negative")


def test_milestones_outrank_routine() -> None:
    engaged, lunch = detect_episode("I just got engaged!!"), detect_episode("I just had lunch.")
    assert engaged is not None and lunch is not None
    assert engaged.importance >= 5 > lunch.importance
    assert engaged.sentiment in ("positive", "very_positive")


def test_a_strong_feeling_without_a_cue_is_an_emotional_moment() -> None:
    episode = detect_episode("I am so incredibly happy and grateful today, everything is wonderful!")
    assert episode is not None and episode.episode_type == "emotional_moment"
    assert episode.sentiment == "very_positive" and episode.cues == ["sentiment:very_positive"]


def test_episodes_point_to_their_source_messages() -> None:
    earlier = MessageRef(message_index=2, text="I have news.")
    context = EpisodeContext(message_id="m7", message_index=3, timestamp=T0, earlier=[earlier])
    episode = detect_episode("I just got engaged!!", None, context)
    assert episode is not None and episode.timestamp == T0
    assert [(r.message_id, r.message_index) for r in episode.source_messages] == [(None, 2), ("m7", 3)]
    assert episode.source_messages[-1].text == "I just got engaged!!"
    stored = episode.to_episode("u1", session_id="s1", personality_name="aurora")
    assert (stored.user_id, stored.session_id, stored.personality_name) == ("u1", "s1", "aurora")
    assert stored.source_messages == episode.source_messages


def test_the_given_sentiment_is_used() -> None:
    text = "I just got engaged!!"
    negative = score_sentiment("terrible awful horrible")
    episode = detect_episode(text, negative)
    assert episode is not None and episode.sentiment == negative.label


def test_the_persona_threshold_decides_what_is_stored() -> None:
    lunch = detect_episodes("I just had lunch.")
    assert lunch.candidate is not None and lunch.stored is None  # 5.0 by default
    low = detect_episodes("I just had lunch.", min_importance=0)
    assert low.stored is low.candidate
    off = detect_episodes("I just got engaged!!", preferences=MemoryPreferences(remember_episodes=False))
    assert off.candidate is not None and off.stored is None
    high = detect_episodes("I just got engaged!!", preferences=MemoryPreferences(episode_min_importance=10))
    assert high.stored is None


@pytest.mark.parametrize("value", [-1, 11, float("nan"), "5", True])
def test_bad_thresholds(value: object) -> None:
    with pytest.raises(SessionError, match="importance"):
        detect_episodes("I just had lunch.", min_importance=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episode_type": "party"}, "unknown episode type 'party'; use one of: emotional_moment"),
        ({"importance": 10.5}, "importance must lie between 0 and 10"),
        ({"importance": -0.1}, "importance must lie between 0 and 10"),
        ({"importance": float("nan")}, "importance must be a finite number"),
        ({"sentiment": "meh"}, "unknown sentiment 'meh'"),
    ],
)
def test_bad_episodes(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"episode_type": "milestone", "title": "t", "summary": "s", "importance": 5}
    with pytest.raises(SessionError, match=message):
        DetectedEpisode(**{**base, **kwargs})  # type: ignore[arg-type]


def test_bad_input() -> None:
    with pytest.raises(SessionError, match="message must be a string"):
        detect_episode(42)  # type: ignore[arg-type]
    episode = EpisodeDetector().detect("I just got engaged!!")
    assert episode is not None
    with pytest.raises(SessionError, match="user_id must be a non-empty string"):
        episode.to_episode(7)  # type: ignore[arg-type]
