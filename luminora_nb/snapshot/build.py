"""Export: a session's persona, relationship, memories and conversation as one document.

:func:`build_snapshot` reads everything through the client (the base client's stored
session, the v1.1 store's facts, episodes, affinity, mood and embeddings) and assembles
a plain JSON document in the shape of :mod:`luminora_nb.snapshot.model`. Design rules:

* **Never a secret.** The provider config is dumped without its API key, credential-named
  keys are dropped everywhere (:func:`~luminora_nb.types._base.scrub_secrets`) and URLs
  lose their user info; a snapshot is meant to be shared.
* **Stable for a round trip.** Only what an import restores is written, so export ->
  import -> export gives the same document except ``_snapshot_info.created_at``,
  ``user_id`` and ``session_id``. A stored record's ``updated_at`` (the storage's write
  time) is therefore left out; ``created_at``, histories and timestamps are kept. Facts
  and episodes carry no ``user_id``: they belong to whoever imports them.
* **Options** (:class:`~luminora_nb.types.snapshot.SnapshotExportOptions`, all on by
  default except ``include_embeddings``): a section left out is ``null``
  (``affinity``, ``mood``, ``conversation``) or ``[]`` (facts, episodes);
  ``max_messages`` keeps the last N messages (``total_messages`` still counts all);
  ``anonymize_user_data`` replaces the user id by a stable pseudonym (``anon_`` + 12 hex
  digits of its SHA-256) and drops message metadata.

Example:
    >>> resolve_options({"include_facts": False})["include_facts"]
    False
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import SessionError
from ..types._base import redact_url, scrub_secrets, utcnow
from ..types.personality import PersonalityData
from ..types.session import SessionRecord
from ._gc import gc_paused
from .model import FORMAT_NAME, FORMAT_VERSION

if TYPE_CHECKING:
    from ..client_v11 import LuminoraCoreClientV11

__all__ = ["DEFAULT_OPTIONS", "anonymous_id", "build_snapshot", "persona_sections", "resolve_options"]

#: The export options and their defaults.
DEFAULT_OPTIONS: dict[str, Any] = {
    "include_conversation_history": True,
    "include_facts": True,
    "include_episodes": True,
    "include_affinity": True,
    "include_mood": True,
    "include_embeddings": False,
    "max_messages": None,
    "anonymize_user_data": False,
}

# Storage bookkeeping, not state: rewritten by every store write.
_FACT_DROP = ("user_id", "updated_at")
_EPISODE_DROP = ("user_id",)


def resolve_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective export options: defaults updated by ``options``, each checked.

    Raises:
        SessionError: an unknown option (with the known ones), a flag that is not a bool,
            a ``max_messages`` that is not an integer >= 0 or ``None``.
    """
    if options is not None and not isinstance(options, Mapping):
        raise SessionError(f"snapshot options must be a dict, got {type(options).__name__}")
    resolved = dict(DEFAULT_OPTIONS)
    for name, value in (options or {}).items():
        if name not in DEFAULT_OPTIONS:
            raise SessionError(
                f"unknown snapshot option {name!r}; the options are: {', '.join(DEFAULT_OPTIONS)}"
            )
        if name == "max_messages":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise SessionError(f"max_messages must be an integer >= 0 or None, got {value!r}")
        elif not isinstance(value, bool):
            raise SessionError(f"snapshot option {name} must be True or False, got {value!r}")
        resolved[name] = value
    return resolved


def anonymous_id(user_id: str) -> str:
    """The stable pseudonym of a user id in anonymised snapshots.

    Example:
        >>> anonymous_id("sam")
        'anon_e96e02d8e47f'
    """
    return "anon_" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:12]


def persona_sections(personality: PersonalityData) -> dict[str, Any]:
    """The seed's persona sections of a personality (the simple seed form: name and description)."""
    if personality.definition is None:
        return {
            "persona": {"name": personality.display_name, "description": personality.display_description},
            "core_traits": {},
            "linguistic_profile": {},
            "behavioral_rules": [],
            "advanced_parameters": {},
        }
    data = personality.definition.model_dump(mode="json")
    return {
        name: data[name]
        for name in (
            "persona",
            "core_traits",
            "linguistic_profile",
            "behavioral_rules",
            "advanced_parameters",
        )
    }


def _template_version(personality: PersonalityData) -> str:
    if personality.definition is not None:
        return personality.definition.persona.version
    extra = (personality.model_extra or {}).get("version")
    return extra if isinstance(extra, str) else ""


def _without(row: Mapping[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in drop}


def _provider(config: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = scrub_secrets(dict(config))
    if isinstance(clean.get("base_url"), str):
        clean["base_url"] = redact_url(clean["base_url"])
    return clean


def _iso(value: datetime) -> str:
    return value.isoformat()


async def build_snapshot(
    client: LuminoraCoreClientV11, session_id: str, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The snapshot document of ``session_id`` (see the module docstring).

    Raises:
        SessionError: an unknown session, bad options.
    """
    with gc_paused():  # see _gc: a large export allocates many objects that all stay alive
        return await _build(client, session_id, resolve_options(options))


async def _build(client: LuminoraCoreClientV11, session_id: str, opts: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(session_id, str) or not session_id:
        raise SessionError(f"invalid session id {session_id!r}; use the id create_session returned")
    storage = getattr(client.base_client, "storage", None)
    record: SessionRecord | None = await storage.load_session(session_id) if storage is not None else None
    if record is None:
        raise SessionError(f"unknown session {session_id!r}; list stored sessions with list_sessions()")
    personality = record.personality
    user = client.user_of(record.user_id)
    store = client.storage
    messages = record.conversation.messages
    shown_user = anonymous_id(user) if opts["anonymize_user_data"] else user

    facts: list[dict[str, Any]] = []
    if opts["include_facts"]:
        facts = [_without(f, _FACT_DROP) for f in await store.get_facts(user)]
    episodes: list[dict[str, Any]] = []
    if opts["include_episodes"]:
        episodes = [_without(e, _EPISODE_DROP) for e in await store.get_episodes(user)]
    affinity = await _affinity(client, user, personality) if opts["include_affinity"] else None
    mood = await _mood(client, session_id, personality) if opts["include_mood"] else None

    conversation = None
    if opts["include_conversation_history"]:
        kept = messages if opts["max_messages"] is None else messages[len(messages) - opts["max_messages"] :]
        conversation = {
            "created_at": _iso(record.conversation.created_at),
            "metadata": {} if opts["anonymize_user_data"] else scrub_secrets(record.conversation.metadata),
            "messages": [
                {
                    "role": m.role.value,
                    "content": m.content,
                    "timestamp": _iso(m.timestamp),
                    "metadata": {} if opts["anonymize_user_data"] else scrub_secrets(m.metadata),
                }
                for m in kept
            ],
        }
    session_config = record.session_config
    document: dict[str, Any] = {
        "_snapshot_info": {
            "created_at": _iso(utcnow()),
            "template_name": personality.name,
            "template_version": _template_version(personality),
            "user_id": shown_user,
            "session_id": session_id,
            "total_messages": len(messages),
            "days_active": len({m.timestamp.date() for m in messages}),
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "options": opts,
        },
        **persona_sections(personality),
        "current_state": {
            "affinity": affinity,
            "mood": mood,
            "learned_facts": facts,
            "memorable_episodes": episodes,
            "conversation_summary": _summary(record),
        },
        "active_configuration": {
            "provider": _provider(record.provider_config),
            "session": {
                "session_type": session_config.session_type.value,
                "max_history": session_config.max_history,
                "timeout": session_config.timeout,
            },
        },
        "personality": scrub_secrets(personality.model_dump(mode="json")),
        "blend": _blend(personality),
        "conversation": conversation,
    }
    if opts["include_embeddings"]:
        document["embeddings"] = [_without(e, ("user_id", "score")) for e in await store.get_embeddings(user)]
    return document


async def _affinity(client: LuminoraCoreClientV11, user: str, personality: PersonalityData) -> dict[str, Any]:
    row = await client.storage.get_affinity(user, personality.name)
    if row is None:  # no history yet: the starting state, as get_affinity reports it
        start = await client.get_affinity(user, personality)
        row = {"affinity_points": start["affinity_points"], "current_level": start["current_level"]}
    extras = _without(
        row,
        (
            "user_id",
            "personality_name",
            "affinity_points",
            "current_level",
            "history",
            "updated_at",
            "total_interactions",
        ),
    )
    return {
        "points": int(row["affinity_points"]),
        "level": str(row["current_level"]),
        "progression_history": list(row.get("history") or []),
        "total_interactions": int(row.get("total_interactions") or 0),
        **extras,
    }


async def _mood(
    client: LuminoraCoreClientV11, session_id: str, personality: PersonalityData
) -> dict[str, Any]:
    from ..memory.mood import MoodStep
    from ..personality.validate import definition_for

    row = await client.storage.get_mood(session_id)
    if row is None:  # no turn yet: the persona's initial mood
        initial = MoodStep.from_record(None, definition_for(personality).mood_config)
        return {"current": initial.mood, "intensity": initial.intensity, "started_at": None, "history": []}
    extras = _without(
        row,
        ("session_id", "user_id", "current_mood", "mood_intensity", "updated_at", "started_at", "history"),
    )
    return {
        "current": str(row["current_mood"]),
        "intensity": float(row.get("mood_intensity", 1.0)),
        # a stored mood without its start (written by a turn): it holds since its last write
        "started_at": row["started_at"] if "started_at" in row else row.get("updated_at"),
        "history": list(row.get("history") or []),
        **extras,
    }


def _blend(personality: PersonalityData) -> dict[str, Any] | None:
    """The blend's provenance as parallel lists: sources and their normalised weights."""
    provenance = personality.metadata.get("blend")
    if not isinstance(provenance, Mapping):
        return None
    sources = [str(s) for s in provenance.get("sources") or []]
    weights = provenance.get("weights")
    if isinstance(weights, Mapping):  # the blender keeps {source: weight}
        weights = [weights.get(s) for s in sources]
    return {"sources": sources, "weights": list(weights or []), "blend_type": provenance.get("blend_type")}


def _summary(record: SessionRecord) -> dict[str, Any] | None:
    messages = record.conversation.messages
    if not messages:
        return None
    roles = [m.role.value for m in messages]
    return {
        "messages": len(messages),
        "user_messages": roles.count("user"),
        "assistant_messages": roles.count("assistant"),
        "first_message_at": _iso(messages[0].timestamp),
        "last_message_at": _iso(messages[-1].timestamp),
    }
