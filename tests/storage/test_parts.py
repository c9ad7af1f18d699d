"""The small shared parts of the storage layer: vector ranking, credential scrubbing, write naming."""

from __future__ import annotations

import random
import sys

import pytest

from luminora_nb.storage._documents import FACT, MEMORY, Delete, Key, Put, described
from luminora_nb.storage._names import redacted_url, scrub_credentials
from luminora_nb.storage._vectors import cosine_ranking


def test_numpy_and_pure_python_rank_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    query = [rng.uniform(-1, 1) for _ in range(32)]
    candidates = [(f"v{i}", [rng.uniform(-1, 1) for _ in range(32)]) for i in range(200)]
    candidates += [("zero", [0.0] * 32), ("short", [1.0] * 31), ("same", list(query))]
    with_numpy = cosine_ranking(query, candidates, 50)
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now fails: the pure Python way
    without = cosine_ranking(query, candidates, 50)
    assert [item for _, item in with_numpy] == [item for _, item in without]
    assert [score for score, _ in with_numpy] == pytest.approx([score for score, _ in without], abs=1e-6)
    assert with_numpy[0] == (pytest.approx(1.0, abs=1e-6), "same")
    assert "short" not in [item for _, item in with_numpy]


def test_ranking_rules_for_zero_vectors_ties_and_limits() -> None:
    candidates = [("a", [1.0, 0.0]), ("zero", [0.0, 0.0]), ("b", [2.0, 0.0]), ("c", [-1.0, 0.0])]
    assert cosine_ranking([1.0, 0.0], candidates, 10) == [(1.0, "a"), (1.0, "b"), (0.0, "zero"), (-1.0, "c")]
    assert cosine_ranking([0.0, 0.0], candidates, 2) == [(0.0, "a"), (0.0, "zero")]
    assert cosine_ranking([1.0, 0.0], candidates, 0) == []
    assert cosine_ranking([], candidates, 3) == []


@pytest.mark.parametrize(
    ("url", "message", "expected"),
    [
        (
            "redis://intruder:hunter2-pw@h:1/0",
            "WRONGPASS hunter2-pw for intruder",
            "WRONGPASS *** for intruder",
        ),
        ("postgresql://u:p%40ss@h/db", "auth p@ss p%40ss", "auth *** ***"),
        ("mongodb://a:s3cret@h1:1,h2:2/db", "failed: s3cret", "failed: ***"),
        ("postgresql://postgres@h/db", 'role "postgres" does not exist', 'role "postgres" does not exist'),
        ("not a url", "connect to redis://bob:pw@host failed", "connect to redis://***@host failed"),
    ],
)
def test_one_rule_scrubs_passwords_from_driver_messages(url: str, message: str, expected: str) -> None:
    assert scrub_credentials(message, url) == expected


def test_redacted_url_keeps_hosts_and_drops_credentials() -> None:
    assert redacted_url("mongodb://a:b@h1:1,h2:2/db", kind="MongoDB URL") == "mongodb://h1:1,h2:2/db"
    assert redacted_url("nonsense", kind="Redis URL") == "<Redis URL>"


def test_writes_are_named_by_the_call_they_come_from() -> None:
    fact = Key(FACT, "u1", ("pets", "dog"))
    assert described([Put(fact, {})]) == ("save_fact", "fact pets/dog of user 'u1'")
    assert described([Put(Key(MEMORY, "s1", ("k",)), {})]) == ("set_memory", "memory 'k' of session 's1'")
    assert described([Delete(fact), Delete(fact)]) == ("batch", "a batch of 2 writes")
