"""Embedders: texts in, L2-normalised float32 vectors out.

An :class:`Embedder` has a ``model_id`` (which model made a vector: vectors of different
models are not comparable), a ``dimension`` and ``embed(texts)``, which returns a
``numpy`` array of shape ``(len(texts), dimension)`` and dtype float32 whose rows have
unit length. A text with nothing to embed (empty, or only characters the model does not
know) gives a zero row, which is similar to nothing.

The default, :class:`StaticEmbedder`, runs offline with ``model2vec`` and ``numpy`` only:
a static model (one vector per token of MiniLM's vocabulary, 256 dimensions, float16,
about 16 MB) distilled from all-MiniLM-L6-v2 and then tuned so that its sentence vectors
imitate MiniLM's on a generic corpus. It ships inside the package
(``luminora_nb/memory/model/``); ``scripts/distill_embeddings.py`` made it, and
``luminora_model.json`` beside it records how (see :attr:`StaticEmbedder.info`). It
embeds a thousand sentences in a few hundredths of a second on one core and never
touches the network. :func:`default_embedder` loads it once per process.

Other embedders follow the same protocol: :class:`SentenceTransformerEmbedder` (any
sentence-transformers model, if that package and torch are installed) and the HTTP
embedders of :mod:`luminora_nb.memory.remote` (OpenAI, Cohere, Gemini, Ollama).

Stored vectors travel as little-endian float32 bytes (:func:`pack_vector`,
:func:`unpack_vector`) next to the ``model_id`` and ``dimension`` of the embedder that
made them (:func:`embedding_metadata`), so a search can tell when they came from another
model (:class:`EmbeddingMismatchError`).

Example:
    >>> embedder = default_embedder()
    >>> vectors = embedder.embed(["My sister lives in Lisbon", "Where does her sibling reside?", ""])
    >>> vectors.shape == (3, embedder.dimension), vectors.dtype.name
    (True, 'float32')
    >>> [round(float(n), 3) for n in np.linalg.norm(vectors, axis=1)]
    [1.0, 1.0, 0.0]
    >>> unpack_vector(pack_vector(vectors[0])).tolist() == vectors[0].tolist()
    True
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import LuminoraError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

__all__ = [
    "MODEL_DIR",
    "Embedder",
    "EmbeddingError",
    "EmbeddingMismatchError",
    "FloatMatrix",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "check_texts",
    "default_embedder",
    "embedding_metadata",
    "l2_normalise",
    "pack_vector",
    "query_vectors",
    "unpack_vector",
]

#: A 2-D (or 1-D) float32 array.
FloatMatrix = npt.NDArray[np.float32]

#: Where the shipped static model lives (model2vec's format plus ``luminora_model.json``).
MODEL_DIR = Path(__file__).resolve().parent / "model"
#: The file, beside model2vec's own, naming the shipped model and how it was made.
MODEL_INFO_FILE = "luminora_model.json"


class EmbeddingError(LuminoraError):
    """An embedder could not be built or used (missing package or model, bad input)."""


class EmbeddingMismatchError(EmbeddingError):
    """Stored vectors were made by another model (or have another dimension) than the embedder
    in use, so comparing them would give meaningless scores."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of one model.

    ``embed(texts)`` returns an array of shape ``(len(texts), dimension)``; rows of texts
    with nothing to embed are zero. ``model_id`` names the model (and whatever changes its
    vectors): vectors are comparable only between equal ``model_id`` and ``dimension``.
    """

    @property
    def model_id(self) -> str:
        """Which model makes the vectors."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """The vectors of ``texts``, one row each."""
        ...


# --------------------------------------------------------------------------- vectors


def check_texts(texts: Sequence[str], *, who: str) -> list[str]:
    """``texts`` as a list of strings; a bare string or a non-string item is an error.

    Example:
        >>> check_texts(("a", "b"), who="demo")  # doctest: +ELLIPSIS
        ['a', 'b']
        >>> check_texts("ab", who="demo")
        Traceback (most recent call last):
        ...
        luminora_nb.memory.embeddings.EmbeddingError: demo: embed() takes a list of texts, not one string; ...
    """
    if isinstance(texts, str | bytes):
        raise EmbeddingError(f"{who}: embed() takes a list of texts, not one string; wrap it in a list")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise EmbeddingError(f"{who}: text {i} is {type(text).__name__}, not str")
    return items


def l2_normalise(matrix: npt.ArrayLike) -> FloatMatrix:
    """Rows of ``matrix`` (or the vector) scaled to unit length, as float32; zero rows stay zero.

    Example:
        >>> l2_normalise([[3.0, 4.0], [0.0, 0.0]]).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    array = np.array(matrix, dtype=np.float32)
    if array.ndim == 1:
        norm = float(np.linalg.norm(array))
        if norm > 0 and np.isfinite(norm):
            array /= norm
        return array
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    np.divide(array, norms, out=array, where=norms > 0)
    return array


def pack_vector(vector: npt.ArrayLike) -> bytes:
    """A vector as little-endian float32 bytes (4 bytes a component).

    Example:
        >>> pack_vector([1.0, -2.0]).hex()
        '0000803f000000c0'
    """
    array = np.asarray(vector, dtype="<f4")
    if array.ndim != 1:
        raise EmbeddingError(f"pack_vector: expected one vector, got an array of shape {array.shape}")
    return array.tobytes()


def unpack_vector(data: bytes | bytearray | memoryview, dimension: int | None = None) -> FloatMatrix:
    """The float32 vector packed by :func:`pack_vector` (checked against ``dimension``).

    Example:
        >>> unpack_vector(bytes.fromhex("0000803f000000c0"), 2).tolist()
        [1.0, -2.0]
    """
    raw = bytes(data)
    if len(raw) % 4:
        raise EmbeddingError(f"a packed vector has a multiple of 4 bytes, got {len(raw)}")
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if dimension is not None and vector.shape[0] != dimension:
        raise EmbeddingError(f"a packed vector has {vector.shape[0]} components, expected {dimension}")
    return vector


def embedding_metadata(embedder: Embedder) -> dict[str, Any]:
    """What to store next to a vector so a later search can check where it came from.

    Example:
        >>> sorted(embedding_metadata(default_embedder()))
        ['dimension', 'model_id']
    """
    return {"model_id": embedder.model_id, "dimension": int(embedder.dimension)}


# --------------------------------------------------------------------------- static model


def _model_info(path: Path) -> dict[str, Any]:
    info_file = path / MODEL_INFO_FILE
    if not info_file.is_file():
        return {}
    try:
        data = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read {info_file}: {exc}") from None
    return data if isinstance(data, dict) else {}


class StaticEmbedder:
    """A model2vec static model: the mean of per-token vectors, L2-normalised.

    Args:
        path: Folder of a model2vec model (``model.safetensors``, ``tokenizer.json``,
            ``config.json``); default: the model shipped in the package.
        model_id: Overrides the id read from ``luminora_model.json`` (or derived from the
            folder name when that file is absent).

    Raises:
        EmbeddingError: ``model2vec`` is not installed, or the folder holds no readable model.

    Loading reads only the local folder: nothing is fetched from a model hub.
    """

    def __init__(self, path: str | Path | None = None, *, model_id: str | None = None) -> None:
        folder = Path(path) if path is not None else MODEL_DIR
        if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
            raise EmbeddingError(
                f"no model2vec model in {folder} (model.safetensors and tokenizer.json are needed); "
                "reinstall luminora_nb or run scripts/distill_embeddings.py"
            )
        try:
            from model2vec import StaticModel
        except ImportError:
            raise EmbeddingError(
                "the offline embedder needs model2vec and numpy: pip install 'luminora_nb[embeddings]'"
            ) from None
        try:
            self._model = StaticModel.from_pretrained(folder, force_download=False)
        except Exception as exc:  # model2vec raises many kinds (OSError, ValueError, safetensors errors)
            raise EmbeddingError(f"cannot load the model2vec model in {folder}: {exc}") from exc
        info = _model_info(folder)
        self.path = folder
        self.info: Mapping[str, Any] = info
        self.model_id: str = model_id or str(info.get("model_id") or f"model2vec/{folder.name}")
        self.dimension: int = int(self._model.dim)
        if "dimension" in info and int(info["dimension"]) != self.dimension:
            raise EmbeddingError(
                f"{folder}: {MODEL_INFO_FILE} says dimension {info['dimension']}, the model has "
                f"{self.dimension}; run scripts/distill_embeddings.py again"
            )

    def __repr__(self) -> str:
        return f"StaticEmbedder(model_id={self.model_id!r}, dimension={self.dimension})"

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Vectors of ``texts``, shape ``(len(texts), dimension)``, float32, unit rows."""
        items = check_texts(texts, who="StaticEmbedder")
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(items, use_multiprocessing=False, normalize=False)
        return l2_normalise(vectors)

    def embed_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Same as :meth:`embed` (a static model embeds queries and documents alike)."""
        return self.embed(texts)


@functools.cache
def default_embedder() -> StaticEmbedder:
    """The shipped offline :class:`StaticEmbedder`, loaded once per process.

    Raises:
        EmbeddingError: ``model2vec`` is not installed (``pip install 'luminora_nb[embeddings]'``).
    """
    return StaticEmbedder()


# --------------------------------------------------------------------------- sentence-transformers


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (a hub name already in the local cache, or a folder).

    Needs ``sentence-transformers`` (and so torch); nothing in luminora_nb installs them.

    Args:
        model_name_or_path: What ``SentenceTransformer(...)`` takes.
        device: Torch device; default ``"cpu"``.
        batch_size: Texts per forward pass.
        model_id: Overrides the id (default ``"sentence-transformers/<name or folder name>"``).
        **kwargs: Passed on to ``SentenceTransformer``.

    Raises:
        EmbeddingError: sentence-transformers is missing, or the model cannot be loaded.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        model_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise EmbeddingError(
                "SentenceTransformerEmbedder needs the sentence-transformers package (and torch): "
                "pip install sentence-transformers; the default StaticEmbedder needs neither"
            ) from None
        try:
            self._model = SentenceTransformer(str(model_name_or_path), device=device, **kwargs)
        except Exception as exc:  # torch / transformers / hub errors of every kind
            raise EmbeddingError(
                f"cannot load the sentence-transformers model {model_name_or_path!s}: {exc}"
            ) from exc
        name = str(model_name_or_path)
        if Path(name).exists():
            name = Path(name).resolve().name
        self.model_id: str = model_id or f"sentence-transformers/{name}"
        # sentence-transformers 6 renamed the method (the old name warns); older ones have only it.
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = getter()
        if not isinstance(dimension, int) or dimension <= 0:
            raise EmbeddingError(f"{self.model_id}: the model does not report its embedding dimension")
        self.dimension: int = dimension
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model_id={self.model_id!r}, dimension={self.dimension})"

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Vectors of ``texts``, shape ``(len(texts), dimension)``, float32, unit rows."""
        items = check_texts(texts, who=self.model_id)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                items,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        result = l2_normalise(vectors)
        blank = [i for i, text in enumerate(items) if not text.strip()]
        result[blank] = 0.0
        if result.shape != (len(items), self.dimension):
            raise EmbeddingError(
                f"{self.model_id}: expected {len(items)} vectors of {self.dimension}, got {result.shape}"
            )
        return result

    def embed_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Same as :meth:`embed`."""
        return self.embed(texts)


def query_vectors(embedder: Embedder, texts: Iterable[str]) -> FloatMatrix:
    """Query vectors: ``embedder.embed_queries`` when it has one (vendors that embed queries
    and documents differently), else ``embedder.embed``."""
    items = list(texts)
    method = getattr(embedder, "embed_queries", None)
    result = method(items) if callable(method) else embedder.embed(items)
    return np.asarray(result, dtype=np.float32)
