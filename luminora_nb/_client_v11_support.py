"""What the v1.1 client and its turn extension share, kept out of :mod:`.client_v11`.

The client's methods and :mod:`._memory_turns` write the same records and publish the
same events, so the pieces that turn validated values into stored extras or events live
here once: :func:`fact_extras`, :func:`affinity_event`, :func:`episode_event`. The rest
are the client's own small rules: which fact categories exist, which extractor a choice
names, and which learning pipeline a base client already has (one per base client, so a
turn never learns twice).
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import SessionError, shown
from .events import AffinityChanged, EpisodeCreated
from .memory.facts import FactExtractor
from .types.memory import FACT_CATEGORIES

if TYPE_CHECKING:
    from ._memory_turns import MemoryTurnExtension
    from .relationship.affinity import AffinityChange

__all__ = [
    "affinity_event",
    "attached_extension",
    "check_category",
    "episode_event",
    "fact_extras",
    "new_id",
    "pick_extractor",
    "remember_extension",
]

_ATTACHED: weakref.WeakKeyDictionary[Any, MemoryTurnExtension] = weakref.WeakKeyDictionary()


def attached_extension(base_client: Any) -> MemoryTurnExtension | None:
    """The learning pipeline already attached to ``base_client``, if any."""
    try:
        return _ATTACHED.get(base_client)
    except TypeError:  # not weak-referenceable: cannot tell, attach
        return None


def remember_extension(base_client: Any, extension: MemoryTurnExtension) -> None:
    """Note that ``extension`` is ``base_client``'s learning pipeline (when it can be noted)."""
    with contextlib.suppress(TypeError):
        _ATTACHED[base_client] = extension


def pick_extractor(choice: Any, base_client: Any) -> FactExtractor | None:
    """The fact extractor a client's ``extractor`` argument names (``None``: the rules).

    Raises:
        SessionError: neither ``"rules"``, ``"llm"``, ``None`` nor a ``FactExtractor``.
    """
    if choice is None or choice == "rules":
        return None
    if isinstance(choice, FactExtractor):
        return choice
    if choice == "llm":
        from .memory.llm_extractor import LLMFactExtractor
        from .providers.registry import create_provider
        from .types.provider import ProviderConfig

        config = getattr(base_client, "default_provider", None)
        return LLMFactExtractor(
            create_provider(config if isinstance(config, ProviderConfig) else ProviderConfig())
        )
    raise SessionError(
        f"extractor must be 'rules', 'llm' or a FactExtractor, got {shown(choice)} ({type(choice).__name__})"
    )


def check_category(category: Any) -> str:
    """``category`` when it is a known fact category.

    Raises:
        SessionError: an unknown category.

    Example:
        >>> check_category("preferences")
        'preferences'
    """
    if category not in FACT_CATEGORIES:
        raise SessionError(
            f"unknown fact category {shown(category)}; use one of: {', '.join(FACT_CATEGORIES)}"
        )
    return str(category)


def check_fact_key(key: Any) -> str:
    """``key`` when it names a fact (a non-empty string).

    Raises:
        SessionError: not a string, or empty.
    """
    if not isinstance(key, str) or not key:
        raise SessionError(f"fact key must be a non-empty string, got {shown(key)}")
    return key


def new_id() -> str:
    """A fresh random id (an episode's)."""
    return uuid.uuid4().hex


def fact_extras(fact: Any) -> dict[str, Any]:
    """The stored extras of a merged fact: confidence, history, source, times."""
    data = fact.model_dump(mode="json")
    extras = {
        "confidence": data["confidence"],
        "history": data["history"],
        "created_at": data["created_at"],
    }
    if data.get("source") is not None:
        extras["source"] = data["source"]
    if data.get("session_id") is not None:
        extras["session_id"] = data["session_id"]
    if data.get("source_message") is not None:
        extras["source_message"] = data["source_message"]
    return extras


def affinity_event(
    user_id: str, name: str, change: AffinityChange, session_id: str | None, new: bool
) -> AffinityChanged:
    """The ``AffinityChanged`` event of ``change`` (``previous_level`` None for a new relationship)."""
    return AffinityChanged(
        user_id=user_id,
        session_id=session_id,
        personality_name=name,
        points_delta=change.points_delta,
        requested_delta=change.requested_delta,
        affinity_points=change.points_after,
        previous_level=None if new else change.level_before,
        current_level=change.level_after,
        interaction_type=change.interaction_type,
        reason=change.reason,
        timestamp=change.timestamp,
    )


def episode_event(episode: Mapping[str, Any]) -> EpisodeCreated:
    """The ``EpisodeCreated`` event of a validated episode document.

    The event takes the document's values of its own fields; the document's other keys
    stay out, and so does any ``timestamp`` in it: the event's time is when it happened.

    Example:
        >>> episode_event({"user_id": "u", "episode_type": "milestone", "title": "Moved",
        ...                "summary": "", "importance": 7, "sentiment": "positive",
        ...                "episode_id": "e1", "place": "Lisbon"}).title
        'Moved'
    """
    fields = EpisodeCreated.model_fields.keys() - {"timestamp"}
    return EpisodeCreated(**{name: episode[name] for name in fields if name in episode})
