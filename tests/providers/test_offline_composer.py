"""Offline simulator, the composer: how the persona definition shapes a reply.

Triggers, relationship levels, safety guards, the six parameters, punctuation, mood,
vocabulary, and personas and blends that must visibly differ.
"""

from __future__ import annotations

import re

import pytest

from luminora_nb.personality.blend import blend_personalities
from luminora_nb.personality.library import get_builtin
from luminora_nb.providers.offline import OfflineProvider
from luminora_nb.providers.offline.wording import WORDING
from luminora_nb.types import ProviderConfig

from .test_offline import AURORA, CONTRACTION, QUESTIONS, persona, reply, sentences


@pytest.fixture
def provider() -> OfflineProvider:
    return OfflineProvider(ProviderConfig(name="offline"))


_HEDGE = WORDING.style.hedges
_HUMOUR = WORDING.style.humour
_METAPHOR = WORDING.style.metaphors


async def test_thanks_is_answered_in_the_register(provider: OfflineProvider) -> None:
    casual = await reply(provider, "Thanks!", persona(formality=0.1, max_informality=1.0))
    formal = await reply(provider, "Thanks!", persona(formality=0.95))
    assert re.search(r"anytime|no problem|happy to help", casual, re.IGNORECASE), casual
    assert re.search(r"most welcome|my pleasure|very glad", formal, re.IGNORECASE), formal


@pytest.mark.parametrize(
    ("text", "trigger"),
    [
        ("Goodbye!", "on_goodbye"),
        ("It worked!", "on_success"),
        ("Got it, thanks to you", "on_success"),
        ("That's wrong, I made a mistake.", "on_error"),
        ("My code doesn't work.", "on_error"),
        ("I don't understand derivatives.", "on_confusion"),
        ("I'm so confused", "on_confusion"),
    ],
)
async def test_trigger_responses_are_used(provider: OfflineProvider, text: str, trigger: str) -> None:
    out = await reply(provider, text)
    lines = getattr(AURORA.trigger_responses, trigger)
    assert any(line in out for line in lines), out


async def test_greeting_of_the_relationship_level(provider: OfflineProvider) -> None:
    friend = next(lvl for lvl in AURORA.relationship_levels if lvl.name == "friend")
    out = await reply(provider, "Hello!", relationship_level="friend", affinity_points=70)
    assert out.startswith(friend.greetings[0])
    by_points = await reply(provider, "Hello!", affinity_points=70)
    assert by_points.startswith(friend.greetings[0])
    # a level without greetings falls back to the persona's own greeting trigger
    plain = await reply(provider, "Hello!", relationship_level="acquaintance")
    assert plain.startswith(AURORA.trigger_responses.on_greeting[0])


async def test_second_greeting_may_use_the_other_trigger(provider: OfflineProvider) -> None:
    greetings = AURORA.trigger_responses.on_greeting
    outs = {await reply(provider, "Hello!", turn_index=i) for i in range(1, 12)}
    used = {line for line in greetings for out in outs if out.startswith(line)}
    assert used == set(greetings)


async def test_forbidden_topic_is_declined(provider: OfflineProvider) -> None:
    out = await reply(provider, "Can you do my graded homework for me?")
    assert "graded homework" in out and "something else" in out


# -- parameters --------------------------------------------------------------------------


async def test_verbosity_sets_the_length(provider: OfflineProvider) -> None:
    for text in (*QUESTIONS, "Hello!", "I love hiking.", "Thanks!"):
        short = await reply(provider, text, persona(verbosity=0.05))
        long = await reply(provider, text, persona(verbosity=0.95))
        assert sentences(short) <= 2, short
        assert sentences(long) >= 6, long
        assert len(long.split()) >= 2.5 * len(short.split())


async def test_context_parameters_override_the_definition(provider: OfflineProvider) -> None:
    terse = persona(verbosity=0.05)
    params = {**terse.advanced_parameters.as_dict(), "verbosity": 0.95}
    out = await reply(provider, "Why is the sky blue?", terse, parameters=params)
    assert sentences(out) >= 6


async def test_formality_sets_the_register(provider: OfflineProvider) -> None:
    plain_vocab = ["step by step", "good question"]
    for text in QUESTIONS:
        casual = await reply(
            provider, text, persona(formality=0.1, vocabulary=plain_vocab, max_informality=1.0)
        )
        formal = await reply(provider, text, persona(formality=0.9, vocabulary=plain_vocab))
        assert CONTRACTION.search(casual), casual
        assert not CONTRACTION.search(formal), formal


async def test_max_informality_bounds_the_register(provider: OfflineProvider) -> None:
    capped = persona(formality=0.1, vocabulary=["step by step"], max_informality=0.1)
    for text in QUESTIONS:
        assert not CONTRACTION.search(await reply(provider, text, capped))


async def test_fillers_come_with_low_formality(provider: OfflineProvider) -> None:
    fillers = ["um", "like"]
    starts = re.compile(r"(?:^|[.!?] )(?:Um|Like), ")
    casual = [
        await reply(provider, t, persona(formality=0.1, fillers=fillers, max_informality=1.0))
        for t in QUESTIONS
    ]
    formal = [await reply(provider, t, persona(formality=0.95, fillers=fillers)) for t in QUESTIONS]
    assert all(starts.search(out) for out in casual), casual
    assert not any(starts.search(out) for out in formal), formal


_FULL_FORMS = {"I'd": "I would", "I'm": "I am", "it's": "it is", "It's": "It is", "that's": "that is"}


def _matches_any(templates: tuple[str, ...], text: str) -> bool:
    """Whether ``text`` holds a sentence made from one of ``templates`` (in any register)."""
    for short, full in _FULL_FORMS.items():
        text = text.replace(short, full)
    patterns = [re.escape(t).replace(re.escape("{topic}"), ".+?") for t in templates]
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


@pytest.mark.parametrize(
    ("parameter", "templates"),
    [("humor", _HUMOUR), ("creativity", _METAPHOR)],
    ids=["humour-adds-a-playful-aside", "creativity-adds-a-metaphor"],
)
async def test_a_high_parameter_adds_its_kind_of_sentence(
    provider: OfflineProvider, parameter: str, templates: tuple[str, ...]
) -> None:
    for text in QUESTIONS:
        high = await reply(provider, text, persona(**{parameter: 0.9}))
        low = await reply(provider, text, persona(**{parameter: 0.1}))
        assert _matches_any(templates, high), high
        assert not _matches_any(templates, low), low


async def test_no_jokes_when_the_user_is_sad(provider: OfflineProvider) -> None:
    assert not _matches_any(_HUMOUR, await reply(provider, "I feel sad about my exam.", persona(humor=0.95)))


async def test_empathy_acknowledges_feelings(provider: OfflineProvider) -> None:
    for text in ("I feel sad.", "I'm so stressed about work.", "I feel lonely today."):
        warm = await reply(provider, text, persona(empathy=0.9))
        cold = await reply(provider, text, persona(empathy=0.1))
        assert re.search(r"sorry|tough|hard", warm, re.IGNORECASE), warm
        assert not re.search(r"sorry|tough|hard|understandable", cold, re.IGNORECASE), cold
    glad = await reply(provider, "I feel great today!", persona(empathy=0.9))
    assert "glad" in glad or "wonderful" in glad


async def test_high_empathy_always_acknowledges(provider: OfflineProvider) -> None:
    for text in QUESTIONS:
        warm = await reply(provider, text, persona(empathy=0.9, verbosity=0.6))
        cold = await reply(provider, text, persona(empathy=0.1, verbosity=0.6))
        assert re.search(r"thoughtful thing to ask|sense to wonder", warm), warm
        assert not re.search(r"thoughtful thing to ask|sense to wonder", cold), cold


async def test_directness_leads_with_the_point_or_hedges(provider: OfflineProvider) -> None:
    for text in QUESTIONS:
        direct = await reply(provider, text, persona(directness=0.95, vocabulary=[]))
        hedged = await reply(provider, text, persona(directness=0.05, vocabulary=[]))
        assert re.match(r"(?:\w+, )?on ", direct, re.IGNORECASE), direct
        assert any(h.lower() in hedged.lower() for h in _HEDGE), hedged
        assert not any(h.lower() in direct.lower() for h in _HEDGE), direct


async def test_punctuation_style(provider: OfflineProvider) -> None:
    for text in QUESTIONS:
        loud = await reply(provider, text, persona(punctuation="expressive"))
        quiet = await reply(provider, text, persona(punctuation="minimal"))
        assert "!" in loud and "!" not in quiet and ";" not in quiet


async def test_vocabulary_is_woven_in_rank_order(provider: OfflineProvider) -> None:
    top = ["in a nutshell", "plainly put"]
    rest = ["by and large", "all things considered"]
    for text in QUESTIONS:
        out = (await reply(provider, text, persona(vocabulary=[*top, *rest], verbosity=0.3))).lower()
        assert any(p in out for p in top), out
        assert not any(p in out for p in rest), out


async def test_mood_colours_the_reply(provider: OfflineProvider) -> None:
    calm = await reply(provider, "Why is the sky blue?", mood="calm", mood_intensity=1.0)
    excited = await reply(provider, "Why is the sky blue?", mood="excited", mood_intensity=1.0)
    assert "!" not in calm and "!" in excited
    concerned = await reply(provider, "Why is the sky blue?", mood="concerned", mood_intensity=1.0)
    assert "Take your time" in concerned or "whatever pace" in concerned


# -- personas and blends differ ----------------------------------------------------------


async def test_two_personas_reply_differently(provider: OfflineProvider) -> None:
    others = [get_builtin(n).definition for n in ("vex", "captain_quip", "willow")]
    for text in ("Hello!", "Why do cats purr?", "I feel stressed."):
        outs = {await reply(provider, text, d) for d in (AURORA, *others)}
        assert len(outs) == 4


async def test_two_blends_of_the_same_personas_differ_visibly(provider: OfflineProvider) -> None:
    quip, vex = get_builtin("captain_quip"), get_builtin("vex")
    mostly_quip = blend_personalities([quip, vex], [0.8, 0.2], name="mostly_quip").definition
    mostly_vex = blend_personalities([quip, vex], [0.2, 0.8], name="mostly_vex").definition
    assert mostly_quip is not None and mostly_vex is not None
    for text in ("Why do cats purr?", "How do I bake bread?", "Thanks!"):
        a, b = await reply(provider, text, mostly_quip), await reply(provider, text, mostly_vex)
        assert a != b
        assert len(a.split()) > len(b.split())  # verbosity 0.42 vs 0.20
        assert _matches_any(_HUMOUR, a) and not _matches_any(_HUMOUR, b)  # humour 0.78 vs 0.26


async def test_same_parameters_different_vocabulary_order_differ(provider: OfflineProvider) -> None:
    first = persona(vocabulary=["in a nutshell", "plainly put", "by and large", "all told"])
    second = persona(vocabulary=["by and large", "all told", "in a nutshell", "plainly put"])
    outs = [(await reply(provider, t, first), await reply(provider, t, second)) for t in QUESTIONS]
    assert all(a != b for a, b in outs)
