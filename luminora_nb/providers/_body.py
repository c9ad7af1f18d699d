"""Request bodies: the vendor's JSON, encoded once per message instead of once per turn.

A chat request re-sends the conversation on every turn: with ``max_history`` 100, each
turn's body holds the same hundred messages as the previous one, shifted by one turn.
Encoding all of them again (and building their wire dicts again) was the largest cost
of a turn in the HTTP core. Here each message's wire form is built and encoded once:

* :class:`MessageEncoder` maps a message's ``(role, content, name)`` to its wire dict
  (the adapter's ``shape``) and that dict's JSON, in a cache bounded by the size of the
  encoded JSON it holds (oldest entries go first). Keys are values, not identities, so a
  message edited or rebuilt elsewhere is simply encoded again; hashing costs nothing for
  a string seen before (Python caches a string's hash).
* :class:`WireList` is the list of wire dicts an adapter puts into its body (so
  ``build_body`` still returns plain, comparable JSON data), carrying the encoded items.
* :func:`dumps_body` encodes a body exactly like ``httpx``'s ``json=`` (UTF-8, compact
  separators, no NaN), splicing each :class:`WireList`'s encoded items in instead of
  encoding them again. Only key order differs: the lists come first.

Example:
    >>> encoder = MessageEncoder(lambda role, content, name: {"role": role, "content": content})
    >>> body = {"model": "m", "messages": encoder.encode([("user", "hé", None)]), "stream": False}
    >>> dumps_body(body)
    b'{"messages":[{"role":"user","content":"h\\xc3\\xa9"}],"model":"m","stream":false}'
    >>> json.loads(dumps_body(body)) == body
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["MessageEncoder", "WireList", "dumps", "dumps_body"]

#: The encoder of ``httpx``'s ``json=``: UTF-8 text, compact separators, no NaN.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

#: One message as the encoder sees it: role, content and the author's name (or None).
MessageKey = tuple[str, str, str | None]
#: Builds a message's wire dict from its key.
Shape = Callable[[str, str, str | None], dict[str, Any]]


def dumps(value: Any) -> bytes:
    """``value`` as the JSON bytes ``httpx`` sends for ``json=value``.

    Example:
        >>> dumps({"a": [1, "é"]})
        b'{"a":[1,"\\xc3\\xa9"]}'
    """
    return _ENCODE(value).encode()


class WireList(list[dict[str, Any]]):
    """Wire dicts of a request body, with their JSON encodings in ``encoded``.

    Treat it as read-only: the dicts are shared with the encoder's cache.
    """

    __slots__ = ("encoded",)

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[bytes] = []


class MessageEncoder:
    """Wire dicts and JSON of messages, built once and reused across turns.

    Args:
        shape: Builds the vendor's wire dict of one message from ``(role, content, name)``.
        max_bytes: Bound of the cache, in bytes of encoded JSON (default 4 MiB).
    """

    __slots__ = ("_entries", "_max_bytes", "_shape", "_size")

    def __init__(self, shape: Shape, *, max_bytes: int = 4 << 20) -> None:
        self._shape = shape
        self._max_bytes = max_bytes
        self._entries: dict[MessageKey, tuple[dict[str, Any], bytes]] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, messages: Iterable[MessageKey]) -> WireList:
        """The wire list of ``messages`` (each given as ``(role, content, name)``)."""
        out = WireList()
        items, encoded = out, out.encoded
        entries = self._entries
        for key in messages:
            entry = entries.get(key)
            if entry is None:
                entry = self._add(key)
            items.append(entry[0])
            encoded.append(entry[1])
        return out

    def _add(self, key: MessageKey) -> tuple[dict[str, Any], bytes]:
        wire = self._shape(*key)
        entry = (wire, dumps(wire))
        size = len(entry[1])
        if size > self._max_bytes:
            return entry  # too large to keep; encoded for this request only
        entries = self._entries
        while entries and self._size + size > self._max_bytes:
            oldest = next(iter(entries))
            self._size -= len(entries.pop(oldest)[1])
        entries[key] = entry
        self._size += size
        return entry

    def clear(self) -> None:
        """Forget every cached message."""
        self._entries.clear()
        self._size = 0


def dumps_body(body: Mapping[str, Any]) -> bytes:
    """``body`` as the JSON bytes of ``httpx``'s ``json=``, reusing encoded :class:`WireList` items.

    Example:
        >>> dumps_body({"stream": True})
        b'{"stream":true}'
    """
    parts: list[bytes] = []
    rest: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, WireList):
            parts.append(dumps(key) + b":[" + b",".join(value.encoded) + b"]")
        else:
            rest[key] = value
    if not parts:
        return dumps(rest)
    if rest:
        parts.append(dumps(rest)[1:-1])
    return b"{" + b",".join(parts) + b"}"
