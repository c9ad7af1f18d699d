"""``compare`` throughput: 8 blends x 25 prompts against a provider with 100 ms latency.

Starts a local OpenAI-compatible HTTP/1.1 keep-alive server in a separate process
(``ThreadingHTTPServer``: one thread per connection, so requests really are served
concurrently; each ``POST /v1/chat/completions`` sleeps 100 ms, then answers a fixed
chat-completion JSON echoing the last user message). Then it measures:

(a) ``compare(client, 8 blends, 25 prompts, concurrency=16)`` through the ``openai``
    adapter, end to end: blend registration, one fresh session per cell, 200 turns;
(b) the in-process baseline: the same 200 requests (system prompt + user message, the
    same bodies our run sent) POSTed with a raw ``httpx.AsyncClient`` under an
    ``asyncio.Semaphore(16)``, against the same server.

The ideal is 200 / 16 x 0.1 s = 1.25 s; the target is <= 1.6 s. Each side runs
``--rounds`` times, alternating, after one warm-up each; the best and the median are
printed (the best is the least noisy estimate on a shared machine), with the ratios
measured/ideal and ours/raw.

(c) ``word_diff`` (the diff a grid cell shows against the baseline) of two long texts,
    next to a bare line-level ``difflib`` match of the same texts; target <= 20 ms each.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_compare.py
    .venv/bin/python benchmarks/bench_compare.py --rounds 5 --profile

``--serve`` runs only the server (prints ``PORT <n>`` and serves until killed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import pstats
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from _harness import median_s, target_row

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(_REPO))

from luminora_nb import LuminoraCoreClient, ProviderConfig  # noqa: E402
from luminora_nb.compare import compare, word_diff  # noqa: E402
from luminora_nb.personality.blend import blend_personalities  # noqa: E402
from luminora_nb.personality.library import get_builtin  # noqa: E402

LATENCY = 0.1
CONCURRENCY = 16
TARGET_S = 1.6
DIFF_TARGET_MS = 20.0  # a diff the grid asks for on a click
MODEL = "gpt-4o-mini"
# A throwaway key: the server never checks it, and it is never printed.
API_KEY = "sk-bench-" + secrets.token_hex(8)
BLENDS: list[Any] = [
    "aurora",
    "vex",
    "captain_quip",
    "lyra",
    {"aurora": 6, "vex": 4},
    {"captain_quip": 7, "moss": 3},
    {"lyra": 5, "pip": 5},
    {"regent": 8, "tinker": 2},
]
PROMPTS = [f"Question {i}: what would you say about topic number {i}?" for i in range(25)]


# --------------------------------------------------------------------------------------
# The server (runs in its own process: `bench_compare.py --serve`)
# --------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK
        # would add ~40 ms to every answer, for both sides alike.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        time.sleep(LATENCY)  # the model "generating"
        text = f"echo: {body['messages'][-1]['content']}"
        payload = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": body.get("model", MODEL),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def serve() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True, cwd=_REPO
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------
async def ours(base_url: str, bodies: list[dict[str, Any]] | None = None) -> float:
    """Wall time of one ``compare`` run (fresh client: blends, sessions, turns)."""
    provider = ProviderConfig(name="openai", api_key=API_KEY, base_url=base_url, model=MODEL)
    async with LuminoraCoreClient() as client:
        start = time.perf_counter()
        result = await compare(
            client, BLENDS, PROMPTS, provider=provider, concurrency=CONCURRENCY, progress=False
        )
        elapsed = time.perf_counter() - start
        if result.errors or len(result.cells) != len(BLENDS) * len(PROMPTS):
            raise RuntimeError(f"compare failed: {result.errors} errors; first: {result.failed[:1]}")
        if any(c.reply != f"echo: {c.prompt}" for c in result.cells):
            raise RuntimeError("a cell got another cell's reply")
        if bodies is not None:  # the requests our run sent, for the raw side to replay
            for cell in result.cells:
                personality = await client.get_personality(cell.personality)
                assert personality is not None
                bodies.append(
                    {
                        "model": MODEL,
                        "messages": [
                            {"role": "system", "content": personality.system_prompt},
                            {"role": "user", "content": cell.prompt},
                        ],
                    }
                )
    return elapsed


async def raw(base_url: str, bodies: list[dict[str, Any]]) -> float:
    """Wall time of the same requests sent with a bare httpx client, 16 at a time."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers) as http:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(body: dict[str, Any]) -> str:
            async with gate:
                response = await http.post(f"{base_url}/chat/completions", json=body)
                response.raise_for_status()
                content: str = response.json()["choices"][0]["message"]["content"]
                return content

        start = time.perf_counter()
        replies = await asyncio.gather(*(one(b) for b in bodies))
        elapsed = time.perf_counter() - start
    if replies != [f"echo: {b['messages'][-1]['content']}" for b in bodies]:
        raise RuntimeError("raw replies do not match")
    return elapsed


def bench_word_diff(repeat: int = 30) -> None:
    """``word_diff`` of two long texts: two blends' system prompts (about 3.5k characters
    each, a few numbers and phrases apart) and two replies of one repetitive line, next
    to a bare line-level ``difflib`` match of the same prompts (the floor of any diff)."""
    import difflib

    sources = [get_builtin("aurora"), get_builtin("captain_quip")]
    old = blend_personalities(sources, [70, 30], name="blend").system_prompt
    new = blend_personalities(sources, [40, 60], name="blend").system_prompt
    reply = "The quick brown fox jumps over the lazy dog. " * 20
    other = reply.replace("lazy", "sleepy").replace("quick brown", "slow red")

    lines = 1000.0 * median_s(
        lambda: difflib.SequenceMatcher(None, old.splitlines(True), new.splitlines(True)).get_opcodes(),
        repeat,
    )
    print(f"baseline: bare line-level difflib match of the two prompts {lines:.2f} ms (median)")
    for label, a, b in (
        (f"word_diff, prompts ({len(old):,} / {len(new):,} chars)", old, new),
        (f"word_diff, one-line replies ({len(reply):,} chars)", reply, other),
    ):
        took = 1000.0 * median_s(functools.partial(word_diff, a, b), repeat)
        target_row(label, took, "ms", DIFF_TARGET_MS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help="only run the server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one run of our side")
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    cells = len(BLENDS) * len(PROMPTS)
    ideal = cells / CONCURRENCY * LATENCY
    with server_process() as base_url:
        bodies: list[dict[str, Any]] = []
        asyncio.run(ours(base_url, bodies))  # warm-up (imports, caches) + the bodies to replay
        asyncio.run(raw(base_url, bodies))
        ours_s: list[float] = []
        raw_s: list[float] = []
        cpu_start = time.process_time()
        for _ in range(args.rounds):
            ours_s.append(asyncio.run(ours(base_url)))
            raw_s.append(asyncio.run(raw(base_url, bodies)))
        cpu = (time.process_time() - cpu_start) / args.rounds
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            asyncio.run(ours(base_url))
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())

    best, best_raw = min(ours_s), min(raw_s)
    print(
        f"compare: {len(BLENDS)} blends x {len(PROMPTS)} prompts = {cells} cells, {LATENCY * 1000:.0f} ms "
        f"per request, concurrency {CONCURRENCY}, {args.rounds} round(s)"
    )
    print(f"ideal ({cells}/{CONCURRENCY} x {LATENCY:g} s)            {ideal:8.3f} s")
    verdict = "ok" if best <= TARGET_S else "MISSED"
    print(
        f"luminora compare (best / median)          {best:8.3f} s / {statistics.median(ours_s):.3f} s   "
        f"target <= {TARGET_S} s  ratio to ideal {best / ideal:5.2f}  {verdict}"
    )
    print(
        f"raw httpx, same requests (best / median)  {best_raw:8.3f} s / {statistics.median(raw_s):.3f} s   "
        f"ratio to ideal {best_raw / ideal:5.2f}"
    )
    print(f"ours / raw (best)                         {best / best_raw:8.2f}")
    print(f"client-process CPU per round (both sides) {cpu:8.3f} s")
    bench_word_diff()


if __name__ == "__main__":
    main()
