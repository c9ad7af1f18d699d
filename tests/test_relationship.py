"""Affinity points and levels."""

from __future__ import annotations

import itertools

import pytest

from luminora_nb.personality.library import get_builtin
from luminora_nb.relationship import DEFAULT_LEVELS, apply_delta, level_name


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        (0, "stranger"),
        (20, "stranger"),
        (21, "acquaintance"),
        (45, "friend"),
        (61, "close_friend"),
        (100, "soulmate"),
    ],
)
def test_default_ladder(points: int, expected: str) -> None:
    assert level_name(None, points) == expected


def test_default_ladder_covers_0_to_100_without_gaps() -> None:
    edges = [(low, high) for _, low, high in DEFAULT_LEVELS]
    assert edges[0][0] == 0 and edges[-1][1] == 100
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(edges))


def test_persona_levels_are_used() -> None:
    aurora = get_builtin("aurora").definition
    assert level_name(aurora, 10) == "stranger"
    assert level_name(aurora, 30) == "acquaintance"
    assert level_name(aurora, 90) == "friend"


@pytest.mark.parametrize(
    ("points", "delta", "cap", "expected"),
    [(50, 5, None, 55), (98, 5, None, 100), (2, -5, None, 0), (50, 30, 10, 60), (50, -30, 10, 40)],
)
def test_apply_delta_clamps(points: int, delta: int, cap: int | None, expected: int) -> None:
    assert apply_delta(points, delta, max_change=cap) == expected


# -- one scheme: interactions, caps, history ----------------------------------------------------

from datetime import UTC, datetime  # noqa: E402

from luminora_nb.errors import SessionError  # noqa: E402
from luminora_nb.relationship import (  # noqa: E402
    AffinityChange,
    append_history,
    change_affinity,
    check_points_delta,
    classify_interaction,
    interaction_change,
    interaction_points,
    starting_points,
)
from luminora_nb.types.persona import AffinityConfig, PersonaDefinition  # noqa: E402

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _persona(name: str = "willow", **changes: object) -> PersonaDefinition:
    base = get_builtin(name).definition
    assert base is not None
    return PersonaDefinition.model_validate({**base.model_dump(mode="json"), **changes})


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("You're useless, shut up.", "hostile"),
        ("You're so smart, great answer!", "compliment"),
        ("Thank you!", "gratitude"),
        ("That's wrong and not helpful.", "negative"),
        ("My sister Ana got married!", "personal_share"),
        ("My day was awful.", "personal_share"),
        ("What a lovely morning.", "positive"),
        ("The meeting is at noon.", "neutral"),
        ("Thanks for nothing.", "negative"),
        ("No thanks.", "neutral"),
        ("You're not useless.", "positive"),  # a negated insult is no insult
    ],
)
def test_builtin_interaction_types(text: str, kind: str) -> None:
    assert classify_interaction(text).type == kind


def test_custom_types_of_shipped_personas() -> None:
    captain = get_builtin("captain_quip").definition
    found = classify_interaction("hahaha that one got me", persona=captain)
    assert (found.type, found.custom, found.points) == ("laughter", True, 4)
    assert interaction_points(get_builtin("bastion").definition, "fixed_finding") == 5
    aurora = get_builtin("aurora").definition
    assert classify_interaction("How do tides work?", persona=aurora).type == "question"
    # a question is a weaker signal than thanks
    assert classify_interaction("Thanks! How do tides work?", persona=aurora).type == "gratitude"


def test_a_persona_defines_its_own_type_and_cues() -> None:
    persona = _persona(
        affinity_config={"interaction_points": {"pun": 7, "neutral": 0}, "max_change_per_turn": 5},
        metadata={"interaction_triggers": {"pun": ["pun intended", "wordplay"]}},
    )
    found = classify_interaction("That was some wordplay, pun intended", persona=persona)
    assert (found.type, found.points, found.custom) == ("pun", 7, True)
    change = interaction_change(50, found.type, persona, now=T0)
    assert change is not None
    assert (change.requested_delta, change.points_delta, change.capped) == (7, 5, True)  # the per-turn cap
    # a built-in type the persona leaves out keeps its default points
    assert interaction_points(persona, "hostile") == -10
    assert interaction_points(persona, "never_heard_of") == 0


def test_max_change_per_turn_caps_both_ways() -> None:
    config = AffinityConfig(max_change_per_turn=4)
    up = interaction_change(50, "compliment", config=config)
    down = interaction_change(50, "hostile", config=config)
    assert up is not None and down is not None
    assert (up.points_delta, down.points_delta) == (4, -4) and up.capped and down.capped


def test_affinity_off_moves_nothing() -> None:
    assert interaction_change(50, "compliment", config=AffinityConfig(enabled=False)) is None


def test_changes_cross_levels_and_keep_history() -> None:
    history: list[AffinityChange] = []
    points = starting_points(None)
    for i in range(5):
        change = interaction_change(points, "compliment", None, now=T0)
        assert change is not None and change.points_before == points
        history = append_history(history, change)
        points = change.points_after
        assert change.points_after == 5 * (i + 1)
    crossing = [c for c in history if c.level_changed]
    assert [(c.level_before, c.level_after) for c in crossing] == [("stranger", "acquaintance")]
    entry = crossing[0].history_entry()
    assert (entry.points_delta, entry.interaction_type, entry.affinity_points) == (5, "compliment", 25)
    assert entry.current_level == "acquaintance" and entry.timestamp == T0
    # stored as dicts and read back
    again = append_history([c.model_dump(mode="json") for c in history], change_affinity(25, 1), limit=3)
    assert len(again) == 3 and again[-1].reason == "explicit"
    with pytest.raises(SessionError, match="affinity history entry"):
        append_history([{"nonsense": 1}], change_affinity(25, 1))


def test_explicit_changes_are_bounded_but_not_capped() -> None:
    change = change_affinity(50, 30, interaction_type="gift", reason="a present")
    assert (change.points_after, change.reason, change.interaction_type, change.capped) == (
        80,
        "a present",
        "gift",
        False,
    )
    assert change_affinity(95, 10).points_after == 100 and change_affinity(3, -10).points_after == 0


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (float("nan"), "points_delta must be a finite number"),
        (float("inf"), "points_delta must be a finite number"),
        ("5", "points_delta must be a number, got '5'"),
        (True, "points_delta must be a number"),
        (None, "points_delta must be a number"),
    ],
)
def test_bad_deltas(delta: object, message: str) -> None:
    with pytest.raises(SessionError, match=message):
        check_points_delta(delta)
    with pytest.raises(SessionError, match=message):
        change_affinity(50, delta)


def test_bad_points_and_types() -> None:
    with pytest.raises(SessionError, match="affinity points must be an integer from 0 to 100"):
        change_affinity(101, 1)
    with pytest.raises(SessionError, match="interaction_type must be a non-empty string"):
        change_affinity(50, 1, interaction_type="")
    with pytest.raises(SessionError, match="message must be a string"):
        classify_interaction(None)  # type: ignore[arg-type]
