"""Import: a validated snapshot restored for a user, all or nothing, as a new session.

:func:`apply_snapshot` validates the whole document first (:mod:`.validate`: size,
version, secrets, shape — every fault with its JSON path), then builds every record it
will write (the session with its conversation, the facts, episodes, affinity, mood and
embeddings) before writing any, so a bad value is refused while storage is untouched.

The writes are all or nothing:

* When the base client's store and the v1.1 store are one object (the usual case) every
  record goes into one ``storage.batch()``, which each backend applies atomically.
* When they are two stores, the session is written first under its new id — nobody knows
  that id yet, so it is a staging record — and the user's state in one batch of the v1.1
  store; if that batch fails the staged session is deleted again and nothing is visible.
  Returning the id is the switch.
* A store written against the seed without ``batch()`` gets the writes one by one (no
  rollback is possible there; our stores all have batches).

What is restored for ``user_id``: the snapshot's facts (a stored fact with the same
category and key is replaced), its episodes (one already stored with the same
``episode_id`` is not added twice), its affinity with the personality (replaced), the
mood of the new session, and the embeddings when the snapshot has them. Other state of
the user is kept. The personality comes from the snapshot's full definition (a blend
needs none of its sources) or, for documents of other tools, from the registry by
``template_name``; it is registered on the base client when the name is free.

Example:
    >>> # new_session_id = await client_v11.import_snapshot(snapshot, user_id="user456")
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import LuminoraError, PersonalityError
from ..types._base import utcnow
from ..types.memory import check_user_id
from ..types.personality import PersonalityData
from ..types.provider import ProviderConfig
from ..types.session import Conversation, SessionConfig, SessionRecord
from ._gc import gc_paused
from .model import SnapshotDocument
from .validate import SnapshotError, json_path, validate_snapshot

if TYPE_CHECKING:
    from ..client_v11 import LuminoraCoreClientV11

__all__ = ["apply_snapshot"]


def _fault(path: str, problem: str) -> SnapshotError:
    return SnapshotError(f"invalid snapshot: {path}: {problem}", [(path, problem)])


def _pydantic_fault(prefix: str, exc: ValidationError) -> SnapshotError:
    faults = [
        (f"{prefix}.{json_path(e['loc'])}" if e["loc"] else prefix, e["msg"])
        for e in exc.errors(include_url=False)
    ]
    listed = "; ".join(f"{p}: {m}" for p, m in faults[:10])
    return SnapshotError(f"invalid snapshot: {listed}; fix these and import it again", faults)


async def _personality(client: LuminoraCoreClientV11, doc: SnapshotDocument) -> PersonalityData:
    if doc.personality is not None:
        try:
            return PersonalityData.model_validate(doc.personality)
        except ValidationError as exc:
            raise _pydantic_fault("personality", exc) from None
    name = doc.info.template_name
    getter = getattr(client.base_client, "get_personality", None)
    found = None
    if getter is not None and name:
        with contextlib.suppress(LuminoraError):
            found = await getter(name)
    if not isinstance(found, PersonalityData):
        raise _fault(
            "_snapshot_info.template_name",
            f"no personality {name!r} is loaded and the snapshot has no full definition ('personality'); "
            "load it first with load_personality, then import again",
        )
    return found


def _provider(client: LuminoraCoreClientV11, doc: SnapshotDocument, given: Any) -> ProviderConfig:
    if given is not None:
        return ProviderConfig.coerce(given)
    stored = doc.active_configuration.get("provider")
    if not stored:
        default = getattr(client.base_client, "default_provider", None)
        return default if isinstance(default, ProviderConfig) else ProviderConfig()
    if not isinstance(stored, Mapping):
        raise _fault("active_configuration.provider", f"must be an object, got {type(stored).__name__}")
    try:
        return ProviderConfig.model_validate(dict(stored))
    except (ValidationError, LuminoraError) as exc:
        raise _fault("active_configuration.provider", f"not a valid provider config ({exc})") from None


def _session_config(doc: SnapshotDocument) -> dict[str, Any]:
    stored = doc.active_configuration.get("session")
    if stored is None:
        return {}
    if not isinstance(stored, Mapping):
        raise _fault("active_configuration.session", f"must be an object, got {type(stored).__name__}")
    return {k: stored[k] for k in ("session_type", "max_history", "timeout") if k in stored}


def _record(
    doc: SnapshotDocument,
    personality: PersonalityData,
    provider: ProviderConfig,
    user_id: str,
    sid: str,
) -> SessionRecord:
    now = utcnow()
    conversation = doc.conversation
    # validated by the document's model already (fresh instances of this document's)
    messages = list(conversation.messages) if conversation else []
    metadata = dict(conversation.metadata) if conversation else {}
    provider_dump = provider.model_dump(mode="json")
    try:
        config = SessionConfig.model_validate(
            {
                **_session_config(doc),
                "session_id": sid,
                "personality": {"name": personality.name},
                "provider_config": provider_dump,
                "user_id": user_id,
                "metadata": metadata,
            }
        )
    except ValidationError as exc:
        raise _pydantic_fault("active_configuration.session", exc) from None
    created = conversation.created_at if conversation and conversation.created_at else now
    return SessionRecord(
        session_id=sid,
        personality_name=personality.name,
        personality=personality,
        provider_config=provider_dump,
        session_config=config,
        user_id=user_id,
        conversation=Conversation.model_validate(
            {
                "session_id": sid,
                "messages": messages,
                "metadata": metadata,
                "created_at": created,
                "updated_at": now,
            }
        ),
        created_at=now,
        last_active=now,  # a new session: usable at once, whatever the age of its messages
    )


@contextlib.asynccontextmanager
async def _batch(store: Any) -> AsyncIterator[None]:
    batch = getattr(store, "batch", None)
    if batch is None:
        yield
        return
    async with batch():
        yield


async def apply_snapshot(
    client: LuminoraCoreClientV11,
    snapshot: Mapping[str, Any],
    user_id: str,
    *,
    max_bytes: int | None = None,
    provider_config: Any = None,
    size: int | None = None,
) -> str:
    """Restore ``snapshot`` for ``user_id`` as a new session; returns its id (see the module docstring).

    Raises:
        SnapshotError: the document is invalid (every fault with its JSON path), too large,
            of another major version, holds a credential, or names no known personality.
        SessionError: a bad user id.
        StorageError: the store failed; nothing was written.
    """
    with gc_paused():  # see _gc: the collector would walk the whole growing heap again and again
        return await _apply(client, snapshot, user_id, max_bytes, provider_config, size)


async def _apply(
    client: LuminoraCoreClientV11,
    snapshot: Mapping[str, Any],
    user_id: str,
    max_bytes: int | None,
    provider_config: Any,
    size: int | None,
) -> str:
    doc = validate_snapshot(snapshot, max_bytes=max_bytes, size=size)
    user_id = check_user_id(user_id)
    base = client.base_client
    personality = await _personality(client, doc)
    provider = _provider(client, doc, provider_config)
    provider_for = getattr(base, "_provider_for", None)
    if provider_for is not None:
        provider_for(provider)  # refuses an unknown provider (or one without its key) before any write
    sid = f"sess_{uuid.uuid4().hex}"
    record = _record(doc, personality, provider, user_id, sid)
    store = client.storage
    # the base client's store of sessions (any object with save_session / delete_session)
    session_store: Any = getattr(base, "storage", None) or store
    raw = snapshot  # the validated input: extras of each record are kept as written
    state = raw["current_state"]

    async def write_state() -> None:
        for fact in state.get("learned_facts") or []:
            extras = {k: v for k, v in fact.items() if k not in ("user_id", "category", "key", "value")}
            await store.save_fact(user_id, fact["category"], fact["key"], fact["value"], **extras)
        known = {e.get("episode_id") for e in await store.get_episodes(user_id)} - {None}
        for episode in state.get("memorable_episodes") or []:
            if episode.get("episode_id") in known:
                continue
            extras = {
                k: v
                for k, v in episode.items()
                if k not in ("user_id", "episode_type", "title", "summary", "importance", "sentiment")
            }
            await store.save_episode(
                user_id,
                episode["episode_type"],
                episode["title"],
                episode.get("summary", ""),
                episode["importance"],
                episode.get("sentiment", "neutral"),
                **extras,
            )
        if doc.current_state.affinity is not None:
            affinity = dict(state["affinity"])
            extras = {
                k: v for k, v in affinity.items() if k not in ("points", "level", "progression_history")
            }
            await store.save_affinity(
                user_id,
                personality.name,
                affinity["points"],
                affinity["level"],
                **extras,
                history=list(affinity.get("progression_history") or []),
            )
        if doc.current_state.mood is not None:
            mood = dict(state["mood"])
            extras = {k: v for k, v in mood.items() if k not in ("current", "intensity")}
            extras.setdefault("started_at", None)
            extras.setdefault("history", [])
            await store.save_mood(sid, user_id, mood["current"], mood.get("intensity", 1.0), **extras)
        for item in raw.get("embeddings") or []:
            extras = {k: v for k, v in item.items() if k not in ("item_id", "kind", "text", "vector")}
            await store.save_embedding(
                user_id, item["item_id"], item["kind"], item["text"], item["vector"], **extras
            )

    one_store = session_store is store  # (a name: `is` would narrow session_store's type)
    if one_store:
        async with _batch(store):
            await session_store.save_session(record)
            await write_state()
    else:
        await session_store.save_session(record)  # staged: its id is known to nobody yet
        try:
            async with _batch(store):
                await write_state()
        except BaseException:
            with contextlib.suppress(Exception):
                await session_store.delete_session(sid)
            raise
    register = getattr(base, "load_personality", None)
    if register is not None:
        # the session carries its own personality: a different one loaded under the name is kept
        with contextlib.suppress(PersonalityError):
            await register(personality.name, personality)
    return sid
