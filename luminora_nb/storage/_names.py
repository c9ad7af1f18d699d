"""Names the backends derive from ids and URLs: hashed field names, and URLs fit for messages.

The rules live here so that every backend follows the same ones:

* :func:`name_digest` — a name that reveals nothing (memory keys, personality names, fact
  categories and keys, item ids), so an encrypted store keeps no readable name;
* :func:`checked_identifier`, :func:`checked_key_prefix`, :func:`quoted` — the names a
  backend builds SQL, collection names or keys from (``table_name``, ``key_prefix``),
  checked again where they are used: a config changed with ``model_copy(update=...)``
  or by assignment skipped the model's validators;
* :func:`redacted_url` and :func:`scrub_credentials` — a connection string without its
  credentials, and a driver's error message without the password, for every message we
  raise. The password is the secret: it is replaced wherever it appears, as written and
  percent-decoded; user names are shown (they help and are not secret).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse

from ..errors import StorageError
from ..types.session import _IDENTIFIER

__all__ = [
    "checked_identifier",
    "checked_key_prefix",
    "name_digest",
    "quoted",
    "redacted_url",
    "scrub_credentials",
]

#: What ``StorageConfig.key_prefix`` may hold (no ``:``, which separates the parts of a key,
#: and no glob character, which would widen a SCAN pattern to other stores' keys).
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# ``scheme://user:password@`` quoted anywhere in a message
_URL_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def name_digest(*parts: str) -> str:
    """A stable field name for a tuple of names: their unkeyed SHA-256 digest.

    Stores without encryption use it, and stores written by codec v1 did; with encryption
    on, :meth:`.codec.DocumentCodec.name_digest` (keyed) is used instead.

    Example:
        >>> name_digest("u1", "aurora") == name_digest("u1", "aurora") != name_digest("u1", "pip")
        True
    """
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def checked_identifier(backend: str, value: object, *, setting: str = "table_name") -> str:
    """``value`` if it is a valid SQL identifier / collection name base (the config's rule).

    Raises:
        StorageError: it is not (names ``setting``): letters, digits and underscores,
            starting with a letter or underscore, at most 63 characters.

    Example:
        >>> checked_identifier("postgres", "chat_1")
        'chat_1'
        >>> checked_identifier("postgres", 'x"; DROP TABLE t')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        luminora_nb.errors.StorageError: postgres storage: table_name 'x"; DROP TABLE t' is not a valid ...
    """
    if isinstance(value, str) and _IDENTIFIER.match(value):
        return value
    raise StorageError(
        f"{backend} storage: {setting} {value!r} is not a valid identifier; use letters, digits and "
        "underscores, starting with a letter or underscore (at most 63 characters)"
    )


def checked_key_prefix(backend: str, value: object) -> str:
    """``value`` if it is a valid ``key_prefix`` (letters, digits, ``_ . -``; no ``:`` or glob).

    Raises:
        StorageError: it is not.

    Example:
        >>> checked_key_prefix("redis", "notebook-1")
        'notebook-1'
    """
    if isinstance(value, str) and _KEY_PREFIX.match(value):
        return value
    raise StorageError(
        f"{backend} storage: key_prefix {value!r} is not a valid key prefix; use 1-64 letters, digits "
        "and _ . - (no ':', which separates the parts of a key, and no '*', '?' or '[')"
    )


def quoted(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (a ``"`` inside is doubled, as SQL escapes it).

    Names are checked with :func:`checked_identifier` first; quoting is the second guard.

    Example:
        >>> quoted("chat_messages")
        '"chat_messages"'
    """
    return '"' + name.replace('"', '""') + '"'


def redacted_url(url: str, *, kind: str) -> str:
    """``url`` without user name or password, for messages; ``kind`` names it when unparseable.

    Several hosts (``mongodb://a:1,b:2/db``) are kept as written.

    Example:
        >>> redacted_url("postgresql://user:secret@db.example:5432/app", kind="PostgreSQL DSN")
        'postgresql://db.example:5432/app'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return f"<unparseable {kind}>"
    if not parts.scheme:
        return f"<{kind}>"
    hosts = parts.netloc.rsplit("@", 1)[-1] or "localhost"
    return f"{parts.scheme}://{hosts}{parts.path}"


def scrub_credentials(text: str, url: str) -> str:
    """``text`` (e.g. a driver's error message) without the password of the connection ``url``.

    The password is replaced by ``***`` as written in the URL and percent-decoded, and any
    ``scheme://user:password@`` quoted in the text loses its credentials.

    Example:
        >>> scrub_credentials("auth failed for bob with p%40ss (p@ss)", "redis://bob:p%40ss@host:6379/0")
        'auth failed for bob with *** (***)'
        >>> scrub_credentials("bad URL redis://bob:pw@x", "no url")
        'bad URL redis://***@x'
    """
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        password = None
    if password:
        for secret in sorted({password, urllib.parse.unquote(password)}, key=len, reverse=True):
            text = text.replace(secret, "***")
    return _URL_USERINFO.sub(r"\1***@", text)
