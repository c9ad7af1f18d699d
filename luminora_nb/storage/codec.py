"""The one document codec of every storage backend: JSON, optional compression and encryption.

Every document a backend stores (a session, a message, a fact, ...) is a JSON object.
:class:`DocumentCodec` turns it into bytes and back:

``encode``: ``dict`` -> JSON (UTF-8, never pickle) -> zlib (if ``compression_enabled``)
-> AES-256-GCM (if ``encryption_enabled``).

Stored forms:

* **plain** — the UTF-8 JSON text itself, so it begins with ``{``. This is what every
  backend wrote before compression/encryption were switched on, and it always reads back.
* **enveloped** — a 5-byte header, then the payload::

      b"LNC" | version (1 byte: 1 or 2) | flags (1 byte: bit 0 = zlib, bit 1 = AES-GCM)

  With bit 1 set the payload is a random 96-bit nonce followed by the AES-GCM
  ciphertext and its 16-byte tag. Without bit 1 the payload is the (compressed) JSON,
  written as version 1 (there is nothing to authenticate).

Codec v2 (version byte 2, every encrypted document written now) authenticates as
associated data the header, the backend kind (``StorageConfig.storage_type``) and the
document's **place** — the ``at`` argument of :meth:`DocumentCodec.encode` and
:meth:`DocumentCodec.decode`, which each backend builds from what identifies the row as
stored (see :func:`._documents.place`): a session's head (``["session", id]``), its
messages (``["message", id]``; not their position), a memory value, fact, affinity or
embedding (kind, owner and stored name digest), a file backend document (its file). A
document copied to another row, session, user or backend fails to decrypt with a
:class:`~luminora_nb.errors.StorageError` that says so. Version 1 (the previous codec)
authenticated the header only: its documents still read wherever they are, and each is
rewritten as version 2 when next written. Flipping a flag or the version is detected like
any other tampering. Not bound: the order of a session's messages among themselves, and
an episode's place among the same user's episodes on Redis and PostgreSQL.

Names kept as digests (memory keys, fact categories and keys, personality names, item ids;
see the backends) are, with encryption on, a keyed HMAC-SHA-256 (:meth:`DocumentCodec.name_digest`,
its key derived from the encryption key), so a guessed name cannot be tested against the
store without the key; stores written by codec v1 have unkeyed SHA-256 digests, moved once
at ``initialize`` (:meth:`.base.Storage._migrate_names`).
* **text** — :meth:`DocumentCodec.encode_text` gives plain JSON text when the codec is
  plain, else the URL-safe base64 of the enveloped form, for stores that hold text only.

Encryption keys, given as ``StorageConfig(encryption_key=...)`` or the
``LUMINORA_ENCRYPTION_KEY`` environment variable, take one of three forms:

* 32 random bytes in URL-safe or standard base64 (44 characters; a Fernet key has this
  form too) — used as the AES-256 key directly. Make one with
  ``base64.urlsafe_b64encode(os.urandom(32)).decode()``;
* 64 hexadecimal characters — the 32 key bytes in hex;
* anything else is a passphrase: the key is derived with scrypt (n=2**14, r=8, p=1,
  32 bytes). A store keeps its own random 16-byte salt in its metadata record, written
  when it is first opened with encryption (see :mod:`._keys`); a store written before
  that keeps the fixed salt ``b"luminora_nb/storage/codec/v1"``, extended with
  ``config.extra["encryption_salt"]`` when given. A key of only whitespace is refused.

With encryption on, documents that are not encrypted are refused (an attacker with
write access to the store could otherwise plant them); to migrate a store written
without encryption, set ``config.extra["allow_unencrypted_reads"] = True`` until every
document has been rewritten.

A wrong key, a flipped byte or a truncated document raises
:class:`~luminora_nb.errors.StorageError` naming the document, never garbage. The key
never appears in any message, ``repr`` or stored byte.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> codec = DocumentCodec.from_config(StorageConfig(compression_enabled=True))
    >>> codec.decode(codec.encode({"greeting": "héllo"}), what="session 's1'")
    {'greeting': 'héllo'}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import zlib
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..errors import StorageError
from ..types.session import StorageConfig

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ENCRYPTION_KEY_ENV",
    "KDF_SALT",
    "MAGIC",
    "DocumentCodec",
    "json_default",
    "legacy_salt",
]

#: Environment variable read when ``StorageConfig.encryption_key`` is not set.
ENCRYPTION_KEY_ENV = "LUMINORA_ENCRYPTION_KEY"
#: Fixed salt of the passphrase KDF of stores written before per-store salts (extended by
#: ``config.extra["encryption_salt"]``); newer stores keep a random salt in their metadata.
KDF_SALT = b"luminora_nb/storage/codec/v1"
#: First bytes of every enveloped (compressed and/or encrypted) document.
MAGIC = b"LNC"

_VERSION = 2
_V1 = 1
_NAMES_INFO = b"luminora_nb/storage/names/v2"
_FLAG_ZLIB = 0x01
_FLAG_AESGCM = 0x02
_KNOWN_FLAGS = _FLAG_ZLIB | _FLAG_AESGCM
_HEADER_LEN = len(MAGIC) + 2
_NONCE_LEN = 12
_TAG_LEN = 16
_ZLIB_LEVEL = 6
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
# What a native JSON field (PostgreSQL JSONB, a BSON document) cannot hold: unpaired
# surrogates (not UTF-8), and for JSONB also the NUL character (escaped as \u0000 in JSON).
_SURROGATE = re.compile("[\\ud800-\\udfff]")
_KEY_CHECK = {"luminora_nb": "key check"}
_B64_KEY = re.compile(r"^[A-Za-z0-9+/_-]{43}=?$")


def json_default(value: Any) -> Any:
    """``json.dumps`` hook: datetimes and dates as ISO 8601, enums by value, sets as lists.

    Example:
        >>> import json, datetime
        >>> json.dumps({"at": datetime.date(2024, 5, 1)}, default=json_default)
        '{"at": "2024-05-01"}'
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class DocumentCodec:
    """Encodes JSON documents for storage and decodes them back, verifying them.

    Build one per storage instance with :meth:`from_config`; it is cheap to use from
    many tasks and threads at once (it holds no mutable state).

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> import base64
        >>> key = base64.urlsafe_b64encode(bytes(range(32))).decode()
        >>> codec = DocumentCodec.from_config(StorageConfig(encryption_enabled=True, encryption_key=key))
        >>> blob = codec.encode({"n": 1})
        >>> blob[:3], codec.decode(blob, what="document 'x'")
        (b'LNC', {'n': 1})
    """

    __slots__ = ("_aead", "_allow_unencrypted", "_compress", "_encrypt", "_names_key", "_scope", "_version")

    def __init__(
        self,
        *,
        compress: bool = False,
        key: bytes | None = None,
        allow_unencrypted_reads: bool = False,
        scope: str = "",
        format_version: int = _VERSION,
    ) -> None:
        """Build a codec from explicit settings; most callers want :meth:`from_config`.

        Args:
            compress: Compress documents with zlib.
            key: The 32-byte AES-256 key, or ``None`` for no encryption.
            allow_unencrypted_reads: With a key, still read documents stored unencrypted.
            scope: The backend kind (``"redis"``, ...), authenticated with every document.
            format_version: ``1`` writes what the previous codec wrote (documents not bound to
                their place, names digested unkeyed): for tests of reading and migrating it.
        """
        if format_version not in (_V1, _VERSION):
            raise StorageError(
                f"storage codec: format_version must be 1 or {_VERSION}, not {format_version!r}"
            )
        self._version = format_version
        self._compress = compress
        self._encrypt = key is not None
        self._allow_unencrypted = allow_unencrypted_reads
        self._aead: AESGCM | None = None
        self._scope = scope
        self._names_key: bytes | None = None
        if key is not None:
            if len(key) != 32:
                raise StorageError("storage codec: the AES-256 encryption key must be exactly 32 bytes")
            try:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError:  # pragma: no cover - cryptography is a declared extra
                raise StorageError(
                    "storage encryption needs the 'cryptography' package; "
                    "install it with: pip install 'luminora_nb[encryption]'"
                ) from None
            self._aead = AESGCM(key)
            # A separate key for name digests, derived from the AES key (never the key itself).
            if format_version == _VERSION:
                self._names_key = hmac.new(key, _NAMES_INFO, hashlib.sha256).digest()

    @classmethod
    def from_config(
        cls, config: StorageConfig, *, kdf_salt: bytes | None = None, format_version: int = _VERSION
    ) -> DocumentCodec:
        """The codec a :class:`StorageConfig` asks for.

        ``kdf_salt``: the store's own salt for a passphrase (kept in its metadata record, see
        :mod:`._keys`); ``None``: the fixed salt of stores written before per-store salts
        (extended by ``config.extra["encryption_salt"]``). Raw keys use no salt.

        Raises:
            StorageError: encryption is enabled but no key is configured (neither
                ``encryption_key`` nor ``LUMINORA_ENCRYPTION_KEY``), or the key is only
                whitespace.

        Example:
            >>> from luminora_nb.types import StorageConfig
            >>> DocumentCodec.from_config(StorageConfig()).is_plain
            True
        """
        key: bytes | None = None
        if config.encryption_enabled:
            secret = config.encryption_key or os.environ.get(ENCRYPTION_KEY_ENV)
            if not secret:
                raise StorageError(
                    f"{config.storage_type.value} storage: encryption_enabled is set but no encryption key "
                    f"is configured; pass StorageConfig(encryption_key=...) or set the {ENCRYPTION_KEY_ENV} "
                    "environment variable (e.g. to base64.urlsafe_b64encode(os.urandom(32)).decode())"
                )
            if not secret.strip():
                # A blank passphrase (an unset variable expanded to spaces, a stray newline)
                # would derive a key anyone can derive: never encrypt with it.
                raise StorageError(
                    f"{config.storage_type.value} storage: the encryption key is only whitespace; use "
                    "32 random bytes in base64 (base64.urlsafe_b64encode(os.urandom(32)).decode()), 64 "
                    "hexadecimal characters, or a real passphrase"
                )
            key = _resolve_key(secret, legacy_salt(config) if kdf_salt is None else kdf_salt)
        return cls(
            compress=config.compression_enabled,
            key=key,
            allow_unencrypted_reads=bool(config.extra.get("allow_unencrypted_reads", False)),
            scope=config.storage_type.value,
            format_version=format_version,
        )

    # -- properties ------------------------------------------------------------------
    @property
    def is_plain(self) -> bool:
        """True when neither compression nor encryption is on (documents are JSON text)."""
        return not (self._compress or self._encrypt)

    @property
    def compressed(self) -> bool:
        """Whether new documents are compressed."""
        return self._compress

    @property
    def encrypted(self) -> bool:
        """Whether new documents are encrypted."""
        return self._encrypt

    def __repr__(self) -> str:
        return f"<DocumentCodec compressed={self._compress} encrypted={self._encrypt}>"

    # -- name digests ----------------------------------------------------------------
    def name_digest(self, *parts: str) -> str:
        """A field name for a tuple of names that reveals none of them.

        With encryption on, a keyed HMAC-SHA-256 (its key derived from the encryption key), so
        no one without the key can test a guessed name against the store; without, the plain
        SHA-256 digest of :func:`._names.name_digest` (the names are in the clear anyway).

        Example:
            >>> from luminora_nb.storage._names import name_digest
            >>> DocumentCodec().name_digest("u1", "aurora") == name_digest("u1", "aurora")
            True
        """
        data = json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")
        if self._names_key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._names_key, data, hashlib.sha256).hexdigest()

    @property
    def keyed_names(self) -> bool:
        """Whether :meth:`name_digest` is keyed (differs from the unkeyed digests of codec v1)."""
        return self._names_key is not None

    # -- key checks ------------------------------------------------------------------
    def key_check(self) -> str:
        """A check of this codec's key to keep with the store: an encryption of a constant."""
        return base64.urlsafe_b64encode(self.encode(_KEY_CHECK, what="the key check")).decode("ascii")

    def opens(self, key_check: str) -> bool:
        """Whether ``key_check`` (from :meth:`key_check`) was made with this codec's key."""
        try:
            blob = base64.urlsafe_b64decode(key_check.encode("ascii"))
            return self.decode(blob, what="the key check") == _KEY_CHECK
        except (StorageError, binascii.Error, ValueError, UnicodeEncodeError):
            return False

    @staticmethod
    def is_sealed(data: object) -> bool:
        """Whether stored ``data`` is an encrypted envelope (raw, or its base64 text form).

        Example:
            >>> DocumentCodec.is_sealed(b'{"a": 1}'), DocumentCodec.is_sealed({"a": 1})
            (False, False)
        """
        if isinstance(data, str):
            data = data.encode("ascii", "replace")
        if not isinstance(data, bytes | bytearray | memoryview):
            return False  # a native document (BSON, JSONB)
        blob = bytes(data)
        if blob[:4] == b"TE5D":  # base64 text of an envelope
            try:
                blob = base64.urlsafe_b64decode(blob.strip())
            except (binascii.Error, ValueError):
                return False
        return blob.startswith(MAGIC) and len(blob) > 4 and bool(blob[4] & _FLAG_AESGCM)

    # -- encoding --------------------------------------------------------------------
    def dumps(self, document: Mapping[str, Any], *, what: str = "document") -> str:
        """The document as compact JSON text (no compression, no encryption).

        Raises:
            StorageError: the document holds a value JSON cannot represent.
        """
        if not isinstance(document, Mapping):
            raise StorageError(f"{what} must be a JSON object (a mapping), not {type(document).__name__}")
        try:
            return json.dumps(
                document, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=json_default
            )
        except (TypeError, ValueError) as exc:
            raise StorageError(
                f"{what} is not JSON-serialisable ({exc}); store plain data "
                "(str, int, float, bool, None, lists and dicts)"
            ) from None

    def encode(self, document: Mapping[str, Any], *, what: str = "document", at: str = "") -> bytes:
        """Bytes to store for ``document``.

        Text that UTF-8 cannot hold (an unpaired surrogate such as ``"\\ud800"``, valid in a
        Python ``str``) is stored in plain mode as ASCII-escaped JSON, which reads back to
        the very same strings.

        Raises:
            StorageError: the document is not JSON-serialisable, or it holds an unpaired
                surrogate and the codec compresses or encrypts (the message names ``what``).
        """
        return self.encode_json(self._utf8_json(document, what=what), what=what, at=at)

    def encode_json(self, raw: bytes, *, what: str = "document", at: str = "") -> bytes:
        """Bytes to store for a document already serialised as UTF-8 JSON text.

        For callers that serialise faster themselves (e.g. pydantic's ``model_dump_json``);
        ``raw`` must be one JSON object. :meth:`decode` reads the result like any other.

        Example:
            >>> from luminora_nb.types import StorageConfig
            >>> codec = DocumentCodec.from_config(StorageConfig(compression_enabled=True))
            >>> codec.decode(codec.encode_json(b'{"n":1}'), what="document 'n'")
            {'n': 1}

        Raises:
            StorageError: ``raw`` is not a JSON object (it must start with ``{``).
        """
        if raw[:1] != b"{":
            raise StorageError(f"{what} must be serialised as a JSON object, not {bytes(raw[:20])!r}...")
        if self.is_plain:
            return raw
        flags = 0
        if self._compress:
            raw = zlib.compress(raw, _ZLIB_LEVEL)
            flags |= _FLAG_ZLIB
        if self._encrypt:
            flags |= _FLAG_AESGCM
            assert self._aead is not None
            header = MAGIC + bytes((self._version, flags))
            nonce = os.urandom(_NONCE_LEN)
            associated = header if self._version == _V1 else self._associated(header, at)
            return header + nonce + self._aead.encrypt(nonce, raw, associated)
        return MAGIC + bytes((_V1, flags)) + raw  # no associated data: readable by version-1 codecs

    def encode_text(self, document: Mapping[str, Any], *, what: str = "document", at: str = "") -> str:
        """Text to store for ``document``: JSON when plain, else URL-safe base64 of the bytes."""
        if self.is_plain:
            return self._utf8_json(document, what=what).decode("utf-8")
        return base64.urlsafe_b64encode(self.encode(document, what=what, at=at)).decode("ascii")

    def json_text(self, document: Mapping[str, Any], *, what: str, allow_nul: bool = True) -> str | None:
        """The document as JSON text for a native JSON field, or ``None`` to store :meth:`encode` bytes.

        Backends with a queryable JSON field (PostgreSQL ``JSONB``, a BSON sub-document) put a
        document there when this gives text, else the codec's bytes in a binary field: when
        the codec compresses or encrypts, when the text holds an unpaired surrogate (not
        UTF-8), or a NUL character and ``allow_nul`` is off (``JSONB`` cannot hold one).

        Raises:
            StorageError: the document is not JSON-serialisable.

        Example:
            >>> from luminora_nb.types import StorageConfig
            >>> codec = DocumentCodec.from_config(StorageConfig())
            >>> codec.json_text({"a": "x"}, what="doc")
            '{"a":"x"}'
            >>> codec.json_text({"a": "\\x00"}, what="doc", allow_nul=False) is None
            True
        """
        if not self.is_plain:
            self.dumps(document, what=what)  # refuse what JSON cannot represent, like encode
            return None
        text = self.dumps(document, what=what)
        if _SURROGATE.search(text) or (not allow_nul and "\\u0000" in text):
            return None
        return text

    def _utf8_json(self, document: Mapping[str, Any], *, what: str) -> bytes:
        """The document as UTF-8 JSON bytes (ASCII-escaped in plain mode if UTF-8 cannot hold it)."""
        text = self.dumps(document, what=what)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        if not self.is_plain:
            raise StorageError(
                f"{what} holds text with an unpaired surrogate (such as '\\ud800') that compressed or "
                "encrypted storage cannot encode; store valid Unicode text"
            )
        # Python's json reads \udXXX escapes back to the very same (unpaired) surrogates.
        return json.dumps(
            document, ensure_ascii=True, separators=(",", ":"), allow_nan=False, default=json_default
        ).encode("ascii")

    # -- decoding --------------------------------------------------------------------
    def decode(
        self, data: bytes | bytearray | memoryview | str, *, what: str, at: str = ""
    ) -> dict[str, Any]:
        """The document stored as ``data`` (any form this codec or an older one wrote).

        Args:
            data: Stored bytes or text.
            what: Names the document in errors, e.g. ``"session 's1'"``.
            at: Where it is stored (the ``at`` it was encoded with; see the module docstring).

        Raises:
            StorageError: the data is corrupt, not a JSON object, encrypted under another
                key, tampered with, or encrypted while this codec has no key.
        """
        return self._parse(self.decode_json(data, what=what, at=at), what=what)

    def decode_json(self, data: bytes | bytearray | memoryview | str, *, what: str, at: str = "") -> bytes:
        """The JSON text of the document stored as ``data``: decrypted, verified, decompressed.

        Like :meth:`decode` but without parsing, for callers that parse (and validate) the
        JSON faster themselves, e.g. with pydantic's ``model_validate_json``. The text is
        not checked to be a valid JSON object: the caller's parser does that.

        Raises:
            StorageError: the data is neither JSON nor an encoded document, is encrypted
                under another key, tampered with, or encrypted while this codec has no key.

        Example:
            >>> from luminora_nb.types import StorageConfig
            >>> codec = DocumentCodec.from_config(StorageConfig(compression_enabled=True))
            >>> codec.decode_json(codec.encode({"n": 1}), what="document 'n'")
            b'{"n":1}'
        """
        if isinstance(data, str):
            stripped = data.lstrip()
            if stripped.startswith("{"):
                return self._load_plain(stripped.encode("utf-8", "surrogatepass"), what=what)
            try:
                blob = base64.urlsafe_b64decode(stripped.encode("ascii"))
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise self._corrupt(what, "it is neither JSON nor an encoded document") from None
        else:
            blob = bytes(data)
        if blob.startswith(MAGIC):
            return self._load_envelope(blob, what=what, at=at)
        if blob.lstrip().startswith(b"{"):
            return self._load_plain(blob, what=what)
        if blob[:4] == b"TE5D":  # base64 text form stored in a bytes column
            try:
                return self._load_envelope(base64.urlsafe_b64decode(blob), what=what, at=at)
            except binascii.Error:
                pass
        raise self._corrupt(what, "it is neither JSON nor an encoded document")

    def decode_native(self, document: object, *, what: str) -> dict[str, Any]:
        """A document a backend stored natively (a BSON sub-document), checked like :meth:`decode`.

        Raises:
            StorageError: it is not a JSON object, or it is stored unencrypted while
                encryption is on (see :meth:`decode`).
        """
        if not isinstance(document, dict):
            raise self._corrupt(what, "it has no document")
        self._refuse_unencrypted(what)
        return document

    def _refuse_unencrypted(self, what: str) -> None:
        if self._encrypt and not self._allow_unencrypted:
            raise StorageError(
                f"{what} is stored unencrypted but encryption is enabled; refusing to read it (it may have "
                "been planted). To migrate a store written without encryption set "
                "StorageConfig(extra={'allow_unencrypted_reads': True}) until every document is rewritten"
            )

    def _load_plain(self, raw: bytes, *, what: str) -> bytes:
        self._refuse_unencrypted(what)
        return raw

    def _load_envelope(self, blob: bytes, *, what: str, at: str) -> bytes:
        if len(blob) < _HEADER_LEN:
            raise self._corrupt(what, "it is truncated")
        version, flags = blob[3], blob[4]
        if version not in (_V1, _VERSION):
            raise StorageError(
                f"{what} was written by a newer storage codec (format version {version}); "
                "upgrade luminora_nb to read it"
            )
        if flags & ~_KNOWN_FLAGS:
            raise self._corrupt(what, f"its header has unknown flags {flags:#04x}")
        header, payload = blob[:_HEADER_LEN], blob[_HEADER_LEN:]
        if flags & _FLAG_AESGCM:
            if self._aead is None:
                raise StorageError(
                    f"{what} is encrypted but this storage has no encryption configured; set "
                    f"StorageConfig(encryption_enabled=True, encryption_key=...) or {ENCRYPTION_KEY_ENV}"
                )
            if len(payload) < _NONCE_LEN + _TAG_LEN:
                raise self._undecryptable(what)
            from cryptography.exceptions import InvalidTag

            try:
                # Version 1 authenticated the header only; version 2 also the document's place.
                associated = header if version == _V1 else self._associated(header, at)
                payload = self._aead.decrypt(payload[:_NONCE_LEN], payload[_NONCE_LEN:], associated)
            except InvalidTag:
                raise self._undecryptable(what, moved=version != _V1) from None
        else:
            self._refuse_unencrypted(what)
        if flags & _FLAG_ZLIB:
            try:
                payload = zlib.decompress(payload)
            except zlib.error:
                raise self._corrupt(what, "its compressed data is damaged") from None
        return payload

    @staticmethod
    def _parse(raw: bytes, *, what: str) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DocumentCodec._corrupt(what, f"it is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise DocumentCodec._corrupt(what, f"it holds a JSON {type(value).__name__}, not an object")
        return value

    @staticmethod
    def _corrupt(what: str, reason: str) -> StorageError:
        return StorageError(
            f"{what} is corrupt and could not be read: {reason}; restore it from a backup or delete it"
        )

    def _associated(self, header: bytes, at: str) -> bytes:
        """The associated data of a version-2 document: its header, backend kind and place."""
        scope = self._scope.encode("utf-8")
        return header + len(scope).to_bytes(2, "big") + scope + at.encode("utf-8", "surrogatepass")

    @staticmethod
    def _undecryptable(what: str, *, moved: bool = False) -> StorageError:
        cause = "wrong encryption key, tampered data, or a document copied from another place"
        return StorageError(
            f"{what} could not be decrypted: {cause if moved else 'wrong encryption key or tampered data'}; "
            "check "
            f"StorageConfig.encryption_key / {ENCRYPTION_KEY_ENV} (and extra['encryption_salt'] for a "
            "passphrase), or restore the document from a backup"
        )


def legacy_salt(config: StorageConfig) -> bytes:
    """The passphrase salt of stores written before per-store salts: fixed, plus ``extra["encryption_salt"]``.

    Raises:
        StorageError: ``extra["encryption_salt"]`` is neither text nor bytes.
    """
    suffix = config.extra.get("encryption_salt", "")
    if not isinstance(suffix, str | bytes):
        raise StorageError("storage codec: config.extra['encryption_salt'] must be a string or bytes")
    return KDF_SALT + (suffix.encode() if isinstance(suffix, str) else bytes(suffix))


def _resolve_raw(text: str) -> bytes:
    """The raw key bytes a key string spells (hex or base64 of 32 bytes), else ``b""``."""
    if _HEX_KEY.match(text):
        return bytes.fromhex(text)
    if _B64_KEY.match(text):
        padded = text if text.endswith("=") else text + "="
        try:
            raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return raw
    return b""


def _resolve_key(secret: str, salt: bytes) -> bytes:
    """The 32-byte AES key of a configured key string (see the module docstring)."""
    text = secret.strip()
    raw = _resolve_raw(text)
    if raw:
        return raw
    return _derive_from_passphrase(hashlib.sha256(text.encode("utf-8")).digest(), text.encode("utf-8"), salt)


_KDF_CACHE: dict[tuple[bytes, bytes], bytes] = {}
_KDF_CACHE_MAX = 16


def _derive_from_passphrase(digest: bytes, passphrase: bytes, salt: bytes) -> bytes:
    # scrypt costs ~50 ms; cache derived keys per (passphrase digest, salt) so opening many
    # stores with one passphrase stays fast. The cache lives in this process only.
    cached = _KDF_CACHE.get((digest, salt))
    if cached is not None:
        return cached
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(passphrase)
    if len(_KDF_CACHE) >= _KDF_CACHE_MAX:
        _KDF_CACHE.pop(next(iter(_KDF_CACHE)))
    _KDF_CACHE[(digest, salt)] = key
    return key
