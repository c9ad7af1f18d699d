"""Seed import path ``luminoracore_sdk.types.snapshot``."""

from luminora_nb.types.snapshot import (
    PersonalitySnapshotDict,
    SnapshotAffinityDict,
    SnapshotExportOptions,
    SnapshotMetadataDict,
    SnapshotMoodDict,
    SnapshotStateDict,
)

__all__ = [
    "PersonalitySnapshotDict",
    "SnapshotAffinityDict",
    "SnapshotExportOptions",
    "SnapshotMetadataDict",
    "SnapshotMoodDict",
    "SnapshotStateDict",
]
