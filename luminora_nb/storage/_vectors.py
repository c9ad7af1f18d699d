"""Embedding vectors as stored (float32 bytes) and the exact cosine search every backend can run.

**Stored form.** An embedding document keeps its vector as little-endian float32 bytes
(:func:`pack`), 4 bytes a component, under :data:`VECTOR_FIELD` — base64 text there, since
the document is JSON; PostgreSQL and MongoDB, unencrypted, keep the bytes in a binary
column/field beside the document instead and put them back as ``bytes`` on read — next to its
``dimension`` and the embedder's ``model_id`` (when the caller gives one, e.g.
``embedding_metadata``). A search reads the bytes with ``numpy.frombuffer``: no vector is
parsed from JSON numbers per query. Documents written before (``"vector": [floats]``)
still read (:func:`stored_vector`) and are rewritten in the new form when saved again.
:func:`with_floats` gives the public form (``"vector"``: a list of floats, float32-rounded).

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

import base64
import binascii
import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["VECTOR_FIELD", "cosine_ranking", "float32", "pack", "stored_vector", "unpack", "with_floats"]

#: The field of an embedding document holding its vector: base64 of little-endian float32 bytes.
VECTOR_FIELD = "vector_f32le"

T = TypeVar("T")


def float32(values: Sequence[float]) -> array[float]:
    """``values`` rounded to float32, as a compact array.

    Example:
        >>> list(float32([0.1]))[0] == 0.1
        False
    """
    return array("f", values)


def pack(values: Sequence[float]) -> bytes:
    """``values`` as little-endian float32 bytes.

    Raises:
        OverflowError: a value is beyond the float32 range.

    Example:
        >>> pack([1.0, -2.0]).hex()
        '0000803f000000c0'
    """
    vector = array("f", values)
    if sys.byteorder != "little":  # pragma: no cover - no big-endian CI
        vector.byteswap()
    return vector.tobytes()


def unpack(data: bytes) -> array[float]:
    """The float32 values of :func:`pack` bytes.

    Example:
        >>> list(unpack(bytes.fromhex("0000803f000000c0")))
        [1.0, -2.0]
    """
    vector = array("f")
    vector.frombytes(data[: len(data) - len(data) % 4])
    if sys.byteorder != "little":  # pragma: no cover - no big-endian CI
        vector.byteswap()
    return vector


def stored_vector(document: Mapping[str, Any]) -> bytes:
    """The packed vector of a stored embedding document (``b""``: none, or unreadable).

    Example:
        >>> stored_vector({"vector": [1.0]}) == stored_vector({VECTOR_FIELD: "AACAPw=="}) == pack([1.0])
        True
    """
    text = document.get(VECTOR_FIELD)
    if isinstance(text, bytes | bytearray | memoryview):  # a backend's binary column, put back
        return bytes(text)
    if isinstance(text, str):
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return b""
    legacy = document.get("vector")  # written before vectors were stored as bytes
    if isinstance(legacy, list):
        try:
            return pack([float(v) for v in legacy])
        except (TypeError, ValueError, OverflowError):
            return b""
    return b""


def with_floats(document: Mapping[str, Any]) -> dict[str, Any]:
    """The public form of a stored embedding: ``"vector"`` as a list of floats (float32 values).

    Example:
        >>> with_floats({"item_id": "a", VECTOR_FIELD: "AACAPw==", "dimension": 1})
        {'item_id': 'a', 'dimension': 1, 'vector': [1.0]}
    """
    out = {k: v for k, v in document.items() if k != VECTOR_FIELD}
    if VECTOR_FIELD in document or not isinstance(out.get("vector"), list):
        out["vector"] = list(unpack(stored_vector(document)))
    return out


def cosine_ranking(
    query: Sequence[float], candidates: Sequence[tuple[T, Sequence[float] | bytes]], limit: int
) -> list[tuple[float, T]]:
    """The ``limit`` candidates most similar to ``query``: ``(score, item)``, best first.

    A candidate's vector is a sequence of floats or :func:`pack` bytes (read as float32
    with ``numpy.frombuffer``, never converted to Python floats).
    """
    dimension = len(query)
    rows = [
        (item, vector)
        for item, vector in candidates
        if (len(vector) // 4 if isinstance(vector, bytes) else len(vector)) == dimension
        and not (isinstance(vector, bytes) and len(vector) % 4)
    ]
    if not rows or dimension == 0 or limit <= 0:
        return []
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a declared extra, the fallback is tested
        vectors = [unpack(v) if isinstance(v, bytes) else v for _, v in rows]
        scores = _python_scores(query, vectors)
    else:
        scores = _numpy_scores(np, query, [vector for _, vector in rows])
    order = sorted(range(len(rows)), key=lambda i: -scores[i])[:limit]
    return [(scores[i], rows[i][0]) for i in order]


def _numpy_scores(np: Any, query: Sequence[float], vectors: list[Sequence[float] | bytes]) -> list[float]:
    if all(isinstance(v, bytes) for v in vectors):  # the stored bytes: one buffer, no parsing
        joined = b"".join(v for v in vectors if isinstance(v, bytes))
        matrix = np.frombuffer(joined, dtype="<f4").reshape(len(vectors), len(query)).astype(np.float32)
    else:
        matrix = np.asarray(
            [np.frombuffer(v, dtype="<f4") if isinstance(v, bytes) else v for v in vectors], dtype=np.float32
        )
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
