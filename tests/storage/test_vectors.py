"""Embedding vectors are stored as float32 bytes with their dimension, on every backend.

Documents written before (``"vector"`` as a JSON list of floats) still read, rank, and are
rewritten in the new form when saved again.
"""

from __future__ import annotations

import base64
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from luminora_nb.errors import StorageError
from luminora_nb.storage._documents import EMBEDDING, Delete, Key, Put
from luminora_nb.storage._vectors import (
    VECTOR_FIELD,
    VectorMatrix,
    cosine_ranking,
    pack,
    stored_vector,
    unpack,
)
from luminora_nb.storage.file import FileStorage
from luminora_nb.storage.redis import RedisStorage
from luminora_nb.types import StorageConfig
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


# -- cached search matrices (memory, file, DuckDB, Redis) -------------------------------------
@pytest.mark.backend_cases(modes=["plain", "encrypted"])
async def test_a_cached_search_sees_every_change_at_once(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_embedding("u1", "a", "fact", "a", [1.0, 0.0])
    await store.save_embedding("u1", "b", "episode", "b", [0.0, 1.0])

    async def top(kind: str | None = None) -> list[str]:
        return [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.2], kind=kind, limit=5)]

    assert await top() == ["a", "b"]  # builds the matrix
    await store.save_embedding("u1", "c", "fact", "c", [1.0, 0.2])  # saved: seen
    assert await top() == ["c", "a", "b"] and await top("fact") == ["c", "a"]
    await store.save_embedding("u1", "c", "fact", "c", [-1.0, 0.0])  # replaced in its place: seen
    assert await top() == ["a", "b", "c"]
    await store._write([Delete(Key(EMBEDDING, "u1", ("a",)))])  # deleted: seen
    assert await top() == ["b", "c"]
    async with store.batch():  # a batch: seen once stored
        await store.save_embedding("u1", "d", "episode", "d", [2.0, 0.4])
    assert await top("episode") == ["d", "b"]
    await store.delete_user_data("u1")
    assert await top() == []
    await store.save_embedding("u1", "e", "fact", "e", [0.0, 1.0])
    assert await top() == ["e"]


@pytest.mark.backend_cases(backends=["file", "duckdb", "redis"], modes=["plain", "encrypted"])  # the caches
async def test_another_storage_writing_the_same_store_is_seen(backend: BackendCase) -> None:
    first, second = await backend.open(), await backend.open()
    await first.save_embedding("u1", "a", "fact", "a", [1.0, 0.0])
    assert [r["item_id"] for r in await first.search_embeddings("u1", [1.0, 0.0])] == ["a"]
    await second.save_embedding("u1", "b", "fact", "b", [1.0, 0.1])
    assert [r["item_id"] for r in await first.search_embeddings("u1", [1.0, 0.1])] == ["b", "a"]
    await second._write([Delete(Key(EMBEDDING, "u1", ("b",)))])
    assert [r["item_id"] for r in await first.search_embeddings("u1", [1.0, 0.1])] == ["a"]


async def test_a_file_store_sees_another_process_writing(tmp_path: Path) -> None:
    config = StorageConfig(storage_type="file", connection_string=str(tmp_path / "store"))
    store = FileStorage(config)
    await store.save_embedding("u1", "a", "fact", "a", [1.0, 0.0])
    assert [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.0])] == ["a"]
    script = (
        "import asyncio\n"
        "from luminora_nb.storage.file import FileStorage\n"
        "from luminora_nb.types import StorageConfig\n"
        f"config = StorageConfig(storage_type='file', connection_string={str(tmp_path / 'store')!r})\n"
        "asyncio.run(FileStorage(config).save_embedding('u1', 'b', 'fact', 'b', [1.0, 0.1]))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert [r["item_id"] for r in await store.search_embeddings("u1", [1.0, 0.1])] == ["b", "a"]


@pytest.mark.parametrize("mixed", [True, False], ids=["mixed-dimensions", "one-dimension"])
@pytest.mark.backend_cases(modes=["plain", "encrypted"])
async def test_search_equals_the_reference_ranking(backend: BackendCase, mixed: bool) -> None:
    store = await backend.open()
    rng = random.Random(11)
    vectors: list[tuple[str, str, list[float]]] = []
    for i in range(120):
        dimension = 7 if mixed and i % 17 == 0 else 8  # some of another dimension: left out
        vector = [float(rng.randint(-2, 2)) for _ in range(dimension)]  # small integers: many ties
        if i % 23 == 0:
            vector = [0.0] * dimension  # zero vectors score 0
        vectors.append((f"v{i}", ("fact", "episode")[i % 2], vector))
    async with store.batch():
        for item_id, kind, vector in vectors:
            await store.save_embedding("u1", item_id, kind, item_id, vector)
    for _ in range(5):
        query = [float(rng.randint(-2, 2)) for _ in range(8)]
        for kind in (None, "fact"):
            wanted = [(item, vec) for item, k, vec in vectors if kind is None or k == kind]
            expected = cosine_ranking(query, wanted, 40)
            found = await store.search_embeddings("u1", query, kind=kind, limit=40)
            assert [r["item_id"] for r in found] == [item for _, item in expected]
            assert [r["score"] for r in found] == pytest.approx([s for s, _ in expected], abs=1e-6)


@pytest.mark.backend_cases(backends=["redis"], modes=["plain"])  # the Redis key layout
async def test_redis_keeps_vectors_as_raw_bytes_and_reads_old_documents(backend: BackendCase) -> None:
    store = await backend.open()
    assert isinstance(store, RedisStorage) and store._client is not None
    await store.save_embedding("u1", "f1", "fact", "tea", [0.25, -1.5, 3.0])
    field = store._ident(Key(EMBEDDING, "u1", ("f1",)), store._ready())
    assert await store._client.hget(store._user_key("u1", "vec"), field) == pack([0.25, -1.5, 3.0])
    wrapper = json.loads(await store._client.hget(store._user_key("u1", "emb"), field))
    assert VECTOR_FIELD not in wrapper["doc"] and "vector" not in wrapper["doc"]
    # as the previous version stored it: base64 inside the document, nothing in the vec hash
    old = {
        "item_id": "old",
        "kind": "fact",
        "text": "old",
        VECTOR_FIELD: base64.b64encode(pack([1.0, 0.0, 0.0])),
    }
    old_field = store._ident(Key(EMBEDDING, "u1", ("old",)), store._ready())
    old[VECTOR_FIELD] = old[VECTOR_FIELD].decode()
    await store._client.hset(
        store._user_key("u1", "emb"), old_field, json.dumps({"order": 0, "doc": old, "user": "u1"})
    )
    await store._client.set(store._user_key("u1", "embv"), "changed")
    assert (await store.search_embeddings("u1", [1.0, 0.0, 0.0]))[0]["item_id"] == "old"
    assert (await store.get_embeddings("u1"))[0]["vector"] == [1.0, 0.0, 0.0]
    await store.save_embedding("u1", "old", "fact", "old", [1.0, 0.0, 0.0])  # rewritten in the new form
    assert await store._client.hget(store._user_key("u1", "vec"), old_field) == pack([1.0, 0.0, 0.0])


# -- matrices updated by the rows that changed ----------------------------------------------------
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete"]),
        st.integers(0, 5),  # item: few, so puts replace and re-add
        st.sampled_from(["fact", "episode"]),
        st.lists(st.integers(0, 1), min_size=3, max_size=3),  # 0 and 1: many equal scores
        st.booleans(),  # another dimension (a few vectors of 2)
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=_OPS,
    batches=st.lists(_OPS, min_size=1, max_size=4),
    query=st.lists(st.integers(-2, 2), min_size=3, max_size=3),
)
@example(  # a re-added item goes last: after "i1", which it ties with
    first=[("put", 0, "fact", [1, 0, 0], False), ("put", 1, "fact", [1, 0, 0], False)],
    batches=[[("delete", 0, "fact", [1, 0, 0], False), ("put", 0, "fact", [1, 0, 0], False)]],
    query=[1, 0, 0],
)
def test_an_updated_matrix_ranks_as_one_built_afresh(first: list, batches: list, query: list[int]) -> None:
    # The store's order: a put of a present item replaces it in place, a new or re-added one
    # goes last; a delete removes it. The updated matrix must rank exactly like a new one.
    store: dict[str, tuple[str, bytes]] = {}

    def apply(ops: list) -> list[tuple[str, bool]]:
        changed: list[tuple[str, bool]] = []
        for op, number, kind, values, short in ops:
            item = f"i{number}"
            if op == "delete":
                if store.pop(item, None) is not None:
                    changed.append((item, True))
            else:
                store[item] = (kind, pack([float(v) for v in values[: 2 if short else 3]]))
                changed.append((item, False))
        return changed

    def fresh() -> VectorMatrix[str]:
        return VectorMatrix(list(store), [v for _, v in store.values()], [k for k, _ in store.values()])

    apply(first)
    matrix = fresh()
    for ops in batches:
        before = set(store)
        log = apply(ops)
        moved: dict[str, bool] = {}
        for item, deleted in log:
            moved[item] = moved.get(item, False) or deleted
        new_ones = [item for item in store if item in moved and (item not in before or moved[item])]
        order = new_ones + [item for item in moved if item not in new_ones]
        updated = matrix.updated([(item, moved[item], store.get(item)) for item in order])
        matrix = updated if updated is not None else fresh()
        reference = fresh()
        for dimension in (2, 3):
            target = [float(v) for v in query[:dimension]]
            for label in (None, "fact", "episode"):
                assert matrix.rank(target, 20, label=label) == reference.rank(target, 20, label=label)


def test_an_update_leaves_the_matrix_it_came_from_as_it_was() -> None:
    # A search may still be ranking the old matrix in another thread.
    matrix = VectorMatrix(["a", "b"], [pack([1.0, 0.0]), pack([0.0, 1.0])], ["fact", "fact"])
    before = matrix.rank([1.0, 0.5], 5, label="fact")
    newer = matrix.updated([("a", False, ("fact", pack([0.0, 2.0]))), ("b", False, None)])
    assert newer is not None and [item for _, item in newer.rank([1.0, 0.5], 5)] == ["a"]
    assert matrix.rank([1.0, 0.5], 5, label="fact") == before and len(matrix) == 2


def test_appends_share_spare_room_but_never_write_into_another_matrixs_rows() -> None:
    # Appends go into room left after the rows (no copy of the matrix); two updates of the
    # same matrix must not both claim that room.
    base = VectorMatrix(["a"], [pack([1.0, 0.0])], ["fact"])
    first = base.updated([("b", False, ("fact", pack([0.0, 1.0])))])
    assert first is not None
    second = first.updated([("c", False, ("fact", pack([1.0, 1.0])))])  # in first's spare room
    third = first.updated([("d", False, ("fact", pack([-1.0, 1.0])))])  # that room is taken: a copy
    assert second is not None and third is not None

    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "d": [-1.0, 1.0]}

    def ranks_as_built_from(matrix: VectorMatrix[str], names: str) -> bool:
        fresh = VectorMatrix(list(names), [pack(vectors[n]) for n in names], ["fact"] * len(names))
        return matrix.rank([1.0, 0.5], 10) == fresh.rank([1.0, 0.5], 10)

    assert ranks_as_built_from(base, "a") and ranks_as_built_from(first, "ab")
    assert ranks_as_built_from(second, "abc") and ranks_as_built_from(third, "abd")


def test_an_update_that_changes_a_rows_dimension_or_label_asks_for_a_rebuild() -> None:
    matrix = VectorMatrix(["a", "b"], [pack([1.0, 0.0]), pack([0.0, 1.0])], ["fact", "episode"])
    assert matrix.updated([("a", False, ("fact", pack([1.0, 0.0, 0.0])))]) is None
    assert matrix.updated([("b", False, ("fact", pack([0.0, 1.0])))]) is None
    assert matrix.updated([("b", True, ("fact", pack([0.0, 1.0])))]) is not None  # re-added: goes last


@pytest.mark.backend_cases(backends=["memory", "duckdb"], modes=["plain", "encrypted"])
async def test_a_search_after_a_few_writes_updates_the_matrix_and_ranks_as_a_fresh_store(
    backend: BackendCase,
) -> None:
    # Every write of these stores passes through this process, so a search after a few
    # changes reads only the changed rows (an "update", not a "build").
    store = await backend.open()
    rng = random.Random(5)
    current: dict[str, tuple[str, list[float]]] = {}
    async with store.batch():
        for i in range(150):
            vector = [float(rng.randint(-2, 2)) for _ in range(6)]
            current[f"v{i}"] = (("fact", "episode")[i % 2], vector)
            await store.save_embedding("u1", f"v{i}", current[f"v{i}"][0], f"v{i}", vector)
    cache = store._matrices if backend.backend == "memory" else store._index  # type: ignore[attr-defined]
    query = [1.0, 0.0, -1.0, 2.0, 0.0, 1.0]
    await store.search_embeddings("u1", query)
    assert cache.info()["builds"] == 1
    for _round in range(6):
        for _ in range(5):
            item = f"v{rng.randrange(170)}"
            if rng.random() < 0.3:
                await store._write([Delete(Key(EMBEDDING, "u1", (item,)))])
                current.pop(item, None)
            else:
                kind = ("fact", "episode")[rng.randrange(2)] if item not in current else current[item][0]
                vector = [float(rng.randint(-2, 2)) for _ in range(6)]
                await store.save_embedding("u1", item, kind, item, vector)
                current[item] = (kind, vector)
        for kind in (None, "fact"):
            wanted = [(item, vec) for item, (k, vec) in current.items() if kind is None or k == kind]
            found = await store.search_embeddings("u1", query, kind=kind, limit=50)
            assert [r["item_id"] for r in found] == [item for _, item in cosine_ranking(query, wanted, 50)]
    assert cache.info()["builds"] == 1 and cache.info()["updates"] == 6
    await store.delete_user_data("u1")  # not listed item by item: the next search rebuilds
    assert await store.search_embeddings("u1", query) == [] and cache.info()["builds"] == 2
