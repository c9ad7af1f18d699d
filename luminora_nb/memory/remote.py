"""HTTP embedders: the embedding endpoints of OpenAI, Cohere, Gemini and Ollama.

Each one is an :class:`~luminora_nb.memory.embeddings.Embedder` (``model_id``,
``dimension``, ``embed``) with an async ``aembed`` and, for vendors that embed queries
differently from documents, ``embed_queries`` / ``aembed_queries``. They speak each
vendor's documented wire format over httpx, like the chat providers, and share their
machinery: API keys from the same environment variables, timeouts and retries from the
same ``extra`` settings (``timeout``, ``connect_timeout``, ``read_timeout``,
``max_retries``, ...), the same connection pools, and the same error mapping — every
failure is a :class:`~luminora_nb.errors.ProviderError` (401/403
:class:`~luminora_nb.errors.ProviderAuthenticationError`, 429
:class:`~luminora_nb.errors.ProviderRateLimitError`, 400/404/413/422
:class:`~luminora_nb.errors.ProviderBadRequestError`, timeouts
:class:`~luminora_nb.errors.ProviderTimeoutError`) whose message never holds the key.
Embedding requests are idempotent, so timeouts and 408/429/5xx answers are retried with
backoff (``Retry-After`` honoured up to ``extra['retry_after_cap']``).

======  =========================================  ======================  =============================
vendor  endpoint                                   key                     default model (dimension)
======  =========================================  ======================  =============================
OpenAI  ``POST {base}/embeddings``                 ``OPENAI_API_KEY``      text-embedding-3-small (1536)
Cohere  ``POST {base}/v2/embed``                   ``CO_API_KEY``,         embed-v4.0 (1536)
                                                   ``COHERE_API_KEY``
Gemini  ``POST {base}/models/{m}:embedContent``,   ``GEMINI_API_KEY``,     gemini-embedding-001 (3072)
        ``:batchEmbedContents`` for several texts  ``GOOGLE_API_KEY``
Ollama  ``POST {base}/api/embed``                  none (optional bearer)  nomic-embed-text (768)
======  =========================================  ======================  =============================

``dimension=`` asks the vendors that can shorten their vectors for that size
(``dimensions``, ``output_dimension``, ``outputDimensionality``); for a model not in
:data:`KNOWN_DIMENSIONS` it is required, and every reply is checked against it. Vectors
are L2-normalised on arrival (Gemini's shortened vectors are not). Empty texts are not
sent (vendors refuse them): they get a zero vector, as with the offline embedder.

A ``transport=`` (e.g. ``httpx.MockTransport``) sends every request through it, which is
how the tests replay each vendor's documented JSON. The synchronous ``embed`` runs the
request on a private event-loop thread (:class:`~luminora_nb._loop.LoopThread`), so it
works in scripts and inside a running Jupyter kernel alike.

Example:
    >>> import httpx
    >>> def vendor(request):
    ...     count = len(json.loads(request.content)["input"])
    ...     rows = [{"object": "embedding", "index": i, "embedding": [3.0, 4.0]} for i in range(count)]
    ...     return httpx.Response(200, json={"object": "list", "data": rows, "model": "m"})
    >>> embedder = OpenAIEmbedder("m", api_key="sk-demo", dimension=2,
    ...                           transport=httpx.MockTransport(vendor))
    >>> embedder.embed(["hello", ""]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    >>> embedder.model_id, embedder.dimension
    ('openai/m', 2)
    >>> embedder.close()
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
import numpy as np

from .._loop import LoopThread
from ..errors import ProviderAuthenticationError, ProviderError
from ..providers import _errors
from ..providers._clients import ClientKey, LoopClient
from ..providers._redact import Secret, redact
from ..providers._retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after
from ..providers._settings import HTTPSettings
from .embeddings import EmbeddingError, FloatMatrix, check_texts, l2_normalise

__all__ = [
    "KNOWN_DIMENSIONS",
    "CohereEmbedder",
    "GeminiEmbedder",
    "HTTPEmbedder",
    "OllamaEmbedder",
    "OpenAIEmbedder",
]

logger = logging.getLogger("luminora_nb.memory")

InputType = Literal["document", "query"]

#: Native vector sizes of the vendors' embedding models (a ``dimension=`` overrides them).
KNOWN_DIMENSIONS: Mapping[str, Mapping[str, int]] = {
    "openai": {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    },
    "cohere": {
        "embed-v4.0": 1536,
        "embed-english-v3.0": 1024,
        "embed-multilingual-v3.0": 1024,
        "embed-english-light-v3.0": 384,
        "embed-multilingual-light-v3.0": 384,
    },
    "google": {"gemini-embedding-001": 3072, "text-embedding-004": 768, "embedding-001": 768},
    "llama": {
        "nomic-embed-text": 768,
        "mxbai-embed-large": 1024,
        "all-minilm": 384,
        "snowflake-arctic-embed": 1024,
        "bge-m3": 1024,
        "embeddinggemma": 768,
    },
}


class HTTPEmbedder:
    """Shared core of the HTTP embedders: key, URL, client, retries, error mapping.

    Subclasses set the class attributes and implement :meth:`request` (the call for a
    batch of texts) and :meth:`parse` (the vectors of one reply).

    Args:
        model: The vendor's model name (default :attr:`default_model`).
        api_key: The key (default: the first of :attr:`api_key_env_vars` that is set).
        base_url: The API root (default :attr:`default_base_url`).
        dimension: The vector size to ask for / expect (required for unknown models).
        batch_size: Texts per request (default :attr:`max_batch`, the vendor's limit).
        transport: An ``httpx`` transport for every request (tests: ``httpx.MockTransport``).
        extra: Timeouts and retries, as in ``ProviderConfig.extra``.
    """

    #: Name used in errors and in ``model_id`` (the chat provider's name).
    name: ClassVar[str] = ""
    #: Prefix of ``model_id``.
    vendor: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    api_key_env_vars: ClassVar[tuple[str, ...]] = ()
    requires_api_key: ClassVar[bool] = True
    #: Largest number of texts the vendor takes in one request.
    max_batch: ClassVar[int] = 96

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimension: int | None = None,
        batch_size: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = (model or self.default_model).strip()
        if not self.model:
            raise EmbeddingError(f"{self.name}: no embedding model given")
        self._api_key = self._resolve_key(api_key)
        self.base_url = self._check_url(base_url or self.default_base_url)
        known = KNOWN_DIMENSIONS.get(self.name, {}).get(self.model.split(":", 1)[0].removeprefix("models/"))
        if dimension is not None and (
            isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1
        ):
            raise EmbeddingError(f"{self.name}: dimension must be a positive integer, got {dimension!r}")
        if dimension is None and known is None:
            raise EmbeddingError(
                f"{self.name}: the vector size of model {self.model!r} is not known; "
                "pass dimension=<its size>"
            )
        #: Whether the size was asked for explicitly (and is then sent to the vendor).
        self.requested_dimension = dimension
        self.dimension: int = dimension if dimension is not None else int(known or 0)
        self.model_id: str = f"{self.vendor}/{self.model.removeprefix('models/')}"
        size = self.max_batch if batch_size is None else batch_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= self.max_batch:
            raise EmbeddingError(
                f"{self.name}: batch_size must be an integer in [1, {self.max_batch}], got {size!r}"
            )
        self.batch_size = size
        settings_extra = dict(extra or {})
        self.settings = HTTPSettings.from_extra(settings_extra, provider=self.name)
        self.retry = RetryPolicy.from_extra(settings_extra, provider=self.name)
        self._clients = LoopClient(ClientKey.for_base_url(self.base_url, self.settings, transport))
        self._loop: LoopThread | None = None

    # -- configuration ------------------------------------------------------------------

    def _resolve_key(self, api_key: str | None) -> Secret | None:
        if api_key:
            return Secret(api_key)
        for var in self.api_key_env_vars:
            value = os.environ.get(var, "").strip()
            if value:
                return Secret(value)
        if self.requires_api_key:
            names = " or ".join(self.api_key_env_vars)
            raise ProviderAuthenticationError(
                f"{self.name}: no API key for embeddings; set the {names} environment variable "
                "or pass api_key=...",
                provider=self.name,
            )
        return None

    def _check_url(self, base_url: str) -> str:
        text = base_url.strip()
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ProviderError(
                redact(f"{self.name}: invalid base_url {text!r} ({exc})"), provider=self.name
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ProviderError(
                redact(f"{self.name}: base_url must be an absolute http(s) URL, got {text!r}"),
                provider=self.name,
            )
        return text.rstrip("/")

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.reveal(),) if self._api_key is not None else ()

    def _blame(self) -> dict[str, Any]:
        """The keywords of every error this embedder raises from a call: its name, and
        the key to redact from the message."""
        return {"provider": self.name, "secrets": self._secrets()}

    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>`` when a key is set."""
        return {"Authorization": f"Bearer {self._api_key.reveal()}"} if self._api_key is not None else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dimension={self.dimension})"

    # -- vendor hooks -------------------------------------------------------------------

    def request(self, texts: list[str], input_type: InputType) -> tuple[str, dict[str, Any]]:
        """``(path, JSON body)`` of the call embedding ``texts`` (at most ``batch_size``)."""
        raise NotImplementedError

    def parse(self, data: Any) -> list[Any]:
        """The vectors in reply ``data``, in order; raise KeyError/TypeError/... on a wrong shape."""
        raise NotImplementedError

    def classify_status(self, status: int, body: Any) -> int:
        """The status an error answer is treated as (default: the one sent)."""
        return status

    # -- calls ----------------------------------------------------------------------------

    async def aembed(self, texts: Sequence[str], *, input_type: InputType = "document") -> FloatMatrix:
        """Vectors of ``texts`` (as documents, or as search queries), unit rows, float32."""
        items = check_texts(texts, who=self.model_id)
        result = np.zeros((len(items), self.dimension), dtype=np.float32)
        rows = [i for i, text in enumerate(items) if text.strip()]
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            path, body = self.request([items[i] for i in batch], input_type)
            data = await self._post(path, body)
            try:
                vectors = self.parse(data)
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                raise _errors.malformed("embedding reply", data, **self._blame()) from None
            result[batch] = self._check_vectors(vectors, len(batch), data)
        return result

    async def aembed_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """Vectors of search queries (vendors with an input type embed them as queries)."""
        return await self.aembed(texts, input_type="query")

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """:meth:`aembed` for synchronous callers (runs on a private event-loop thread)."""
        return self._run_sync(self.aembed(texts))

    def embed_queries(self, texts: Sequence[str]) -> FloatMatrix:
        """:meth:`aembed_queries` for synchronous callers."""
        return self._run_sync(self.aembed_queries(texts))

    def _run_sync(self, coro: Any) -> FloatMatrix:
        if self._loop is None or self._loop.closed:
            self._loop = LoopThread(name=f"luminora-embed-{self.name}")
        result: FloatMatrix = self._loop.run(coro)
        return result

    def _check_vectors(self, vectors: list[Any], count: int, data: Any) -> FloatMatrix:
        try:
            matrix = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError):
            raise _errors.malformed("embedding reply", data, **self._blame()) from None
        if matrix.ndim != 2 or matrix.shape[0] != count:
            raise _errors.malformed(f"embedding reply ({count} vectors expected)", data, **self._blame())
        if matrix.shape[1] != self.dimension:
            raise ProviderError(
                f"{self.name}: model {self.model!r} returned vectors of {matrix.shape[1]} dimensions, "
                f"expected {self.dimension}; pass the right dimension=",
                provider=self.name,
            )
        if not np.isfinite(matrix).all():
            raise ProviderError(
                f"{self.name}: the embedding reply holds NaN or infinite values", provider=self.name
            )
        return l2_normalise(matrix)

    def _url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        client = self._clients.get()
        url = self._url(path)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "luminora_nb",
        }
        headers.update(self.auth_headers())
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        timeout = self.settings.httpx_timeout(stream=True)
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = await client.post(url, content=content, headers=headers, timeout=timeout)
            except httpx.HTTPError as exc:
                # Embedding calls are idempotent and cheap: every transport failure may be retried.
                error = _errors.error_from_transport(
                    exc, url=self.base_url, settings=self.settings, stream=True, **self._blame()
                )
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise _errors.not_json(
                            response.content, what="embedding reply", **self._blame()
                        ) from None
                error, retry_after = self._status_error(response, attempts=attempt + 1)
            if error.retryable and self.retry.beyond_cap(retry_after):
                raise _errors.with_context(
                    error,
                    f" — the provider asks to retry in {retry_after:.0f} s, longer than "
                    f"extra['retry_after_cap'] ({self.retry.retry_after_cap:g} s); try again later",
                )
            if not error.retryable or attempt >= self.retry.max_retries:
                if attempt > 0 and f"after {attempt + 1} attempts" not in str(error):
                    raise _errors.with_context(error, f" (gave up after {attempt + 1} attempts)")
                raise error
            delay = self.retry.delay(attempt, retry_after=retry_after)
            logger.info("%s embeddings: %s; retrying in %.2f s", self.name, error, delay)
            await self.retry.sleep(delay)
            attempt += 1

    def _status_error(self, response: httpx.Response, *, attempts: int) -> tuple[ProviderError, float | None]:
        raw = response.content.decode(response.encoding or "utf-8", errors="replace")
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        vendor_text = _errors.vendor_error_message(body) or (raw if isinstance(body, str) else None)
        status = response.status_code
        classified = self.classify_status(status, body)
        error = _errors.error_from_status(
            classified,
            wire_status=status if classified != status else None,
            vendor_text=vendor_text,
            reason=response.reason_phrase,
            retryable_status=RETRYABLE_STATUS,
            env_hint=" or ".join(self.api_key_env_vars) or "provider's API key",
            attempts=attempts,
            **self._blame(),
        )
        return error, parse_retry_after(response.headers)

    # -- life cycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the connection pool share. Safe to call twice."""
        await self._clients.aclose()

    def close(self) -> None:
        """Close the connections and the private loop thread of the synchronous calls."""
        loop, self._loop = self._loop, None
        if loop is not None and not loop.closed:
            loop.run(self._clients.aclose())
            loop.close()

    async def __aenter__(self) -> HTTPEmbedder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class OpenAIEmbedder(HTTPEmbedder):
    """OpenAI ``POST /v1/embeddings`` (also OpenAI-compatible servers, via ``base_url``).

    Request ``{"model", "input": [...], "encoding_format": "float"}`` (plus ``dimensions``
    when ``dimension=`` is given); reply ``{"data": [{"index", "embedding"}], ...}``.
    """

    name: ClassVar[str] = "openai"
    vendor: ClassVar[str] = "openai"
    default_model: ClassVar[str] = "text-embedding-3-small"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    max_batch: ClassVar[int] = 2048

    def request(self, texts: list[str], input_type: InputType) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.requested_dimension is not None:
            body["dimensions"] = self.requested_dimension
        return "/embeddings", body

    def parse(self, data: Any) -> list[Any]:
        rows = sorted(data["data"], key=lambda row: int(row["index"]))
        return [row["embedding"] for row in rows]


class CohereEmbedder(HTTPEmbedder):
    """Cohere ``POST /v2/embed``.

    Request ``{"model", "texts", "input_type": "search_document" | "search_query",
    "embedding_types": ["float"]}`` (plus ``output_dimension`` when ``dimension=`` is
    given); reply ``{"embeddings": {"float": [[...], ...]}, ...}``.
    """

    name: ClassVar[str] = "cohere"
    vendor: ClassVar[str] = "cohere"
    default_model: ClassVar[str] = "embed-v4.0"
    default_base_url: ClassVar[str] = "https://api.cohere.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("CO_API_KEY", "COHERE_API_KEY")
    max_batch: ClassVar[int] = 96

    def request(self, texts: list[str], input_type: InputType) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "texts": texts,
            "input_type": "search_query" if input_type == "query" else "search_document",
            "embedding_types": ["float"],
        }
        if self.requested_dimension is not None:
            body["output_dimension"] = self.requested_dimension
        return "/v2/embed", body

    def parse(self, data: Any) -> list[Any]:
        embeddings = data["embeddings"]
        rows = embeddings["float"] if isinstance(embeddings, dict) else embeddings
        return list(rows)


class GeminiEmbedder(HTTPEmbedder):
    """Gemini ``models/{model}:embedContent`` (one text) and ``:batchEmbedContents`` (several).

    Header ``x-goog-api-key``. Each request carries ``content.parts[].text``, ``taskType``
    ``RETRIEVAL_DOCUMENT`` or ``RETRIEVAL_QUERY`` and, when ``dimension=`` is given,
    ``outputDimensionality``; replies hold ``embedding.values`` or ``embeddings[].values``.
    An HTTP 400 whose reason is ``API_KEY_INVALID`` is an authentication error.
    """

    name: ClassVar[str] = "google"
    vendor: ClassVar[str] = "gemini"
    default_model: ClassVar[str] = "gemini-embedding-001"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    max_batch: ClassVar[int] = 100

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key.reveal()} if self._api_key is not None else {}

    def _request(self, text: str, input_type: InputType) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": f"models/{self.model.removeprefix('models/')}",
            "content": {"parts": [{"text": text}]},
            "taskType": "RETRIEVAL_QUERY" if input_type == "query" else "RETRIEVAL_DOCUMENT",
        }
        if self.requested_dimension is not None:
            request["outputDimensionality"] = self.requested_dimension
        return request

    def request(self, texts: list[str], input_type: InputType) -> tuple[str, dict[str, Any]]:
        model = quote(self.model.removeprefix("models/"), safe="-._~@")
        if len(texts) == 1:
            return f"/models/{model}:embedContent", self._request(texts[0], input_type)
        body = {"requests": [self._request(text, input_type) for text in texts]}
        return f"/models/{model}:batchEmbedContents", body

    def parse(self, data: Any) -> list[Any]:
        if "embedding" in data:
            return [data["embedding"]["values"]]
        return [row["values"] for row in data["embeddings"]]

    def classify_status(self, status: int, body: Any) -> int:
        """Gemini answers an invalid key with 400 INVALID_ARGUMENT; treat it as a 401."""
        error = body.get("error") if isinstance(body, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, dict) and detail.get("reason") in ("API_KEY_INVALID", "API_KEY_EXPIRED"):
                return 401
        return status


class OllamaEmbedder(HTTPEmbedder):
    """Ollama ``POST /api/embed`` on ``http://localhost:11434``.

    Request ``{"model", "input": [...]}``; reply ``{"embeddings": [[...], ...]}``; errors
    ``{"error": "..."}``. No key is needed (one given is sent as a bearer token, for a
    proxy in front of the server).
    """

    name: ClassVar[str] = "llama"
    vendor: ClassVar[str] = "ollama"
    default_model: ClassVar[str] = "nomic-embed-text"
    default_base_url: ClassVar[str] = "http://localhost:11434"
    requires_api_key: ClassVar[bool] = False
    max_batch: ClassVar[int] = 512

    def request(self, texts: list[str], input_type: InputType) -> tuple[str, dict[str, Any]]:
        return "/api/embed", {"model": self.model, "input": texts}

    def parse(self, data: Any) -> list[Any]:
        return list(data["embeddings"])
