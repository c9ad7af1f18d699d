"""A real HTTP/1.1 server on 127.0.0.1 that speaks each LLM vendor's documented wire format.

It runs in a background thread (``ThreadingHTTPServer``, keep-alive, chunked streaming)
so the adapters under test talk to it over real sockets. Each test registers a
:class:`Scenario` under a unique URL prefix; the scenario checks every request the way
the vendor would (method, path, auth headers, body shape), records it, and answers with
the next scripted :class:`Action` (a normal reply by default), so faults can be injected:
error statuses with ``Retry-After``, dropped connections, malformed chunks, slow chunks,
stalls and in-stream errors.

Formats implemented (from each vendor's API reference):

* ``openai`` / ``mistral`` / ``openai_compat``: ``POST /v1/chat/completions``; SSE
  ``data:`` chunks and ``data: [DONE]``; OpenAI sends usage in an extra chunk when
  ``stream_options.include_usage`` is set, Mistral in the finishing chunk (and rejects
  unknown fields with 422 like its API does).
* ``anthropic``: ``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version``; SSE
  ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
  ``content_block_stop``, ``message_delta``, ``message_stop``, ``error``.
* ``cohere``: ``POST /v2/chat``; SSE ``message-start``, ``content-start``,
  ``content-delta``, ``content-end``, ``message-end``.
* ``google``: ``POST /v1beta/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse`` with ``x-goog-api-key``; SSE with CRLF line ends.
* ``ollama``: ``POST /api/chat``; NDJSON lines, the last with ``done: true``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Drop",
    "Fail",
    "Malformed",
    "RecordedRequest",
    "Reply",
    "Scenario",
    "Stall",
    "StreamError",
    "VendorServer",
    "reply_text_for",
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


Action = Reply | Fail | Drop | Malformed | Stall | StreamError


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    client_port: int
    stream: bool


def reply_text_for(body: Any, vendor: str) -> str:
    """The deterministic reply the server gives: an echo of the last user message."""
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
    """What one test expects from one vendor, and how the server should answer."""

    def __init__(
        self,
        server: VendorServer,
        vendor: str,
        *,
        key: str | None,
        model: str,
        actions: list[Action] | None = None,
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}")
        self.server = server
        self.vendor = vendor
        self.key = key
        self.model = model
        self.id = uuid.uuid4().hex[:12]
        self.actions: deque[Action] = deque(actions or [])
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()

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
        return f"{self.server.url}{self.prefix}{suffix}"

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
            if h.get("anthropic-version") != "2023-06-01":
                return "anthropic-version header is required"
            given = h.get("x-api-key")
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


# --------------------------------------------------------------------------- the HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    # -- plumbing ----------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self) -> None:
        split = urlsplit(self.path)
        match = re.match(r"^/s/([0-9a-f]{12})(/.*)?$", split.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        scenario = self.server.scenarios.get(match.group(1)) if match else None
        if scenario is None:
            self._send_json(404, {"error": f"no scenario for {split.path}"})
            return
        path = (match.group(2) if match else None) or "/"
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        req = RecordedRequest(
            method=self.command,
            path=path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
            stream=scenario.is_stream(body, path),
        )
        with scenario.lock:
            scenario.requests.append(req)
        action = scenario.next_action()

        if isinstance(action, Stall):
            time.sleep(action.seconds)
            action = Reply()
        if isinstance(action, Fail):
            payload = action.body
            if payload is None:
                payload = error_body(scenario.vendor, action.status, action.message)
            self._send_json(action.status, payload, action.headers)
            return
        if isinstance(action, Drop) and (action.after is None or not req.stream):
            self._abort()
            return
        invalid = scenario.check(req)
        if invalid is not None:
            status, message = invalid
            self._send_json(status, error_body(scenario.vendor, status, message))
            return
        assert isinstance(body, dict)
        text = action.text if isinstance(action, Reply) and action.text is not None else None
        fmt = _Format(
            scenario,
            body,
            text if text is not None else reply_text_for(body, scenario.vendor),
            action.finish if isinstance(action, Reply) else None,
        )
        if not req.stream:
            if isinstance(action, Malformed):
                data = b'{"choices": [ {"message": oops'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._send_json(200, fmt.plain(), action.headers if isinstance(action, Reply) else None)
            return
        self._stream(fmt, action)

    def _stream(self, fmt: _Format, action: Action) -> None:
        self.send_response(200)
        self.send_header("Content-Type", fmt.content_type())
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        gap = action.gap if isinstance(action, Reply) else 0.0
        for frame in fmt.head():
            self._chunk(frame)
        for i, piece in enumerate(fmt.pieces):
            if isinstance(action, Drop) and action.after is not None and i == action.after:
                self._abort()
                return
            if isinstance(action, Malformed) and i == action.after:
                self._chunk(fmt.malformed_frame())
                break
            if isinstance(action, StreamError) and i == action.after:
                self._chunk(fmt.stream_error_frame(action.message, action.kind))
                self._end_chunks()
                return
            if gap and i:
                time.sleep(gap)
            self._chunk(fmt.piece(i, piece))
        if not isinstance(action, Malformed):
            for frame in fmt.tail():
                self._chunk(frame)
        self._end_chunks()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops SYNs under concurrent tests (1 s retransmits)
    scenarios: dict[str, Scenario]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-answer are part of the tests, not errors.
        return


class VendorServer:
    """The server, started on a free loopback port.

    Example:
        >>> with VendorServer() as server:
        ...     scenario = server.scenario("openai", key="sk-test", model="gpt-4o-mini")
        ...     scenario.base_url.startswith("http://127.0.0.1:")
        True
    """

    _ids = itertools.count()

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.scenarios = {}
        self._thread = threading.Thread(target=self._server.serve_forever, name="vendor-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VendorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> VendorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def scenario(
        self, vendor: str, *, key: str | None, model: str, actions: list[Action] | None = None
    ) -> Scenario:
        scenario = Scenario(self, vendor, key=key, model=model, actions=actions)
        self._server.scenarios[scenario.id] = scenario
        return scenario
