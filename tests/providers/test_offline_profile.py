"""Offline simulator, persona profiles: neutral profiles, and a cache that never serves a stale one."""

from __future__ import annotations

import pytest

from luminora_nb.personality.library import get_builtin
from luminora_nb.providers import ChatRequest
from luminora_nb.providers.offline import OfflineProvider
from luminora_nb.types import ChatMessage, PersonaDefinition, ProviderConfig

from .test_offline import persona, reply, request, sentences


@pytest.fixture
def provider() -> OfflineProvider:
    return OfflineProvider(ProviderConfig(name="offline"))


async def test_persona_none_uses_a_neutral_profile(provider: OfflineProvider) -> None:
    req = request(
        "Who are you?",
        None,
        system="You are a helpful assistant.\nBe brief.",
        persona_name="helpful_assistant",
    )
    out = await provider.chat(req)
    assert out.content.startswith("I am Helpful Assistant, a helpful assistant.")
    question = await provider.chat(request("What is entropy?", None, persona_name="helper"))
    assert "entropy" in question.content and question.finish_reason == "stop"
    bare = await provider.chat(ChatRequest(messages=[ChatMessage(role="user", content="Hello!")]))
    assert bare.content


async def test_changed_definition_is_not_served_from_the_cache(provider: OfflineProvider) -> None:
    definition = persona(vocabulary=["in a nutshell", "plainly put"])
    before = await reply(provider, "Why is the sky blue?", definition)
    definition.linguistic_profile.vocabulary = ["quite frankly", "to be fair"]
    after = await reply(provider, "Why is the sky blue?", definition)
    assert "quite frankly" in after.lower() or "to be fair" in after.lower()
    assert before != after


def fresh_aurora() -> PersonaDefinition:
    """A private copy of the shipped definition, safe to edit in place."""
    definition = get_builtin("aurora").definition
    assert definition is not None
    return definition


async def test_nested_edit_of_the_name_is_not_served_from_the_cache(provider: OfflineProvider) -> None:
    definition = fresh_aurora()
    assert (await reply(provider, "Who are you?", definition)).startswith("I am Aurora,")
    definition.persona.name = "Borealis"  # validate_assignment: the same PersonaInfo object, edited
    assert (await reply(provider, "Who are you?", definition)).startswith("I am Borealis,")


async def test_every_nested_edit_is_seen(provider: OfflineProvider) -> None:
    definition = fresh_aurora()
    question = "Why is the sky blue?"
    long = await reply(provider, question, definition)
    definition.advanced_parameters.verbosity = 0.05
    assert sentences(await reply(provider, question, definition)) <= 2 < sentences(long)

    definition.trigger_responses.on_greeting = ["Ahoy there!"]
    assert (await reply(provider, "Hello!", definition)).startswith("Ahoy there!")

    definition.relationship_levels[-1].greetings = ["Look who it is!"]
    friend = await reply(provider, "Hello!", definition, relationship_level="friend")
    assert friend.startswith("Look who it is!")

    definition.safety_guards.forbidden_topics.append("volcano eruptions")  # a list edited in place
    assert "something else" in await reply(provider, "Tell me about volcano eruptions.", definition)

    definition.linguistic_profile.vocabulary[0] = "quite frankly"  # an item replaced in place
    definition.linguistic_profile.vocabulary[1] = "to be fair"
    woven = (await reply(provider, "How does photosynthesis work?", definition)).lower()
    assert "quite frankly" in woven or "to be fair" in woven


async def test_an_edit_undone_gives_the_first_reply_again(provider: OfflineProvider) -> None:
    definition = fresh_aurora()
    first = await reply(provider, "Why is the sky blue?", definition)
    definition.core_traits.communication_style = "poetic"
    assert await reply(provider, "Why is the sky blue?", definition) != first
    definition.core_traits.communication_style = "socratic"
    assert await reply(provider, "Why is the sky blue?", definition) == first


async def test_equal_definitions_give_equal_replies(provider: OfflineProvider) -> None:
    one, other = fresh_aurora(), fresh_aurora()
    other.persona.name = "Borealis"
    other.persona.name = one.persona.name
    for text in ("Hello!", "Who are you?", "I feel sad.", "Why is the sky blue?"):
        assert await reply(provider, text, one) == await reply(provider, text, other)
