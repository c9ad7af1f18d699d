"""Stream parsers: Server-Sent Events and newline-delimited JSON, over decoded lines.

Both work on ``response.aiter_lines()`` (lines without their terminators; httpx splits
on CR, LF and CRLF), so they see a stream exactly as it arrives, one line at a time,
and never wait for more than the next line.

* :func:`iter_sse` follows the WHATWG event-stream rules: ``data:`` lines accumulate
  (joined by ``\\n``), a blank line dispatches, ``:`` starts a comment, one space after
  the colon is dropped, ``event:``/``id:``/``retry:`` fields are kept, events without data
  are not dispatched, and an unterminated event at the end of the stream is discarded.
  What an event *means* (``[DONE]``, ``message_stop``, ...) is for the adapter to say.
* :func:`iter_ndjson` yields one decoded JSON value per non-blank line (Ollama).
* :func:`decode_json` decodes one reply or item, raising a
  :class:`~luminora_nb.errors.ProviderError` that quotes the bad input.

Example:
    >>> async def lines():
    ...     for line in ["event: delta", 'data: {"a": 1}', "", "data: [DONE]", ""]:
    ...         yield line
    >>> async def events():
    ...     return [(e.event, e.data) async for e in iter_sse(lines())]
    >>> asyncio.run(events())
    [('delta', '{"a": 1}'), ('message', '[DONE]')]
"""

from __future__ import annotations

import asyncio  # noqa: F401 - used by the doctests
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import not_json

__all__ = ["ServerSentEvent", "decode_json", "iter_ndjson", "iter_sse"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched Server-Sent Event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Parse Server-Sent Events from decoded lines (without their line terminators).

    Example:
        >>> async def lines():
        ...     for line in [": hi", "event: delta", "data: a", "data: b", ""]:
        ...         yield line
        >>> async def collect():
        ...     return [e async for e in iter_sse(lines())]
        >>> asyncio.run(collect())
        [ServerSentEvent(event='delta', data='a\\nb', id=None, retry=None)]
    """
    event = ""
    data: list[str] = []
    last_id: str | None = None
    retry: int | None = None
    first = True
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if first:
            first = False
            line = line.removeprefix("\ufeff")
        if not line:
            if data:
                yield ServerSentEvent(event=event or "message", data="\n".join(data), id=last_id, retry=retry)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)


async def iter_ndjson(
    lines: AsyncIterable[str], *, provider: str, secrets: Sequence[str] = ()
) -> AsyncIterator[Any]:
    """Parse newline-delimited JSON: one value per non-blank line.

    Raises:
        ProviderError: a line is not valid JSON (the message quotes it).
    """
    async for raw in lines:
        line = raw.strip()
        if not line:
            continue
        yield decode_json(line, provider=provider, what="stream line", secrets=secrets)


def decode_json(text: str | bytes, *, provider: str, what: str, secrets: Sequence[str] = ()) -> Any:
    """``json.loads(text)``, raising a ProviderError that quotes the bad input.

    Example:
        >>> decode_json(b'{"ok": true}', provider="openai", what="reply")
        {'ok': True}
    """
    try:
        return json.loads(text)
    except ValueError:
        raise not_json(text, provider=provider, what=what, secrets=secrets) from None
