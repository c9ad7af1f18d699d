"""End to end, offline: a 30-turn conversation that teaches a persona about its user.

The real client, v1.1 client, rules extractor, offline simulator and a DuckDB file store
(the offline provider is wrapped only to keep each request, so the compiled prompt can be
read). Checked: the facts stated are learned and nothing from questions, hypotheticals
or other people's words; episodes for the emotional and milestone turns; affinity moving
through Willow's three levels; the compiled prompt and the offline reply following the
level and the mood; the learned state surviving a new client on the same file; and the
facade exposing every v1.1 method under the same name.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.events import AffinityChanged, EpisodeCreated, Event, FactLearned, MoodChanged
from luminora_nb.personality.compile import MEMORY_FENCE_END, MEMORY_FENCE_START
from luminora_nb.sync import Luminora
from luminora_nb.types import StorageConfig
from tests.conftest import register_recording_offline

PROMPTS = register_recording_offline("offline_prompts")

# (message, facts it states as (category, key, value), episode type it is, or None)
SCRIPT: list[tuple[str, list[tuple[str, str, Any]], str | None]] = [
    ("Hello!", [], None),
    ("My name is Sam and I'm 29.", [("personal_info", "name", "Sam"), ("personal_info", "age", 29)], None),
    ("I live in Lisbon.", [("personal_info", "location", "Lisbon")], None),
    ("My sister Ana is a doctor.", [("relationships", "sister", "Ana")], None),
    ("I have a cat named Miso.", [("relationships", "pet_cat", "Miso")], None),
    ("I love hiking and I play the guitar.", [("preferences", "hiking", "likes"), ("hobbies", "guitar", "guitar")],  # noqa: E501
     None),
    ("I'm allergic to peanuts.", [("health", "allergy_peanuts", "peanuts")], None),
    ("I want to run a marathon next year.", [("goals", "run_a_marathon", "run a marathon next year")], None),
    ("Do you like jazz?", [], None),  # a question
    ("If I won the lottery I would buy a boat.", [], None),  # a hypothetical
    ("My boss says I'm lazy.", [], None),  # someone else's words
    ("I just got engaged!!", [], "milestone"),
    ("Hello!", [], None),
    ("I did it, I'm so proud and happy!", [], "achievement"),
    ("What should I cook tonight?", [], None),
    ("I feel hopeless and I panic at night.", [], "emotional_moment"),
    ("What should I cook tonight?", [], None),
    ("ok", [], None),
    ("ok", [], None),
    ("ok", [], None),
    ("What should I cook tonight?", [], None),
    ("Thank you, you're wonderful.", [], None),
    ("I hate mushrooms.", [("preferences", "mushrooms", "dislikes")], None),
    ("I'm training for a half marathon.", [("goals", "train_for_half_marathon", "train for half marathon")], None),  # noqa: E501
    ("My brother Leo and I had a huge fight last night.", [("relationships", "brother", "Leo")], "conflict"),
    ("I've never told anyone this, but I'm scared of the dark.", [], "confession"),
    ("I moved to Porto last month.", [("personal_info", "location", "Porto")], "milestone"),
    ("Thanks for listening, you really understand me.", [], "bonding"),
    ("I graduated from university today!", [], "milestone"),
    ("Goodbye!", [], None),
]  # fmt: skip

GENTLE = ("no rush", "whatever pace")  # the offline simulator's lines for a gentle mood


def _gentle(reply: str) -> bool:
    return any(phrase in reply.lower() for phrase in GENTLE)


def _first_sentence(reply: str) -> str:
    ends = [i for i in (reply.find("."), reply.find("!"), reply.find("?")) if i >= 0]
    return reply[: min(ends) + 1]


async def test_a_thirty_turn_conversation_teaches_the_persona(tmp_path: Path) -> None:
    assert len(SCRIPT) == 30
    PROMPTS.clear()
    config = StorageConfig(storage_type="duckdb", connection_string=str(tmp_path / "memory.duckdb"))
    base = LuminoraCoreClient(storage_config=config)
    v11 = LuminoraCoreClientV11(base, embedder=None)
    events: list[Event] = []
    base.events.subscribe(events.append)
    sid = await base.create_session("willow", {"name": "offline_prompts"}, user_id="sam")
    replies: list[str] = []
    for message, _, _ in SCRIPT:
        replies.append((await base.send_message(sid, message)).content)
    assert len(PROMPTS) == 30

    # -- facts: what was stated, the newer location winning, nothing from turns 8-10
    facts = {(f["category"], f["key"]): f for f in await v11.get_facts("sam")}
    stated: dict[tuple[str, str], Any] = {}
    for _, said, _ in SCRIPT:
        stated.update({(category, key): value for category, key, value in said})
    assert {k: f["value"] for k, f in facts.items()} == stated
    assert [h["value"] for h in facts[("personal_info", "location")]["history"]] == ["Lisbon"]
    assert facts[("personal_info", "name")]["source"]["message_index"] == 1
    learned_keys = [e.key for e in events if isinstance(e, FactLearned)]
    assert not {"jazz", "boat", "lazy", "lottery"} & set(learned_keys)

    # -- episodes for the emotional and milestone turns, each pointing to its message
    episodes = await v11.get_episodes("sam")
    by_turn = {e["source_messages"][-1]["message_index"]: e for e in episodes}
    for turn, (_, _, kind) in enumerate(SCRIPT):
        if kind is not None:
            assert by_turn[turn]["episode_type"] == kind, (turn, by_turn.get(turn))
    assert {e["title"] for e in episodes} >= {"Engagement", "Graduation", "Feeling hopeless"}
    assert len([e for e in events if isinstance(e, EpisodeCreated)]) == len(episodes)

    # -- affinity through Willow's three levels, every change in the history
    affinity = await v11.get_affinity("sam", "willow")
    levels = [PROMPTS[i].context["relationship_level"] for i in range(30)]
    assert levels[0] == "new_friend" and levels[-1] == "confidant"
    assert list(dict.fromkeys(levels)) == ["new_friend", "trusted_friend", "confidant"]
    crossings = [(e.previous_level, e.current_level) for e in events if isinstance(e, AffinityChanged)
                 if e.previous_level != e.current_level]  # fmt: skip
    assert (None, "trusted_friend") in crossings or ("new_friend", "trusted_friend") in crossings
    assert ("trusted_friend", "confidant") in crossings
    assert affinity["current_level"] == "confidant" and affinity["total_interactions"] == 30
    assert len(affinity["history"]) == 30  # type: ignore[typeddict-item]
    assert all(abs(h["points_delta"]) <= 8 for h in affinity["history"])  # type: ignore[typeddict-item]

    # -- the compiled prompt follows the level: its rules and modifiers
    first, later = PROMPTS[0], PROMPTS[12]
    assert "Relationship with this user: new_friend" in (first.system or "")
    assert "Ask open questions and do not push for details." in (first.system or "")
    assert "Relationship with this user: confidant" in (later.system or "")
    assert "Celebrate growth you have seen over time." in (later.system or "")
    assert later.context["parameters"]["humor"] > first.context["parameters"]["humor"]
    # ... and the reply: the same "Hello!" gets the level's own greeting
    assert replies[0].startswith("Hi, I'm Willow.")
    assert "It always brightens my day when you check in." in replies[12] and "I'm Willow" not in replies[12]

    # -- the mood: joyful after good news, protective after distress, back to tender
    moods = [(e.previous_mood, e.current_mood) for e in events if isinstance(e, MoodChanged)]
    assert (
        ("tender", "joyful") in moods
        and ("joyful", "protective") in moods
        and ("protective", "tender") in moods
    )
    joyful, protective, tender = PROMPTS[14], PROMPTS[16], PROMPTS[20]  # the same question each time
    assert "Current mood: joyful" in (joyful.system or "")
    assert "Current mood: protective" in (protective.system or "")
    assert "Current mood: tender" in (tender.system or "")
    assert protective.context["parameters"]["humor"] < tender.context["parameters"]["humor"]
    assert _first_sentence(replies[14]).endswith("!") and not _gentle(replies[14])  # energetic
    assert not _first_sentence(replies[20]).endswith("!") and _gentle(replies[20] + replies[16])
    assert replies[14] != replies[20]

    # -- memories sit in the prompt's fenced block
    system = PROMPTS[29].system or ""
    block = system.split(MEMORY_FENCE_START, 1)[1].split(MEMORY_FENCE_END, 1)[0]
    assert (
        "name: Sam" in block
        and "location: Porto (previously Lisbon)" in block
        and "allergy: peanuts" in block
    )
    assert "moment" in block  # top episodes
    assert PROMPTS[29].context["user_name"] == "Sam"
    await base.cleanup()

    # -- a new client on the same file remembers everything and continues the relationship
    PROMPTS.clear()
    again = LuminoraCoreClient(storage_config=config)
    v11b = LuminoraCoreClientV11(again, embedder=None)
    assert {(f["category"], f["key"]): f["value"] for f in await v11b.get_facts("sam")} == stated
    assert len(await v11b.get_episodes("sam")) == len(episodes)
    assert (await v11b.get_affinity("sam", "willow"))["affinity_points"] == affinity["affinity_points"]
    assert (await again.storage.get_mood(sid)) is not None
    fresh = await again.create_session("willow", {"name": "offline_prompts"}, user_id="sam")
    reply = await again.send_message(fresh, "Hello!")
    assert PROMPTS[-1].context["relationship_level"] == "confidant"
    assert "It always brightens my day" in reply.content and "Sam" in reply.content
    await again.cleanup()


def test_the_facade_exposes_every_v11_method_under_the_same_name() -> None:
    public = {
        name
        for name, member in inspect.getmembers(LuminoraCoreClientV11, inspect.isfunction)
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }
    public -= {"send_message", "publish", "resolve", "save_affinity_change"}  # the facade's own / internals
    missing = sorted(name for name in public if not callable(getattr(Luminora, name, None)))
    assert not missing, f"Luminora lacks {missing}"
    for name in public:
        ours = list(inspect.signature(getattr(LuminoraCoreClientV11, name)).parameters)
        facade = list(inspect.signature(getattr(Luminora, name)).parameters)
        assert facade == ours, name


def test_the_facade_learns_when_asked() -> None:
    with Luminora(log=None, learn=True, user_id="ana", v11_options={"embedder": None}) as lum:
        sid = lum.create_session("willow")
        lum.send_message(sid, "My name is Ana and I have a dog named Rex.")
        assert {(f["key"], f["value"]) for f in lum.get_facts("ana")} == {("name", "Ana"), ("pet_dog", "Rex")}
        assert lum.get_affinity("ana", "willow")["total_interactions"] == 1
        assert lum.save_fact("ana", "preferences", "tea", "likes")
        assert lum.save_episode("ana", "milestone", "New job", "Ana started a new job.", 7, "positive")
        assert lum.get_memory_stats("ana")["total_facts"] == 3
        assert lum.update_affinity("ana", "willow", 50, "gift")["current_level"] == "confidant"
        assert [h.text for h in lum.search_memories("ana", "her dog", top_k=1)] == ["pet dog: Rex"]
        assert lum.delete_fact("ana", "preferences", "tea")
        assert lum.get_episodes("ana", min_importance=5)[0]["title"] == "New job"
    with Luminora(log=None, learn=False) as lum:  # learning off: turns do not learn, the methods work
        sid = lum.create_session("willow", user_id="bo")
        lum.send_message(sid, "My name is Bo.")
        assert lum.get_facts("bo") == [] and lum.get_affinity("bo", "willow")["total_interactions"] == 0


@pytest.mark.parametrize("backend", ["memory", "file"])
async def test_starting_state_and_learning_on_each_local_backend(tmp_path: Path, backend: str) -> None:
    config = StorageConfig(
        storage_type=backend, connection_string=str(tmp_path) if backend == "file" else None
    )
    base = LuminoraCoreClient(storage_config=config)
    v11 = LuminoraCoreClientV11(base, embedder=None)
    start = await v11.get_affinity("u1", "willow")
    assert (start["affinity_points"], start["current_level"], start["total_interactions"]) == (
        20,
        "new_friend",
        0,
    )
    sid = await base.create_session("willow", user_id="u1")
    await base.send_message(sid, "My name is Kim and my cat Tom died today.")
    # a pet that died is no current pet, and Willow keeps no ``events`` facts: just the name
    assert [(f["key"], f["value"]) for f in await v11.get_facts("u1")] == [("name", "Kim")]
    assert (await v11.get_episodes("u1"))[0]["title"] == "Loss of a pet"
    await base.cleanup()
    if backend == "file":
        again = LuminoraCoreClientV11(LuminoraCoreClient(storage_config=config), embedder=None)
        assert (await again.get_affinity("u1", "willow"))["total_interactions"] == 1


def test_what_turns_learn_lands_in_the_session_log(tmp_path: Path) -> None:
    import json

    log = tmp_path / "log.duckdb"
    with Luminora(log=log, learn=True, user_id="ana", v11_options={"embedder": None}) as lum:
        sid = lum.create_session("willow")
        lum.send_message(sid, "My name is Ana. I did it, I'm so proud and happy!")
        events = lum.events()
    kinds = set(events["type"])
    assert {"fact_learned", "episode_created", "affinity_changed", "mood_changed"} <= kinds
    payload = json.loads(events[events["type"] == "fact_learned"].iloc[0]["payload"])
    # the log scrubs fields named like credentials ("key"); the fact's key survives as fact_name
    assert (payload["category"], payload["fact_name"], payload["value"]) == ("personal_info", "name", "Ana")
    assert set(events[events["type"] == "fact_learned"]["session_id"]) == {sid}
