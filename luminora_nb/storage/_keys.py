"""The key check an encrypted store keeps, verified at ``initialize()``.

An encrypted store keeps, in its metadata record (plain JSON: it is read before any key
is trusted), under the reserved field :data:`CODEC_FIELD`::

    {"format": 1, "key_check": "<base64 of an AES-GCM encryption of a constant>"}

:func:`check_key` runs once per ``initialize``:

* **a key check is stored** — the codec must open it; a wrong key is refused with
  :class:`~luminora_nb.errors.StorageError` before anything is read or written (it used
  to list ``[]`` with a log warning and write new documents under a second key);
* **no key check** — the key is checked against the store's first document, if any (a
  store written before key checks), then the key check is written with compare-and-set:
  of two processes setting up one store, the second finds the first one's check and is
  checked against it. A first document stored unencrypted is accepted only with
  ``extra={"allow_unencrypted_reads": True}`` (encrypting a plain store).

Opened *without* encryption, a store whose record holds a key check is refused: none of
its documents would read, and new ones would be written in the clear beside them. A store
opened read-only (the file backend's ``read_only``) is checked the same way, and nothing
is written.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import StorageError
from ..types.session import StorageConfig
from .codec import ENCRYPTION_KEY_ENV, DocumentCodec

__all__ = ["CODEC_FIELD", "Sample", "check_key", "public_record"]

#: The field of the metadata record the storage owns (hidden from ``read_metadata``).
CODEC_FIELD = "luminora_codec"
_FORMAT = 1
_ATTEMPTS = 10


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
) -> None:
    """Check ``codec``'s key against the store (see the module docstring).

    ``read``/``swap`` are the backend's metadata primitives, ``first_document`` gives any
    stored document (``None`` for an empty store); ``label`` names the storage in errors.

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
        return
    for _ in range(_ATTEMPTS):
        text = await read()
        record, part = public_record(text)
        if isinstance(part, Mapping) and part.get("key_check"):
            if not codec.opens(str(part["key_check"])):
                raise _wrong_key(label, "its key check")
            return
        sample = await first_document()
        if sample is not None:  # written before key checks: check the key against a document
            _check_sample(label, codec, sample, config)
        if read_only:
            return
        part = {"format": _FORMAT, "key_check": codec.key_check()}
        new = json.dumps({**record, CODEC_FIELD: part}, sort_keys=True, separators=(",", ":"))
        if await swap(text, new):
            return
        # another process set the store up meanwhile: check the key against its record
    raise StorageError(f"{label}: could not set up the key check: the metadata record kept changing; retry")


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
