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
