"""Fact extraction (rules), fact merging, the new memory types, and the pipeline's defaults.

The extractor is measured on two hand-written sets under tests/data/:

* ``fact_messages.json`` (110 messages): every expected fact must be found and nothing
  else, except the messages marked ``limitation`` (two documented misses, the only
  tolerance: a subject-less sentence and a phobia read as a feeling);
* ``memory_fact_holdout.json`` (30 messages written after the rules and never used to
  tune them): precision and recall are printed and held to floors (0.9 / 0.85; measured
  0.96 / 0.89 when written), so a regression shows while the misses stay honest.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from luminora_nb.errors import SessionError
from luminora_nb.memory._pipeline import LearningState, MemoryPipeline, TurnLearning
from luminora_nb.memory.facts import (
    _RULES,
    CATEGORY_ALIASES,
    ExtractionResult,
    FactExtractor,
    RulesFactExtractor,
    extract_facts,
    fact_identity,
    merge_fact,
    merge_facts,
    persona_categories,
)
from luminora_nb.personality.library import get_builtin
from luminora_nb.types import memory as memory_types
from luminora_nb.types.memory import (
    FACT_CATEGORIES,
    DetectedEpisode,
    ExtractedFact,
    Fact,
    FactRevision,
    MessageRef,
    check_importance,
    check_unit,
    check_user_id,
)
from luminora_nb.types.persona import MemoryPreferences, PersonaDefinition
from luminora_nb.types.personality import PersonalityData
from luminora_nb.types.session import MemoryConfig

DATA = Path(__file__).parent / "data"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

Triple = tuple[str, str, Any]


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(sorted(str(v).casefold() for v in value))
    if isinstance(value, str):
        return value.casefold()
    return value


def _load(name: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = json.loads((DATA / name).read_text(encoding="utf-8"))["messages"]
    return messages


def _expected(message: dict[str, Any]) -> set[Triple]:
    return {(c, k, _norm(v)) for c, k, v in message["expected"]}


def _found(text: str) -> set[Triple]:
    return {(f.category, f.key, _norm(f.value)) for f in extract_facts(text)}


def _scores(messages: list[dict[str, Any]]) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for message in messages:
        expected, found = _expected(message), _found(message["text"])
        tp += len(expected & found)
        fp += len(found - expected)
        fn += len(expected - found)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


DEV = _load("fact_messages.json")
HOLDOUT = _load("memory_fact_holdout.json")


# -- the data sets --------------------------------------------------------------------------------


def test_the_data_sets_are_varied() -> None:
    assert len(DEV) >= 40 and len(HOLDOUT) >= 30
    empty = [m for m in DEV if not m["expected"]]
    assert len(empty) >= 20, "junk guards: questions, hypotheticals, quotes, negations, small talk"
    categories = {c for m in DEV for c, _, _ in m["expected"]}
    assert categories == set(FACT_CATEGORIES), "every category is exercised"
    for kind in ("a question", "hypothetical", "a quote of someone else", "negation"):
        assert any(kind in m.get("why", "") for m in DEV), kind


@pytest.mark.parametrize("message", DEV, ids=[m["text"][:40] for m in DEV])
def test_every_expected_fact_and_nothing_else(message: dict[str, Any]) -> None:
    expected, found = _expected(message), _found(message["text"])
    if "limitation" in message:
        assert expected != found, f"fixed? drop the limitation note: {message['limitation']}"
        return
    assert found == expected, f"missing {expected - found}, unexpected {found - expected}"


def test_precision_and_recall_on_the_development_set() -> None:
    precision, recall, tp, fp, fn = _scores(DEV)
    print(f"\nrules extractor, development set ({len(DEV)} messages): {tp} found, {fp} unexpected, "
          f"{fn} missed: precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    limitations = sum(1 for m in DEV if "limitation" in m)
    assert fp + fn <= limitations  # at most one wrong fact per documented limitation
    assert precision >= 0.98 and recall >= 0.98


def test_precision_and_recall_on_the_holdout_set() -> None:
    precision, recall, tp, fp, fn = _scores(HOLDOUT)
    print(f"\nrules extractor, hold-out set ({len(HOLDOUT)} messages): {tp} found, {fp} unexpected, "
          f"{fn} missed: precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    assert precision >= 0.9
    assert recall >= 0.85


# -- rules ------------------------------------------------------------------------------------------


def test_every_rule_applies_a_function() -> None:
    # A decorator stacked on another rule would register None.
    assert _RULES and all(callable(rule.apply) for rule in _RULES)
    assert len({rule.apply for rule in _RULES}) == len(_RULES)


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("My name is diego.", ("personal_info", "name", "Diego")),
        ("My name is Ana Lopez.", ("personal_info", "name", "Ana Lopez")),
        ("I'm a 30-year-old teacher.", ("personal_info", "age", 30)),
        ("I just turned 40!", ("personal_info", "age", 40)),
        ("I was born in 1990.", ("personal_info", "birth_year", 1990)),
        ("I was born in Lisbon.", ("personal_info", "hometown", "Lisbon")),
        ("My birthday is on May 3rd.", ("personal_info", "birthday", "May 3rd")),
        ("I'm based in Austin, Texas.", ("personal_info", "location", "Austin, Texas")),
        ("I work at the Royal Mail.", ("work", "employer", "the Royal Mail")),
        ("I work in marketing.", ("work", "field", "marketing")),
        ("I work in a hospital.", ("work", "workplace", "a hospital")),
        ("I'm retired.", ("work", "employment_status", "retired")),
        ("I'm a student.", ("work", "job", "student")),
        ("My profession is architecture.", ("work", "job", "architecture")),
        ("I teach maths.", ("work", "job", "maths teacher")),
        ("My brother's name is Tom.", ("relationships", "brother", "Tom")),
        ("I have no kids.", ("relationships", "number_of_children", 0)),
        ("I'm married to Sarah.", ("relationships", "partner", "Sarah")),
        ("I have a dog named Rex.", ("relationships", "pet_dog", "Rex")),
        ("I have a cat.", ("relationships", "pet_cat", "cat")),
        ("My best friend Jake is visiting.", ("relationships", "best_friend", "Jake")),
        ("I prefer tea to coffee.", ("preferences", "tea", "likes")),
        ("I'm a big fan of Taylor Swift.", ("preferences", "taylor_swift", "likes")),
        ("I'm not into sports.", ("preferences", "sports", "dislikes")),
        ("Blue is my favourite colour.", ("preferences", "favorite_colour", "Blue")),
        ("I'm vegan.", ("preferences", "diet", "vegan")),
        ("I like to cook.", ("preferences", "to_cook", "likes")),
        ("I go hiking most weekends.", ("hobbies", "hiking", "hiking")),
        ("I do yoga.", ("hobbies", "yoga", "yoga")),
        ("I swim every morning.", ("hobbies", "swimming", "swimming")),
        ("In my free time I knit.", ("hobbies", "knit", "knit")),
        ("I want to run a marathon next year.", ("goals", "run_a_marathon", "run a marathon next year")),
        ("I'm saving up for a new car.", ("goals", "save_for_a_new_car", "save for a new car")),
        ("I'm learning Spanish.", ("goals", "learn_spanish", "learn Spanish")),
        ("I'm diagnosed with something rare.", None),
        ("I was diagnosed with celiac disease.", ("health", "condition_celiac_disease", "celiac disease")),
        ("I'm pregnant!", ("health", "condition_pregnancy", "pregnant")),
        ("I broke my left arm.", ("health", "injury", "broken arm")),
        ("I just got engaged!", ("events", "engagement", "got engaged")),
        ("I graduated last week.", ("events", "graduation", "graduated (last week)")),
        ("I got laid off today.", ("events", "job_loss", "lost their job (today)")),
        ("I'm moving to Lisbon next month.", ("events", "move", "moving to Lisbon (next month)")),
        ("My grandfather passed away.", ("events", "loss_grandfather", "grandfather died")),
        ("It's my birthday today!", ("events", "birthday", "birthday (today)")),
        ("I have a surgery on Monday.", ("events", "upcoming_surgery", "surgery (on monday)")),
        ("I drive a Tesla Model 3.", ("other", "car", "Tesla Model 3")),
        ("I'm feeling so lonely.", ("other", "feeling", "lonely")),
    ],
)
def test_each_rule(text: str, fact: Triple | None) -> None:
    found = {(f.category, f.key, f.value) for f in extract_facts(text)}
    if fact is None:
        assert found == set()
    else:
        assert fact in found


@pytest.mark.parametrize(
    "text",
    [
        "I'm not a doctor.",
        "I don't have a dog.",
        "I don't live in Paris anymore.",
        "My name is not important.",
        "I'm not allergic to anything.",
        "Nobody calls me Bob.",
        "If I had a sister named Ana, I would be happy.",
        "I wish I lived in Rome.",
        "What if I moved to Rome?",
        "Do I like jazz? No idea.",
        "She told me she lives in Paris.",
        'My sister says "I hate my job".',
        "Imagine I was a pilot.",
        "I love it.",
        "I like that idea.",
        "I like your answer.",
        "I want to ask you something.",
        "I want you to remember this.",
        "I'm going to make tea.",
        "I'm 5 minutes late.",
        "I lived in Rome as a student.",
        "I hate you.",
    ],
)
def test_no_junk(text: str) -> None:
    assert extract_facts(text) == []


def test_negation_turns_a_like_into_a_dislike() -> None:
    assert [(f.key, f.value) for f in extract_facts("I don't like jazz")] == [("jazz", "dislikes")]
    assert [(f.key, f.value) for f in extract_facts("I do like jazz")] == [("jazz", "likes")]
    assert extract_facts("I don't hate jazz") == []


def test_tag_questions_keep_the_statement() -> None:
    assert [(f.key, f.value) for f in extract_facts("I love jazz, do you?")] == [("jazz", "likes")]


def test_reported_speech_keeps_who_said_it() -> None:
    facts = extract_facts("My sister Ana says I work too much.")
    assert [(f.key, f.value) for f in facts] == [("sister", "Ana")]


def test_lists_split_but_fixed_pairs_stay_whole() -> None:
    keys = [f.key for f in extract_facts("I love jazz, blues and rock and roll.")]
    assert keys == ["jazz", "blues", "rock_and_roll"]


def test_hedges_lower_the_confidence() -> None:
    (sure,) = extract_facts("I'm allergic to cats.")
    (hedged,) = extract_facts("I think I'm allergic to cats.")
    assert hedged.confidence == pytest.approx(sure.confidence * 0.75, abs=1e-3)


def test_every_fact_points_to_its_source() -> None:
    source = MessageRef(message_id="m-7", message_index=7)
    facts = extract_facts("Hello there. I live in Oslo! I love skiing.", source=source)
    assert [(f.source.message_id, f.source.message_index, f.source.text) for f in facts if f.source] == [
        ("m-7", 7, "I live in Oslo!"),
        ("m-7", 7, "I love skiing."),
    ]
    assert all(f.extractor == "rules" and 0.0 <= f.confidence <= 1.0 for f in facts)


def test_the_last_statement_wins_within_a_message() -> None:
    facts = extract_facts("I live in Oslo. Actually no, I live in Bergen.")
    assert [(f.key, f.value) for f in facts] == [("location", "Bergen")]


def test_the_extractor_interface() -> None:
    extractor = RulesFactExtractor()
    assert isinstance(extractor, FactExtractor) and not extractor.is_async and extractor.name == "rules"
    result = extractor.extract("I'm 30.")
    assert isinstance(result, ExtractionResult)
    assert not result.failed and result.raw is None and result.episodes == () and result.attempts == 1
    with pytest.raises(SessionError, match="message must be a string"):
        extractor.extract(b"I'm 30")  # type: ignore[arg-type]


async def test_a_sync_extractor_can_be_awaited() -> None:
    result = await RulesFactExtractor().aextract("I'm 30.")
    assert [f.value for f in result.facts] == [30]


def test_persona_categories_resolve_aliases() -> None:
    assert persona_categories(["work", "tech_stack", "astrology"]) == {"work"}
    assert persona_categories(["diet"]) == {"preferences", "health"}
    assert all(set(v) <= set(FACT_CATEGORIES) for v in CATEGORY_ALIASES.values())
    # Every shipped persona's categories mean something.
    from luminora_nb.personality.library import builtin_names

    for name in builtin_names():
        definition = get_builtin(name).definition
        assert definition is not None
        for category in definition.memory_preferences.fact_categories:
            assert persona_categories([category]), f"{name}: {category}"


# -- merging ----------------------------------------------------------------------------------------


def _fact(key: str = "jazz", value: Any = "likes", confidence: float = 0.8, **kw: Any) -> ExtractedFact:
    return ExtractedFact(
        category=kw.pop("category", "preferences"), key=key, value=value, confidence=confidence, **kw
    )


def test_a_new_fact() -> None:
    source = MessageRef(message_index=2, text="I love jazz.")
    update = merge_fact(None, _fact(source=source), user_id="u1", session_id="s1", now=T0)
    assert update.change == "new" and update.is_news
    fact = update.fact
    assert (fact.user_id, fact.category, fact.key, fact.value, fact.confidence) == (
        "u1", "preferences", "jazz", "likes", 0.8
    )  # fmt: skip
    assert fact.session_id == "s1" and fact.source == source and fact.source_message == "I love jazz."
    assert fact.created_at == fact.updated_at == T0 and fact.history == []


def test_the_same_value_confirms_without_history() -> None:
    old = merge_fact(None, _fact(confidence=0.8), user_id="u1", now=T0).fact
    update = merge_fact(old, _fact(value="LIKES", confidence=0.5), user_id="u1", now=T0 + timedelta(days=1))
    assert update.change == "confirmed" and not update.is_news
    assert update.fact.confidence == pytest.approx(0.9)  # 1 - 0.2 * 0.5
    assert update.fact.history == [] and update.fact.created_at == T0
    assert update.fact.updated_at == T0 + timedelta(days=1)
    capped = merge_fact(update.fact, _fact(confidence=0.99), user_id="u1").fact
    assert capped.confidence == 0.99


def test_a_new_value_wins_and_the_old_one_goes_to_history() -> None:
    first = merge_fact(None, _fact(value="likes", confidence=0.9), user_id="u1", now=T0).fact
    update = merge_fact(
        first, _fact(value="dislikes", confidence=0.8), user_id="u1", now=T0 + timedelta(hours=1)
    )
    assert update.change == "updated" and update.previous_value == "likes"
    assert update.fact.value == "dislikes" and update.fact.confidence == 0.8
    assert update.fact.history == [FactRevision(value="likes", confidence=0.9, source=None, updated_at=T0)]
    assert update.fact.created_at == T0


def test_history_is_capped() -> None:
    fact = merge_fact(None, _fact(value="v0"), user_id="u1").fact
    for i in range(1, 6):
        fact = merge_fact(fact, _fact(value=f"v{i}"), user_id="u1", history_limit=3).fact
    assert [r.value for r in fact.history] == ["v2", "v3", "v4"]
    assert merge_fact(fact, _fact(value="x"), user_id="u1", history_limit=0).fact.history == []


def test_merging_stored_dicts() -> None:
    stored = merge_fact(None, _fact(), user_id="u1", now=T0).fact.model_dump(mode="json")
    update = merge_fact(stored, _fact(value="dislikes"), user_id="u1")
    assert update.change == "updated" and update.fact.history[0].value == "likes"
    assert fact_identity(stored) == ("preferences", "jazz")


def test_merge_errors() -> None:
    old = merge_fact(None, _fact(), user_id="u1").fact
    with pytest.raises(SessionError, match="cannot merge"):
        merge_fact(old, _fact(key="blues"), user_id="u1")
    with pytest.raises(SessionError, match="not a valid fact"):
        merge_fact(
            {"category": "preferences", "key": "jazz", "value": 1, "confidence": 7}, _fact(), user_id="u1"
        )
    for bad in (None, 7, "", "  "):
        with pytest.raises(SessionError, match="user_id must be a non-empty string"):
            merge_fact(None, _fact(), user_id=bad)  # type: ignore[arg-type]


def test_merge_facts_of_a_message() -> None:
    known = [
        merge_fact(None, _fact(key="location", value="Oslo", category="personal_info"), user_id="u").fact
    ]
    updates = merge_facts(known, extract_facts("I live in Bergen and I love skiing."), user_id="u")
    assert [(u.fact.key, u.change, u.previous_value) for u in updates] == [
        ("location", "updated", "Oslo"),
        ("skiing", "new", None),
    ]
    twice = merge_facts([], [_fact(value="likes"), _fact(value="dislikes")], user_id="u")
    assert [(u.change, u.fact.value, u.fact.history) for u in twice] == [("new", "dislikes", [])]


# -- the new types refuse bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "pets"}, "unknown fact category 'pets'"),
        ({"confidence": 1.5}, "confidence must lie between 0 and 1"),
        ({"confidence": -0.1}, "confidence must lie between 0 and 1"),
        ({"confidence": math.nan}, "confidence must be a finite number"),
        ({"confidence": "high"}, "confidence must be a number"),
        ({"confidence": True}, "confidence must be a number"),
        ({"key": "Favourite Colour"}, "fact key must be a lower-case identifier"),
        ({"key": ""}, "fact key must be a lower-case identifier"),
    ],
)
def test_extracted_fact_validation(kwargs: dict[str, Any], message: str) -> None:
    fields = {"category": "preferences", "key": "jazz", "value": "likes", "confidence": 0.8, **kwargs}
    with pytest.raises(SessionError, match=message):
        ExtractedFact(**fields)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"episode_type": "party"}, "unknown episode type 'party'"),
        ({"importance": 11}, "importance must lie between 0 and 10"),
        ({"importance": -1}, "importance must lie between 0 and 10"),
        ({"importance": math.inf}, "importance must be a finite number"),
        ({"importance": "7"}, "importance must be a number"),
        ({"sentiment": "ecstatic"}, "unknown sentiment 'ecstatic'"),
    ],
)
def test_detected_episode_validation(kwargs: dict[str, Any], message: str) -> None:
    fields = {"episode_type": "milestone", "title": "T", "summary": "S", "importance": 5, **kwargs}
    with pytest.raises(SessionError, match=message):
        DetectedEpisode(**fields)


def test_checks() -> None:
    assert check_user_id("u") == "u"
    assert check_unit("intensity", 0) == 0.0
    assert check_importance(10) == 10.0
    with pytest.raises(SessionError, match="user_id must be a non-empty string, got 3 \\(int\\)"):
        check_user_id(3)
    episode = DetectedEpisode(episode_type="milestone", title="T", summary="S", importance=5)
    with pytest.raises(SessionError, match="user_id"):
        episode.to_episode(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", memory_types.PENDING_EXPORTS)
def test_pending_exports_exist(name: str) -> None:
    assert hasattr(memory_types, name)


@pytest.mark.parametrize(
    "model",
    [
        MessageRef(message_id="m1", message_index=3, text="I live in Oslo."),
        FactRevision(value=["a", "b"], confidence=0.7, source=MessageRef(text="x"), updated_at=T0),
        ExtractedFact(
            category="health", key="allergy_nuts", value="nuts", confidence=0.95, source=MessageRef(text="y")
        ),
        DetectedEpisode(
            episode_type="achievement",
            title="Marathon",
            summary="User ran a marathon.",
            importance=7.5,
            sentiment="very_positive",
            timestamp=T0,
            source_messages=[MessageRef(message_index=1, text="I ran it!")],
            cues=["I ran"],
        ),
        Fact(
            user_id="u",
            category="personal_info",
            key="location",
            value="Bergen",
            history=[FactRevision(value="Oslo", updated_at=T0)],
            source=MessageRef(message_index=4, text="I live in Bergen."),
        ),
    ],
    ids=lambda m: type(m).__name__,
)
def test_new_models_round_trip_through_json(model: Any) -> None:
    text = model.model_dump_json()
    again = type(model).model_validate_json(text)
    assert again == model and again.model_dump_json() == text
    assert type(model).model_validate(json.loads(text)) == model


# -- the pipeline: settings and defaults ------------------------------------------------------------


def _learn(
    text: str,
    personality: PersonalityData | PersonaDefinition | None = None,
    config: MemoryConfig | None = None,
    **state: Any,
) -> TurnLearning:
    return MemoryPipeline().analyse(text, LearningState(user_id="u1", now=T0, **state), personality, config)


def test_an_unconfigured_session_learns_scores_and_moves_affinity() -> None:
    learned = _learn("Hi, I'm Diego and I love jazz! Thanks so much, you're amazing.")
    assert [(u.fact.key, u.fact.value, u.change) for u in learned.facts] == [
        ("name", "Diego", "new"),
        ("jazz", "likes", "new"),
    ]
    assert learned.sentiment.label == "very_positive"
    assert learned.interaction.type == "compliment"
    assert learned.affinity is not None and learned.affinity.points_before == 0
    assert learned.affinity.points_after == 5
    assert learned.mood.mood == "cheerful"  # a fallback mood of a persona without moods
    assert not learned.extraction_failed and learned.fallback is None


def test_track_flags_keep_or_drop_categories() -> None:
    text = "I love jazz. I play chess. I have an exam tomorrow. I'm feeling anxious."
    default = {(u.fact.category, u.fact.key) for u in _learn(text).facts}
    assert ("preferences", "jazz") in default and ("hobbies", "chess") in default
    reasons = {s.fact.key: s.reason for s in _learn(text).skipped_facts}
    assert "track_emotions is off" in reasons["feeling"]  # off by default
    # a persona that does not set fact_categories keeps every category, events included
    assert ("events", "upcoming_exam") in default
    listed = PersonaDefinition.model_validate(
        {**get_builtin("willow").definition.model_dump(mode="json"),  # type: ignore[union-attr]
         "memory_preferences": {"fact_categories": ["preferences"]}}
    )  # fmt: skip
    reasons = {s.fact.key: s.reason for s in _learn(text, listed).skipped_facts}
    assert "not in the persona's memory_preferences.fact_categories" in reasons["upcoming_exam"]

    off = MemoryConfig(track_preferences=False, track_topics=False, track_context=False, track_emotions=True)
    persona = PersonaDefinition.model_validate(
        {**get_builtin("willow").definition.model_dump(mode="json"),  # type: ignore[union-attr]
         "memory_preferences": {"fact_categories": list(FACT_CATEGORIES)}}
    )  # fmt: skip
    learned = _learn(text, persona, off)
    assert {(u.fact.category, u.fact.key) for u in learned.facts} == {("other", "feeling")}
    assert {s.reason for s in learned.skipped_facts} == {
        "MemoryConfig.track_preferences is off",
        "MemoryConfig.track_topics is off",
        "MemoryConfig.track_context is off",
    }


def test_persona_preferences_filter_facts() -> None:
    moss = get_builtin("moss")  # remember_facts is off
    learned = _learn("I'm 34 and I love tea.", moss)
    assert learned.facts == () and all("remember_facts is off" in s.reason for s in learned.skipped_facts)
    assert learned.interaction.type == "personal_share"  # sharing still counts
    bastion = get_builtin("bastion").definition  # work, systems, tech_stack, goals
    learned = _learn("I'm a software engineer and I love tea.", bastion)
    assert [u.fact.key for u in learned.facts] == ["job"]


def test_known_facts_are_merged_and_episodes_stored() -> None:
    known = [Fact(user_id="u1", category="personal_info", key="location", value="Oslo", updated_at=T0)]
    learned = _learn("I live in Bergen now. My dog Rex died yesterday.", known_facts=known, session_id="s1")
    update, loss = learned.facts
    assert update.change == "updated" and update.fact.history[0].value == "Oslo"
    assert (loss.fact.category, loss.fact.key, loss.change) == ("events", "loss_dog", "new")
    assert learned.new_facts == (update, loss)
    assert learned.stored_episode is not None
    assert (learned.stored_episode.user_id, learned.stored_episode.session_id) == ("u1", "s1")
    assert learned.stored_episode.title == "Loss of a pet"


def test_episode_threshold_of_the_persona() -> None:
    assert _learn("I just had lunch.").episode.candidate is not None
    assert _learn("I just had lunch.").stored_episode is None
    lyra = get_builtin("lyra")  # episode_min_importance 3
    assert _learn("I feel so lonely.", lyra).stored_episode is not None
    vex = get_builtin("vex")  # remember_episodes off
    learned = _learn("I just got engaged!", vex)
    assert learned.episode.candidate is not None and learned.stored_episode is None


def test_affinity_starts_at_the_persona_initial_points() -> None:
    willow = get_builtin("willow")  # initial 20, gratitude 4
    learned = _learn("Thank you!", willow)
    assert learned.affinity is not None
    assert (learned.affinity.points_before, learned.affinity.points_after) == (20, 24)
    learned = _learn("Thank you!", willow, affinity_points=99)
    assert learned.affinity is not None and learned.affinity.points_after == 100


def test_the_mood_state_carries_over() -> None:
    aurora = get_builtin("aurora")
    first = _learn("I'm so stressed about my exam", aurora)
    assert first.mood.mood == "concerned"
    second = _learn("ok", aurora, mood=first.mood)
    assert second.mood.mood == "concerned" and second.mood.turns_left == first.mood.turns_left - 1
    stored = _learn("ok", aurora, mood=first.mood.record())
    assert stored.mood.mood == "concerned"


def test_pipeline_bad_input() -> None:
    pipeline = MemoryPipeline()
    for message in ("", "   ", None, 3):
        with pytest.raises(SessionError, match="message must be a non-empty string"):
            pipeline.analyse(message, LearningState(user_id="u"))  # type: ignore[arg-type]
    for user in (None, 5, ""):
        with pytest.raises(SessionError, match="user_id"):
            pipeline.analyse("hi", LearningState(user_id=user))  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="affinity points"):
        pipeline.analyse("hi", LearningState(user_id="u", affinity_points=101))
    with pytest.raises(SessionError, match="state must be a LearningState"):
        pipeline.analyse("hi", {"user_id": "u"})  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="personality must be"):
        pipeline.analyse("hi", LearningState(user_id="u"), "aurora")  # type: ignore[arg-type]


def test_prompt_memories_use_the_persona_caps() -> None:
    regent = get_builtin("regent")  # max 15 facts, categories work/schedule/contacts/preferences/goals
    facts = [
        Fact(user_id="u", category="preferences", key=f"k{i}", value="likes", confidence=0.9)
        for i in range(20)
    ]
    facts.append(Fact(user_id="u", category="health", key="allergy_nuts", value="nuts", confidence=0.99))
    selection = MemoryPipeline.prompt_memories(facts, [], regent, now=T0)
    assert len(selection.facts) == 15 and all(r.fact.category == "preferences" for r in selection.facts)
    assert MemoryPreferences().max_facts_in_prompt == 10
    assert len(MemoryPipeline.prompt_memories(facts, [], None, now=T0).facts) == 10


def test_the_package_exports_what_it_lazily_resolves() -> None:
    import luminora_nb.memory as memory

    assert sorted(memory.__all__) == sorted(memory._LAZY)
    assert all(getattr(memory, name) is not None for name in memory.__all__)
