"""Embedding vectors are stored as float32 bytes with their dimension, on every backend.

Documents written before (``"vector"`` as a JSON list of floats) still read, rank, and are
rewritten in the new form when saved again.
"""

from __future__ import annotations

import base64
import math

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage._documents import EMBEDDING, Key, Put
from luminora_nb.storage._vectors import VECTOR_FIELD, cosine_ranking, pack, stored_vector, unpack
from tests.storage.conftest import BackendCase


def test_pack_is_little_endian_float32_and_ranks_without_floats() -> None:
    assert pack([1.0, -2.0]) == bytes.fromhex("0000803f000000c0")
    assert list(unpack(pack([0.5, 3.0]))) == [0.5, 3.0]
    ranked = cosine_ranking(
        [1.0, 0.0], [("a", pack([0.0, 1.0])), ("b", pack([2.0, 0.0])), ("c", b"\0" * 3)], 5
    )
    assert [(round(score, 6), item) for score, item in ranked] == [(1.0, "b"), (0.0, "a")]
    assert stored_vector({VECTOR_FIELD: "not base64!"}) == b""


@pytest.mark.backend_cases(modes=["plain"])  # the stored bytes are readable only in plain mode
async def test_a_vector_is_stored_as_float32_bytes_with_its_model_and_dimension(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_embedding(
        "u1", "f1", "fact", "tea", [0.25, -1.5, 3.0], model_id="test/model", dimension=3
    )
    dump = backend.raw_dump()
    if backend.backend in {"postgres", "mongodb", "memory", "redis"}:  # binary, beside the document
        assert pack([0.25, -1.5, 3.0]) in dump and VECTOR_FIELD.encode() not in dump
    else:  # inside the JSON document: base64
        assert base64.b64encode(pack([0.25, -1.5, 3.0])) in dump
    assert b'"vector":[' not in dump and b'"vector": [' not in dump  # no JSON list of floats
    [row] = await store.get_embeddings("u1")
    assert (row["vector"], row["model_id"], row["dimension"]) == ([0.25, -1.5, 3.0], "test/model", 3)
    [hit] = await store.search_embeddings("u1", [0.25, -1.5, 3.0])
    assert hit["score"] == pytest.approx(1.0) and hit["vector"] == [0.25, -1.5, 3.0]


@pytest.mark.backend_cases(modes=["plain", "encrypted"])
async def test_vectors_written_as_json_lists_read_rank_and_are_rewritten(backend: BackendCase) -> None:
    store = await backend.open()
    old = {"item_id": "old", "kind": "fact", "text": "old tea", "vector": [1.0, 0.0]}
    await store._write([Put(Key(EMBEDDING, "u1", ("old",)), old)])  # as the previous version stored it
    await store.save_embedding("u1", "new", "fact", "new tea", [0.0, 1.0])
    assert [(r["item_id"], r["vector"]) for r in await store.get_embeddings("u1")] == [
        ("old", [1.0, 0.0]),
        ("new", [0.0, 1.0]),
    ]
    assert [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.1], limit=1)] == ["old"]
    await store.save_embedding("u1", "old", "fact", "old tea", [1.0, 0.0])
    stored = await store._list(EMBEDDING, "u1", None)
    assert all(VECTOR_FIELD in d and "vector" not in d for d in stored)


@pytest.mark.backend_cases(modes=["plain"])
@pytest.mark.parametrize(
    ("vector", "extra", "message"),
    [
        ([1.0, math.nan], {}, "finite numbers"),
        ([1e300], {}, "float32 range"),
        (["x"], {}, "finite numbers"),
        ([1.0, 2.0], {"dimension": 3}, "is not the length"),
    ],
)
async def test_bad_vectors_are_refused(backend: BackendCase, vector: list, extra: dict, message: str) -> None:
    store = await backend.open()
    with pytest.raises(StorageError, match=message):
        await store.save_embedding("u1", "f1", "fact", "tea", vector, **extra)
    assert await store.get_embeddings("u1") == []


@pytest.mark.parametrize(
    "backend", [pytest.param(("postgres", "plain"), marks=pytest.mark.integration)], indirect=True
)
async def test_a_postgres_table_without_the_vector_column_keeps_vectors_in_the_document(
    backend: BackendCase,
) -> None:
    import asyncpg

    first = await backend.open()
    await first.close()
    table = f'"{backend.config.table_name}_embeddings"'
    connection = await asyncpg.connect(backend.config.connection_string)
    try:  # a table made before the column, opened without auto_create_tables
        await connection.execute(f"ALTER TABLE {table} DROP COLUMN vec")
        old = await backend.open(auto_create_tables=False)
        await old.save_embedding("u1", "a", "fact", "tea", [1.0, 0.0])
        assert [r["vector"] for r in await old.get_embeddings("u1")] == [[1.0, 0.0]]
        await old.close()
        again = await backend.open()  # auto_create_tables: the column is added
        assert [r["item_id"] for r in await again.search_embeddings("u1", [1.0, 0.0])] == ["a"]
        await again.save_embedding("u1", "a", "fact", "tea", [0.0, 2.0])  # now in the column
        row = await connection.fetchrow(f"SELECT vec, doc FROM {table}")
        assert bytes(row["vec"]) == pack([0.0, 2.0]) and VECTOR_FIELD not in row["doc"]
        assert [r["vector"] for r in await again.get_embeddings("u1")] == [[0.0, 2.0]]
    finally:
        await connection.close()
