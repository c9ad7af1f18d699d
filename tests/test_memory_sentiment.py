"""The offline lexicon sentiment scorer (luminora_nb.memory.sentiment)."""

from __future__ import annotations

import pytest

from luminora_nb.memory.sentiment import LexiconSentimentScorer, label_for, score_sentiment


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this, it's amazing!", "very_positive"),
        ("This is good.", "positive"),
        ("The meeting is at noon.", "neutral"),
        ("I don't like jazz", "negative"),
        ("I hate this, it's terrible and awful.", "very_negative"),
    ],
)
def test_labels(text: str, label: str) -> None:
    assert score_sentiment(text).label == label


def test_negation_flips_and_damps() -> None:
    assert score_sentiment("not bad").valence > 0
    assert score_sentiment("not bad").valence < score_sentiment("good").valence
    assert score_sentiment("I don't like it").valence < 0


def test_intensifiers_softeners_and_exclamations() -> None:
    assert score_sentiment("very good").valence > score_sentiment("good").valence
    assert score_sentiment("a bit sad").valence > score_sentiment("sad").valence
    assert score_sentiment("good!!!").valence > score_sentiment("good").valence


def test_but_shifts_the_weight_to_what_follows() -> None:
    assert score_sentiment("the food was good but the service was slow and terrible").valence < 0


@pytest.mark.parametrize(
    ("valence", "label"),
    [
        (-0.6, "very_negative"),
        (-0.15, "negative"),
        (0.0, "neutral"),
        (0.15, "positive"),
        (0.6, "very_positive"),
    ],
)
def test_label_boundaries(valence: float, label: str) -> None:
    assert label_for(valence) == label


def test_valence_stays_within_bounds_and_is_deterministic() -> None:
    text = "AMAZING wonderful fantastic brilliant superb excellent love love love!!!"
    result = LexiconSentimentScorer().score(text)
    assert -1.0 <= result.valence <= 1.0 and result.intensity == abs(result.valence)
    assert result == score_sentiment(text)
    assert result.hits  # what it counted is kept
