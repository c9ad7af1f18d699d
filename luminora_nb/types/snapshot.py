"""The shapes of a persona snapshot, as code written against LuminoraCore types them.

A snapshot is a persona's whole state for one user: its definition, the relationship
(affinity and mood), what it learned (facts and episodes), the conversation, and the
configuration that was active. These ``TypedDict`` s name the documented shape (the
seed's ``PersonalitySnapshotDict`` and its parts); what the library adds beside them
(format name and version, the full definition, blend provenance, the conversation) sits
in extra keys, so a document in the seed's shape is a valid snapshot and the other way
round.

Example:
    >>> info: SnapshotMetadataDict = {"created_at": "2026-01-01T00:00:00Z", "template_name": "aurora",
    ...     "template_version": "1.0.0", "user_id": "sam", "session_id": "sess_1", "total_messages": 0,
    ...     "days_active": 0}
    >>> info["template_name"]
    'aurora'
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "PersonalitySnapshotDict",
    "SnapshotAffinityDict",
    "SnapshotExportOptions",
    "SnapshotMetadataDict",
    "SnapshotMoodDict",
    "SnapshotStateDict",
]


class SnapshotMetadataDict(TypedDict):
    """``_snapshot_info``: where and when the snapshot was taken."""

    created_at: str
    template_name: str
    template_version: str
    user_id: str
    session_id: str
    total_messages: int
    days_active: int


class SnapshotAffinityDict(TypedDict):
    """``current_state.affinity``: the relationship's points, level and how it got there."""

    points: int
    level: str
    progression_history: list[dict[str, Any]]


class SnapshotMoodDict(TypedDict):
    """``current_state.mood``: the persona's mood and its recent changes."""

    current: str
    intensity: float
    started_at: str | None
    history: list[dict[str, Any]]


class SnapshotStateDict(TypedDict):
    """``current_state``: what the persona has with this user."""

    affinity: SnapshotAffinityDict
    mood: SnapshotMoodDict
    learned_facts: list[dict[str, Any]]
    memorable_episodes: list[dict[str, Any]]
    conversation_summary: NotRequired[str | dict[str, Any] | None]


class PersonalitySnapshotDict(TypedDict):
    """A persona's exported state (the seed's shape; the library's additions are extra keys)."""

    _snapshot_info: SnapshotMetadataDict
    persona: dict[str, Any]
    core_traits: dict[str, Any]
    linguistic_profile: dict[str, Any]
    behavioral_rules: list[str] | dict[str, Any]
    advanced_parameters: dict[str, Any]
    current_state: SnapshotStateDict
    active_configuration: dict[str, Any]


class SnapshotExportOptions(TypedDict, total=False):
    """What ``export_snapshot`` puts in the document (everything by default)."""

    include_conversation_history: bool
    include_facts: bool
    include_episodes: bool
    include_affinity: bool
    include_mood: bool
    include_embeddings: bool
    max_messages: int | None
    anonymize_user_data: bool
