"""Offline simulator, message analysis: intents, topics and what the user says about themselves."""

from __future__ import annotations

from typing import get_args

import pytest

from luminora_nb.providers.offline import OfflineProvider
from luminora_nb.providers.offline.analysis import Intent, QuestionType, analyse, clip_phrase, reflect
from luminora_nb.types import ProviderConfig

from .test_offline import reply, request


@pytest.fixture
def provider() -> OfflineProvider:
    return OfflineProvider(ProviderConfig(name="offline"))


# -- intents -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "must_contain"),
    [
        ("Hello!", "greeting", ["hello! what are we curious about today?"]),
        ("What is the speed of light?", "question", ["on speed of light,"]),
        ("How do I learn Python?", "question", ["how to learn python"]),
        ("Can you explain recursion to me?", "question", ["recursion"]),
        ("Thank you so much.", "thanks", []),
        ("I love jazz music.", "about_user", ["jazz music"]),
        ("I am a nurse.", "about_user", ["a nurse"]),
        ("I work as a baker.", "about_user", ["as a baker"]),
        ("My name is Sam.", "about_user", ["sam"]),
        ("I feel sad.", "about_user", ["sad"]),
        ("I went hiking yesterday with my dog.", "statement", ["your dog"]),
        ("Who are you?", "about_self", ["i am aurora, a patient science mentor"]),
        ("Hi, how are you?", "how_are_you", ["hello!", "how about you?"]),
    ],
)
async def test_intents(provider: OfflineProvider, text: str, intent: str, must_contain: list[str]) -> None:
    out = await provider.chat(request(text))
    assert out.metadata["intent"] == intent
    for part in must_contain:
        assert part in out.content.lower(), out.content


@pytest.mark.parametrize(
    ("text", "intent", "must_not_contain"),
    [
        ("What are common mistakes in chess?", "question", []),
        ("How do I take care of a cactus?", "question", []),
        ("Call me later, ok?", "question", ["Later"]),
        ("I'm a bit tired.", "about_user", ["a bit"]),
        ("What names are popular?", "question", ["Are,"]),
        ("You are wrong about that.", "error", []),
        ("", "empty", []),
    ],
)
async def test_intent_edge_cases(
    provider: OfflineProvider, text: str, intent: str, must_not_contain: list[str]
) -> None:
    out = await provider.chat(request(text))
    assert out.metadata["intent"] == intent
    assert out.content
    for part in must_not_contain:
        assert part not in out.content, out.content


async def test_confusion_keeps_the_topic(provider: OfflineProvider) -> None:
    assert "derivatives" in await reply(provider, "I don't understand derivatives.")


# -- analyse() directly ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "question_type"),
    [
        ("Why is the sky blue?", "why"),
        ("How does it work?", "how"),
        ("Which one is faster?", "what"),
        ("Where do volcanoes form?", "when"),
        ("Can you explain recursion?", "request"),
        ("Is it safe?", "yesno"),
        ("The sky is blue?", "yesno"),
    ],
)
def test_question_types(text: str, question_type: QuestionType) -> None:
    turn = analyse(text)
    assert (turn.intent, turn.question_type) == ("question", question_type)


def test_statements_about_the_user_become_facts() -> None:
    turn = analyse("I'm an engineer and I love bridges.")
    assert turn.intent == "about_user"
    assert turn.user.identity == "an engineer" and turn.user.preference == ("love", "bridges")
    assert turn.user.facts == ("you love bridges", "you are an engineer")
    assert analyse("I work at a hospital in Paris.").user.facts == ("you work at a hospital in Paris",)
    assert analyse("Hello, I'm Priya.").user.name == "Priya"
    assert analyse("I'm Busy.").user.name is None  # not a name
    assert analyse("Do I love jazz?").user.facts == ()  # questions state nothing


@pytest.mark.parametrize(
    ("text", "feeling", "valence"),
    [
        ("I feel sad.", "sad", -1),
        ("I'm so stressed about work.", "stressed", -1),
        ("I feel great today!", "great", 1),
        ("I feel meh", "meh", 0),
        ("I'm burnt out", "burnt", -1),
        ("I feel like dancing.", None, 0),
    ],
)
def test_feelings_and_their_valence(text: str, feeling: str | None, valence: int) -> None:
    turn = analyse(text)
    assert (turn.user.feeling, turn.user.valence) == (feeling, valence)


def test_topics_are_reflected_and_trimmed() -> None:
    assert analyse("How does photosynthesis work?").topic == "photosynthesis"
    assert analyse("How do I learn Python?").topic == "how to learn Python"
    assert analyse("I went hiking yesterday with my dog.").topic == "your dog"
    assert analyse("Thanks!").topic is None
    assert analyse("What is the speed of light?").keywords == ("speed", "light")


def test_every_intent_is_recognised() -> None:
    examples = {
        "greeting": "Hello!",
        "farewell": "Goodbye!",
        "thanks": "Thank you.",
        "question": "What is entropy?",
        "success": "It worked!",
        "error": "My code doesn't work.",
        "confusion": "I'm so confused",
        "about_user": "My name is Sam.",
        "about_self": "Who are you?",
        "how_are_you": "How are you?",
        "statement": "The weather is nice.",
        "empty": "   ",
    }
    assert set(examples) == set(get_args(Intent))
    assert all(analyse(text).intent == intent for intent, text in examples.items())


def test_reflect_swaps_first_and_second_person() -> None:
    assert reflect(["I'm", "proud", "of", "my", "work"]) == "you're proud of your work"
    assert reflect(["your", "turn"]) == "my turn"
    assert clip_phrase("my old blue bike that I fixed", 4) == "your old blue bike"
