"""Broken snapshots are refused with an error naming the JSON path, and nothing is written.

Each case damages a real exported snapshot (missing keys, wrong types, a future major
version, ten times the size limit, a credential-named field, an episode with importance
99, a fact with confidence 2, ...) and checks that ``import_snapshot`` raises a
:class:`SnapshotError` naming the path, and that every byte the backend stores is the
same afterwards (the conformance fixtures' ``raw_dump``). A failure *while writing* is
covered too: a v1.1 store apart from the session store whose batch fails leaves neither
the staged session nor any of the state behind.
"""

from __future__ import annotations

import copy
import gc
import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import StorageError
from luminora_nb.snapshot import DEFAULT_MAX_BYTES, SnapshotError, validate_snapshot
from luminora_nb.storage import InMemoryStorage
from luminora_nb.storage._documents import Write
from tests.conftest import parametrize_backend
from tests.storage.conftest import BackendCase

Damage = Callable[[dict[str, Any]], None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, modes=["plain"])


def _set(path: Sequence[str | int], value: Any) -> Damage:
    def damage(doc: dict[str, Any]) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return damage


def _drop(path: Sequence[str | int]) -> Damage:
    def damage(doc: dict[str, Any]) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return damage


#: (case id, damage, the JSON path the error must name, a word of the problem)
BROKEN: list[tuple[str, Damage, str, str]] = [
    ("missing-top-key", _drop(["current_state"]), "current_state", "missing"),
    (
        "missing-info-key",
        _drop(["_snapshot_info", "template_name"]),
        "_snapshot_info.template_name",
        "missing",
    ),
    (
        "missing-fact-key",
        _drop(["current_state", "learned_facts", 0, "key"]),
        "current_state.learned_facts[0].key",
        "missing",
    ),
    (
        "wrong-type-count",
        _set(["_snapshot_info", "total_messages"], "6"),
        "_snapshot_info.total_messages",
        "valid integer",
    ),
    (
        "wrong-type-facts",
        _set(["current_state", "learned_facts"], {"a": 1}),
        "current_state.learned_facts",
        "valid list",
    ),
    (
        "wrong-type-message",
        _set(["conversation", "messages", 1, "content"], 42),
        "conversation.messages[1].content",
        "valid string",
    ),
    (
        "wrong-role",
        _set(["conversation", "messages", 0, "role"], "robot"),
        "conversation.messages[0].role",
        "'user'",
    ),
    (
        "future-version",
        _set(["_snapshot_info", "format_version"], "2.0"),
        "_snapshot_info.format_version",
        "not supported",
    ),
    (
        "secret-field",
        _set(["active_configuration", "provider", "api_key"], "sk-live-abcdef123456"),
        "active_configuration.provider.api_key",
        "secret",
    ),
    (
        "secret-deep",
        _set(["current_state", "learned_facts", 0, "auth_token"], "x"),
        "current_state.learned_facts[0].auth_token",
        "secret",
    ),
    (
        "secret-value",
        _set(["active_configuration", "note"], "Bearer abcdefghijklmnop"),
        "active_configuration.note",
        "credential",
    ),
    (
        "episode-importance-99",
        _set(["current_state", "memorable_episodes", 0, "importance"], 99),
        "current_state.memorable_episodes[0].importance",
        "less than or equal to 10",
    ),
    (
        "fact-confidence-2",
        _set(["current_state", "learned_facts", 0, "confidence"], 2),
        "current_state.learned_facts[0].confidence",
        "less than or equal to 1",
    ),
    (
        "affinity-points-300",
        _set(["current_state", "affinity", "points"], 300),
        "current_state.affinity.points",
        "less than or equal to 100",
    ),
    (
        "bad-personality",
        _set(["personality", "definition", "core_traits", "archetype"], "wizard"),
        "personality.definition.core_traits.archetype",
        "archetype",
    ),
]


async def _exported(base: LuminoraCoreClient, v11: LuminoraCoreClientV11) -> dict[str, Any]:
    sid = await base.create_session("willow", user_id="sam")
    for text in ("My name is Sam and I have a cat named Miso 🐱.", "I just got engaged!!"):
        await base.send_message(sid, text)
    snapshot = await v11.export_snapshot(sid)
    assert snapshot["current_state"]["learned_facts"] and snapshot["current_state"]["memorable_episodes"]
    return json.loads(json.dumps(snapshot))


async def test_every_broken_snapshot_is_refused_by_path_and_nothing_is_written(
    backend: BackendCase,
) -> None:
    storage = await backend.open()
    base = LuminoraCoreClient(storage=storage)
    v11 = LuminoraCoreClientV11(base, embedder=None)
    good = await _exported(base, v11)
    before = backend.raw_dump()
    sessions = await storage.list_sessions()
    for case, damage, path, problem in BROKEN:
        broken = copy.deepcopy(good)
        damage(broken)
        with pytest.raises(SnapshotError) as caught:
            await v11.import_snapshot(broken, "kim")
        message = str(caught.value)
        assert path in message and problem in message, (case, message)
        assert path in [p for p, _ in caught.value.faults], case
        assert "sk-live-abcdef123456" not in message and "abcdefghijklmnop" not in message
    assert backend.raw_dump() == before
    assert gc.isenabled()  # the collector paused during each import is running again
    assert await storage.list_sessions() == sessions
    assert await storage.get_facts("kim") == [] and await storage.get_episodes("kim") == []
    # and the good one still imports on the same store
    assert await v11.import_snapshot(good, "kim")


async def test_ten_times_the_size_limit_is_refused_before_parsing_and_the_limit_is_configurable() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    good = await _exported(base, v11)
    size = len(json.dumps(good, ensure_ascii=False).encode())
    assert v11.max_snapshot_bytes == DEFAULT_MAX_BYTES == 50 * 1024 * 1024
    huge = copy.deepcopy(good)
    huge["conversation"]["messages"].append({"role": "user", "content": "x" * (10 * size)})
    v11.max_snapshot_bytes = size * 2
    with pytest.raises(
        SnapshotError, match=r"above the size limit of [\d,]+ bytes.*max_snapshot_bytes"
    ) as caught:
        await v11.import_snapshot(huge, "kim")
    assert caught.value.faults == [("(document)", "too large")]
    assert await base.storage.get_facts("kim") == []
    assert await v11.import_snapshot(huge, "kim", max_bytes=size * 20)  # a larger limit for one call


async def test_a_file_ten_times_the_limit_is_refused_without_reading_it_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from luminora_nb.snapshot import read_snapshot, write_snapshot

    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    good = await _exported(base, v11)
    good["conversation"]["messages"].append({"role": "user", "content": "y" * 100_000})
    for name in ("big.json", "big.json.gz"):  # gzip: ~100 kB of JSON in a file of a few hundred bytes
        path = write_snapshot(good, tmp_path / name)
        with pytest.raises(SnapshotError, match=f"{name} is .* above the size limit of 10,000 bytes"):
            read_snapshot(path, max_bytes=10_000)


def test_not_a_mapping_and_not_json_are_refused() -> None:
    with pytest.raises(SnapshotError, match="must be a JSON object"):
        validate_snapshot(["not", "a", "snapshot"])
    with pytest.raises(SnapshotError, match="not JSON-serialisable"):
        validate_snapshot({"_snapshot_info": {1, 2}})


class FailingStore(InMemoryStorage):
    """A v1.1 store whose batches fail (a write refused by the backend)."""

    async def _write(self, writes: Sequence[Write]) -> list[bool]:
        if len(writes) > 1:
            raise StorageError("memory storage: disk full (injected)")
        return await super()._write(writes)


async def test_a_failing_write_leaves_no_staged_session_and_no_state() -> None:
    sessions = InMemoryStorage()
    base = LuminoraCoreClient(storage=sessions)
    source = LuminoraCoreClientV11(base, embedder=None)
    good = await _exported(base, source)
    before = await sessions.list_sessions()
    failing = FailingStore()
    v11 = LuminoraCoreClientV11(base, storage_v11=failing, embedder=None, learn=False)
    with pytest.raises(StorageError, match="disk full"):
        await v11.import_snapshot(good, "kim")
    assert await sessions.list_sessions() == before  # the staged session was removed again
    assert await failing.get_facts("kim") == [] and await failing.get_episodes("kim") == []
    assert await failing.get_affinity("kim", "willow") is None
