"""ChatWidget benchmark: opening a long stored session, and the bytes a streamed reply costs.

Run: ``.venv/bin/python benchmarks/bench_chat_widget.py``

Prints, for this machine, each figure next to its target and the ratio figure/target
(<= 1.0 meets it), as ``bench_core.py`` does:

* constructing a ChatWidget on a stored session of 500 messages (target <= 1 s), both
  for a session live in this facade and for one read back from file storage by a fresh
  facade; the baseline from the same process is ``lum.get_conversation(sid)`` alone;
* streaming a 5,000-chunk reply into the widget: bytes sent to the front end (every
  message, state updates included, measured with ``record_comms``) divided by the reply's
  size in bytes (target <= 3).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterator

from _harness import median_s, target_row

from luminora_nb.providers.base import ChatRequest, Provider
from luminora_nb.providers.registry import register_provider
from luminora_nb.sync import Luminora
from luminora_nb.types.provider import ChatResponse
from luminora_nb.types.session import StorageConfig
from luminora_nb.widgets.chat import ChatWidget
from luminora_nb.widgets.testing import record_comms

CHUNKS = 5000


class BulkProvider(Provider):
    """Stands in for a remote LLM that streams its reply in 5,000 small chunks."""

    name = "bench-bulk"
    default_model = "bulk-1"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        parts = [chunk.content async for chunk in self.stream(request)]
        return ChatResponse(content="".join(parts), finish_reason="stop", model=self.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        for i in range(CHUNKS - 1):
            yield ChatResponse(content=f"word{i % 1000:03d} ", model=self.model)
        yield ChatResponse(content="end.", finish_reason="stop", usage={"completion_tokens": CHUNKS})


def build_session(lum: Luminora, messages: int) -> str:
    async def build() -> str:
        sid = await lum.client.create_session("aurora")
        for i in range(messages // 2):
            await lum.client.send_message(sid, f"Tell me about topic number {i}, please.")
        return sid

    return lum.submit(build()).result()


def open_widget(lum: Luminora, sid: str) -> None:
    with record_comms():
        chat = ChatWidget(lum, sid)
    assert chat.error == "", chat.error
    assert len(chat.messages) == 500
    chat.close()


def main() -> None:
    register_provider("bench-bulk", BulkProvider, replace=True)
    with tempfile.TemporaryDirectory() as folder:
        storage = StorageConfig(storage_type="file", connection_string=folder)
        with Luminora(log=None, storage=storage) as lum:
            sid = build_session(lum, 500)
            baseline_live = median_s(lambda: lum.get_conversation(sid), 20)
            live = median_s(lambda: open_widget(lum, sid), 20)
        with Luminora(log=None, storage=storage) as fresh:  # the session is only in storage now
            baseline_stored = median_s(lambda: fresh.get_conversation(sid), 20)
            first_open = time.perf_counter()
            open_widget(fresh, sid)  # the first one also resumes the session
            first_open = time.perf_counter() - first_open

        with Luminora(log=None) as lum, record_comms() as wire:
            chat = ChatWidget(lum, personality="aurora", provider="bench-bulk")
            wire.custom(chat, {"type": "sync"})
            wire.clear()
            start = time.perf_counter()
            chat.send("Write a lot.")
            chat.wait()
            stream_s = time.perf_counter() - start
            reply_bytes = len(chat.messages[-1]["content"].encode())
            sent, messages = wire.bytes_sent, len(wire.messages)

    print(
        f"baseline: lum.get_conversation(500 messages) {baseline_live * 1000:,.1f} ms live, "
        f"{baseline_stored * 1000:,.1f} ms from file storage"
    )
    target_row("ChatWidget on 500 stored messages (live)", live * 1000, "ms", 1000)
    target_row("ChatWidget on 500 stored messages (file, fresh)", first_open * 1000, "ms", 1000)
    target_row("5,000-chunk reply: bytes sent / reply bytes", sent / reply_bytes, "x", 3)
    print(
        f"widget open = {live / baseline_live:.1f}x get_conversation; reply {reply_bytes:,} bytes streamed "
        f"in {messages} front-end messages ({sent:,} bytes) in {stream_s * 1000:,.0f} ms"
    )


if __name__ == "__main__":
    main()
