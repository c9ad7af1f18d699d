"""Memory benchmark: offline embedding speed and semantic search over 100,000 memories.

Run: ``.venv/bin/python benchmarks/bench_memory.py``

Prints, for this machine, each figure next to its target and the ratio figure/target
(<= 1.0 meets it):

* embedding 1,000 sentences with the default (shipped, static) embedder — target 0.5 s;
* one search, top 5 among 100,000 stored memories of the default embedder's dimension,
  the query's embedding included — target 20 ms (median);

and, as baselines from the same process (these machines are noisy): a bare numpy
matrix-vector product over the same matrix plus ``argpartition`` (the floor of any exact
search), the same search in "semantic" mode (no lexical, importance or recency terms),
and the one-off costs (loading the model, building the index from the stored form:
little-endian float32 bytes with the embedder's model id and dimension).

Through the storage layer: the same 100,000 memories saved to the in-memory storage (in one
batch), and with ``--duckdb`` to :class:`~luminora_nb.storage.duckdb.DuckDBStorage` (to a
temporary file), timing ``search_embeddings`` top 5 there — the query's embedding included,
median of 40 searches after the first, which builds the backend's cached matrix and is
printed apart, as is a search right after one more memory is saved, which updates the
cached matrix from that row — against the in-memory index: storages rank by cosine alone, so the fair
comparison is the index's semantic mode (target 20 ms). ``--memory-count N`` /
``--duckdb-count N`` save only the first N (then no target or ratio is printed for that
row; 0 skips the backend).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from _harness import median_s, target_row

from luminora_nb.memory.embeddings import StaticEmbedder, embedding_metadata, pack_vector
from luminora_nb.memory.search import MemoryCandidate, MemoryIndex

SUBJECTS = [
    "my sister",
    "my brother",
    "my boss",
    "our neighbour",
    "my best friend",
    "the dog",
    "my daughter",
    "I",
]
VERBS = ["loves", "hates", "bought", "visited", "talked about", "is afraid of", "wants to learn", "cooked"]
OBJECTS = [
    "jazz concerts",
    "the beach in Lisbon",
    "a red bicycle",
    "spicy Thai curry",
    "rock climbing",
    "old vinyl records",
    "the new office",
    "a trip to Iceland",
    "chess tournaments",
    "homemade bread",
    "the marathon",
    "Japanese lessons",
]
WHEN = ["yesterday", "last summer", "every weekend", "on Monday", "since childhood", "this morning", "", ""]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}".split()
        )
        + f" (note {i})"
        for i in range(count)
    ]


async def backend_search(
    backend: str, embedder: StaticEmbedder, texts: list[str], vectors: np.ndarray, queries: list[str]
) -> tuple[float, float, float, float]:
    """Seconds to save ``texts`` into a fresh store of ``backend`` (memory or duckdb), of its
    first ``search_embeddings`` (which builds the backend's cached matrix), the median
    seconds of one later search, top 5, query embedding included, and the median of a search
    right after one more memory is saved (the cached matrix is updated, not rebuilt)."""
    from luminora_nb.storage import create_storage
    from luminora_nb.types import StorageConfig

    meta = embedding_metadata(embedder)
    with tempfile.TemporaryDirectory() as folder:
        where = {"duckdb": str(Path(folder) / "b.duckdb")}.get(backend)
        store = create_storage(StorageConfig(storage_type=backend, connection_string=where))
        await store.initialize()
        try:
            start = time.perf_counter()
            async with store.batch():
                for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                    await store.save_embedding(
                        "u1", f"m{i}", ("fact", "episode", "message")[i % 3], text, vector.tolist(), **meta
                    )
            load_s = time.perf_counter() - start
            samples = []
            for i in range(41):
                start = time.perf_counter()
                query = embedder.embed([queries[i % len(queries)]])[0]
                await store.search_embeddings("u1", query.tolist(), limit=5)
                samples.append(time.perf_counter() - start)
            after_write = []
            for i in range(11):
                vector = vectors[i % len(vectors)].tolist()
                await store.save_embedding("u1", f"new{i}", "fact", texts[i % len(texts)], vector, **meta)
                start = time.perf_counter()
                query = embedder.embed([queries[i % len(queries)]])[0]
                await store.search_embeddings("u1", query.tolist(), limit=5)
                after_write.append(time.perf_counter() - start)
            return load_s, samples[0], statistics.median(samples[1:]), statistics.median(after_write)
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="memory benchmark")
    parser.add_argument("--duckdb", action="store_true", help="also time search_embeddings of DuckDBStorage")
    parser.add_argument(
        "--duckdb-count", type=int, default=100_000, help="memories saved to DuckDB (default: all 100,000)"
    )
    parser.add_argument(
        "--memory-count",
        type=int,
        default=100_000,
        help="memories saved to the in-memory storage (default: all)",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    embedder = StaticEmbedder()
    load_s = time.perf_counter() - start

    thousand = sentences(1000, seed=1)
    embed_s = median_s(lambda: embedder.embed(thousand), repeat=7)

    count = 100_000
    texts = sentences(count, seed=2)
    start = time.perf_counter()
    vectors = embedder.embed(texts)
    embed_all_s = time.perf_counter() - start
    meta = embedding_metadata(embedder)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    candidates = [
        MemoryCandidate(
            f"m{i}",
            ("fact", "episode", "message")[i % 3],
            text,
            vector=pack_vector(vectors[i]),  # the stored form: float32 bytes
            importance=(i % 11) / 10 if i % 3 == 1 else None,
            timestamp=now - timedelta(hours=i),
            **meta,
        )
        for i, text in enumerate(texts)
    ]
    start = time.perf_counter()
    index = MemoryIndex(candidates, embedder)
    index.search("warm up the lexical index", limit=5, now=now)
    build_s = time.perf_counter() - start

    queries = ["who likes jazz?", "what did my sister buy?", "is anyone scared of climbing?", "bread recipes"]
    cycle = iter(range(10**9))

    def search() -> object:
        return index.search(queries[next(cycle) % len(queries)], limit=5, now=now)

    def semantic() -> object:
        return index.search(queries[next(cycle) % len(queries)], limit=5, mode="semantic")

    matrix = np.ascontiguousarray(index.matrix)
    query_vector = embedder.embed(["who likes jazz?"])[0]

    def bare() -> object:
        scores = matrix @ query_vector
        return np.argpartition(-scores, 5)[:5]

    search_s = median_s(search, repeat=41)
    semantic_s = median_s(semantic, repeat=41)
    bare_s = median_s(bare, repeat=41)
    query_s = median_s(lambda: embedder.embed(["who likes jazz?"]), repeat=201)

    stores: dict[str, tuple[int, tuple[float, float, float, float]]] = {}
    for backend, wanted in (
        ("memory", args.memory_count),
        ("duckdb", args.duckdb_count if args.duckdb else 0),
    ):
        if wanted > 0:
            size = min(wanted, count)
            stores[backend] = (
                size,
                asyncio.run(backend_search(backend, embedder, texts[:size], vectors[:size], queries)),
            )

    print(f"memory benchmark — {embedder.model_id}, dimension {embedder.dimension}")
    target_row("embed 1,000 sentences (default embedder)", embed_s, "s", 0.5)
    target_row("search top 5 of 100,000 (hybrid, query embedded)", search_s * 1e3, "ms", 20.0)
    target_row("  baseline: numpy matrix @ vector + argpartition", bare_s * 1e3, "ms")
    target_row("  same search, semantic mode only", semantic_s * 1e3, "ms")
    target_row("  embedding one query", query_s * 1e3, "ms")
    target_row(f"  search / bare numpy ratio ({search_s / bare_s:.1f}x)", search_s / bare_s, "x")
    for backend, (size, (save_s, first_s, search_s_backend, after_write_s)) in stores.items():
        label = f"{backend} storage: search_embeddings top 5 of {size:,} (query embedded)"
        target_row(label, search_s_backend * 1e3, "ms", 20.0 if size == count else None)
        if size == count:  # a ratio only between searches over the same memories
            ratio = search_s_backend / semantic_s
            target_row(f"  {backend} / in-memory index semantic ratio ({ratio:.1f}x)", ratio, "x")
        target_row(f"  first search (builds the {backend} matrix)", first_s * 1e3, "ms")
        target_row(
            f"  search right after saving one memory (updates the matrix, {first_s / after_write_s:.0f}x "
            "faster than building it)",
            after_write_s * 1e3,
            "ms",
        )
        target_row(f"one-off: save {size:,} embeddings to {backend} (one batch)", save_s, "s")
    target_row("one-off: load the model", load_s, "s")
    target_row("one-off: embed 100,000 memories", embed_all_s, "s")
    target_row("one-off: build the index of 100,000 (matrix + BM25)", build_s, "s")


if __name__ == "__main__":
    main()
