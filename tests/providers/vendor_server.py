"""A real HTTP/1.1 server on 127.0.0.1 speaking each LLM vendor's wire format (see :mod:`.wire`).

It runs in a background thread (``ThreadingHTTPServer``, keep-alive, chunked streaming)
so the adapters under test talk to it over real sockets. Each test registers a
:class:`~.wire.Scenario` under a unique URL prefix; the scenario checks and records each
request and says what to answer (:class:`~.wire.Answer`), which this server writes out —
including what only a socket can do: stay silent (``Stall``), send a stream slowly
(``Reply(gap=...)``) and hang up (``Drop``). Everything else is also served in-process
by :mod:`.mock_vendor`, which the faster tests use.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .wire import (
    Action,
    Answer,
    Drop,
    Fail,
    Malformed,
    RecordedRequest,
    Reply,
    Scenario,
    Stall,
    StreamError,
    recorded_request,
    reply_text_for,
    split_path,
)

# The actions are re-exported: other test packages script this server with them.
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

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        routed = split_path(split.path)
        scenario = self.server.scenarios.get(routed[0]) if routed else None
        if scenario is None or routed is None:
            self._write(
                Answer(status=404, body=json.dumps({"error": f"no scenario for {split.path}"}).encode())
            )
            return
        req = recorded_request(
            scenario,
            method=self.command,
            path=routed[1],
            query=split.query,
            headers=self.headers.items(),
            raw=raw,
            client_port=self.client_address[1],
        )
        self._write(scenario.respond(req))

    def _write(self, answer: Answer) -> None:
        if answer.stall:
            time.sleep(answer.stall)
        if answer.drop and answer.frames is None:
            self._abort()
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        if answer.frames is None:
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for frame in answer.frames:
            if frame.delay:
                time.sleep(frame.delay)
            self.wfile.write(f"{len(frame.data):x}\r\n".encode() + frame.data + b"\r\n")
            self.wfile.flush()
        if answer.drop:
            self._abort()
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


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

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.scenarios = {}
        # A short poll interval: shutdown() waits for the serving loop to notice it.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="vendor-server",
            daemon=True,
        )

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
        scenario = Scenario(vendor, root=self.url, key=key, model=model, actions=actions)
        self._server.scenarios[scenario.id] = scenario
        return scenario
