"""The snapshot document as a pydantic model: the single source of truth of its JSON Schema.

The document keeps the seed's ``PersonalitySnapshotDict`` shape exactly
(:mod:`luminora_nb.types.snapshot`): ``_snapshot_info``, the persona sections
(``persona``, ``core_traits``, ``linguistic_profile``, ``behavioral_rules``,
``advanced_parameters``), ``current_state`` (affinity, mood, learned facts, memorable
episodes, a conversation summary) and ``active_configuration``. What luminora_nb adds
sits in keys of its own, all optional so a document written by another tool in the seed's
shape (empty sections included) validates:

* ``_snapshot_info.format`` / ``format_version`` — ``"luminora-snapshot"`` and
  ``"MAJOR.MINOR"``; a document without them is read as version 1.0. A newer *minor*
  version is read (unknown keys are kept); another *major* version is refused.
* ``personality`` — the full personality (simple fields and structured definition), so a
  snapshot of a blend restores without its sources; ``blend`` — its sources and weights.
* ``conversation`` — the messages (``null`` when not exported); ``embeddings`` — the
  stored vectors of the user's memories (only with ``include_embeddings``).

``current_state.affinity`` / ``mood`` are ``null`` when not exported (``{}`` from other
tools means the same). Facts need a ``confidence`` in 0..1, episodes an ``importance`` in
0..10. Sections are open: keys this model does not name are kept as they are.

``luminora_nb/snapshot/snapshot.schema.json`` is generated from these models by
``python -m luminora_nb.snapshot.schema``; a test fails when the shipped file is stale.

Example:
    >>> doc = SnapshotDocument.model_validate(minimal_snapshot("aurora"))
    >>> doc.info.template_name, doc.current_state.learned_facts
    ('aurora', [])
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..types.session import Message

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SnapshotAffinity",
    "SnapshotBlend",
    "SnapshotConversation",
    "SnapshotDocument",
    "SnapshotEmbedding",
    "SnapshotEpisode",
    "SnapshotFact",
    "SnapshotInfo",
    "SnapshotMood",
    "SnapshotState",
    "minimal_snapshot",
]

#: The ``_snapshot_info.format`` of documents luminora_nb writes.
FORMAT_NAME = "luminora-snapshot"
#: The version written (``MAJOR.MINOR``); any 1.x is read, another major is refused.
FORMAT_VERSION = "1.0"


class _Open(BaseModel):
    """A section: its named fields checked strictly (no ``"5"`` for 5), other keys kept."""

    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class SnapshotInfo(_Open):
    """``_snapshot_info``: where and when the snapshot was taken (the seed's fields first)."""

    created_at: str = Field(description="Export time, ISO 8601 UTC.")
    template_name: str = Field(description="The personality's name.")
    template_version: str = Field(description="The personality's version ('' when it has none).")
    user_id: str = Field(description="The user the state belongs to (pseudonymised when anonymised).")
    session_id: str = Field(description="The exported session.")
    total_messages: int = Field(ge=0, description="Messages in the session (all, even when capped).")
    days_active: int = Field(ge=0, description="Distinct UTC days with messages.")
    format: Literal["luminora-snapshot"] | None = Field(
        default=None, description="Set by luminora_nb; absent in documents of other tools."
    )
    format_version: str | None = Field(
        default=None, pattern=r"^\d+\.\d+$", description="MAJOR.MINOR; absent means 1.0."
    )
    options: dict[str, Any] | None = Field(default=None, description="The export options used.")


class SnapshotAffinity(_Open):
    """``current_state.affinity``: the relationship's points, level and how it got there."""

    points: int = Field(ge=0, le=100)
    level: str
    progression_history: list[dict[str, Any]] = Field(default_factory=list)
    total_interactions: int = Field(default=0, ge=0)


class SnapshotMood(_Open):
    """``current_state.mood``: the persona's mood in the session and its recent changes."""

    current: str = Field(min_length=1)
    intensity: float = Field(default=1.0, ge=0.0, le=1.0)
    started_at: str | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)


class SnapshotFact(_Open):
    """One learned fact (``user_id`` is the importing user's, so it is not stored here)."""

    category: str = Field(min_length=1)
    key: str = Field(min_length=1)
    value: Any
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)


class SnapshotEpisode(_Open):
    """One memorable episode; ``importance`` runs from 0 to 10."""

    episode_type: str = Field(min_length=1)
    title: str
    summary: str = ""
    importance: float = Field(ge=0.0, le=10.0)
    sentiment: str = "neutral"


def _none_if_empty(value: Any) -> Any:
    # Other tools write ``{}`` for "no affinity / mood recorded": the same as ``null``.
    return None if value == {} else value


def _or_empty_object(schema: dict[str, Any]) -> None:
    # The schema says what the validator below accepts: ``{}`` as well as null.
    schema["anyOf"] = [*schema.get("anyOf", []), {"type": "object", "maxProperties": 0}]


class SnapshotState(_Open):
    """``current_state``: what the persona has with this user."""

    affinity: SnapshotAffinity | None = Field(json_schema_extra=_or_empty_object)
    mood: SnapshotMood | None = Field(json_schema_extra=_or_empty_object)
    learned_facts: list[SnapshotFact]
    memorable_episodes: list[SnapshotEpisode]
    conversation_summary: str | dict[str, Any] | None = None

    @field_validator("affinity", "mood", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return _none_if_empty(value)


class SnapshotConversation(_Open):
    """The conversation: its messages (the last ``max_messages`` when capped)."""

    # The session's own message model: validated once, in the document, and used as is
    # by the import (50,000 messages are a large share of a big snapshot's time).
    messages: list[Message] = Field(default_factory=list)
    created_at: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SnapshotBlend(_Open):
    """Where a blended personality came from: its sources, normalised weights, blend type."""

    sources: list[str]
    weights: list[float]
    blend_type: str | None = None


class SnapshotEmbedding(_Open):
    """One stored embedding of a memory item (only with ``include_embeddings``)."""

    item_id: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    text: str
    vector: list[float]


class SnapshotDocument(_Open):
    """A whole snapshot document (see the module docstring for what each key holds)."""

    info: SnapshotInfo = Field(alias="_snapshot_info")
    persona: dict[str, Any]
    core_traits: dict[str, Any]
    linguistic_profile: dict[str, Any]
    behavioral_rules: list[Any] | dict[str, Any]
    advanced_parameters: dict[str, Any]
    current_state: SnapshotState
    active_configuration: dict[str, Any]
    personality: dict[str, Any] | None = Field(
        default=None,
        description="The full personality (name, description, system_prompt, definition, metadata).",
    )
    blend: SnapshotBlend | None = None
    conversation: SnapshotConversation | None = None
    embeddings: list[SnapshotEmbedding] | None = None


def minimal_snapshot(template_name: str, user_id: str = "someone") -> dict[str, Any]:
    """The smallest valid document, in the seed's shape with empty sections (as other tools write it).

    Example:
        >>> minimal_snapshot("aurora")["current_state"]["learned_facts"]
        []
    """
    return {
        "_snapshot_info": {
            "created_at": "2026-01-01T00:00:00+00:00",
            "template_name": template_name,
            "template_version": "",
            "user_id": user_id,
            "session_id": "",
            "total_messages": 0,
            "days_active": 0,
        },
        "persona": {},
        "core_traits": {},
        "linguistic_profile": {},
        "behavioral_rules": [],
        "advanced_parameters": {},
        "current_state": {
            "affinity": {},
            "mood": {},
            "learned_facts": [],
            "memorable_episodes": [],
            "conversation_summary": None,
        },
        "active_configuration": {},
    }
