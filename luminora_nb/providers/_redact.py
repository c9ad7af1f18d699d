"""Credential redaction for everything the providers say: the package's one rule, and ``Secret``.

Every text a provider adapter puts into an exception, a log record or a reply's
metadata goes through :func:`redact` first. It masks

* the secrets the adapter knows (its API key), wherever they appear — vendors echo a
  wrong key back in their error bodies;
* tokens in an ``Authorization`` form (``Bearer ...``, ``Basic ...``) it was not told
  about;
* credentials inside URLs — user info (``https://user:pw@proxy/``) and credential-named
  query parameters (``?key=...``) — with :func:`luminora_nb.types._base.redact_url`,
  the rule the configuration models use when they serialise a ``base_url``;
* what looks like a key anyway (``sk-...``, ``AIza...``) and credential-named
  ``key=value`` pairs.

:func:`redact` lives in :mod:`luminora_nb.types._base`: the session log and the compare
engine mask error texts with the same rule.

Secrets shorter than four characters are not masked: replacing every ``ab`` in a text
would mangle it while protecting nothing. :class:`Secret` holds the key itself; its
``repr`` and ``str`` never show it and it refuses to be pickled.

Example:
    >>> redact("bad key sk-abc123 (Bearer sk-abc123) at https://u:pw@proxy.example/v1",
    ...        ["sk-abc123"])
    'bad key *** (Bearer ***) at https://proxy.example/v1'
"""

from __future__ import annotations

from typing import Any

from ..types._base import MASK, redact

__all__ = ["MASK", "Secret", "redact"]


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
