"""Credential redaction for everything the providers say: one helper, used everywhere.

Every text a provider adapter puts into an exception, a log record or a reply's
metadata goes through :func:`redact` first. It masks

* the secrets the adapter knows (its API key), wherever they appear — vendors echo a
  wrong key back in their error bodies;
* tokens in an ``Authorization`` form (``Bearer ...``, ``Basic ...``) it was not told
  about;
* credentials inside URLs — user info (``https://user:pw@proxy/``) and credential-named
  query parameters (``?key=...``) — with :func:`luminora_nb.types._base.redact_url`,
  the rule the configuration models use when they serialise a ``base_url``.

Secrets shorter than four characters are not masked: replacing every ``ab`` in a text
would mangle it while protecting nothing. :class:`Secret` holds the key itself; its
``repr`` and ``str`` never show it and it refuses to be pickled.

Example:
    >>> redact("bad key sk-abc123 (Bearer sk-abc123) at https://u:pw@proxy.example/v1",
    ...        ["sk-abc123"])
    'bad key *** (Bearer ***) at https://proxy.example/v1'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..types._base import redact_url

__all__ = ["MASK", "Secret", "redact"]

#: What a masked credential is replaced with.
MASK = "***"

_AUTH_FORM = re.compile(r"(?i)\b(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.I)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential masked (see the module docstring for what counts).

    Example:
        >>> redact("key=sk-live-123456 used", ["sk-live-123456"])
        'key=*** used'
        >>> redact("Authorization: Bearer abcdefghijklmnop")
        'Authorization: Bearer ***'
        >>> redact("see http://h.example/v1?key=abc&v=2")
        'see http://h.example/v1?v=2'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _AUTH_FORM.sub(r"\1 " + MASK, text)
    if "://" in text:
        text = _URL.sub(lambda match: redact_url(match.group()), text)
    return text


class Secret:
    """Holds an API key; its ``repr``/``str`` never show the value.

    Example:
        >>> key = Secret("sk-demo-123")
        >>> key, key.reveal()
        (<secret ***>, 'sk-demo-123')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the one header that carries it."""
        return self._value

    def __repr__(self) -> str:
        return "<secret ***>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("API keys cannot be pickled")
