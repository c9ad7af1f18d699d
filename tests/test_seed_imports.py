"""Every import line of the API reference works and re-exports luminora_nb's objects."""

from __future__ import annotations

import importlib

import pytest

import luminora_nb
from luminora_nb import client, client_v11, storage, types

from .test_snapshot_schema import SEED_SNAPSHOT_KEYS, SEED_STATE_KEYS

SEED_IMPORTS = [
    ("luminoracore", "LuminoraCoreClient", client.LuminoraCoreClient),
    ("luminoracore.types.session", "StorageConfig", types.StorageConfig),
    ("luminoracore.types.session", "MemoryConfig", types.MemoryConfig),
    ("luminoracore.types.session", "SessionConfig", types.SessionConfig),
    ("luminoracore.types.session", "SessionType", types.SessionType),
    ("luminoracore.types.session", "Conversation", types.Conversation),
    ("luminoracore.types.session", "Message", types.Message),
    ("luminoracore.types.session", "MessageRole", types.MessageRole),
    ("luminoracore.types.session", "StorageType", types.StorageType),
    ("luminoracore.types.personality", "PersonalityData", types.PersonalityData),
    ("luminoracore.types.personality", "PersonalityBlend", types.PersonalityBlend),
    ("luminoracore.types.provider", "ProviderConfig", types.ProviderConfig),
    ("luminoracore.types.provider", "ChatMessage", types.ChatMessage),
    ("luminoracore.types.provider", "ChatResponse", types.ChatResponse),
    ("luminoracore_sdk", "LuminoraCoreClient", client.LuminoraCoreClient),
    ("luminoracore_sdk.client_v1_1", "LuminoraCoreClientV11", client_v11.LuminoraCoreClientV11),
    ("luminoracore_sdk.session.storage_v1_1", "InMemoryStorageV11", storage.InMemoryStorageV11),
    ("luminoracore_sdk.session.storage_v1_1", "StorageV11Extension", storage.StorageV11Extension),
    ("luminoracore_sdk.types.memory", "FactDict", types.FactDict),
    ("luminoracore_sdk.types.memory", "EpisodeDict", types.EpisodeDict),
    ("luminoracore_sdk.types.relationship", "AffinityDict", types.AffinityDict),
]


@pytest.mark.parametrize(("module", "name", "expected"), SEED_IMPORTS)
def test_seed_import_path(module: str, name: str, expected: object) -> None:
    assert getattr(importlib.import_module(module), name) is expected


def test_public_face_has_explicit_all_and_lazy_names_resolve() -> None:
    for name in luminora_nb.__all__:
        assert getattr(luminora_nb, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = luminora_nb.nope  # type: ignore[attr-defined]


def test_the_sdk_paths_of_exceptions_and_snapshot_types() -> None:
    from luminora_nb.errors import LuminoraError
    from luminoracore_sdk.types.snapshot import (
        PersonalitySnapshotDict,
        SnapshotAffinityDict,
        SnapshotExportOptions,
        SnapshotMetadataDict,
        SnapshotMoodDict,
        SnapshotStateDict,
    )
    from luminoracore_sdk.utils.exceptions import LuminoraCoreSDKError, PersonalityError, SessionError

    assert LuminoraCoreSDKError is LuminoraError
    assert issubclass(SessionError, LuminoraCoreSDKError) and issubclass(
        PersonalityError, LuminoraCoreSDKError
    )
    assert set(PersonalitySnapshotDict.__annotations__) >= SEED_SNAPSHOT_KEYS
    assert set(SnapshotStateDict.__annotations__) >= SEED_STATE_KEYS
    assert set(SnapshotAffinityDict.__annotations__) == {"points", "level", "progression_history"}
    assert set(SnapshotMoodDict.__annotations__) == {"current", "intensity", "started_at", "history"}
    assert "include_embeddings" in SnapshotExportOptions.__annotations__
    assert "days_active" in SnapshotMetadataDict.__annotations__
