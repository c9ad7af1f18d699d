"""One vendor, two clients: the same bytes served to our adapter and to the vendor's SDK.

A :class:`Vendor` answers every request with one canned :class:`Answer` (a JSON body, an
SSE stream or NDJSON lines, as bytes) and records what it was sent. It serves our
adapter through an ``httpx.MockTransport`` and the SDK client through a mock transport
of the HTTP library that SDK is built on (``httpx2`` for OpenAI, Anthropic, Mistral and
Google; ``httpx`` for Cohere and Ollama): no socket, no network, and both clients read
exactly the same bytes.

* :func:`ours` runs one turn of one of our adapters (plain or streamed) and says what it
  made of the answer as an :class:`Outcome` — the text, our finish reason and usage, or
  that it failed;
* :func:`same_reading` serves one answer to our adapter and to the SDK client and
  asserts that both read the same :class:`Outcome`;
* :func:`same_request` compares what our adapter sent with what the SDK client sent for
  the same conversation: method, path, query, the protocol headers (authentication,
  API version, content type) and the JSON body. Bodies are compared as JSON values; a
  vendor may list ``defaults`` — a key, at any depth, whose value is the API's own
  default (``stream: false``, ``prefix: false``, ``tools: []``, ``generationConfig: {}``)
  counts as absent on either side.

Example:
    >>> answer = Answer.sse([("ping", {"type": "ping"})])
    >>> answer.body
    b'event: ping\\ndata: {"type": "ping"}\\n\\n'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from luminora_nb.errors import ProviderError
from luminora_nb.providers import ChatRequest, create_provider
from luminora_nb.types import ProviderConfig

from ..conftest import user_request
from ..wire import SeenRequest
from .conftest import sdk

# The HTTP library most SDKs are built on comes with them (the ``contracts`` extra): where
# it is missing, every contract test skips (fails under CI) instead of failing to collect.
httpx2 = sdk("httpx2")

__all__ = [
    "KEY",
    "Answer",
    "Outcome",
    "Relay",
    "SdkReader",
    "Vendor",
    "chat_completions_usage",
    "ours",
    "same_reading",
    "same_request",
]

#: The API key both clients are given.
KEY = "sk-contract-0123456789abcdef"

#: Headers that carry protocol meaning: they must be the same on both sides.
PROTOCOL_HEADERS = frozenset(
    {"authorization", "x-api-key", "anthropic-version", "anthropic-beta", "x-goog-api-key", "content-type"}
)
#: Transport-level headers any client may send.
GENERIC_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
)


@dataclass(frozen=True)
class Answer:
    """What the vendor answers: a status, a content type and the exact body bytes."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200

    @classmethod
    def json(cls, payload: Any, *, status: int = 200) -> Answer:
        """A whole JSON reply."""
        return cls(json.dumps(payload).encode(), status=status)

    @classmethod
    def sse(cls, events: Iterable[Any], *, done: bool = False) -> Answer:
        """An SSE stream: each event a payload or ``(event name, payload)``; ``done`` adds
        ``data: [DONE]``."""
        frames = []
        for event in events:
            name, payload = event if isinstance(event, tuple) else (None, event)
            head = f"event: {name}\n" if name else ""
            frames.append(f"{head}data: {json.dumps(payload)}\n\n")
        if done:
            frames.append("data: [DONE]\n\n")
        return cls("".join(frames).encode(), content_type="text/event-stream")

    @classmethod
    def ndjson(cls, lines: Iterable[Any]) -> Answer:
        """Newline-delimited JSON (Ollama's streams)."""
        return cls(
            "".join(json.dumps(line) + "\n" for line in lines).encode(), content_type="application/x-ndjson"
        )


class Vendor:
    """Answers every request with ``answer``; records each request in :attr:`requests`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()

    def _record(self, sent: SeenRequest) -> None:
        with self._lock:
            self.requests.append(sent)

    def _answer(self, request: Any, lib: Any) -> Any:
        request.read()
        url = request.url
        self._record(
            SeenRequest.parse(
                method=request.method,
                path=str(url.path),
                query=url.query.decode() if isinstance(url.query, bytes) else str(url.query),
                headers=request.headers.items(),
                raw=request.content,
            )
        )
        return lib.Response(
            self.answer.status, headers={"content-type": self.answer.content_type}, content=self.answer.body
        )

    def transport(self) -> httpx.MockTransport:
        """The transport our adapter is given."""
        return httpx.MockTransport(lambda request: self._answer(request, httpx))

    @property
    def last(self) -> SeenRequest:
        return self.requests[-1]


class Relay:
    """The transports of one SDK client that lives for a whole test module (building an
    SDK client loads CA bundles: tens of milliseconds each): every request goes to the
    :class:`Vendor` set as :attr:`vendor` at the time.

    Example:
        >>> relay = Relay()
        >>> client = relay.client("httpx")
        >>> relay.vendor = Vendor(Answer.json({"ok": True}))
        >>> client.post("http://vendor.test/x", json={"a": 1}).json(), relay.vendor.last.body
        ({'ok': True}, {'a': 1})
    """

    def __init__(self) -> None:
        self.vendor: Vendor | None = None

    def _answer(self, request: Any, lib: Any) -> Any:
        assert self.vendor is not None, "set relay.vendor first"
        return self.vendor._answer(request, lib)

    def transport(self, lib: str = "httpx2") -> Any:
        """A mock transport of ``lib`` (``"httpx2"`` or ``"httpx"``), sync and async."""
        module = httpx2 if lib == "httpx2" else httpx
        return module.MockTransport(lambda request: self._answer(request, module))

    def client(self, lib: str = "httpx2") -> Any:
        """A synchronous client of ``lib`` over :meth:`transport`."""
        module = httpx2 if lib == "httpx2" else httpx
        return module.Client(transport=self.transport(lib))

    def async_client(self, lib: str = "httpx2") -> Any:
        """An asynchronous client of ``lib`` (given to SDKs that would otherwise build one)."""
        module = httpx2 if lib == "httpx2" else httpx
        return module.AsyncClient(transport=self.transport(lib))


@dataclass(frozen=True)
class Outcome:
    """What a client made of one answer: the reply's text, finish reason and usage, or
    ``error`` (with the text delivered before the failure)."""

    text: str
    finish: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: bool = False

    @classmethod
    def failed(cls, text: str = "") -> Outcome:
        return cls(text=text, error=True)


async def ours(
    provider: str,
    vendor: Vendor,
    request: ChatRequest,
    *,
    stream: bool,
    base_url: str,
    model: str | None = None,
    extra: Mapping[str, Any] | None = None,
    api_key: str | None = KEY,
) -> tuple[Outcome, dict[str, Any]]:
    """One turn of our ``provider`` adapter against ``vendor``: its outcome and the reply's
    metadata (empty after a failure). One attempt only: the SDK clients retry nothing either."""
    config = ProviderConfig(
        name=provider,
        api_key=api_key,
        base_url=base_url,
        model=model,
        extra={"max_retries": 0, **(extra or {})},
    )
    adapter = create_provider(config, transport=vendor.transport())
    pieces: list[str] = []
    try:
        if stream:
            last = None
            async for chunk in adapter.stream(request):
                pieces.append(chunk.content)
                last = chunk
            assert last is not None
            reply = last
            text = "".join(pieces)
        else:
            reply = await adapter.chat(request)
            text = reply.content
    except ProviderError:
        return Outcome.failed("".join(pieces)), {}
    finally:
        await adapter.aclose()
    return Outcome(text=text, finish=reply.finish_reason, usage=dict(reply.usage)), dict(reply.metadata)


def chat_completions_usage(usage: Any) -> dict[str, int]:
    """Our usage from an SDK's usage object of the Chat Completions shape (OpenAI's, which
    Mistral's copies): its prompt, completion and total token counts; ``{}`` for none."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


class SdkReader(Protocol):
    """A vendor's SDK client reading ``vendor``'s answer to the one-message conversation of
    :func:`~tests.providers.conftest.user_request`, put in our terms."""

    def __call__(self, vendor: Vendor, *, stream: bool) -> Outcome: ...


async def same_reading(
    provider: str,
    answer: Answer,
    sdk_reads: SdkReader,
    *,
    stream: bool,
    base_url: str,
    api_key: str | None = KEY,
) -> dict[str, Any]:
    """Assert that our ``provider`` adapter reads ``answer`` as the SDK client reads it.

    Args:
        provider: Our adapter's name.
        answer: The vendor's reply (plain) or stream, served as the same bytes to both.
        sdk_reads: How the SDK client reads it.
        stream: Whether the turn is streamed.
        base_url: Where our adapter sends the request.
        api_key: Our adapter's key (None for a vendor that takes none).

    Returns:
        Our reply's metadata (empty after a failure), for what only we report.
    """
    vendor = Vendor(answer)
    mine, metadata = await ours(
        provider, vendor, user_request(), stream=stream, base_url=base_url, api_key=api_key
    )
    assert mine == sdk_reads(vendor, stream=stream)
    return metadata


def _without_defaults(body: Any, defaults: Mapping[str, Any]) -> Any:
    """``body`` without the keys, at any depth, whose value is the API's default."""
    if isinstance(body, list):
        return [_without_defaults(item, defaults) for item in body]
    if not isinstance(body, dict):
        return body
    return {
        k: _without_defaults(v, defaults) for k, v in body.items() if not (k in defaults and v == defaults[k])
    }


def same_request(
    mine: SeenRequest, theirs: SeenRequest, *, defaults: Mapping[str, Any] | None = None
) -> None:
    """Assert that our request and the SDK's are the same on the wire (see the module notes)."""
    assert (mine.method, mine.path, mine.query) == (theirs.method, theirs.path, theirs.query)
    protocol = {k: v for k, v in mine.headers.items() if k in PROTOCOL_HEADERS}
    assert protocol == {k: v for k, v in theirs.headers.items() if k in PROTOCOL_HEADERS}
    extra_headers = set(mine.headers) - PROTOCOL_HEADERS - GENERIC_HEADERS
    assert not extra_headers, f"headers the SDK does not send: {sorted(extra_headers)}"
    defaults = defaults or {}
    assert _without_defaults(mine.body, defaults) == _without_defaults(theirs.body, defaults)
