"""Embedders: the shipped offline model, the protocol, vector packing, sentence-transformers
wiring, and the HTTP embedders of OpenAI, Cohere, Gemini and Ollama (over httpx.MockTransport,
with each vendor's documented JSON)."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from luminora_nb.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
)
from luminora_nb.memory.embeddings import (
    MODEL_DIR,
    Embedder,
    EmbeddingError,
    SentenceTransformerEmbedder,
    StaticEmbedder,
    default_embedder,
    embedding_metadata,
    l2_normalise,
    pack_vector,
    query_vectors,
    unpack_vector,
)
from luminora_nb.memory.remote import (
    CohereEmbedder,
    GeminiEmbedder,
    HTTPEmbedder,
    OllamaEmbedder,
    OpenAIEmbedder,
)

DATA = Path(__file__).parent / "data" / "memory_retrieval.json"


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return default_embedder()


# --------------------------------------------------------------------------- the shipped model


def test_shipped_model_files_are_small_and_match_their_record() -> None:
    files = sorted(p.name for p in MODEL_DIR.iterdir() if p.is_file())
    assert files == ["config.json", "luminora_model.json", "model.safetensors", "tokenizer.json"]
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir())
    assert total < 20 * 1024 * 1024, f"the shipped model takes {total / 1e6:.1f} MB"
    info = json.loads((MODEL_DIR / "luminora_model.json").read_text())
    digest = hashlib.sha256((MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()
    assert info["files"]["model.safetensors"]["sha256"] == digest
    assert info["model_id"].endswith(digest[:12])
    assert info["model_id"].startswith(f"luminora/minilm-l6-static-{info['dimension']}-")
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert config["hidden_dim"] == info["dimension"]
    # How it was made is recorded: the script and each step's settings.
    assert info["made_by"].startswith("scripts/distill_embeddings.py")
    recipe = info["recipe"]
    assert recipe["step2_pca_dims"] >= info["dimension"] and recipe["step4_out_dims"] == info["dimension"]
    tuning = recipe["step3_tuning"]
    losses = tuning["held_out_cosine_distance_per_epoch"]
    assert min(losses) == losses[tuning["kept_epoch"]] < losses[0]
    # No path of the machine that distilled it leaks into the package.
    assert "/tmp" not in (MODEL_DIR / "config.json").read_text()


def test_default_embedder_follows_the_protocol(embedder: StaticEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert default_embedder() is embedder
    info = json.loads((MODEL_DIR / "luminora_model.json").read_text())
    assert (embedder.model_id, embedder.dimension) == (info["model_id"], info["dimension"])
    vectors = embedder.embed(["My sister Ana lives in Lisbon.", "I drive an old red Volvo."])
    assert vectors.shape == (2, embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dimension)


def test_the_word_user_carries_no_meaning(embedder: StaticEmbedder) -> None:
    # Every memory is about the user: the distillation zeroes these tokens (see its recipe).
    info = json.loads((MODEL_DIR / "luminora_model.json").read_text())
    zeroed = info["recipe"]["step4_zeroed_tokens"]
    assert zeroed == ["user", "users"]
    assert not embedder.embed(zeroed).any()
    with_user, without = embedder.embed(["The user's dog is called Rex", "The dog is called Rex"])
    assert float(with_user @ without) > 0.95


def test_embeddings_are_deterministic_and_independent_of_the_batch(embedder: StaticEmbedder) -> None:
    texts = [f"memory number {i}: I like {w}" for i, w in enumerate(["tea", "jazz", "hiking", "chess"])]
    batch = embedder.embed(texts)
    again = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([t]) for t in texts])
    assert np.array_equal(batch, again)
    np.testing.assert_allclose(batch, one_by_one, atol=1e-6)


def test_texts_without_content_give_zero_rows(embedder: StaticEmbedder) -> None:
    vectors = embedder.embed(["", "   ", "hello"])
    assert not vectors[0].any() and not vectors[1].any()
    assert np.linalg.norm(vectors[2]) == pytest.approx(1.0, rel=1e-5)


def test_embed_refuses_a_bare_string_or_non_text(embedder: StaticEmbedder) -> None:
    with pytest.raises(EmbeddingError, match="not one string"):
        embedder.embed("hello")
    with pytest.raises(EmbeddingError, match="text 1 is int"):
        embedder.embed(["hello", 3])  # type: ignore[list-item]


def test_similar_meanings_are_closer_than_unrelated_ones(embedder: StaticEmbedder) -> None:
    memory, paraphrase, unrelated = embedder.embed(
        ["My sister Ana lives in Lisbon.", "Where does her sibling reside?", "The printer jams constantly."]
    )
    assert float(memory @ paraphrase) > float(memory @ unrelated) + 0.1


def test_loading_the_model_touches_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the offline embedder tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fresh = StaticEmbedder()
    assert fresh.embed(["offline"]).shape == (1, fresh.dimension)


@pytest.mark.integration  # starts another process
def test_runtime_needs_neither_torch_nor_transformers_and_import_stays_light() -> None:
    code = (
        "import sys\n"
        "import luminora_nb.memory as m\n"
        "light = 'numpy' not in sys.modules and 'model2vec' not in sys.modules\n"
        "m.default_embedder().embed(['x'])\n"
        "print(light, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False", "False"]


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="no model2vec model"):
        StaticEmbedder(tmp_path)


def test_a_wrong_dimension_record_is_refused(tmp_path: Path) -> None:
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    (tmp_path / "luminora_model.json").write_text(json.dumps({"model_id": "x", "dimension": 7}))
    with pytest.raises(EmbeddingError, match="dimension 7"):
        StaticEmbedder(tmp_path)
    (tmp_path / "luminora_model.json").unlink()
    assert StaticEmbedder(tmp_path).model_id == f"model2vec/{tmp_path.name}"


# --------------------------------------------------------------------------- vectors


def test_pack_and_unpack_are_float32_little_endian() -> None:
    vector = np.array([0.1, -2.5, 3.0], dtype=np.float64)
    data = pack_vector(vector)
    assert len(data) == 12
    assert unpack_vector(data, 3).tolist() == vector.astype(np.float32).tolist()
    with pytest.raises(EmbeddingError, match="multiple of 4"):
        unpack_vector(data[:-1])
    with pytest.raises(EmbeddingError, match="expected 4"):
        unpack_vector(data, 4)
    with pytest.raises(EmbeddingError, match="one vector"):
        pack_vector([[1.0], [2.0]])


def test_metadata_and_normalising(embedder: StaticEmbedder) -> None:
    assert embedding_metadata(embedder) == {"model_id": embedder.model_id, "dimension": embedder.dimension}
    assert l2_normalise([0.0, 0.0]).tolist() == [0.0, 0.0]
    assert l2_normalise([[0.0, 2.0]]).tolist() == [[0.0, 1.0]]


def test_query_vectors_prefers_an_embedders_query_mode() -> None:
    class Asymmetric:
        model_id, dimension = "demo", 2

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))

        def embed_queries(self, texts: list[str]) -> np.ndarray:
            return np.tile(np.array([0.0, 1.0], dtype=np.float32), (len(texts), 1))

    class Plain:
        model_id, dimension = "demo", 2

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32)

    assert isinstance(Plain(), Embedder)
    assert query_vectors(Asymmetric(), ["q"]).tolist() == [[0.0, 1.0]]
    assert query_vectors(Plain(), ["q"]).tolist() == [[1.0, 1.0]]


# --------------------------------------------------------------------------- sentence-transformers


def test_sentence_transformers_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(EmbeddingError, match="pip install sentence-transformers"):
        SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.mark.parametrize("dimension_method", ["get_embedding_dimension", "get_sentence_embedding_dimension"])
def test_sentence_transformer_embedder_wraps_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dimension_method: str
) -> None:
    # sentence-transformers stands in here (no torch in CI); the real one runs in
    # tests/test_memory_search.py::test_recall_at_5_of_full_minilm_the_ceiling when installed.
    calls: list[dict[str, Any]] = []

    class FakeModel:
        def __init__(self, name: str, device: str, **kwargs: Any) -> None:
            self.name, self.device = name, device

        def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
            calls.append(kwargs)
            return np.array([[2.0, 0.0, 0.0] if t.strip() else [0.5, 0.5, 0.5] for t in texts])

    # Version 6 renamed get_sentence_embedding_dimension; either name must work.
    setattr(FakeModel, dimension_method, lambda self: 3)
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    folder = tmp_path / "my-model"
    folder.mkdir()
    st = SentenceTransformerEmbedder(folder)
    assert (st.model_id, st.dimension) == ("sentence-transformers/my-model", 3)
    assert isinstance(st, Embedder)
    assert st.embed(["a", ""]).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert calls[0]["show_progress_bar"] is False
    assert SentenceTransformerEmbedder("org/name").model_id == "sentence-transformers/org/name"


# --------------------------------------------------------------------------- HTTP embedders

KEY = "sk-test-embed-0123456789abcdef"


class Vendor:
    """Records requests and answers each with the next response (or a handler's result)."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    def body(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


FAST = {"retry_base_delay": 0.0, "retry_max_delay": 0.0}


def openai_reply(request: httpx.Request) -> httpx.Response:
    texts = json.loads(request.content)["input"]
    rows = [
        {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
        for i, t in enumerate(texts)
    ]
    rows.reverse()  # the vendor may answer out of order: "index" says where each belongs
    usage = {"prompt_tokens": 8, "total_tokens": 8}
    return httpx.Response(
        200, json={"object": "list", "data": rows, "model": "text-embedding-3-small", "usage": usage}
    )


async def test_openai_request_shape_order_and_batching() -> None:
    vendor = Vendor(openai_reply)
    embedder = OpenAIEmbedder(api_key=KEY, dimension=3, batch_size=2, transport=vendor.transport, extra=FAST)
    assert (embedder.model_id, embedder.dimension) == ("openai/text-embedding-3-small", 3)
    vectors = await embedder.aembed(["a", "bbb", "", "cc", "d"])
    assert [r.url.path for r in vendor.requests] == ["/v1/embeddings"] * 2
    assert vendor.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert vendor.body(0) == {
        "model": "text-embedding-3-small",
        "input": ["a", "bbb"],
        "encoding_format": "float",
        "dimensions": 3,
    }
    assert vendor.body(1)["input"] == ["cc", "d"]  # the empty text is never sent
    expected = l2_normalise(
        [[1.0, 1.0, 0.0], [3.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    )
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    await embedder.aclose()


async def test_openai_native_size_is_not_sent_and_key_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    vendor = Vendor(lambda r: httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.0] * 1536}]}))
    embedder = OpenAIEmbedder(transport=vendor.transport)
    assert embedder.dimension == 1536
    await embedder.aembed(["x"])
    assert "dimensions" not in vendor.body()
    assert vendor.requests[0].headers["authorization"] == f"Bearer {KEY}"
    await embedder.aclose()


def test_a_missing_key_or_an_unknown_size_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "CO_API_KEY", "COHERE_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ProviderAuthenticationError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()
    with pytest.raises(ProviderAuthenticationError, match="CO_API_KEY or COHERE_API_KEY"):
        CohereEmbedder()
    with pytest.raises(ProviderAuthenticationError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        GeminiEmbedder()
    with pytest.raises(EmbeddingError, match="pass dimension="):
        OllamaEmbedder("my-custom-model")
    with pytest.raises(EmbeddingError, match="positive integer"):
        OllamaEmbedder(dimension=0)
    with pytest.raises(EmbeddingError, match="batch_size"):
        CohereEmbedder(api_key=KEY, batch_size=500)
    with pytest.raises(ProviderError, match="absolute http"):
        OllamaEmbedder(base_url="localhost:11434")
    assert OllamaEmbedder("nomic-embed-text:latest").dimension == 768


async def test_cohere_v2_embed_documents_and_queries() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["texts"]
        return httpx.Response(
            200,
            json={
                "id": "da6e531f",
                "embeddings": {"float": [[0.0, 2.0] for _ in texts]},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
                "response_type": "embeddings_by_type",
            },
        )

    vendor = Vendor(reply)
    embedder = CohereEmbedder(api_key=KEY, dimension=2, transport=vendor.transport)
    assert embedder.model_id == "cohere/embed-v4.0"
    documents = await embedder.aembed(["hello", "world"])
    queries = await embedder.aembed_queries(["hi"])
    assert documents.tolist() == [[0.0, 1.0], [0.0, 1.0]] and queries.tolist() == [[0.0, 1.0]]
    assert vendor.requests[0].url == "https://api.cohere.com/v2/embed"
    assert vendor.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert vendor.body(0) == {
        "model": "embed-v4.0",
        "texts": ["hello", "world"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 2,
    }
    assert vendor.body(1)["input_type"] == "search_query"
    await embedder.aclose()


async def test_gemini_single_and_batch_calls() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(":embedContent"):
            return httpx.Response(200, json={"embedding": {"values": [3.0, 4.0]}})
        count = len(json.loads(request.content)["requests"])
        return httpx.Response(200, json={"embeddings": [{"values": [0.0, 5.0]} for _ in range(count)]})

    vendor = Vendor(reply)
    embedder = GeminiEmbedder(api_key=KEY, dimension=2, transport=vendor.transport)
    assert embedder.model_id == "gemini/gemini-embedding-001"
    one = await embedder.aembed_queries(["what do I like?"])
    many = await embedder.aembed(["a", "b"])
    np.testing.assert_allclose(one, [[0.6, 0.8]], rtol=1e-6)
    assert many.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    first, second = vendor.requests
    assert first.url.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert second.url.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert first.headers["x-goog-api-key"] == KEY and "authorization" not in first.headers
    assert vendor.body(0) == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "what do I like?"}]},
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 2,
    }
    assert [r["taskType"] for r in vendor.body(1)["requests"]] == ["RETRIEVAL_DOCUMENT"] * 2
    await embedder.aclose()


async def test_gemini_invalid_key_answer_is_an_authentication_error() -> None:
    body = {
        "error": {
            "code": 400,
            "message": f"API key not valid. Please pass a valid API key. ({KEY})",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    vendor = Vendor(httpx.Response(400, json=body))
    embedder = GeminiEmbedder(api_key=KEY, transport=vendor.transport, extra=FAST)
    with pytest.raises(ProviderAuthenticationError) as caught:
        await embedder.aembed(["x"])
    assert caught.value.status == 400 and KEY not in str(caught.value)
    assert len(vendor.requests) == 1
    await embedder.aclose()


async def test_ollama_api_embed_without_a_key() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        return httpx.Response(
            200,
            json={
                "model": "all-minilm",
                "embeddings": [[1.0] + [0.0] * 383 for _ in texts],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": 8,
            },
        )

    vendor = Vendor(reply)
    embedder = OllamaEmbedder("all-minilm", transport=vendor.transport)
    assert (embedder.model_id, embedder.dimension) == ("ollama/all-minilm", 384)
    vectors = await embedder.aembed(["Why is the sky blue?", "Why is the grass green?"])
    assert vectors.shape == (2, 384)
    assert vendor.requests[0].url == "http://localhost:11434/api/embed"
    assert "authorization" not in vendor.requests[0].headers
    assert vendor.body() == {
        "model": "all-minilm",
        "input": ["Why is the sky blue?", "Why is the grass green?"],
    }
    await embedder.aclose()


async def test_ollama_error_body_and_unknown_model() -> None:
    vendor = Vendor(
        httpx.Response(404, json={"error": 'model "nomic-embed-text" not found, try pulling it first'})
    )
    embedder = OllamaEmbedder(transport=vendor.transport, extra=FAST)
    with pytest.raises(ProviderBadRequestError, match="try pulling it first") as caught:
        await embedder.aembed(["x"])
    assert caught.value.provider == "llama" and caught.value.status == 404 and not caught.value.retryable
    await embedder.aclose()


async def test_errors_never_show_the_key_and_are_mapped_by_status() -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    vendor = Vendor(httpx.Response(401, json=echo))
    embedder = OpenAIEmbedder(api_key=KEY, transport=vendor.transport, extra=FAST)
    with pytest.raises(ProviderAuthenticationError) as caught:
        await embedder.aembed(["x"])
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value) and KEY not in repr(embedder)
    assert len(vendor.requests) == 1  # a 401 is not retried
    await embedder.aclose()


async def test_rate_limits_and_server_errors_are_retried() -> None:
    ok = httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
    vendor = Vendor(
        httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "Rate limit reached"}}),
        httpx.Response(503, text="upstream unavailable"),
        ok,
    )
    embedder = OpenAIEmbedder("m", api_key=KEY, dimension=2, transport=vendor.transport, extra=FAST)
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    embedder.retry.sleep = record
    assert (await embedder.aembed(["x"])).tolist() == [[1.0, 0.0]]
    assert len(vendor.requests) == 3 and delays == [0.0, 0.0]
    await embedder.aclose()


async def test_retries_give_up_with_the_last_error() -> None:
    vendor = Vendor(httpx.Response(429, json={"error": {"message": "Rate limit reached"}}))
    embedder = OpenAIEmbedder(
        "m", api_key=KEY, dimension=2, transport=vendor.transport, extra={**FAST, "max_retries": 1}
    )
    with pytest.raises(ProviderRateLimitError, match="2 attempts") as caught:
        await embedder.aembed(["x"])
    assert caught.value.retryable and len(vendor.requests) == 2
    await embedder.aclose()


async def test_transport_failures_become_provider_errors() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    vendor = Vendor(drop)
    embedder = OllamaEmbedder(transport=vendor.transport, extra={**FAST, "max_retries": 2})
    with pytest.raises(ProviderError, match="connection to http://localhost:11434 failed") as caught:
        await embedder.aembed(["x"])
    assert caught.value.retryable and len(vendor.requests) == 3
    await embedder.aclose()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            httpx.Response(200, json={"data": [{"index": i, "embedding": [1.0, 0.0, 0.0]} for i in (0, 1)]}),
            "3 dim",
        ),
        (httpx.Response(200, json={"data": []}), "2 vectors expected"),
        (httpx.Response(200, json={"object": "list"}), "unexpected embedding reply"),
        (httpx.Response(200, text="<html>gateway</html>"), "not JSON"),
        (
            httpx.Response(200, json={"data": [{"index": 0, "embedding": ["a", "b"]}, {"index": 1}]}),
            "unexpected",
        ),
    ],
)
async def test_malformed_replies_are_provider_errors(reply: httpx.Response, message: str) -> None:
    embedder = OpenAIEmbedder("m", api_key=KEY, dimension=2, transport=Vendor(reply).transport, extra=FAST)
    with pytest.raises(ProviderError, match=message):
        await embedder.aembed(["x", "y"])
    await embedder.aclose()


def test_http_embedders_follow_the_protocol_synchronously() -> None:
    vendor = Vendor(openai_reply)
    embedder = OpenAIEmbedder("m", api_key=KEY, dimension=3, transport=vendor.transport)
    assert isinstance(embedder, Embedder) and isinstance(embedder, HTTPEmbedder)
    assert embedder.embed(["ab"]).shape == (1, 3)
    assert embedder.embed_queries(["ab"]).shape == (1, 3)
    embedder.close()
    embedder.close()


async def test_sync_embed_works_inside_a_running_event_loop() -> None:
    # A Jupyter cell has a running loop: the synchronous call must not deadlock or fail.
    embedder = OllamaEmbedder(
        "all-minilm",
        transport=Vendor(lambda r: httpx.Response(200, json={"embeddings": [[1.0] + [0.0] * 383]})).transport,
    )
    assert embedder.embed(["x"]).shape == (1, 384)
    embedder.close()
