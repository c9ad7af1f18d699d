"""Semantic memory search: cosine similarity blended with a lexical score (pure, no storage).

Given a query and candidate memories (:class:`MemoryCandidate`: id, kind, text, stored
vector, optional importance and time), :class:`MemoryIndex` ranks them by

    score = cosine(query, memory)
          + lexical * bm25(query, memory) / bm25 of a full match     (in [0, 1])
          + importance * (importance - 0.5)                          (when known)
          + recency * (2 ** (-age / half_life) - 0.5)                (when known)

with small weights (:class:`SearchWeights`: 0.15, 0.05, 0.05 by default), so meaning
decides and shared rare words, importance and freshness break near-ties. ``mode=
"semantic"`` ranks by cosine alone and ``mode="lexical"`` by BM25 alone (the baseline the
evaluation tests compare against).

Vectors: every candidate's vector must come from the same model as the query's (same
``model_id`` and ``dimension``, see :func:`~.embeddings.embedding_metadata`). Others are
refused (``policy="refuse"``, the default: :class:`~.embeddings.EmbeddingMismatchError`
says how many and from which models) or embedded again from their text
(``policy="reembed"``; the new vectors are in :attr:`MemoryIndex.reembedded` so the caller
can store them). Candidates without a vector are embedded under both policies.

An index is built once (one float32 matrix, L2-normalised rows, and a BM25 inverted
index) and searched many times: a query costs one matrix-vector product and a few numpy
operations (``benchmarks/bench_memory.py``, 100,000 memories of 256 dimensions on a busy
2-core machine: about 11 ms by cosine alone, 17 ms blended, the query's embedding
included). Ties keep the order of the candidates. Everything is deterministic.

Example:
    >>> from luminora_nb.memory.embeddings import default_embedder
    >>> memories = [
    ...     MemoryCandidate("f1", "fact", "My sister Ana lives in Lisbon."),
    ...     MemoryCandidate("f2", "fact", "I drive an old red Volvo."),
    ...     MemoryCandidate("e1", "episode", "We adopted a golden retriever puppy."),
    ... ]
    >>> index = MemoryIndex(memories, default_embedder())
    >>> [hit.item_id for hit in index.search("what car do I have?", limit=2)][0]
    'f2'
    >>> hit = index.search("where does her sibling reside?", limit=1)[0]
    >>> hit.to_result().kind, hit.to_result().text
    ('fact', 'My sister Ana lives in Lisbon.')
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from ..types.memory import MemorySearchResult
from .embeddings import (
    Embedder,
    EmbeddingError,
    EmbeddingMismatchError,
    FloatMatrix,
    check_texts,
    query_vectors,
    unpack_vector,
)

__all__ = [
    "MemoryCandidate",
    "MemoryIndex",
    "MemoryKind",
    "Policy",
    "SearchHit",
    "SearchMode",
    "SearchWeights",
    "lexical_tokens",
    "search_memories",
]

MemoryKind = Literal["fact", "episode", "message"]
Policy = Literal["refuse", "reembed"]
SearchMode = Literal["hybrid", "semantic", "lexical"]

_KINDS: frozenset[str] = frozenset(get_args(MemoryKind))
_POLICIES: frozenset[str] = frozenset(get_args(Policy))
_MODES: frozenset[str] = frozenset(get_args(SearchMode))

#: A stored vector: float32 bytes (:func:`~.embeddings.pack_vector`), a numpy array or floats.
VectorLike = bytes | bytearray | memoryview | npt.NDArray[Any] | Sequence[float]

# --------------------------------------------------------------------------- lexical

_WORD = re.compile(r"[^\W_]+")
_STOPWORD_TEXT = """a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else ever few for from further get gets got had hadn has hasn
    have haven having he her here hers herself him himself his how i if in into is isn it its
    itself just ll may me might more most must mustn my myself no nor not now of off on once
    only or other ought our ours ourselves out over own re s same shall shan she should shouldn
    so some such t than that the their theirs them themselves then there these they this those
    through to too under until up us ve very was wasn we were weren what when where which while
    who whom why will with won would wouldn you your yours yourself yourselves user users"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _stem(word: str) -> str:
    """A light suffix stripper (plurals, -ing, -ed), applied to queries and memories alike."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    return word


def lexical_tokens(text: str) -> list[str]:
    """The words BM25 compares: lower case, stop words out, light stemming.

    Example:
        >>> lexical_tokens("Where does the user's sister live? She lives in Lisbon!")
        ['sister', 'live', 'live', 'lisbon']
    """
    return [_stem(w) for w in _WORD.findall(text.casefold()) if len(w) > 1 and w not in _STOPWORDS]


class _BM25:
    """BM25 (k1 = 1.2, b = 0.75) over an inverted index of numpy posting arrays."""

    k1 = 1.2
    b = 0.75

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.size = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size and float(lengths.mean()) > 0 else 1.0
        self._norm = self.k1 * (1.0 - self.b + self.b * lengths / average)
        ids: dict[str, list[int]] = {}
        freqs: dict[str, list[int]] = {}
        for i, words in enumerate(documents):
            for word, count in Counter(words).items():
                ids.setdefault(word, []).append(i)
                freqs.setdefault(word, []).append(count)
        self._postings: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], float]] = {}
        for word, rows in ids.items():
            df = len(rows)
            idf = math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))
            self._postings[word] = (
                np.array(rows, dtype=np.intp),
                np.array(freqs[word], dtype=np.float32),
                idf,
            )

    def scores(self, query: Sequence[str]) -> FloatMatrix:
        """BM25 score of every document for ``query`` (0 where no word is shared)."""
        result = np.zeros(self.size, dtype=np.float32)
        for word in dict.fromkeys(query):
            posting = self._postings.get(word)
            if posting is None:
                continue
            rows, tf, idf = posting
            result[rows] += idf * tf * (self.k1 + 1.0) / (tf + self._norm[rows])
        return result

    def ceiling(self, query: Sequence[str]) -> float:
        """The score of a document of average length holding each query word once: what a
        memory matching the whole query scores (words no memory has count at full weight)."""
        unseen = math.log(1.0 + (self.size + 0.5) / 0.5)
        return sum(self._postings[w][2] if w in self._postings else unseen for w in dict.fromkeys(query))


# --------------------------------------------------------------------------- inputs and outputs


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class MemoryCandidate:
    """One memory to rank.

    Attributes:
        item_id: Its id (a fact key, an episode id, a message id).
        kind: ``"fact"``, ``"episode"`` or ``"message"``.
        text: What it says (embedded and matched lexically).
        vector: Its stored vector (float32 bytes, numpy array or floats), or None to embed it.
        model_id: The ``model_id`` of the embedder that made ``vector``.
        dimension: That embedder's ``dimension`` (default: the vector's length).
        importance: From 0 (trivial) to 1 (essential), or None when unknown.
        timestamp: When it happened or was learned (aware, or taken as UTC), or None.
        item: The memory itself (a fact or episode dict), returned with the hit.
    """

    item_id: str
    kind: str
    text: str
    vector: VectorLike | None = None
    model_id: str | None = None
    dimension: int | None = None
    importance: float | None = None
    timestamp: datetime | None = None
    item: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.item_id, str) or not self.item_id:
            raise EmbeddingError(f"a memory candidate needs a non-empty string id, got {self.item_id!r}")
        if self.kind not in _KINDS:
            raise EmbeddingError(
                f"memory {self.item_id!r}: kind must be one of {sorted(_KINDS)}, got {self.kind!r}"
            )
        if not isinstance(self.text, str):
            raise EmbeddingError(f"memory {self.item_id!r}: text must be a string")
        if self.importance is not None and not (
            isinstance(self.importance, int | float) and 0.0 <= float(self.importance) <= 1.0
        ):
            raise EmbeddingError(
                f"memory {self.item_id!r}: importance must be in [0, 1], got {self.importance!r}"
            )
        if self.timestamp is not None and self.timestamp.tzinfo is None:
            object.__setattr__(self, "timestamp", self.timestamp.replace(tzinfo=UTC))

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> MemoryCandidate:
        """A candidate from a stored embedding document (``Storage.get_embeddings``).

        Reads ``item_id``, ``kind``, ``text``, ``vector``, ``model_id``, ``dimension``,
        ``importance`` (an episode's 0-10 scale is brought to 0-1) and ``timestamp`` (or
        ``updated_at`` / ``created_at``); the whole document is the hit's ``item``.

        Example:
            >>> doc = {"item_id": "e1", "kind": "episode", "text": "Moved house", "importance": 8.0,
            ...        "timestamp": "2024-05-01T10:00:00+00:00"}
            >>> c = MemoryCandidate.from_document(doc)
            >>> c.importance, c.timestamp.year
            (0.8, 2024)
        """
        kind = str(document.get("kind", ""))
        importance = document.get("importance")
        if isinstance(importance, bool) or not isinstance(importance, int | float):
            importance = None
        elif kind == "episode":
            importance = min(max(float(importance) / 10.0, 0.0), 1.0)
        else:
            importance = min(max(float(importance), 0.0), 1.0)
        moment = None
        for key in ("timestamp", "updated_at", "created_at"):
            moment = _parse_time(document.get(key))
            if moment is not None:
                break
        dimension = document.get("dimension")
        return cls(
            item_id=str(document.get("item_id", "")),
            kind=kind,
            text=str(document.get("text", "")),
            vector=document.get("vector"),
            model_id=document.get("model_id"),
            dimension=int(dimension)
            if isinstance(dimension, int) and not isinstance(dimension, bool)
            else None,
            importance=importance,
            timestamp=moment,
            item=dict(document),
        )


@dataclass(frozen=True, slots=True)
class SearchWeights:
    """How much each signal adds to the cosine similarity (see the module notes).

    Example:
        >>> SearchWeights().lexical, SearchWeights(lexical=0.0).importance
        (0.15, 0.05)
    """

    lexical: float = 0.15
    importance: float = 0.05
    recency: float = 0.05
    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("lexical", "importance", "recency"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise EmbeddingError(f"SearchWeights.{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.half_life_days, int | float) and self.half_life_days > 0):
            raise EmbeddingError(f"SearchWeights.half_life_days must be > 0, got {self.half_life_days!r}")


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked memory: its final ``score`` and the parts it was made of."""

    item_id: str
    kind: str
    text: str
    score: float
    similarity: float
    lexical: float
    importance: float | None
    recency: float | None
    item: Mapping[str, Any]
    reembedded: bool = False

    def to_result(self) -> MemorySearchResult:
        """The hit as the seed's :class:`~luminora_nb.types.MemorySearchResult`.

        Its ``item`` is the memory's dict plus ``item_id``, ``similarity`` and ``lexical``.
        """
        item = {**self.item, "item_id": self.item_id, "similarity": self.similarity, "lexical": self.lexical}
        item.pop("vector", None)
        return MemorySearchResult.model_validate(
            {"kind": self.kind, "text": self.text, "score": self.score, "item": item}
        )


# --------------------------------------------------------------------------- the index


def _as_vector(value: VectorLike) -> FloatMatrix:
    if isinstance(value, bytes | bytearray | memoryview):
        return unpack_vector(value)
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 1:
        raise EmbeddingError(f"a stored vector must be one-dimensional, got shape {array.shape}")
    return array


class MemoryIndex:
    """Candidates ready to be searched: one normalised float32 matrix and a BM25 index.

    Args:
        candidates: :class:`MemoryCandidate` objects, or stored embedding documents
            (converted with :meth:`MemoryCandidate.from_document`).
        embedder: The embedder of the queries (and of candidates that need embedding).
        policy: ``"refuse"`` (default) or ``"reembed"`` candidates whose vectors come
            from another model; see the module notes.
        weights: The blend of :class:`SearchWeights`.

    Raises:
        EmbeddingMismatchError: ``policy="refuse"`` and some vectors come from another model.
        EmbeddingError: a candidate or argument is invalid.
    """

    def __init__(
        self,
        candidates: Iterable[MemoryCandidate | Mapping[str, Any]],
        embedder: Embedder,
        *,
        policy: Policy = "refuse",
        weights: SearchWeights | None = None,
    ) -> None:
        if policy not in _POLICIES:
            raise EmbeddingError(f"policy must be one of {sorted(_POLICIES)}, got {policy!r}")
        self.embedder = embedder
        self.policy: Policy = policy
        self.weights = weights if weights is not None else SearchWeights()
        self.candidates: list[MemoryCandidate] = [
            c if isinstance(c, MemoryCandidate) else MemoryCandidate.from_document(c) for c in candidates
        ]
        #: Vectors made while building the index (missing or from another model), by item id.
        self.reembedded: dict[str, FloatMatrix] = {}
        self._matrix = self._build_matrix()
        self._bm25: _BM25 | None = None
        count = len(self.candidates)
        self._kinds = np.array([c.kind for c in self.candidates], dtype=object)
        self._importance = np.array(
            [np.nan if c.importance is None else float(c.importance) for c in self.candidates],
            dtype=np.float32,
        ).reshape(count)
        self._times = np.array(
            [np.nan if c.timestamp is None else c.timestamp.timestamp() for c in self.candidates],
            dtype=np.float64,
        ).reshape(count)

    def __len__(self) -> int:
        return len(self.candidates)

    @property
    def matrix(self) -> FloatMatrix:
        """The candidates' vectors, one L2-normalised row each (read-only)."""
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    def _build_matrix(self) -> FloatMatrix:
        model_id, dimension = self.embedder.model_id, int(self.embedder.dimension)
        matrix = np.zeros((len(self.candidates), dimension), dtype=np.float32)
        missing: list[int] = []
        foreign: Counter[tuple[str | None, int]] = Counter()
        foreign_rows: list[int] = []
        for row, candidate in enumerate(self.candidates):
            if candidate.vector is None:
                missing.append(row)
                continue
            vector = _as_vector(candidate.vector)
            size = candidate.dimension if candidate.dimension is not None else vector.shape[0]
            if candidate.model_id != model_id or size != dimension or vector.shape[0] != dimension:
                foreign[(candidate.model_id, int(vector.shape[0]))] += 1
                foreign_rows.append(row)
                continue
            matrix[row] = vector
        if foreign and self.policy == "refuse":
            found = ", ".join(
                f"{count} from {mid or 'an unknown model'!r} (dimension {size})"
                for (mid, size), count in sorted(foreign.items(), key=lambda kv: (-kv[1], str(kv[0])))
            )
            raise EmbeddingMismatchError(
                f"{len(foreign_rows)} of {len(self.candidates)} stored vectors were not made by {model_id!r} "
                f"(dimension {dimension}): {found}; re-embed them (policy='reembed') or search with the "
                "embedder that made them"
            )
        redo = sorted(missing + foreign_rows)
        if redo:
            texts = [self.candidates[row].text for row in redo]
            vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
            if vectors.shape != (len(redo), dimension):
                raise EmbeddingError(
                    f"{model_id}: embed() returned shape {vectors.shape}, expected {(len(redo), dimension)}"
                )
            for row, vector in zip(redo, vectors, strict=True):
                matrix[row] = vector
                self.reembedded[self.candidates[row].item_id] = vector
        self._redone = frozenset(redo)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix

    def _lexical(self) -> _BM25:
        if self._bm25 is None:
            self._bm25 = _BM25([lexical_tokens(c.text) for c in self.candidates])
        return self._bm25

    def lexical_scores(self, query: str) -> FloatMatrix:
        """How much of ``query`` each candidate matches, by BM25, in [0, 1].

        The BM25 score divided by :meth:`_BM25.ceiling`, the score of a memory holding
        every query word once: sharing one common word of a long query counts little,
        holding all its rare words counts fully.
        """
        words = lexical_tokens(query)
        bm25 = self._lexical()
        scores = bm25.scores(words)
        ceiling = bm25.ceiling(words)
        if ceiling > 0:
            np.minimum(scores / ceiling, 1.0, out=scores)
        return scores

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        kinds: Iterable[str] | None = None,
        mode: SearchMode = "hybrid",
        now: datetime | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """The ``limit`` best memories for ``query``, best first.

        Args:
            query: What to look for.
            limit: How many hits at most.
            kinds: Keep only these kinds (``"fact"``, ``"episode"``, ``"message"``).
            mode: ``"hybrid"`` (the blend), ``"semantic"`` (cosine only) or ``"lexical"``
                (BM25 only; memories sharing no word with the query are left out).
            now: The moment recency is measured from (default: the current time).
            min_score: Leave out hits scoring below it.
        """
        if not isinstance(query, str):
            raise EmbeddingError(f"the query must be a string, got {type(query).__name__}")
        if mode not in _MODES:
            raise EmbeddingError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise EmbeddingError(f"limit must be an integer >= 0, got {limit!r}")
        count = len(self.candidates)
        if limit == 0 or count == 0:
            return []
        similarity = np.zeros(count, dtype=np.float32)
        if mode != "lexical":
            vector = query_vectors(self.embedder, [query])
            if vector.shape != (1, self._matrix.shape[1]):
                raise EmbeddingError(f"{self.embedder.model_id}: query vector of shape {vector.shape}")
            similarity = self._matrix @ vector[0]
        lexical = np.zeros(count, dtype=np.float32)
        if mode == "lexical" or (mode == "hybrid" and self.weights.lexical > 0):
            lexical = self.lexical_scores(query)
        importance = np.full(count, np.nan, dtype=np.float32)
        recency = np.full(count, np.nan, dtype=np.float32)
        if mode == "semantic":
            score = similarity.astype(np.float64)
        elif mode == "lexical":
            score = lexical.astype(np.float64)
            score[lexical <= 0] = -np.inf
        else:
            importance = self._importance
            recency = self._recency(now)
            score = similarity.astype(np.float64) + self.weights.lexical * lexical
            score += self.weights.importance * np.nan_to_num(importance - 0.5, nan=0.0)
            score += self.weights.recency * np.nan_to_num(recency - 0.5, nan=0.0)
        if kinds is not None:
            wanted = [k for k in kinds]
            score[~np.isin(self._kinds, wanted)] = -np.inf
        if min_score is not None:
            score[score < min_score] = -np.inf
        rows = _top(score, limit)
        return [
            SearchHit(
                item_id=self.candidates[row].item_id,
                kind=self.candidates[row].kind,
                text=self.candidates[row].text,
                score=float(score[row]),
                similarity=float(similarity[row]),
                lexical=float(lexical[row]),
                importance=None if np.isnan(importance[row]) else float(importance[row]),
                recency=None if np.isnan(recency[row]) else float(recency[row]),
                item=self.candidates[row].item,
                reembedded=row in self._redone,
            )
            for row in rows
        ]

    def _recency(self, now: datetime | None) -> FloatMatrix:
        moment = _parse_time(now) if now is not None else datetime.now(UTC)
        assert moment is not None
        age_days = np.maximum(moment.timestamp() - self._times, 0.0) / 86400.0
        return np.exp2(-age_days / self.weights.half_life_days).astype(np.float32)


def _top(score: npt.NDArray[np.float64], limit: int) -> list[int]:
    """Rows of the ``limit`` highest finite scores, best first, ties in row order."""
    finite = np.isfinite(score)
    available = int(finite.sum())
    if available == 0:
        return []
    k = min(limit, available)
    values = np.where(finite, score, -np.inf)
    if k < values.shape[0]:
        threshold = np.partition(values, values.shape[0] - k)[values.shape[0] - k]
        rows = np.flatnonzero(values >= threshold)
    else:
        rows = np.flatnonzero(finite)
    order = np.lexsort((rows, -values[rows]))
    return [int(r) for r in rows[order][:k]]


def search_memories(
    query: str,
    candidates: Iterable[MemoryCandidate | Mapping[str, Any]],
    embedder: Embedder | None = None,
    *,
    limit: int = 10,
    kinds: Iterable[str] | None = None,
    mode: SearchMode = "hybrid",
    policy: Policy = "refuse",
    weights: SearchWeights | None = None,
    now: datetime | None = None,
) -> list[MemorySearchResult]:
    """One search without keeping an index: :class:`MemoryIndex` then :meth:`~MemoryIndex.search`.

    ``embedder`` defaults to :func:`~.embeddings.default_embedder`. Returns the seed's
    :class:`~luminora_nb.types.MemorySearchResult` objects, best first.

    Example:
        >>> docs = [{"item_id": "pets:dog", "kind": "fact", "text": "The user's dog is called Rex"}]
        >>> [r.text for r in search_memories("name of my puppy", docs, policy="reembed")]
        ["The user's dog is called Rex"]
    """
    if embedder is None:
        from .embeddings import default_embedder

        embedder = default_embedder()
    check_texts([query], who="search_memories")
    index = MemoryIndex(candidates, embedder, policy=policy, weights=weights)
    return [hit.to_result() for hit in index.search(query, limit=limit, kinds=kinds, mode=mode, now=now)]
