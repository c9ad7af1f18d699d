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
import threading
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "VECTOR_FIELD",
    "VectorMatrix",
    "VectorRow",
    "cosine_ranking",
    "float32",
    "pack",
    "stored_vector",
    "unpack",
    "with_floats",
]

#: The field of an embedding document holding its vector: base64 of little-endian float32 bytes.
VECTOR_FIELD = "vector_f32le"

T = TypeVar("T")

#: The current row of a changed embedding: ``(item, moved, (label, vector bytes) or None)``,
#: see :meth:`VectorMatrix.updated`.
VectorRow = tuple[T, bool, "tuple[str | None, bytes] | None"]


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
    with ``numpy.frombuffer``, never converted to Python floats). One-off: a backend that
    searches the same vectors again keeps a :class:`VectorMatrix` instead.
    """
    return VectorMatrix([item for item, _ in candidates], [vector for _, vector in candidates]).rank(
        query, limit
    )


class VectorMatrix(Generic[T]):
    """Stored vectors as float32 matrices (one per dimension), ranked by exact cosine.

    Built once from the stored bytes (or floats) and searched many times: a search is one
    matrix-vector product, ``numpy.argpartition`` for the best ``limit`` and a sort of
    those alone. The rules of :func:`cosine_ranking` hold (it is this class, used once):
    other dimensions are left out, zero vectors score 0, ties keep the candidates' order.
    Each row may carry a ``label`` (an embedding's kind) that :meth:`rank` can select.
    Without numpy the vectors stay float32 arrays ranked in pure Python.

    Example:
        >>> matrix = VectorMatrix(["a", "b", "c"], [pack([1.0, 0.0]), pack([0.0, 1.0]), pack([1.0])],
        ...                       labels=["fact", "episode", "fact"])
        >>> [(round(score, 4), item) for score, item in matrix.rank([1.0, 0.5], 5, label="fact")]
        [(0.8944, 'a')]
        >>> len(matrix)
        3
    """

    _positions: dict[T, int] | None = None  # item -> position, built at the first update

    def __init__(
        self,
        items: Sequence[T],
        vectors: Sequence[Sequence[float] | bytes],
        labels: Sequence[str | None] | None = None,
    ) -> None:
        self._items = list(items)
        self._selections: dict[tuple[int, str], Any] = {}
        self._labels = list(labels) if labels is not None else None
        rows: dict[int, list[int]] = {}  # dimension -> positions of its vectors
        for position, vector in enumerate(vectors):
            if isinstance(vector, bytes):
                if len(vector) % 4:
                    continue  # not float32 bytes: unreadable, left out
                rows.setdefault(len(vector) // 4, []).append(position)
            else:
                rows.setdefault(len(vector), []).append(position)
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is a declared extra, the fallback is tested
            self._np: Any = None
            self._python = {
                dimension: (positions, [float32(_floats(vectors[p])) for p in positions])
                for dimension, positions in rows.items()
            }
            return
        self._np = np
        self._groups = {
            dimension: _group(np, vectors, positions, dimension) for dimension, positions in rows.items()
        }

    @classmethod
    def of_rows(
        cls, items: Sequence[T], rows: Any, labels: Sequence[str | None] | None = None
    ) -> VectorMatrix[T]:
        """The matrix of vectors that all have one dimension, given as a 2-D float32 numpy array.

        What a backend that reads its vectors as one array (DuckDB through Arrow) builds
        from, with no per-row bytes: ``rows[i]`` is the vector of ``items[i]``.

        Example:
            >>> import numpy as np
            >>> matrix = VectorMatrix.of_rows(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
            >>> [(round(score, 4), item) for score, item in matrix.rank([1.0, 0.2], 1)]
            [(0.9806, 'a')]
        """
        import numpy as np

        matrix = np.ascontiguousarray(rows, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(items):
            raise ValueError(f"rows must be a ({len(items)}, dimension) array, not of shape {matrix.shape}")
        self: VectorMatrix[T] = cls.__new__(cls)
        self._items = list(items)
        self._selections = {}
        self._labels = list(labels) if labels is not None else None
        self._np = np
        count, dimension = matrix.shape
        self._groups = {}
        if count and dimension:
            positions = np.arange(count, dtype=np.int64)
            self._groups[dimension] = (positions, matrix, np.linalg.norm(matrix, axis=1))
        return self

    def __len__(self) -> int:
        return len(self._items)

    def rank(self, query: Sequence[float], limit: int, *, label: str | None = None) -> list[tuple[float, T]]:
        """The ``limit`` rows most similar to ``query`` (of ``label`` if given), best first.

        Returns ``(score, item)`` pairs.
        """
        dimension = len(query)
        if dimension == 0 or limit <= 0:
            return []
        if self._np is None:
            return self._python_rank(query, limit, label)
        group = self._groups.get(dimension)
        if group is None:
            return []
        np = self._np
        positions, matrix, norms = group[:3]
        target = np.asarray(query, dtype=np.float32)
        dots = matrix @ target
        scaled = norms * np.linalg.norm(target)
        scores = np.divide(dots, scaled, out=np.zeros_like(dots), where=scaled > 0)
        chosen = np.arange(len(positions))
        if label is not None and self._labels is not None:
            chosen = self._selection(dimension, label)
            scores = scores[chosen]
        best = _top(np, scores, limit)
        return [(float(scores[i]), self._items[int(positions[chosen[i]])]) for i in best]

    def updated(self, changes: Sequence[VectorRow[T]]) -> VectorMatrix[T] | None:
        """This matrix after ``changes``, without reading the unchanged rows again.

        Each change is ``(item, moved, row)``: ``row`` is the item's ``(label, vector bytes)``
        now, or ``None`` once deleted; ``moved`` says it was deleted at some point since the
        matrix was built. A row replaced in place keeps the item's position (the saved
        order); a new or re-added (moved) item comes last, in the order of ``changes``.
        Unchanged groups of vectors are shared with this matrix, changed ones copied: a
        search running on this matrix meanwhile is not disturbed.

        Returns ``None`` where a rebuild is simpler: without numpy, or when a replaced
        vector changes dimension (the embedder changed).

        Example:
            >>> matrix = VectorMatrix(["a", "b"], [pack([1.0, 0.0]), pack([0.0, 1.0])])
            >>> newer = matrix.updated([("a", False, None), ("c", False, ("fact", pack([1.0, 1.0])))])
            >>> [item for _, item in newer.rank([1.0, 0.1], 5)], len(matrix)
            (['c', 'b'], 2)
        """
        if self._np is None:
            return None
        np = self._np
        index = self._index()
        removed: set[int] = set()
        replaced: dict[int, bytes] = {}
        appended: list[tuple[T, str | None, bytes]] = []
        for item, moved, row in changes:
            position = index.get(item)
            if row is not None and len(row[1]) % 4:
                row = None  # not float32 bytes: unreadable, left out (as when built)
            if position is not None and (row is None or moved):
                removed.add(position)
            if row is None:
                continue
            label, vector = row
            if position is None or moved:
                appended.append((item, label, vector))
            elif label != self._label(position):
                return None  # relabelled: the label selections are rebuilt with the matrix
            else:
                replaced[position] = vector
        keep = np.ones(len(self._items), dtype=bool)
        keep[sorted(removed)] = False
        new_position = np.cumsum(keep) - 1  # where each kept row goes
        if removed:
            flags = keep.tolist()
            items = [item for item, k in zip(self._items, flags, strict=True) if k]
            labels = self._labels and [x for x, k in zip(self._labels, flags, strict=True) if k]
        else:
            items, labels = list(self._items), None if self._labels is None else list(self._labels)
        first_new = len(items)
        items += [item for item, _, _ in appended]
        if labels is None and any(label is not None for _, label, _ in appended):
            labels = [None] * first_new
        if labels is not None:
            labels += [label for _, label, _ in appended]
        additions: dict[int, list[tuple[int, bytes]]] = {}
        for offset, (_, _, vector) in enumerate(appended):
            additions.setdefault(len(vector) // 4, []).append((first_new + offset, vector))
        groups: dict[int, Any] = {}
        swapped: set[int] = set()
        for dimension in {*self._groups, *additions}:
            group: tuple[Any, ...] | None = self._groups.get(dimension)
            if group is None:
                group = (np.zeros(0, np.int64), np.zeros((0, dimension), np.float32), np.zeros(0, np.float32))
            positions, matrix, norms = group[:3]
            spare: _Spare | None = group[3] if len(group) > 3 else None
            targets = np.asarray(sorted(replaced), dtype=np.int64)
            rows = np.searchsorted(positions, targets)
            found = rows < len(positions)
            found[found] = positions[rows[found]] == targets[found]
            swaps = list(zip(rows[found].tolist(), targets[found].tolist(), strict=True))
            if removed or swaps:
                spare = None  # rows copied below: the spare room of the old arrays is not theirs
                mask = keep[positions]
                if not mask.all():
                    row_of = np.cumsum(mask) - 1
                    matrix, norms = matrix[mask], norms[mask]
                    swaps = [(int(row_of[row]), position) for row, position in swaps]
                elif swaps:
                    matrix, norms = matrix.copy(), norms.copy()
                for row, position in swaps:
                    vector = replaced[position]
                    if len(vector) // 4 != dimension:
                        return None  # the embedder changed: the row moves between groups, so rebuild
                    matrix[row] = np.frombuffer(vector, dtype="<f4")
                    norms[row] = np.linalg.norm(matrix[row])
                    swapped.add(position)
                positions = new_position[positions[mask]]
            extra = additions.get(dimension)
            if extra:
                joined = b"".join(vector for _, vector in extra)
                added = np.frombuffer(joined, dtype="<f4").reshape(len(extra), dimension)
                where = np.asarray([p for p, _ in extra], dtype=np.int64)
                groups[dimension] = _Spare.extend(np, (positions, matrix, norms, spare), where, added)
            elif len(positions):
                groups[dimension] = (positions, matrix, norms, spare)
        if len(swapped) != len(replaced):
            return None  # a replaced row had no vector before (it was unreadable): rebuild
        new: VectorMatrix[T] = VectorMatrix.__new__(VectorMatrix)
        new._np, new._items, new._labels, new._groups, new._selections = np, items, labels, groups, {}
        if not removed and not replaced and labels is not None:
            # Only appends: a label's rows are the ones it had, then the new ones it labels.
            for (dimension, label), selection in self._selections.items():
                start = len(self._groups[dimension][0]) if dimension in self._groups else 0
                added = groups[dimension][0][start:].tolist() if dimension in groups else []
                more = [start + i for i, p in enumerate(added) if labels[p] == label]
                new._selections[(dimension, label)] = np.concatenate([selection, np.asarray(more, np.int64)])
        if not removed:  # positions unchanged: the index carries over
            new._positions = {**index, **{item: first_new + i for i, (item, _, _) in enumerate(appended)}}
        return new

    def _index(self) -> dict[T, int]:
        """Each item's position (built at the first update, kept: the matrix never changes)."""
        if self._positions is None:
            self._positions = {item: position for position, item in enumerate(self._items)}
        return self._positions

    def _selection(self, dimension: int, label: str) -> Any:
        """The indices of one dimension's rows labelled ``label`` (kept: the matrix never changes)."""
        selection = self._selections.get((dimension, label))
        if selection is None:
            labels = self._labels or []
            positions = self._groups[dimension][0]
            selection = self._np.flatnonzero(
                self._np.fromiter((labels[p] == label for p in positions), dtype=bool, count=len(positions))
            )
            self._selections[(dimension, label)] = selection
        return selection

    def _python_rank(self, query: Sequence[float], limit: int, label: str | None) -> list[tuple[float, T]]:
        positions, vectors = self._python.get(len(query), ([], []))
        rows = [
            (p, v)
            for p, v in zip(positions, vectors, strict=True)
            if label is None or self._label(p) == label
        ]
        scores = _python_scores(query, [v for _, v in rows])
        order = sorted(range(len(rows)), key=lambda i: -scores[i])[:limit]
        return [(scores[i], self._items[rows[i][0]]) for i in order]

    def _label(self, position: int) -> str | None:
        return None if self._labels is None else self._labels[position]


class _Spare:
    """Room after the rows of one dimension's arrays, so most updates append without a copy.

    The arrays of a :class:`VectorMatrix` group are then views of the first ``count`` rows
    of these buffers. An update that only appends claims the next rows, if no other update
    of the same matrix claimed them first (a matrix updated twice: the second one copies),
    and writes them there: rows the older matrix cannot see, as its views end before them.
    """

    def __init__(self, np: Any, capacity: int, dimension: int, norms_dtype: Any) -> None:
        self.positions = np.empty(capacity, dtype=np.int64)
        self.matrix = np.empty((capacity, dimension), dtype=np.float32)  # untouched rows cost no memory
        self.norms = np.empty(capacity, dtype=norms_dtype)
        self.claimed = 0
        self._lock = threading.Lock()

    def claim(self, count: int, more: int) -> bool:
        """Take rows ``count`` to ``count + more`` if they are the next free ones and fit."""
        with self._lock:
            if self.claimed != count or count + more > len(self.positions):
                return False
            self.claimed = count + more
            return True

    @classmethod
    def extend(cls, np: Any, group: tuple[Any, ...], positions: Any, rows: Any) -> tuple[Any, ...]:
        """``group`` with ``rows`` (at item ``positions``) appended: in its spare room, or in new,
        larger buffers (half again what is needed, so the next appends fit)."""
        old_positions, matrix, norms, spare = group
        count, more = len(old_positions), len(rows)
        if spare is None or not spare.claim(count, more):
            spare = cls(np, max(64, (count + more) * 3 // 2), matrix.shape[1], norms.dtype)
            spare.claimed = count + more
            spare.positions[:count], spare.matrix[:count], spare.norms[:count] = old_positions, matrix, norms
        end = count + more
        spare.positions[count:end] = positions
        spare.matrix[count:end] = rows
        spare.norms[count:end] = np.linalg.norm(spare.matrix[count:end], axis=1)
        return spare.positions[:end], spare.matrix[:end], spare.norms[:end], spare


def _floats(vector: Sequence[float] | bytes) -> Sequence[float]:
    return unpack(vector) if isinstance(vector, bytes) else vector


def _group(np: Any, vectors: Sequence[Sequence[float] | bytes], positions: list[int], dimension: int) -> Any:
    """``(positions, matrix, row norms)`` of the vectors of one dimension, as float32 numpy arrays."""
    chosen = [vectors[p] for p in positions]
    if all(isinstance(v, bytes) for v in chosen):  # the stored bytes: one buffer, no parsing
        joined = b"".join(v for v in chosen if isinstance(v, bytes))
        matrix = np.frombuffer(joined, dtype="<f4").reshape(len(chosen), dimension).astype(np.float32)
    else:
        matrix = np.asarray(
            [np.frombuffer(v, dtype="<f4") if isinstance(v, bytes) else v for v in chosen], dtype=np.float32
        ).reshape(len(chosen), dimension)
    return np.asarray(positions, dtype=np.int64), matrix, np.linalg.norm(matrix, axis=1)


def _top(np: Any, scores: Any, limit: int) -> list[int]:
    """Indices of the ``limit`` best scores, best first; equal scores in index order.

    ``argpartition`` finds the ``limit``-th best score in linear time; the rows strictly
    above it and the first rows equal to it (by index, as ties must keep the saved order)
    are the selection, then only those are sorted.
    """
    count = len(scores)
    if count == 0:
        return []
    if count > limit:
        threshold = scores[np.argpartition(-scores, limit - 1)[limit - 1]]
        above = np.flatnonzero(scores > threshold)
        equal = np.flatnonzero(scores == threshold)[: limit - len(above)]
        chosen = np.concatenate([above, equal])
    else:
        chosen = np.arange(count)
    order = np.lexsort((chosen, -scores[chosen]))
    return [int(i) for i in chosen[order]]


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
