"""The documents every backend stores, built once, and the words backends are spoken to in.

:class:`~luminora_nb.storage.base.Storage` checks the arguments of a public call, builds
the documents here and hands them to the backend's primitives, which store them as they
are and give them back unchanged; so every backend returns identical results.

* A **document** is plain JSON data (str, int, float, bool, None, lists and dicts), built
  fresh by these builders: it shares nothing with the caller's objects.
* A document is addressed by a :class:`Key`: its :class:`Kind` (memory, affinity, fact,
  episode, mood, embedding), its owner (a user id or a session id) and its names (the
  memory key, the personality name, the fact's category and key, the item id).
* A **write** is one of :class:`Put`, :class:`Delete` and :class:`SaveSession`; a backend's
  ``_write`` applies a list of them all at once or not at all.
* A session is stored as its **head** (the record without messages and memory), one
  document per message, and its memory; :func:`session_from_documents` joins them again.

Example:
    >>> put = Put(Key(FACT, "u1", ("pets", "dog")), fact_document("u1", "pets", "dog", "Rex", {}))
    >>> put.key.kind.name, put.document["value"], put.document["confidence"]
    ('fact', 'Rex', 1.0)
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import StorageError, shown
from ..types._base import utcnow
from ..types.session import Message, SessionRecord, SessionSummary
from ._names import name_digest
from ._vectors import VECTOR_FIELD, pack, unpack
from .codec import json_default

__all__ = [
    "AFFINITY",
    "EMBEDDING",
    "EPISODE",
    "FACT",
    "MEMORY",
    "MOOD",
    "USER_KINDS",
    "Delete",
    "Key",
    "Kind",
    "Put",
    "SaveSession",
    "SessionHead",
    "StoredSession",
    "Write",
    "affinity_document",
    "described",
    "embedding_document",
    "episode_document",
    "fact_document",
    "kept",
    "memory_document",
    "message_documents",
    "messages_from_json",
    "mood_document",
    "plain_json",
    "require_strings",
    "select_episodes",
    "session_documents",
    "session_from_documents",
    "session_summary",
    "touched",
]

Document = dict[str, Any]
_MESSAGE_LIST: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


# -- addressing ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of document: what owns it and what a put does to the stored ones.

    Attributes:
        name: ``"memory"``, ``"affinity"``, ...
        owner: What the owner id is: ``"session_id"`` or ``"user_id"``.
        appended: Every put adds a document (episodes); otherwise a put replaces the
            document stored under the same names, which keeps its place in the order.
        keep: Fields a replacing put keeps from the stored document (a fact's ``created_at``).
    """

    name: str
    owner: str
    appended: bool = False
    keep: tuple[str, ...] = ()

    def of(self, owner: str) -> str:
        """Names the documents of one owner in messages: ``"facts of user 'u1'"``."""
        return f"{_PLURALS[self.name]} of {self.owner.removesuffix('_id')} {shown(owner)}"


MEMORY = Kind("memory", "session_id")
MOOD = Kind("mood", "session_id")
AFFINITY = Kind("affinity", "user_id")
FACT = Kind("fact", "user_id", keep=("created_at",))
EPISODE = Kind("episode", "user_id", appended=True)
EMBEDDING = Kind("embedding", "user_id")
_PLURALS = {
    "memory": "memory",
    "mood": "mood",
    "affinity": "affinity",
    "fact": "facts",
    "episode": "episodes",
    "embedding": "embeddings",
}
# What one document is called in messages, from its names and owner.
_SUBJECTS: dict[str, Callable[[tuple[str, ...], str], str]] = {
    "memory": lambda names, owner: f"memory {shown(names[0])} of session {shown(owner)}",
    "mood": lambda names, owner: f"mood of session {shown(owner)}",
    "affinity": lambda names, owner: f"affinity of user {shown(owner)} with {shown(names[0])}",
    "fact": lambda names, owner: (
        f"fact {shown(names[0])[1:-1]}/{shown(names[1])[1:-1]} of user {shown(owner)}"
    ),
    "episode": lambda names, owner: f"episode of user {shown(owner)}",
    "embedding": lambda names, owner: f"embedding {shown(names[0])} of user {shown(owner)}",
}
# The public call a write comes from, for messages.
_SAVES = {"memory": "set_memory"}
#: The kinds owned by a user (a mood is owned by its session and names its user).
USER_KINDS = (AFFINITY, FACT, EPISODE, EMBEDDING)


@dataclass(frozen=True, slots=True)
class Key:
    """Where a document lives: kind, owner id and names (``()`` for a session's one mood).

    Example:
        >>> Key(MEMORY, "s1", ("colour",)).digest == Key(MEMORY, "s2", ("colour",)).digest
        True
    """

    kind: Kind
    owner: str
    names: tuple[str, ...] = ()
    #: Address the row by the unkeyed digest of codec v1 (see :meth:`.Storage._migrate_names`).
    legacy: bool = False

    @property
    def digest(self) -> str:
        """The names as one unkeyed SHA-256 digest (the field name codec v1 stores used)."""
        return name_digest(*self.names)

    @property
    def subject(self) -> str:
        """Names the document in messages: ``"fact pets/dog of user 'u1'"``."""
        return _SUBJECTS[self.kind.name](self.names, self.owner)


def place(*parts: str) -> str:
    """Where a document is stored, as the codec authenticates it with the document (codec v2).

    The parts say what identifies the row as stored (kind, owner, the stored names or
    digests), so a document copied to another row fails to decrypt.

    Example:
        >>> place("memory", "s1", "colour")
        '["memory", "s1", "colour"]'
    """
    return json.dumps(parts, ensure_ascii=False)


def names_of(kind: Kind, document: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The names a stored document is kept under, read from it (``None``: it does not say).

    Example:
        >>> names_of(FACT, {"category": "pets", "key": "dog"})
        ('pets', 'dog')
    """
    fields = _NAME_FIELDS.get(kind.name, ())
    values = tuple(document.get(field) for field in fields)
    return values if all(isinstance(v, str) for v in values) else None  # type: ignore[return-value]


_NAME_FIELDS = {
    "memory": ("key",),
    "affinity": ("personality_name",),
    "fact": ("category", "key"),
    "embedding": ("item_id",),
}


# -- writes -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Put:
    """Store ``document`` under ``key`` (for an appended kind: add it)."""

    key: Key
    document: Document


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the document under ``key``."""

    key: Key


@dataclass(frozen=True, slots=True)
class SaveSession:
    """Store a whole session (replacing any stored one): its head and its messages.

    ``record`` is there for the typed fields some backends keep in columns (user id,
    times, the session timeout); its memory is stored apart (``set_memory``).

    With ``if_absent`` the session is stored only when no session with its id is stored,
    decided atomically with the write (insert-if-absent): two processes creating one id
    cannot both succeed. Its result then says whether it was stored.
    """

    record: SessionRecord
    head: Document
    messages: list[Document]
    if_absent: bool = False

    @classmethod
    def of(cls, record: SessionRecord, *, if_absent: bool = False) -> SaveSession:
        """The write that stores ``record`` (only if its id is free, with ``if_absent``)."""
        head, messages = session_documents(record)
        return cls(record, head, messages, if_absent)


Write = Put | Delete | SaveSession


def described(writes: Sequence[Write]) -> tuple[str, str]:
    """The public call and the subject that name ``writes`` in messages.

    Example:
        >>> described([Delete(Key(FACT, "u1", ("pets", "dog")))])
        ('delete_fact', "fact pets/dog of user 'u1'")
    """
    if len(writes) != 1:
        return "batch", f"a batch of {len(writes)} writes"
    [write] = writes
    if isinstance(write, SaveSession):
        return "insert_session" if write.if_absent else "save_session", f"session {write.record.session_id!r}"
    name = write.key.kind.name
    if isinstance(write, Delete):
        return f"delete_{name}", write.key.subject
    return _SAVES.get(name, f"save_{name}"), write.key.subject


# -- what primitives give back --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredSession:
    """A stored session as ``_load_session`` gives it: head (touched), messages, memory.

    ``messages`` may hold :class:`Message` objects a backend validated itself already.
    ``memory`` holds the memory documents (``{"key": ..., "value": ...}``).
    """

    head: Document
    messages: Sequence[Mapping[str, Any] | Message]
    memory: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class SessionHead:
    """One row of ``_session_heads``: enough to list a session without its messages.

    ``read()`` gives the head document (touched), or a dict holding at least the summary's
    fields, and the number of stored messages; it raises :class:`StorageError` when what is
    stored cannot be read, which leaves that session out of the listing (``where`` names
    it in the warning).
    """

    where: str
    read: Callable[[], tuple[Mapping[str, Any], int]]


# -- argument checks ------------------------------------------------------------------------
def require_strings(
    backend: str, operation: str, /, *, optional: tuple[str, ...] = (), **values: object
) -> None:
    """Check that every id, key and name passed to a storage call is a ``str``.

    A backend that puts an argument into a query (a MongoDB filter, a Redis key) must not
    let a dict such as ``{"$ne": "x"}`` through: it would match other users' documents.
    Names listed in ``optional`` may also be ``None``.

    Raises:
        StorageError: a value is not a string.

    Example:
        >>> require_strings("mongodb", "load_session", session_id="s1")
        >>> require_strings("mongodb", "get_facts", user_id="u1", category=None, optional=("category",))
    """
    for name, value in values.items():
        if isinstance(value, str) or (value is None and name in optional):
            continue
        raise StorageError(
            f"{backend} storage: {operation} got {name} of type {type(value).__name__}; "
            f"{name} must be a string (ids, keys and names are plain text, never query objects)"
        )


def plain_json(document: Mapping[str, Any], *, what: str) -> Document:
    """A fresh copy of ``document`` as plain JSON data (datetimes as ISO text, tuples as lists).

    Raises:
        StorageError: a value JSON cannot represent (an object, NaN); the message names ``what``.

    Example:
        >>> import datetime
        >>> plain_json({"at": datetime.date(2024, 5, 1), "pair": (1, 2)}, what="fact")
        {'at': '2024-05-01', 'pair': [1, 2]}
    """
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, default=json_default)
        copy: Document = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"{what} is not JSON-serialisable ({exc}); store plain data "
            "(str, int, float, bool, None, lists and dicts)"
        ) from None
    except RecursionError:
        # json recurses once per level: a value nested thousands deep exhausts the stack.
        raise StorageError(
            f"{what} is nested too deeply to store as JSON; store flatter data "
            "(at most a few hundred levels of lists and dicts)"
        ) from None
    return copy


# -- sessions -------------------------------------------------------------------------------
def session_documents(record: SessionRecord) -> tuple[Document, list[Document]]:
    """Split a session into its head (no messages, no memory) and its message documents.

    The per-session key/value memory is stored apart (``set_memory``), as in every backend;
    :func:`session_from_documents` puts the parts back together.
    """
    doc = record.model_dump(mode="json", exclude={"memory"})
    messages: list[Document] = doc["conversation"].pop("messages")
    return doc, messages


def message_documents(messages: Sequence[Message]) -> list[Document]:
    """The JSON documents of appended messages."""
    documents: list[Document] = _MESSAGE_LIST.dump_python(list(messages), mode="json")
    return documents


def messages_from_json(data: bytes | str) -> list[Message]:
    """The messages of a JSON array of message documents, parsed and validated in one pass.

    Raises:
        ValueError: ``data`` is not such an array (pydantic's ``ValidationError`` is one), e.g.
            it holds an escaped unpaired surrogate, which only Python's ``json`` reads.
    """
    return _MESSAGE_LIST.validate_json(data)


def touched(head: Document, last_active: str) -> Document:
    """``head`` with ``last_active`` and ``conversation.updated_at`` set by the latest append.

    Example:
        >>> touched({"conversation": {"updated_at": "a"}, "last_active": "a"}, "b")
        {'conversation': {'updated_at': 'b'}, 'last_active': 'b'}
    """
    head["last_active"] = last_active
    if isinstance(head.get("conversation"), dict):
        head["conversation"]["updated_at"] = last_active
    return head


def session_from_documents(
    doc: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any] | Message],
    *,
    memory: Mapping[str, Any] | None = None,
    what: str,
) -> SessionRecord:
    """Rebuild a :class:`SessionRecord` from :func:`session_documents` output.

    ``messages`` may also hold :class:`Message` objects validated already (e.g. with
    ``model_validate_json``): they are taken as they are, not validated again.

    Raises:
        StorageError: the documents do not describe a valid session (names ``what``).
    """
    try:
        data = dict(doc)
        conversation = dict(data.get("conversation") or {})
        conversation["messages"] = list(messages)
        data["conversation"] = conversation
        data["memory"] = dict(memory or {})
        return SessionRecord.model_validate(data)
    except (ValidationError, TypeError, ValueError) as exc:
        raise _not_a_session(what, exc) from None


def session_summary(head: Mapping[str, Any], message_count: int, *, what: str) -> SessionSummary:
    """The listing row of a stored session from its head document and message count.

    Raises:
        StorageError: the head lacks a field of the summary or holds an invalid one.
    """
    try:
        provider = head.get("provider_config") or {}
        return SessionSummary(
            session_id=head["session_id"],
            personality_name=head["personality_name"],
            provider=str(provider.get("name", "")),
            user_id=head.get("user_id"),
            message_count=message_count,
            created_at=head["created_at"],
            last_active=head["last_active"],
        )
    except (KeyError, AttributeError, ValidationError, TypeError, ValueError) as exc:
        raise _not_a_session(what, exc) from None


def _not_a_session(what: str, exc: Exception) -> StorageError:
    return StorageError(
        f"{what} is corrupt and could not be read: the stored document is not a valid session "
        f"({problem_of(exc)}); restore it from a backup or delete it"
    )


def problem_of(exc: Exception) -> str:
    """What is wrong with a document, naming the field: ``"field 'personality' is missing"``.

    Example:
        >>> problem_of(KeyError("session_id"))
        "field 'session_id' is missing"
    """
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        if errors:
            first = errors[0]
            field = ".".join(str(part) for part in first["loc"]) or "(the document)"
            if first["type"] == "missing":
                text = f"field {field!r} is missing"
            else:
                text = f"field {field!r} is invalid: {first['msg']}"
            return text if len(errors) == 1 else f"{text}, and {len(errors) - 1} more problem(s)"
    if isinstance(exc, KeyError) and exc.args:
        return f"field {exc.args[0]!r} is missing"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- user state -----------------------------------------------------------------------------
def memory_document(key: str, value: Any) -> Document:
    """The stored memory value of a session under ``key``."""
    return plain_json({"key": key, "value": value}, what=f"memory value for key {shown(key)}")


def affinity_document(
    user_id: str, personality_name: str, affinity_points: int, current_level: str, extra: Mapping[str, Any]
) -> Document:
    """The stored affinity record (extra keyword fields kept, the named fields win)."""
    named = {"personality_name": personality_name, "affinity_points": int(affinity_points)}
    return _updated(extra, user_id=user_id, **named, current_level=current_level, what="affinity")


def fact_document(user_id: str, category: str, key: str, value: Any, extra: Mapping[str, Any]) -> Document:
    """The stored fact; replacing a stored fact keeps its ``created_at`` (:data:`FACT` ``.keep``)."""
    now = utcnow().isoformat()
    document = {
        "confidence": 1.0,
        **extra,
        "user_id": user_id,
        "category": category,
        "key": key,
        "value": value,
        "created_at": extra.get("created_at", now),
        "updated_at": now,
    }
    return plain_json(document, what="fact")


def episode_document(user_id: str, extra: Mapping[str, Any], **named: Any) -> Document:
    """The stored episode: ``named`` are its fields (``episode_type``, ``title``, ``summary``,
    ``importance``, ``sentiment``); an ``episode_id`` and ``timestamp`` are made when none is given.

    Example:
        >>> episode = episode_document("u1", {}, title="First chat", importance=5)
        >>> episode["title"], episode["importance"], len(episode["episode_id"])
        ('First chat', 5.0, 32)
    """
    document = {
        **extra,
        "episode_id": extra.get("episode_id") or uuid.uuid4().hex,
        "user_id": user_id,
        **named,
        "importance": float(named["importance"]),
        "timestamp": _iso(extra.get("timestamp")) or utcnow().isoformat(),
    }
    return plain_json(document, what="episode")


def mood_document(
    session_id: str, user_id: str, current_mood: str, mood_intensity: float, extra: Mapping[str, Any]
) -> Document:
    """The stored mood of a session."""
    named = {"current_mood": current_mood, "mood_intensity": float(mood_intensity)}
    return _updated(extra, session_id=session_id, user_id=user_id, **named, what="mood")


def _updated(extra: Mapping[str, Any], *, what: str, **named: Any) -> Document:
    """A record of ``extra`` and ``named`` fields (those win), stamped ``updated_at`` now."""
    return plain_json({**extra, **named, "updated_at": utcnow().isoformat()}, what=what)


def embedding_document(
    item_id: str, kind: str, text: str, vector: Sequence[float], extra: Mapping[str, Any]
) -> Document:
    """The stored embedding of a memory item: its vector as float32 bytes (:mod:`._vectors`),
    its ``dimension`` and the extra fields (the embedder's ``model_id``, ...).

    Raises:
        StorageError: the vector holds something other than finite numbers within the
            float32 range, or ``extra["dimension"]`` is not its length.

    Example:
        >>> embedding_document("f1", "fact", "tea", [1.0, -2.0], {"model_id": "m"})["vector_f32le"]
        'AACAPwAAAMA='
    """
    try:
        values = [float(v) for v in vector]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("it holds NaN or an infinity")
        packed = pack(values)
        if not all(math.isfinite(v) for v in unpack(packed)):
            raise OverflowError("a value is beyond the float32 range")
    except (TypeError, ValueError, OverflowError) as exc:
        raise StorageError(
            f"embedding {shown(item_id)}: the vector must be finite numbers within the float32 range ({exc})"
        ) from None
    dimension = extra.get("dimension", len(values))
    if dimension != len(values) or isinstance(dimension, bool):
        raise StorageError(
            f"embedding {shown(item_id)}: dimension {shown(dimension)} is not the length of its "
            f"vector ({len(values)}); pass the embedder's dimension, or none"
        )
    fields = {k: v for k, v in extra.items() if k != "vector"}
    document = {**fields, "item_id": item_id, "kind": kind, "text": text, "dimension": len(values)}
    document[VECTOR_FIELD] = base64.b64encode(packed).decode("ascii")
    return plain_json(document, what="embedding")


def kept(document: Document, previous: Mapping[str, Any] | None, keep: Sequence[str]) -> Document:
    """``document`` with the fields named in ``keep`` taken from ``previous`` (when stored).

    Example:
        >>> kept({"created_at": "new", "v": 2}, {"created_at": "old", "v": 1}, ("created_at",))
        {'created_at': 'old', 'v': 2}
    """
    if previous is None or not keep:
        return document
    return {**document, **{field: previous[field] for field in keep if field in previous}}


def select_episodes(
    episodes: Iterable[Mapping[str, Any]], min_importance: float | None, max_results: int | None
) -> list[Document]:
    """Episodes with ``importance >= min_importance``, most important first, then newest.

    Episodes must come in the order they were saved (ties keep that order).

    Example:
        >>> rows = [{"importance": 1.0, "timestamp": "a"}, {"importance": 5.0, "timestamp": "b"}]
        >>> [e["importance"] for e in select_episodes(rows, 2.0, None)]
        [5.0]
    """
    rows = [dict(e) for e in episodes if min_importance is None or float(e["importance"]) >= min_importance]
    rows.sort(key=lambda e: str(e["timestamp"]), reverse=True)
    rows.sort(key=lambda e: -float(e["importance"]))
    return rows[: max(0, int(max_results))] if max_results is not None else rows


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
