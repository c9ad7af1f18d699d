"""The key check an encrypted store keeps, verified at ``initialize()``.

An encrypted store keeps, in its metadata record (plain JSON: it is read before any key
is trusted), under the reserved field :data:`CODEC_FIELD`::

    {"format": 1, "kdf_salt": "<base64 of 16 random bytes>",
     "key_check": "<base64 of an AES-GCM encryption of a constant>", "names": "hmac-sha256"}

``"names"`` says the store's name digests are keyed (codec v2); a store without it has the
unkeyed digests of codec v1, which :meth:`.Storage._migrate_names` rewrites once.

:func:`check_key` runs once per ``initialize`` and gives the codec to use:

* **a key check is stored** — the codec, built with the store's salt (a passphrase is
  derived with it), must open it; a wrong key is refused with
  :class:`~luminora_nb.errors.StorageError` before anything is read or written (it used
  to list ``[]`` with a log warning and write new documents under a second key);
* **no key check, no document** (a new store) — a random salt is drawn and the key check
  written with compare-and-set: of two processes setting up one store, the second finds
  the first one's record and is checked against it;
* **no key check, documents** (a store written before key checks) — the key, derived
  with the old fixed salt (:func:`.codec.legacy_salt`), is checked against the store's
  first document, then the key check is recorded without a salt field (the store keeps
  the fixed salt). A first document stored unencrypted is accepted only with
  ``extra={"allow_unencrypted_reads": True}`` (encrypting a plain store).

Opened *without* encryption, a store whose record holds a key check is refused: none of
its documents would read, and new ones would be written in the clear beside them. A store
opened read-only (the file backend's ``read_only``) is checked the same way, and nothing
is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StorageError
from ..types.session import StorageConfig
from .codec import ENCRYPTION_KEY_ENV, DocumentCodec

__all__ = ["CODEC_FIELD", "Sample", "check_key", "public_record"]

#: The field of the metadata record the storage owns (hidden from ``read_metadata``).
CODEC_FIELD = "luminora_codec"
#: The codec field's ``"names"`` once the store's name digests are keyed HMACs (codec v2);
#: absent in stores written before, whose unkeyed digests are migrated at ``initialize``.
NAMES_KEYED = "hmac-sha256"
_FORMAT = 1
_ATTEMPTS = 10
_SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class Sample:
    """A stored document to check a key against: its raw stored form, and its name in errors."""

    data: Any
    what: str


def public_record(text: str | None) -> tuple[dict[str, Any], Any]:
    """The metadata record without the storage's field, and that field (``None`` if absent).

    Example:
        >>> public_record('{"a": 1, "luminora_codec": {"format": 1}}')
        ({'a': 1}, {'format': 1})
    """
    record: dict[str, Any] = {} if text is None else json.loads(text)
    return record, record.pop(CODEC_FIELD, None)


async def check_key(
    label: str,
    config: StorageConfig,
    codec: DocumentCodec,
    *,
    read: Callable[[], Awaitable[str | None]],
    swap: Callable[[str | None, str], Awaitable[bool]],
    first_document: Callable[[], Awaitable[Sample | None]],
    read_only: bool = False,
) -> DocumentCodec:
    """The codec to open the store with, its key checked (see the module docstring).

    ``codec`` is the config's codec (the fixed salt); ``read``/``swap`` are the backend's
    metadata primitives, ``first_document`` gives any stored document (``None`` for an
    empty store); ``label`` names the storage in errors.

    Raises:
        StorageError: the key does not open the store; the store is encrypted and opened
            without encryption; or it holds unencrypted documents and encryption is on
            without ``allow_unencrypted_reads``.
    """
    if not codec.encrypted:
        _, part = public_record(await read())
        if isinstance(part, Mapping) and part.get("key_check"):
            raise StorageError(
                f"{label}: this store is encrypted (its metadata holds a key check) but encryption is "
                "off; set StorageConfig(encryption_enabled=True) with its encryption_key or "
                f"{ENCRYPTION_KEY_ENV}"
            )
        return codec
    for _ in range(_ATTEMPTS):
        text = await read()
        record, part = public_record(text)
        if isinstance(part, Mapping) and part.get("key_check"):
            return _checked(label, config, codec, part)
        sample = await first_document()
        if sample is None:  # a new store: its own random salt
            salt: bytes | None = os.urandom(_SALT_BYTES)
            keyed = DocumentCodec.from_config(config, kdf_salt=salt)
        else:  # written before key checks: the fixed salt, checked against a document
            salt, keyed = None, codec
            _check_sample(label, codec, sample, config)
        if read_only:
            return keyed
        part = {"format": _FORMAT, "key_check": keyed.key_check()}
        if sample is None:  # a new store has no unkeyed digests to migrate
            part["names"] = NAMES_KEYED
        if salt is not None:
            part["kdf_salt"] = base64.b64encode(salt).decode("ascii")
        new = json.dumps({**record, CODEC_FIELD: part}, sort_keys=True, separators=(",", ":"))
        if await swap(text, new):
            return keyed
        # another process set the store up meanwhile: check the key against its record
    raise StorageError(f"{label}: could not set up the key check: the metadata record kept changing; retry")


def _checked(
    label: str, config: StorageConfig, codec: DocumentCodec, part: Mapping[str, Any]
) -> DocumentCodec:
    """The codec of a store with a key check (built with its salt, if it has one), or the wrong-key error."""
    if part.get("kdf_salt"):
        try:
            salt = base64.b64decode(str(part["kdf_salt"]), validate=True)
        except (binascii.Error, ValueError):
            raise StorageError(
                f"{label}: the store's key check is damaged (its salt is not base64); restore the "
                "metadata record from a backup"
            ) from None
        codec = DocumentCodec.from_config(config, kdf_salt=salt)
    if not codec.opens(str(part["key_check"])):
        raise _wrong_key(label, "its key check")
    return codec


def _check_sample(label: str, codec: DocumentCodec, sample: Sample, config: StorageConfig) -> None:
    """Check the key against a stored document of a store without a key check."""
    if not DocumentCodec.is_sealed(sample.data):
        if config.extra.get("allow_unencrypted_reads"):
            return  # encrypting a store written without encryption
        raise StorageError(
            f"{label}: the store holds documents written without encryption ({sample.what}) but "
            "encryption is on; to encrypt it, set StorageConfig(extra={'allow_unencrypted_reads': True}) "
            "until every document is rewritten, or open it without encryption"
        )
    try:
        codec.decode_json(sample.data, what=sample.what)
    except StorageError:
        raise _wrong_key(label, sample.what) from None


def _wrong_key(label: str, what: str) -> StorageError:
    return StorageError(
        f"{label}: the encryption key does not open this store (it cannot decrypt {what}); check "
        f"StorageConfig.encryption_key / {ENCRYPTION_KEY_ENV} (and extra['encryption_salt'] for a "
        "passphrase). Nothing was read or written"
    )
