"""Storage backends behind one protocol, written once over a few primitives per backend.

:class:`Storage` (:mod:`.base`) implements every public method — sessions, appended
messages, per-session memory, affinity, facts, episodes, moods, embeddings, batches and
metadata — once: it checks the arguments, builds the documents (:mod:`._documents`) and
calls the backend's primitives. A backend is its primitives and the few operations it can
do natively; nothing else. Modules:

========================  ============================================================
``base.py``               the public protocol, concrete over the primitives
``_documents.py``         the documents, keys and writes primitives receive
``codec.py``              bytes only: JSON, compression, encryption bound to a place
``_names.py``             name digests, URLs without credentials (one scrubbing rule)
``_server.py``            readiness, reconnection and error mapping of server backends
``_vectors.py``           exact cosine ranking over float32 vectors (numpy or Python)
``_files.py``             locks, atomic writes and appended lines of the file backend
``_duckdb_schema.py``     the DuckDB tables, and bringing older DuckDB files up to date
``memory.py``             the in-memory backend: the example below
``file.py``, ``duckdb.py``, ``redis.py``, ``postgres.py``, ``mongodb.py``: the others
========================  ============================================================

How to add a backend
--------------------
Subclass :class:`Storage`, set ``backend_name``, register the class in
:mod:`.factory`, and implement the primitives. Each receives checked strings and
documents that are plain JSON data built fresh for it (the backend may keep them); each
must raise :class:`~luminora_nb.errors.StorageError` for every failure. Read
:mod:`.memory` first: it implements all of them over dicts in about 200 lines.

Documents are addressed by a :class:`~._documents.Key`: a kind (``MEMORY``, ``MOOD``,
``AFFINITY``, ``FACT``, ``EPISODE``, ``EMBEDDING``), an owner id (a session id or a user
id) and names (the memory key; the personality name; category and key; the item id).

Encrypted documents are bound to where they are stored (codec v2, see :mod:`.codec`): a
backend passes ``at=_documents.place(...)`` — what identifies the row as stored — to
every ``encode``/``decode``, the same when writing and reading, so a document copied to
another row fails to decrypt. A backend that keeps names as digests takes them from
``Storage._ident(key, codec)`` (keyed with encryption on; ``key.legacy``: the unkeyed
digest of codec v1) and calls ``_migrate_names`` at ``initialize`` after the key check.

``_write(writes) -> list[bool]``
    Apply :class:`~._documents.Put`, :class:`~._documents.Delete` and
    :class:`~._documents.SaveSession` writes in order, **all or none**. A put replaces the
    document under its key, which keeps its place in the order and the fields named in
    ``kind.keep`` (a fact's ``created_at``); for an appended kind (episodes) every put adds
    one. A session save replaces the head and all messages, not the memory or the mood; a
    save with ``if_absent`` (``insert_session``, used by the client's ``create_session``)
    stores nothing when the id is taken, checked atomically with the write.
    Returns per write whether it changed something (for a delete: whether it existed; for
    a save ``if_absent``: whether it was stored).
``_get(key)`` / ``_list(kind, owner, where)``
    One document, or the documents of an owner in the order first put — always fresh
    copies the caller may change. ``where`` may narrow a list natively; it is filtered
    again by the caller.
``_load_session(session_id)``
    The head (with ``last_active`` and ``conversation.updated_at`` of the latest append),
    the messages in order and the memory documents, as one consistent read.
``_append_messages(session_id, messages, last_active, at)``
    Append after the stored messages and touch the head, atomically; return the count
    stored before (``None``: no such session). With ``at``, append only when exactly
    ``at`` messages are stored — so a re-sent append (whose reply was lost) never stores
    a turn twice.
``_session_heads(user_id)``
    Per session a :class:`~._documents.SessionHead`: the head and message count, read
    lazily so one unreadable session is left out of a listing alone.
``_delete_session(session_id)``, ``_list_users()``, ``_delete_user(user_id)``
    What the names say; a user's data includes the moods that name the user.
``_read_metadata()`` / ``_swap_metadata(expected, record)``
    One small JSON text per store, written only if the stored text equals ``expected``
    (``None``: nothing stored yet), atomically. Stored as plain text: it is read before
    an encryption key exists.

Embeddings
----------
``save_embedding`` stores the vector as little-endian float32 bytes with its ``dimension``
and the embedder's ``model_id`` (:mod:`._vectors`), never as JSON numbers. Unencrypted,
the bytes sit beside the JSON document: a ``BYTEA`` column on PostgreSQL, a BSON binary
field on MongoDB, a ``FLOAT[]`` column on DuckDB, a hash of raw values
(``<prefix>u:<user>:vec``) on Redis, a bytes field of the in-process document in memory;
the file backend keeps base64 text inside its JSON user file. ``get_embeddings`` and search
results give ``"vector"`` as a list of floats (float32 values). Vectors written before as
JSON lists or base64 text still read and are rewritten when saved again.

``search_embeddings`` is exact cosine over a float32 matrix
(:class:`._vectors.VectorMatrix`: one matrix product, ``argpartition`` for the top k).
The memory, file, DuckDB and Redis backends keep each recently searched user's matrix
(:class:`._vector_cache.VectorCache`) under a token that every embedding write changes —
a version counter in memory and, per process, on DuckDB; the user file's identity and size
for the file backend, so another process's write is seen; a random value written with
each change on Redis, checked with one ``GET`` — so a search reads no vector again until
the user's embeddings change. On the memory and DuckDB backends, whose every write passes
through this process, a change also logs the items it touched
(:class:`._vector_cache.VectorChanges`), and the next search reads only those rows and
updates the matrix instead of reading all of them again. PostgreSQL and MongoDB read the
bytes and rank them per search (:meth:`.Storage._nearest`).

With encryption on, the trade-off chosen is **vectors encrypted with their text**: a vector
is inside its encrypted document (bound to its place like any other), so nothing about
the memories — not even their vectors, from which the text can be partly recovered — is
readable at rest, on disk or on the server. The price: a user's embedding documents are
decrypted (AES-GCM, about a microsecond per kilobyte) to build the matrix, and the
decrypted matrix of recently searched users is held in process memory (never written
anywhere) until their embeddings change.

Natively, a backend may also override ``_episodes`` (the selection of ``get_episodes``)
and ``_nearest`` (the ranking of ``search_embeddings``, where it can cache or rank in the
engine).

The conformance suite (``tests/storage/test_conformance.py``) runs every backend in every
codec mode through the same assertions; add the new backend to its fixture.
"""

from .base import AppendConflict, ConversationStorage, Storage, StorageV11Extension
from .factory import available_backends, create_storage
from .memory import InMemoryStorage, InMemoryStorageV11

__all__ = [
    "AppendConflict",
    "ConversationStorage",
    "InMemoryStorage",
    "InMemoryStorageV11",
    "Storage",
    "StorageV11Extension",
    "available_backends",
    "create_storage",
]
