"""Exact cosine similarity over float32 vectors: the vector search every backend can run.

:func:`cosine_ranking` scores each candidate vector against a query and keeps the best.
Vectors are compared as float32 (the precision embeddings carry, and the one DuckDB's
native ``list_cosine_similarity`` uses), with numpy when it is installed (one matrix
product) and in pure Python otherwise; both give the same ranking. Rules shared with the
native implementations:

* a candidate of another dimension than the query is left out;
* a zero vector (query or candidate) scores 0;
* ties keep the order of the candidates (the order the embeddings were first saved in).

Example:
    >>> docs = [({"id": "a"}, [1.0, 0.0]), ({"id": "b"}, [1.0, 1.0]), ({"id": "c"}, [1.0])]
    >>> [(round(score, 4), doc["id"]) for score, doc in cosine_ranking([1.0, 0.0], docs, 5)]
    [(1.0, 'a'), (0.7071, 'b')]
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["cosine_ranking", "float32"]

T = TypeVar("T")


def float32(values: Sequence[float]) -> array[float]:
    """``values`` rounded to float32, as a compact array.

    Example:
        >>> list(float32([0.1]))[0] == 0.1
        False
    """
    return array("f", values)


def cosine_ranking(
    query: Sequence[float], candidates: Sequence[tuple[T, Sequence[float]]], limit: int
) -> list[tuple[float, T]]:
    """The ``limit`` candidates most similar to ``query``: ``(score, item)``, best first."""
    dimension = len(query)
    rows = [(item, vector) for item, vector in candidates if len(vector) == dimension]
    if not rows or dimension == 0 or limit <= 0:
        return []
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a declared extra, the fallback is tested
        scores = _python_scores(query, [vector for _, vector in rows])
    else:
        scores = _numpy_scores(np, query, [vector for _, vector in rows])
    order = sorted(range(len(rows)), key=lambda i: -scores[i])[:limit]
    return [(scores[i], rows[i][0]) for i in order]


def _numpy_scores(np: Any, query: Sequence[float], vectors: list[Sequence[float]]) -> list[float]:
    matrix = np.asarray(vectors, dtype=np.float32)
    target = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(target)
    dots = matrix @ target
    scores = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return [float(s) for s in scores]


def _python_scores(query: Sequence[float], vectors: list[Sequence[float]]) -> list[float]:
    target = float32(query)
    target_norm = math.sqrt(sum(v * v for v in target))
    scores: list[float] = []
    for values in vectors:
        vector = float32(values)
        norm = math.sqrt(sum(v * v for v in vector)) * target_norm
        dot = sum(a * b for a, b in zip(vector, target, strict=True))
        scores.append(float(array("f", [dot / norm])[0]) if norm > 0 else 0.0)
    return scores
