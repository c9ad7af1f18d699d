"""A small real HTTP/1.1 server on 127.0.0.1 for the kernel tests (keep-alive, threaded).

``GET /ping?i=N`` answers ``{"i": N}`` after 0.2 s (so 20 concurrent requests finish in
well under 20 x 0.2 s only if they really run concurrently). ``POST /v1/chat/completions``
answers in OpenAI's chat format (plain JSON, or SSE when ``"stream": true``) with
"You said: <last user message>", which lets a ``llama`` provider (``api="openai"``) talk
to it over real sockets and keep its connections alive between cells.

Run it standalone with ``python local_server.py [PORT]`` or in process with :func:`start`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/ping":
            self.send_error(404)
            return
        time.sleep(0.2)
        self._json({"i": int(parse_qs(url.query).get("i", ["0"])[0])})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if urlsplit(self.path).path != "/v1/chat/completions":
            self.send_error(404)
            return
        user = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        text = f"You said: {user[-1] if user else ''}"
        usage = {
            "prompt_tokens": 5,
            "completion_tokens": len(text.split()),
            "total_tokens": 5 + len(text.split()),
        }
        model = body.get("model", "local")
        if not body.get("stream"):
            self._json(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(data: Any) -> None:
            frame = f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")

        for i, word in enumerate(text.split(" ")):
            piece = word if i == 0 else " " + word
            send(
                {
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
            )
        send(
            {"model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
        )
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # 20 clients connecting at once must not wait in a 5-deep backlog


def start(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve on 127.0.0.1 in a daemon thread; returns the server and its base URL."""
    server = _Server(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, name="local-server", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


if __name__ == "__main__":
    srv, url = start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(url, flush=True)
    threading.Event().wait()
