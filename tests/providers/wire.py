"""Each LLM vendor's documented wire format, as a vendor would check and answer it.

The one place that knows what the vendors expect and send, shared by the two ways the
provider tests reach a "vendor":

* :mod:`.vendor_server`: a real HTTP/1.1 server on 127.0.0.1 (keep-alive, chunked
  streaming), for what needs a socket: dropped connections, stalls and read timeouts,
  slow streams, connection reuse and pools, and end-to-end turns;
* :mod:`.mock_vendor`: an ``httpx.MockTransport`` answering in-process, for everything
  else (wire formats, replies, streams, errors, retries), fast.

A :class:`Scenario` is what one test expects from one vendor: it checks every request
the way the vendor would (method, path, auth headers, body shape), records it, and
answers with the next scripted :class:`Action` (a normal reply by default; a
:class:`Canned` reply is a vendor payload the test wrote itself) as an
:class:`Answer` — status, headers and a body, or a list of stream frames — that the
front end writes out. Faults: error statuses with ``Retry-After``, malformed replies
and chunks, in-stream errors, and (socket only) dropped connections, slow chunks and
stalls.

Formats implemented (from each vendor's API reference):

* ``openai`` / ``mistral`` / ``openai_compat``: ``POST /v1/chat/completions``; SSE
  ``data:`` chunks and ``data: [DONE]``; OpenAI sends usage in an extra chunk when
  ``stream_options.include_usage`` is set, Mistral in the finishing chunk (and rejects
  unknown fields with 422 like its API does).
* ``anthropic``: ``POST /v1/messages`` with ``anthropic-version`` and the key — as
  ``Authorization: Bearer`` for version ``2026-10-21`` (whose requests have no sampling
  settings: ``temperature``/``top_p`` are refused as unknown fields), as ``x-api-key``
  for ``2023-06-01`` (which refuses ``temperature`` and ``top_p`` together, like current
  models do); SSE ``message_start``, ``content_block_start``, ``ping``,
  ``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``,
  ``error``.
* ``cohere``: ``POST /v2/chat``; SSE ``message-start``, ``content-start``,
  ``content-delta``, ``content-end``, ``message-end``.
* ``google``: ``POST /v1beta/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse`` with ``x-goog-api-key``; SSE with CRLF line ends.
* ``ollama``: ``POST /api/chat``; NDJSON lines, the last with ``done: true``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    import httpx

__all__ = [
    "VENDORS",
    "Action",
    "Answer",
    "Canned",
    "Drop",
    "Fail",
    "Frame",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Scenario",
    "SeenRequest",
    "Stall",
    "StreamError",
    "error_body",
    "named_by_type",
    "recorded_request",
    "reply_text_for",
    "split_path",
]

VENDORS = ("openai", "mistral", "openai_compat", "anthropic", "cohere", "google", "ollama")


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Reply:
    """Answer normally. ``text`` defaults to :func:`reply_text_for` the request."""

    text: str | None = None
    gap: float = 0.0  # seconds between stream chunks
    finish: str | None = None  # vendor finish reason override
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """Answer ``status`` with the vendor's error body carrying ``message``."""

    status: int
    message: str = "simulated failure"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # replaces the vendor's error body when set


@dataclass(frozen=True)
class Drop:
    """Close the connection abruptly: before any answer (``after=None``) or mid-stream."""

    after: int | None = None


@dataclass(frozen=True)
class Malformed:
    """Send ``after`` good chunks, then one that is not valid JSON (plain: a non-JSON body)."""

    after: int = 1


@dataclass(frozen=True)
class Stall:
    """Send nothing for ``seconds`` (longer than the client's read timeout), then reply."""

    seconds: float


@dataclass(frozen=True)
class StreamError:
    """Send ``after`` good chunks, then the vendor's own in-stream error event."""

    after: int = 1
    message: str = "Overloaded"
    kind: str | None = None  # the vendor's error type; None: its usual transient one


@dataclass(frozen=True)
class Canned:
    """Answer with the vendor payloads given, after the usual request checks.

    ``plain`` is the whole JSON reply of a non-streamed request; ``events`` the items of
    a streamed one, each framed the vendor's way (an SSE ``data:`` event, or an NDJSON
    line for Ollama): a payload, or ``(event name, payload)`` for SSE events that carry
    a name. ``"[DONE]"`` is sent as the bare string it is.
    """

    plain: Any = None
    events: tuple[Any, ...] = ()


Action = Reply | Fail | Drop | Malformed | Stall | StreamError | Canned


def named_by_type(*payloads: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    """:attr:`Canned.events` for SSE events named after their payload's ``type``, as
    Anthropic and Cohere name theirs.

    Example:
        >>> named_by_type({"type": "message_stop"})
        (('message_stop', {'type': 'message_stop'}),)
    """
    return tuple((payload["type"], payload) for payload in payloads)


@dataclass
class SeenRequest:
    """One request as a vendor received it: the query parsed, the headers lowercased,
    the JSON body decoded (kept as text when it is no JSON)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @classmethod
    def parse(
        cls, *, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], raw: bytes
    ) -> SeenRequest:
        """The request from what came over the wire.

        Args:
            method: The HTTP method.
            path: The path, without the query.
            query: The query string, without ``?``.
            headers: The header names and values, as sent.
            raw: The body bytes.

        Returns:
            The request as the vendor reads it.
        """
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        return cls(
            method=method,
            path=path,
            query=parse_qs(query),
            headers={k.lower(): v for k, v in headers},
            body=body,
        )


@dataclass
class RecordedRequest(SeenRequest):
    """One request as a :class:`Scenario` saw it: also the client's port (socket only, else
    0) and whether it asked for a stream."""

    client_port: int
    stream: bool


def reply_text_for(body: Any, vendor: str) -> str:
    """The deterministic reply the vendor gives: an echo of the last user message."""
    return f"Echo: {_last_user_text(body, vendor)} — done."


def _last_user_text(body: Any, vendor: str) -> str:
    try:
        if vendor == "google":
            for content in reversed(body["contents"]):
                if content.get("role", "user") == "user":
                    return "".join(p.get("text", "") for p in content["parts"])
        else:
            for message in reversed(body["messages"]):
                if message["role"] == "user":
                    content = message["content"]
                    return content if isinstance(content, str) else json.dumps(content)
    except (KeyError, TypeError):
        pass
    return "?"


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _count_words(body: Any) -> int:
    return len(json.dumps(body).split())


# --------------------------------------------------------------------------- scenarios


class Scenario:
    """What one test expects from one vendor, and how the vendor should answer.

    ``root`` is where the vendor lives (the socket server's URL, or a made-up host for
    the MockTransport); requests arrive under ``{root}/s/{id}`` (:attr:`base_url`).
    """

    def __init__(
        self,
        vendor: str,
        *,
        root: str,
        key: str | None,
        model: str,
        actions: list[Action] | None = None,
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}")
        self.root = root
        self.vendor = vendor
        self.key = key
        self.model = model
        self.id = uuid.uuid4().hex[:12]
        self.actions: deque[Action] = deque(actions or [])
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        #: The ``httpx.MockTransport`` answering for this scenario (None: the socket server).
        self.transport: httpx.MockTransport | None = None

    @property
    def prefix(self) -> str:
        return f"/s/{self.id}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` an adapter of this vendor should be given."""
        suffix = {
            "openai": "/v1",
            "mistral": "/v1",
            "openai_compat": "/v1",
            "anthropic": "",
            "cohere": "",
            "google": "/v1beta",
            "ollama": "",
        }[self.vendor]
        return f"{self.root}{self.prefix}{suffix}"

    def push(self, *actions: Action) -> None:
        with self.lock:
            self.actions.extend(actions)

    def next_action(self) -> Action:
        with self.lock:
            return self.actions.popleft() if self.actions else Reply()

    # -- request validation, as the vendor would do it -----------------------------------------

    def expected_path(self, stream: bool) -> str:
        if self.vendor == "anthropic":
            return "/v1/messages"
        if self.vendor == "cohere":
            return "/v2/chat"
        if self.vendor == "google":
            return f"/v1beta/models/{self.model}:{'streamGenerateContent' if stream else 'generateContent'}"
        if self.vendor == "ollama":
            return "/api/chat"
        return "/v1/chat/completions"

    def check(self, req: RecordedRequest) -> tuple[int, str] | None:
        """None if the request is what the vendor accepts, else (status, vendor message)."""
        h = req.headers
        if req.method != "POST":
            return 405, f"method {req.method} not allowed"
        if req.path != self.expected_path(req.stream):
            return 404, f"no route for {req.path}"
        if "application/json" not in h.get("content-type", ""):
            return 400, "content-type must be application/json"
        auth_error = self._check_auth(h)
        if auth_error:
            return 401, auth_error
        body = req.body
        if not isinstance(body, dict):
            return 400, "body must be a JSON object"
        return self._check_body(body, req)

    def _check_auth(self, h: dict[str, str]) -> str | None:
        if self.key is None:
            return None
        if self.vendor == "anthropic":
            version = h.get("anthropic-version")
            if version == "2023-06-01":
                given = h.get("x-api-key")
            elif version == "2026-10-21":
                auth = h.get("authorization", "")
                given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            else:
                return f"anthropic-version header is required (got {version!r})"
        elif self.vendor == "google":
            given = h.get("x-goog-api-key")
        else:
            auth = h.get("authorization", "")
            given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if given != self.key:
            # Like OpenAI, echo (part of) the key back: the client must scrub it.
            return f"Incorrect API key provided: {given}. You can find your API key in your dashboard."
        return None

    def _check_body(self, body: dict[str, Any], req: RecordedRequest) -> tuple[int, str] | None:
        v = self.vendor
        if v == "google":
            contents = body.get("contents")
            if not isinstance(contents, list) or not contents:
                return 400, "contents must be a non-empty list"
            for c in contents:
                if c.get("role") not in ("user", "model") or not isinstance(c.get("parts"), list):
                    return 400, f"invalid content {c!r}"
            if "systemInstruction" in body and not isinstance(body["systemInstruction"].get("parts"), list):
                return 400, "systemInstruction.parts must be a list"
            if req.stream and req.query.get("alt") != ["sse"]:
                return 400, "streaming requires alt=sse"
            return None
        if body.get("model") != self.model:
            return 400, f"model {body.get('model')!r} does not exist"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, "messages must be a non-empty list"
        roles = {"user", "assistant"} if v == "anthropic" else {"system", "user", "assistant"}
        for m in messages:
            if m.get("role") not in roles or not isinstance(m.get("content"), str):
                return 400, f"invalid message {m!r}"
        if v == "anthropic":
            if not isinstance(body.get("max_tokens"), int):
                return 400, "max_tokens: Field required"
            if "system" in body and not isinstance(body["system"], str | list):
                return 400, "system must be a string"
            allowed = {"model", "max_tokens", "messages", "system", "stop_sequences", "stream"}
            if req.headers.get("anthropic-version") == "2023-06-01":
                allowed |= {"temperature", "top_p"}
                if "temperature" in body and "top_p" in body:
                    return 400, "`temperature` and `top_p` cannot both be specified for this model."
            unknown = sorted(set(body) - allowed)
            if unknown:
                return 400, f"{unknown[0]}: Extra inputs are not permitted"
        if v == "mistral":
            allowed = {"model", "messages", "stream", "temperature", "top_p", "max_tokens", "stop"}
            unknown = sorted(set(body) - allowed)
            if unknown:
                return 422, f"Extra inputs are not permitted: {unknown}"
        if v == "ollama" and "stream" not in body:
            return 400, "this test server insists on an explicit stream flag"
        return None

    def is_stream(self, body: Any, path: str) -> bool:
        if self.vendor == "google":
            return path.endswith(":streamGenerateContent")
        if self.vendor == "ollama":
            return not (isinstance(body, dict) and body.get("stream") is False)
        return isinstance(body, dict) and body.get("stream") is True

    # -- answering -----------------------------------------------------------------------------

    def respond(self, req: RecordedRequest) -> Answer:
        """Record ``req`` and answer it with the next action."""
        with self.lock:
            self.requests.append(req)
        action = self.next_action()
        stall = 0.0
        if isinstance(action, Stall):
            stall, action = action.seconds, Reply()
        if isinstance(action, Fail):
            payload = (
                action.body
                if action.body is not None
                else error_body(self.vendor, action.status, action.message)
            )
            return _json_answer(action.status, payload, action.headers)
        if isinstance(action, Drop) and (action.after is None or not req.stream):
            return Answer(drop=True)
        invalid = self.check(req)
        if invalid is not None:
            status, message = invalid
            return _json_answer(status, error_body(self.vendor, status, message), stall=stall)
        assert isinstance(req.body, dict)
        if isinstance(action, Canned):
            return self._canned(action, req)
        text = action.text if isinstance(action, Reply) and action.text is not None else None
        fmt = _Format(
            self,
            req.body,
            text if text is not None else reply_text_for(req.body, self.vendor),
            action.finish if isinstance(action, Reply) else None,
        )
        if not req.stream:
            if isinstance(action, Malformed):
                return Answer(body=b'{"choices": [ {"message": oops', stall=stall)
            return _json_answer(
                200, fmt.plain(), action.headers if isinstance(action, Reply) else None, stall=stall
            )
        frames, dropped = fmt.frames(action)
        return Answer(
            content_type=fmt.content_type(),
            headers={"Cache-Control": "no-cache"},
            frames=frames,
            stall=stall,
            drop=dropped,
        )

    def _canned(self, action: Canned, req: RecordedRequest) -> Answer:
        if not req.stream:
            return _json_answer(200, action.plain)
        fmt = _Format(self, req.body, "", None)
        frames: list[Frame] = []
        for event in action.events:
            if self.vendor == "ollama":
                frames.append(Frame((json.dumps(event) + "\n").encode()))
            elif isinstance(event, tuple):
                frames.append(Frame(fmt._sse(event[1], event[0])))
            else:
                frames.append(Frame(fmt._sse(event)))
        return Answer(content_type=fmt.content_type(), headers={"Cache-Control": "no-cache"}, frames=frames)


# --------------------------------------------------------------------------- vendor formats


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(vendor: str, status: int, message: str) -> dict[str, Any]:
    """The vendor's documented error body."""
    if vendor == "anthropic":
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": "req_test",
        }
    if vendor == "google":
        return {
            "error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}
        }
    if vendor == "cohere":
        return {"id": str(uuid.uuid4()), "message": message}
    if vendor == "ollama":
        return {"error": message}
    if vendor == "mistral":
        return {
            "object": "error",
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


class _Format:
    """Builds replies of one vendor for one request."""

    def __init__(self, scenario: Scenario, body: dict[str, Any], text: str, finish: str | None) -> None:
        self.s = scenario
        self.v = scenario.vendor
        self.body = body
        self.text = text
        self.pieces = _pieces(text)
        self.prompt_tokens = _count_words(body)
        self.completion_tokens = len(self.pieces)
        self.finish = finish
        self.model = scenario.model

    # -- whole replies -----------------------------------------------------------------------

    def plain(self) -> dict[str, Any]:
        p, c = self.prompt_tokens, self.completion_tokens
        v = self.v
        if v in ("openai", "mistral", "openai_compat"):
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 1700000000,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.text},
                        "finish_reason": self.finish or "stop",
                    }
                ],
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            }
        if v == "anthropic":
            return {
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [{"type": "text", "text": self.text}],
                "stop_reason": self.finish or "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": p, "output_tokens": c},
            }
        if v == "cohere":
            return {
                "id": "c0ffee",
                "finish_reason": self.finish or "COMPLETE",
                "message": {"role": "assistant", "content": [{"type": "text", "text": self.text}]},
                "usage": {
                    "billed_units": {"input_tokens": p, "output_tokens": c},
                    "tokens": {"input_tokens": p + 3, "output_tokens": c},
                },
            }
        if v == "google":
            return {
                "candidates": [
                    {
                        "content": {"parts": [{"text": self.text}], "role": "model"},
                        "finishReason": self.finish or "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c},
                "modelVersion": self.model,
                "responseId": "resp-test",
            }
        # ollama
        return {
            "model": self.model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": self.text},
            "done": True,
            "done_reason": self.finish or "stop",
            "prompt_eval_count": p,
            "eval_count": c,
        }

    # -- streams: head frames, one frame per piece, tail frames --------------------------------

    def content_type(self) -> str:
        return "application/x-ndjson" if self.v == "ollama" else "text/event-stream"

    def _sse(self, data: Any, event: str | None = None) -> bytes:
        payload = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}\n" if event else ""
        if self.v == "google":
            return f"data: {payload}\r\n\r\n".encode()
        return f"{head}data: {payload}\n\n".encode()

    def head(self) -> list[bytes]:
        v = self.v
        if v in ("openai", "mistral", "openai_compat"):
            first = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            }
            return [b": keep-alive comment\n\n", self._sse(first)]
        if v == "anthropic":
            start = {
                "type": "message_start",
                "message": {
                    "id": "msg_test",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": self.model,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 1},
                },
            }
            block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            return [
                self._sse(start, "message_start"),
                self._sse(block, "content_block_start"),
                self._sse({"type": "ping"}, "ping"),
            ]
        if v == "cohere":
            start = {
                "type": "message-start",
                "id": "c0ffee",
                "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}},
            }
            cstart = {
                "type": "content-start",
                "index": 0,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
            return [self._sse(start, "message-start"), self._sse(cstart, "content-start")]
        return []

    def piece(self, i: int, text: str) -> bytes:
        v = self.v
        chunk: dict[str, Any]
        if v in ("openai", "mistral", "openai_compat"):
            chunk = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
            return self._sse(chunk)
        if v == "anthropic":
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
            return self._sse(delta, "content_block_delta")
        if v == "cohere":
            delta = {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}}
            return self._sse(delta, "content-delta")
        if v == "google":
            last = i == len(self.pieces) - 1
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            usage: dict[str, Any] = {"promptTokenCount": self.prompt_tokens, "candidatesTokenCount": i + 1}
            if last:
                candidate["finishReason"] = self.finish or "STOP"
                usage["totalTokenCount"] = self.prompt_tokens + self.completion_tokens
            chunk = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model}
            return self._sse(chunk)
        line = {
            "model": self.model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": False,
        }
        return (json.dumps(line) + "\n").encode()

    def tail(self) -> list[bytes]:
        p, c = self.prompt_tokens, self.completion_tokens
        v = self.v
        usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        if v in ("openai", "openai_compat"):
            frames = [
                self._sse(
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion.chunk",
                        "model": self.model,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish or "stop"}],
                    }
                )
            ]
            if (self.body.get("stream_options") or {}).get("include_usage"):
                frames.append(
                    self._sse(
                        {
                            "id": "chatcmpl-test",
                            "object": "chat.completion.chunk",
                            "model": self.model,
                            "choices": [],
                            "usage": usage,
                        }
                    )
                )
            return [*frames, self._sse("[DONE]")]
        if v == "mistral":
            last = {
                "id": "cmpl-test",
                "object": "chat.completion.chunk",
                "model": self.model,
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": self.finish or "stop"}],
                "usage": usage,
            }
            return [self._sse(last), self._sse("[DONE]")]
        if v == "anthropic":
            return [
                self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                self._sse(
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": self.finish or "end_turn", "stop_sequence": None},
                        # The current API sends every usage field here, the unknown ones as null.
                        "usage": {
                            "input_tokens": None,
                            "cache_creation_input_tokens": None,
                            "cache_read_input_tokens": None,
                            "output_tokens": c,
                        },
                    },
                    "message_delta",
                ),
                self._sse({"type": "message_stop"}, "message_stop"),
            ]
        if v == "cohere":
            end = {
                "type": "message-end",
                "delta": {
                    "finish_reason": self.finish or "COMPLETE",
                    "usage": {
                        "billed_units": {"input_tokens": p, "output_tokens": c},
                        "tokens": {"input_tokens": p + 3, "output_tokens": c},
                    },
                },
            }
            return [
                self._sse({"type": "content-end", "index": 0}, "content-end"),
                self._sse(end, "message-end"),
            ]
        if v == "google":
            return []
        done = {
            "model": self.model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": self.finish or "stop",
            "total_duration": 1000,
            "prompt_eval_count": p,
            "eval_count": c,
        }
        return [(json.dumps(done) + "\n").encode()]

    def frames(self, action: Action) -> tuple[list[Frame], bool]:
        """The stream for ``action``, and whether the connection is dropped after it."""
        gap = action.gap if isinstance(action, Reply) else 0.0
        frames = [Frame(data) for data in self.head()]
        for i, piece in enumerate(self.pieces):
            if isinstance(action, Drop) and action.after is not None and i == action.after:
                return frames, True
            if isinstance(action, Malformed) and i == action.after:
                return [*frames, Frame(self.malformed_frame())], False
            if isinstance(action, StreamError) and i == action.after:
                return [*frames, Frame(self.stream_error_frame(action.message, action.kind))], False
            frames.append(Frame(self.piece(i, piece), delay=gap if i else 0.0))
        if isinstance(action, Malformed):
            return frames, False
        return frames + [Frame(data) for data in self.tail()], False

    def malformed_frame(self) -> bytes:
        if self.v == "ollama":
            return b'{"model": "x", "message": {"content": "oops"\n'
        return b'data: {"choices": [ {"delta": oops\n\n'

    def stream_error_frame(self, message: str, kind: str | None = None) -> bytes:
        v = self.v
        if v == "anthropic":
            return self._sse(
                {"type": "error", "error": {"type": kind or "overloaded_error", "message": message}}, "error"
            )
        if v == "cohere":
            end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}}
            return self._sse(end, "message-end")
        if v == "google":
            return self._sse({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})
        if v == "ollama":
            return (json.dumps({"error": message}) + "\n").encode()
        return self._sse(
            {"error": {"message": message, "type": kind or "server_error", "param": None, "code": None}}
        )


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Frame:
    """One piece of a streamed answer, sent ``delay`` seconds after the previous one."""

    data: bytes
    delay: float = 0.0


@dataclass
class Answer:
    """What the vendor answers to one request, for a front end to write out.

    ``frames`` set means a streamed answer (chunked), else ``body`` is the whole body.
    ``stall`` is a silence before answering; ``drop`` closes the connection abruptly:
    instead of answering (no frames) or after the frames.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    body: bytes = b""
    frames: list[Frame] | None = None
    stall: float = 0.0
    drop: bool = False

    @property
    def needs_socket(self) -> bool:
        """Whether only a real connection can deliver this answer (time or a hang-up)."""
        return bool(self.stall or self.drop or any(f.delay for f in self.frames or ()))


def _json_answer(status: int, payload: Any, headers: dict[str, str] | None = None, **kw: Any) -> Answer:
    return Answer(status=status, headers=dict(headers or {}), body=json.dumps(payload).encode(), **kw)


_PATH = re.compile(r"^/s/([0-9a-f]{12})(/.*)?$")


def split_path(path: str) -> tuple[str, str] | None:
    """``(scenario id, path below the scenario prefix)`` of a request path, or None.

    Example:
        >>> split_path("/s/0123456789ab/v1/chat/completions")
        ('0123456789ab', '/v1/chat/completions')
    """
    match = _PATH.match(path)
    return (match.group(1), match.group(2) or "/") if match else None


def recorded_request(
    scenario: Scenario,
    *,
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    raw: bytes,
    client_port: int = 0,
) -> RecordedRequest:
    """A request as ``scenario``'s vendor sees it (see :class:`SeenRequest`)."""
    seen = SeenRequest.parse(method=method, path=path, query=query, headers=headers, raw=raw)
    return RecordedRequest(**vars(seen), client_port=client_port, stream=scenario.is_stream(seen.body, path))
