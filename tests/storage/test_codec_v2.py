"""Codec v2: each document bound to its place, keyed name digests, codec v1 data still read.

The unit tests check the codec; the conformance tests run every persistent backend in the
encrypted modes: a document copied to another row fails to decrypt, data written by codec
v1 (documents not bound to their place, unkeyed name digests) reads, is found by name and
is rewritten in the new format when next written.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage._keys import CODEC_FIELD, NAMES_KEYED
from luminora_nb.storage._names import name_digest
from luminora_nb.storage.base import Storage
from luminora_nb.storage.codec import MAGIC, DocumentCodec
from luminora_nb.types import StorageConfig
from tests.storage.conftest import BackendCase
from tests.storage.test_conformance import make_record


# -- the codec -----------------------------------------------------------------------------------
def test_a_document_is_bound_to_its_place_and_backend() -> None:
    key = os.urandom(32)
    codec = DocumentCodec(key=key, scope="file")
    blob = codec.encode({"n": 1}, at='["memory", "s1", "a"]')
    assert blob[3] == 2
    assert codec.decode(blob, what="doc", at='["memory", "s1", "a"]') == {"n": 1}
    with pytest.raises(StorageError, match="copied from another place"):
        codec.decode(blob, what="memory 'b'", at='["memory", "s1", "b"]')
    with pytest.raises(StorageError, match="could not be decrypted"):
        DocumentCodec(key=key, scope="redis").decode(blob, what="doc", at='["memory", "s1", "a"]')


def test_version_1_documents_read_anywhere_and_compressed_ones_stay_version_1() -> None:
    key = os.urandom(32)
    old = DocumentCodec(key=key, format_version=1).encode({"n": 1}, at="ignored")
    assert old[:4] == MAGIC + b"\x01"
    assert DocumentCodec(key=key, scope="duckdb").decode(old, what="doc", at="anywhere") == {"n": 1}
    assert DocumentCodec(compress=True).encode({"n": 1})[:4] == MAGIC + b"\x01"  # nothing to bind
    with pytest.raises(StorageError, match="format_version"):
        DocumentCodec(format_version=3)


def test_name_digests_are_keyed_with_encryption_only() -> None:
    assert DocumentCodec().name_digest("pets", "dog") == name_digest("pets", "dog")
    key = os.urandom(32)
    keyed = DocumentCodec(key=key).name_digest("pets", "dog")
    assert keyed == DocumentCodec(key=key).name_digest("pets", "dog")
    assert keyed != name_digest("pets", "dog")
    assert keyed != DocumentCodec(key=os.urandom(32)).name_digest("pets", "dog")
    assert len(keyed) == 64 and key.hex() not in keyed
    assert DocumentCodec(key=key, format_version=1).name_digest("pets", "dog") == name_digest("pets", "dog")


# -- every backend -------------------------------------------------------------------------------
def _version(stored: bytes) -> int:
    raw = stored if stored.startswith(MAGIC) else base64.urlsafe_b64decode(stored)
    assert raw.startswith(MAGIC), raw[:20]
    return raw[3]


def _as_codec_v1(store: Storage, config: StorageConfig) -> None:
    """Make ``store`` write what the previous codec wrote (as a store written before v2)."""
    store._codec = DocumentCodec.from_config(config, format_version=1)  # type: ignore[attr-defined]


async def _forget_keyed_names(store: Storage) -> None:
    """Drop the record's mark of keyed digests, as in a store written before codec v2."""
    text = await store._read_metadata()
    assert text is not None
    record = json.loads(text)
    assert record[CODEC_FIELD].pop("names") == NAMES_KEYED
    assert await store._swap_metadata(text, json.dumps(record, sort_keys=True, separators=(",", ":")))


@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_a_document_copied_to_another_row_fails_to_decrypt(backend: BackendCase) -> None:
    store = await backend.open()
    await store.save_session(make_record("s1"))
    await store.save_session(make_record("s2"))
    await backend.set_session_raw("s2", await backend.session_raw("s1"))
    with pytest.raises(StorageError, match=r"session 's2'.*copied from another place"):
        await store.load_session("s2")
    assert (await store.load_session("s1")) is not None


@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_old_format_data_reads_is_found_by_name_and_is_rewritten(backend: BackendCase) -> None:
    store = await backend.open()
    _as_codec_v1(store, backend.config)
    record = make_record("s1")
    await store.save_session(record)
    await store.set_memory("s1", "colour", "blue")
    await store.save_fact("u1", "pets", "dog", "Rex")
    await store.save_fact("u1", "pets", "cat", "Tom")
    await store.save_affinity("u1", "aurora", 5, "friend")
    await store.save_embedding("u1", "pets:dog", "fact", "dog is Rex", [0.5, 0.5])
    await _forget_keyed_names(store)
    await store.close()
    assert _version(await backend.session_raw("s1")) == 1

    again = await backend.open()
    loaded = await again.load_session("s1")
    assert loaded is not None and loaded.memory == {"colour": "blue"}
    # old digests still found (moved to keyed digests at initialize, where a backend has them)
    assert await again.get_memory("s1", "colour") == "blue"
    assert [(f["key"], f["value"]) for f in await again.get_facts("u1")] == [("dog", "Rex"), ("cat", "Tom")]
    assert (await again.get_affinity("u1", "aurora") or {})["affinity_points"] == 5
    assert [e["item_id"] for e in await again.get_embeddings("u1", "fact")] == ["pets:dog"]
    # rewritten in the new format when next written; a name is stored once
    await again.save_session(loaded)
    assert _version(await backend.session_raw("s1")) == 2
    await again.save_fact("u1", "pets", "dog", "Max")
    await again.set_memory("s1", "colour", "green")
    assert [(f["key"], f["value"]) for f in await again.get_facts("u1")] == [("dog", "Max"), ("cat", "Tom")]
    assert (await again.load_session("s1")).memory == {"colour": "green"}  # type: ignore[union-attr]
    if backend.backend != "file":  # the file backend keeps no name digests: nothing to move
        text = await again._read_metadata()
        assert json.loads(text or "{}")[CODEC_FIELD]["names"] == NAMES_KEYED


@pytest.mark.backend_cases(persistent=True, encrypted=True)
async def test_stored_name_digests_are_keyed(backend: BackendCase) -> None:
    store = await backend.open()
    marker = f"key-{uuid.uuid4().hex}"
    await store.save_session(make_record("s1"))
    await store.save_fact("u1", "pets", marker, "Rex")
    await store.set_memory("s1", marker, 1)
    dump = backend.raw_dump()
    for unkeyed in (name_digest("pets", marker), name_digest(marker)):
        assert unkeyed.encode() not in dump
    assert marker.encode() not in dump


@pytest.mark.parametrize(
    "backend", [pytest.param(("mongodb", "encrypted"), marks=pytest.mark.integration)], indirect=True
)
async def test_old_digests_move_one_by_one_without_atomic_batches(backend: BackendCase) -> None:
    # MongoDB without transactions (a standalone server) cannot store a batch at once
    store = await backend.open()
    _as_codec_v1(store, backend.config)
    await store.save_fact("u1", "pets", "dog", "Rex")
    await store.save_fact("u1", "pets", "cat", "Tom")
    await _forget_keyed_names(store)
    await store.close()
    again = await backend.open()  # moved at initialize, in a batch (the test server has transactions)
    assert [f["key"] for f in await again.get_facts("u1")] == ["dog", "cat"]
    # as on a standalone server: each document moved by two single writes
    _as_codec_v1(again, backend.config)
    await again.save_fact("u1", "pets", "owl", "Hoot")
    again._codec = DocumentCodec.from_config(backend.config)  # type: ignore[attr-defined]
    again._transactions = False  # type: ignore[attr-defined]
    assert await again._migrate_names(again._codec, force=True) == 1  # type: ignore[attr-defined]
    assert [(f["key"], f["value"]) for f in await again.get_facts("u1")] == [
        ("dog", "Rex"),
        ("cat", "Tom"),
        ("owl", "Hoot"),
    ]
    assert len(await again.get_facts("u1", category="pets")) == 3  # the old row is gone
    await again.save_fact("u1", "pets", "owl", "Hedwig")  # found under its keyed digest: replaced
    assert [f["value"] for f in await again.get_facts("u1")] == ["Rex", "Tom", "Hedwig"]
