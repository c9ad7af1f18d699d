"""VectorChanges and VectorCache: stale search matrices updated from the rows that changed."""

from __future__ import annotations

from luminora_nb.storage._vector_cache import VectorCache, VectorChanges
from luminora_nb.storage._vectors import VectorMatrix, VectorRow, pack


def test_changes_are_logged_only_while_watched_and_only_as_far_back_as_the_log_reaches() -> None:
    changes: VectorChanges[str] = VectorChanges(limit=3)
    changes.record({"u1": [("a", False)]})  # not watched: a new version, nothing logged
    start = changes.watch("u1")
    assert start == changes.version("u1") and changes.since("u1", start) == []
    assert changes.since("u1", start - 1) is None  # before the log began
    changes.record({"u1": [("a", False), ("b", True)], "u2": [("z", False)]})
    changes.record({"u1": [("a", True)]})
    assert changes.since("u1", start) == [("a", True), ("b", True)]  # each once, deleted if ever
    assert changes.since("u2", changes.version("u2") - 1) is None  # u2 is not watched
    changes.record({"u1": [("c", False)]})  # a fourth change: over the limit
    assert changes.since("u1", start) is None
    assert changes.since("u1", changes.version("u1")) == []  # the log goes on from there
    changes.unwatch("u1")
    assert changes.since("u1", changes.version("u1")) is None


async def test_a_write_between_reading_the_version_and_caching_the_matrix_is_never_missed() -> None:
    changes: VectorChanges[str] = VectorChanges()
    cache: VectorCache[str] = VectorCache(changes=changes)
    store = {"a": ("fact", pack([1.0, 0.0]))}
    built: list[int] = []

    async def build() -> VectorMatrix[str]:
        built.append(1)
        return VectorMatrix(list(store), [v for _, v in store.values()], [k for k, _ in store.values()])

    async def rows(changed: list[tuple[str, bool]]) -> list[VectorRow[str]]:
        return [(item, moved, store.get(item)) for item, moved in changed]

    token = changes.version("u1")  # a search reads the version, then the vectors...

    async def build_then_write() -> VectorMatrix[str]:
        matrix = await build()
        store["b"] = ("fact", pack([1.0, 0.1]))  # ...and a write lands before the matrix is cached
        changes.record({"u1": [("b", False)]})
        return matrix

    await cache.matrix("u1", token, build_then_write, rows)
    matrix = await cache.matrix("u1", changes.version("u1"), build, rows)
    assert [item for _, item in matrix.rank([1.0, 0.1], 5)] == ["b", "a"]
    assert cache.info() == {"hits": 0, "updates": 0, "builds": 2}  # rebuilt: "b" was not in the log
    store["c"] = ("episode", pack([0.0, 1.0]))
    changes.record({"u1": [("c", False)]})
    matrix = await cache.matrix("u1", changes.version("u1"), build, rows)
    assert [item for _, item in matrix.rank([0.0, 1.0], 1)] == ["c"]
    await cache.matrix("u1", changes.version("u1"), build, rows)
    assert cache.info() == {"hits": 1, "updates": 1, "builds": 2}


def test_a_dropped_matrix_stops_the_log_of_its_user() -> None:
    changes: VectorChanges[str] = VectorChanges()
    cache: VectorCache[str] = VectorCache(users=1, changes=changes)
    cache.put("u1", changes.version("u1"), VectorMatrix(["a"], [pack([1.0])]))
    assert changes.since("u1", changes.version("u1")) == []
    cache.put("u2", changes.version("u2"), VectorMatrix(["a"], [pack([1.0])]))  # u1 dropped
    assert changes.since("u1", changes.version("u1")) is None
    cache.clear()
    assert changes.since("u2", changes.version("u2")) is None
