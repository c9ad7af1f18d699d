"""Turn overhead of the ``openai`` provider: luminora_nb sessions versus raw httpx.

Starts a local OpenAI-compatible HTTP/1.1 keep-alive server in a separate process (a
minimal asyncio server written below; real sockets on 127.0.0.1) whose reply to
``POST /v1/chat/completions`` is a fixed chat-completion JSON carrying
``"echo: <last user message>"`` as its content. Then it compares, turn for turn:

(a) sequential: ``--turns`` (1,000) turns through one session with
    ``LuminoraCoreClient.send_message`` (in-memory storage, default ``max_history`` 100,
    so each request re-sends up to 100 messages: the history is flat in turn count once
    it is full) versus a raw ``httpx.AsyncClient`` loop POSTing the very same requests
    (the JSON bodies our run sent, captured by the server, posted with ``json=``: the
    same bytes) to the same server and reading each reply's content;
(b) concurrent: ``--sessions`` (200) sessions x ``--session-turns`` (10) turns, all
    sessions at once, versus raw concurrent httpx replaying each session's requests in
    order over one shared client.

**Paired blocks.** The machine this runs on is shared and noisy: load comes and goes on
a scale of seconds, so timing one side for a whole run and then the other compares two
different machines. Instead both sides alternate in short blocks — ``--block`` (50) turns
of ours, then the raw replay of exactly those requests (for (b): one turn of every
session, then its replay) — so each block of ours has a raw twin measured a moment
later, under the same load. Each run (``--rounds``, default 3) starts a fresh session.
It prints, per workload and side, the summed wall time and client CPU time, and

* **ratio** = median over all blocks of (ours / raw) wall time, the verdict against the
  target (``<= 1.2``): robust to a burst of load that hits one block;
* the ratio of the summed wall times and of the summed client CPU times (CPU is
  disturbed less by other processes), and the best and worst round;
* for (a), our cost per turn in the first and last quarter of the run: flat history
  means flat cost.

Both sides use the same transport settings: one pool of ``--pool`` keep-alive
connections (ours through ``ProviderConfig.extra["max_connections"]``). The default is
20, not the adapter's default of 100, because httpcore's pool does work proportional
to (connections x waiting requests) on every request: with 100 connections and 200
sessions both sides spend most of their time there. ``--pool 100`` reproduces the
adapter's default.

It checks there is no cross-talk: every session gets its own replies, in order, and its
stored conversation holds exactly its own turns; the exit code is 1 when a check fails
(the ratios are reported, not enforced: they depend on the machine).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_providers.py
    .venv/bin/python benchmarks/bench_providers.py --rounds 1 --turns 500 --sessions 50
    .venv/bin/python benchmarks/bench_providers.py --pool 100   # the adapter's default pool
    .venv/bin/python benchmarks/bench_providers.py --profile    # adds cProfile of our side

``--serve`` runs only the server (prints ``PORT <n>`` and serves until killed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(_REPO))

TARGET_RATIO = 1.2
MODEL = "gpt-4o-mini"
# A throwaway key: the server never checks it, and it is never printed.
API_KEY = "sk-bench-" + secrets.token_hex(8)


# --------------------------------------------------------------------------------------
# The server (runs in its own process: `bench_providers.py --serve`)
# --------------------------------------------------------------------------------------
def echo_of(message: str) -> str:
    """The reply the server gives to a conversation whose last user message is ``message``."""
    return f"echo: {message}"


@dataclass
class _ServerState:
    connections: int = 0
    requests: int = 0
    recorded: list[tuple[str, str]] = field(default_factory=list)

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        path = target.split("?", 1)[0]
        if method == "POST" and path.endswith("/chat/completions"):
            return self._chat(path, body)
        if method == "GET" and path == "/_stats":
            stats = {"connections": self.connections, "requests": self.requests, "recorded": self.recorded}
            self.connections, self.requests, self.recorded = 0, 0, []
            return 200, json.dumps(stats).encode()
        return 404, _error_json(f"no route for {method} {path}; use POST /v1/chat/completions")

    def _chat(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.requests += 1
        try:
            data = json.loads(body)
            messages = data["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            return 400, _error_json(f"body is not a chat-completion request: {exc}")
        if data.get("stream"):
            return 400, _error_json("this benchmark server answers non-streamed requests only")
        last_user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        if isinstance(last_user, list):  # content parts
            last_user = "".join(p.get("text", "") for p in last_user if isinstance(p, dict))
        if not isinstance(last_user, str):
            return 400, _error_json("the request has no user message")
        self.recorded.append((path, body.decode("utf-8")))
        reply = echo_of(last_user)
        prompt_tokens = max(1, len(body) // 4)
        completion_tokens = len(reply.split())
        payload = {
            "id": f"chatcmpl-bench{self.requests}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": data.get("model", MODEL),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, json.dumps(payload).encode()


def _error_json(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 431: "Request Header Fields Too Large"}


class _HTTPProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all httpx sends here."""

    def __init__(self, state: _ServerState) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65_536:
                    self._respond(431, _error_json("request head too large"), close=True)
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = value.strip().lower() == "close"
                elif name == "transfer-encoding":
                    self._respond(400, _error_json("send a Content-Length body, not chunked"), close=True)
                    return
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            status, payload = self.state.handle(method, target, body)
            self._respond(status, payload, close=close)

    def _respond(self, status: int, payload: bytes, *, close: bool) -> None:
        if self.transport is None:
            return
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n"
            + ("connection: close\r\n" if close else "")
            + "\r\n"
        )
        self.transport.write(head.encode("latin-1") + payload)
        if close:
            self.transport.close()
            self.transport = None


async def _serve(port: int) -> None:
    state = _ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HTTPProtocol(state), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


class BenchServer:
    """The server process, started with :meth:`start` and stopped on exit."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, timeout: float = 15.0) -> BenchServer:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        line = process.stdout.readline()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"benchmark server did not start (said {line!r}, exit {process.poll()})")
        return cls(process, int(line.split()[1]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# The measured workloads
# --------------------------------------------------------------------------------------
class CheckFailed(Exception):
    """A correctness check of the benchmark failed (wrong reply, cross-talk, lost turn)."""


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds (of this process: the client side) of one block."""

    wall: float
    cpu: float


class _Clock:
    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timing = Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


# One captured request: (path, JSON body as text).
Request = tuple[str, str]


@dataclass
class Captured:
    """What the server saw since the last call of :func:`take_stats`."""

    connections: int
    requests: int
    recorded: list[Request]


async def take_stats(control: httpx.AsyncClient) -> Captured:
    response = await control.get("/_stats")
    response.raise_for_status()
    data = response.json()
    return Captured(data["connections"], data["requests"], [(p, b) for p, b in data["recorded"]])


def _message(tag: str, session: int, turn: int) -> str:
    return f"{tag} session {session} turn {turn}"


def _provider_config(server: BenchServer, pool: int) -> Any:
    from luminora_nb import ProviderConfig

    return ProviderConfig(
        name="openai",
        api_key=API_KEY,
        base_url=f"{server.url}/v1",
        model=MODEL,
        extra={"max_connections": pool},
    )


def _check_conversation(label: str, messages: Sequence[Any], sent: Sequence[str]) -> None:
    expected = [(role, text) for m in sent for role, text in (("user", m), ("assistant", echo_of(m)))]
    got = [(str(getattr(m.role, "value", m.role)), m.content) for m in messages]
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
        raise CheckFailed(
            f"{label}: stored conversation differs from the turns sent "
            f"({len(got)} vs {len(expected)} messages; first difference at index {first})"
        )


def _check_replies(label: str, replies: Sequence[str], sent: Sequence[str]) -> None:
    if list(replies) != [echo_of(m) for m in sent]:
        bad = next(
            (i for i, (r, m) in enumerate(zip(replies, sent, strict=False)) if r != echo_of(m)), len(replies)
        )
        raise CheckFailed(
            f"{label}: reply {bad} is not the echo of its own message "
            f"(got {replies[bad] if bad < len(replies) else 'nothing'!r}, sent {sent[bad]!r})"
        )


def _raw_client(server: BenchServer, pool: int) -> httpx.AsyncClient:
    # Same transport settings as the adapter: one pool of `pool` keep-alive connections.
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=httpx.Timeout(30.0, connect=5.0),
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool, keepalive_expiry=30.0),
    )


async def _raw_turn(http: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> str:
    # What a hand-written client does: POST the JSON, check the status, read the content.
    response = await http.post(path, json=payload)
    response.raise_for_status()
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def _decoded(requests: Sequence[Request]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, json.loads(body)) for path, body in requests]


def _last_user(payload: dict[str, Any]) -> str:
    content: str = next(m["content"] for m in reversed(payload["messages"]) if m["role"] == "user")
    return content


@dataclass
class Round:
    """One run of a workload: paired blocks of ours and the raw replay of the same requests."""

    ours: list[Timing] = field(default_factory=list)
    raw: list[Timing] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)  # turns per block
    connections_ours: int = 0
    connections_raw: int = 0

    def total(self, side: str, what: str) -> float:
        timings = self.ours if side == "ours" else self.raw
        return sum(t.wall if what == "wall" else t.cpu for t in timings)


async def _replayed(
    control: httpx.AsyncClient, expected: int, label: str, replay: Callable[[Captured], Awaitable[None]]
) -> tuple[Captured, Captured]:
    """Check the server saw ``expected`` requests of ours, replay them raw; both captures."""
    ours = await take_stats(control)
    if ours.requests != expected or len(ours.recorded) != expected:
        raise CheckFailed(f"{label}: the server saw {ours.requests} requests for {expected} turns (a retry?)")
    await replay(ours)
    raw = await take_stats(control)
    if raw.requests != expected:
        raise CheckFailed(f"{label}: the raw replay sent {raw.requests} requests for {expected} turns")
    return ours, raw


async def sequential_round(
    server: BenchServer, control: httpx.AsyncClient, turns: int, block: int, tag: str, pool: int
) -> Round:
    """``turns`` turns through one session, in blocks, each followed by its raw replay."""
    from luminora_nb import LuminoraCoreClient, StorageConfig

    sent = [_message(tag, 0, t) for t in range(turns)]
    replies: list[str] = []
    raw_replies: list[str] = []
    result = Round()
    async with (
        LuminoraCoreClient(storage_config=StorageConfig(storage_type="memory")) as client,
        _raw_client(server, pool) as http,
    ):
        sid = await client.create_session("aurora", _provider_config(server, pool))
        await take_stats(control)  # reset
        for start in range(0, turns, block):
            texts = sent[start : start + block]
            with _Clock() as clock:
                for text in texts:
                    replies.append((await client.send_message(sid, text)).content)
            result.ours.append(clock.timing)

            async def replay(captured: Captured) -> None:
                payloads = _decoded(captured.recorded)
                with _Clock() as raw_clock:
                    for path, payload in payloads:
                        raw_replies.append(await _raw_turn(http, path, payload))
                result.raw.append(raw_clock.timing)

            ours, raw = await _replayed(control, len(texts), f"sequential ({tag})", replay)
            result.turns.append(len(texts))
            result.connections_ours += ours.connections
            result.connections_raw += raw.connections
        conversation = await client.get_conversation(sid)
    _check_replies(f"sequential ({tag})", replies, sent)
    _check_replies("raw sequential", raw_replies, sent)
    assert conversation is not None
    _check_conversation(f"sequential ({tag})", conversation.messages, sent)
    return result


def group_by_session(recorded: Sequence[Request], sessions: int) -> list[list[Request]]:
    """Split captured requests by the session named in their last user message, keeping order."""
    groups: list[list[Request]] = [[] for _ in range(sessions)]
    for path, body in recorded:
        words = _last_user(json.loads(body)).split()
        groups[int(words[words.index("session") + 1])].append((path, body))
    return groups


async def concurrent_round(
    server: BenchServer, control: httpx.AsyncClient, sessions: int, turns: int, tag: str, pool: int
) -> Round:
    """``sessions`` sessions at once, ``turns`` turns each; one block per turn index, each
    followed by the raw concurrent replay of that block's requests. Checks for cross-talk."""
    from luminora_nb import LuminoraCoreClient, StorageConfig

    sent = [[_message(tag, s, t) for t in range(turns)] for s in range(sessions)]
    replies: list[list[str]] = [[] for _ in range(sessions)]
    raw_replies: list[list[str]] = [[] for _ in range(sessions)]
    result = Round()
    async with (
        LuminoraCoreClient(storage_config=StorageConfig(storage_type="memory")) as client,
        _raw_client(server, pool) as http,
    ):
        config = _provider_config(server, pool)
        sids = [await client.create_session("aurora", config) for _ in range(sessions)]
        await take_stats(control)  # reset

        async def ours_turn(index: int, turn: int) -> None:
            replies[index].append((await client.send_message(sids[index], sent[index][turn])).content)

        for turn in range(turns):
            with _Clock() as clock:
                await asyncio.gather(*(ours_turn(i, turn) for i in range(sessions)))
            result.ours.append(clock.timing)

            async def replay(captured: Captured) -> None:
                groups = [_decoded(g) for g in group_by_session(captured.recorded, sessions)]

                async def raw_turn(index: int) -> None:
                    for path, payload in groups[index]:
                        raw_replies[index].append(await _raw_turn(http, path, payload))

                with _Clock() as raw_clock:
                    await asyncio.gather(*(raw_turn(i) for i in range(sessions)))
                result.raw.append(raw_clock.timing)

            ours, raw = await _replayed(control, sessions, f"concurrent ({tag})", replay)
            result.turns.append(sessions)
            result.connections_ours += ours.connections
            result.connections_raw += raw.connections
        conversations = [await client.get_conversation(sid) for sid in sids]
    for index, conversation in enumerate(conversations):
        label = f"concurrent ({tag}) session {index}"
        _check_replies(label, replies[index], sent[index])
        _check_replies(f"raw {label}", raw_replies[index], sent[index])
        assert conversation is not None
        _check_conversation(label, conversation.messages, sent[index])
    return result


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    turns: int
    rounds: list[Round] = field(default_factory=list)
    flat: bool = False  # report the first and last quarter (sequential runs)

    def total(self, side: str, what: str) -> float:
        return sum(r.total(side, what) for r in self.rounds)

    @property
    def block_ratios(self) -> list[float]:
        return [o.wall / w.wall for r in self.rounds for o, w in zip(r.ours, r.raw, strict=True)]

    @property
    def ratio(self) -> float:
        """Median over all blocks of ours / raw wall time: the verdict."""
        return statistics.median(self.block_ratios)

    def _quarter(self, first: bool) -> tuple[float, float]:
        """Ours and raw wall microseconds per turn over the first or last quarter of each round."""
        ours = raw = 0.0
        turns = 0
        for r in self.rounds:
            n = max(1, len(r.ours) // 4)
            picked = range(n) if first else range(len(r.ours) - n, len(r.ours))
            ours += sum(r.ours[i].wall for i in picked)
            raw += sum(r.raw[i].wall for i in picked)
            turns += sum(r.turns[i] for i in picked)
        return ours / turns * 1e6, raw / turns * 1e6

    def lines(self) -> list[str]:
        turns = self.turns * len(self.rounds)
        out = [
            f"{self.name}: {self.turns} turns x {len(self.rounds)} round(s), ours and raw in paired blocks"
        ]
        for label, side in (("luminora_nb", "ours"), ("raw httpx  ", "raw")):
            wall, cpu = self.total(side, "wall"), self.total(side, "cpu")
            connections = [r.connections_ours if side == "ours" else r.connections_raw for r in self.rounds]
            out.append(
                f"  {label} : {wall / turns * 1e6:7.1f} us/turn wall, {cpu / turns * 1e6:7.1f} us/turn "
                f"client CPU  (TCP connections per round: {', '.join(map(str, connections))})"
            )
        rounds = [r.total("ours", "wall") / r.total("raw", "wall") for r in self.rounds]
        out.append(
            f"  totals ours/raw: wall {self.total('ours', 'wall') / self.total('raw', 'wall'):.2f}, "
            f"client CPU {self.total('ours', 'cpu') / self.total('raw', 'cpu'):.2f}; "
            f"per round (wall) {min(rounds):.2f} .. {max(rounds):.2f}"
        )
        if self.flat:
            (o1, r1), (o4, r4) = self._quarter(True), self._quarter(False)
            out.append(
                f"  flat in turn count: first quarter ours {o1:6.1f} us/turn (raw {r1:6.1f}), "
                f"last quarter ours {o4:6.1f} us/turn (raw {r4:6.1f})"
            )
        overhead = (self.total("ours", "wall") - self.total("raw", "wall")) / turns * 1e6
        verdict = "meets" if self.ratio <= TARGET_RATIO else "MISSES"
        out.append(
            f"  RATIO ours/raw = {self.ratio:.2f} (median of {len(self.block_ratios)} paired blocks) -> "
            f"{verdict} the <= {TARGET_RATIO} target; overhead {overhead:+.1f} us/turn"
        )
        return out


async def run(args: argparse.Namespace) -> int:
    pool: int = args.pool
    with BenchServer.start() as server:
        # The control connection never expires, so it is not counted again mid-run.
        limits = httpx.Limits(keepalive_expiry=None)
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits) as control:
            # Warm-up: imports, connection set-up, first-call caches on both sides.
            await sequential_round(server, control, 100, args.block, "warmup", pool)

            sequential = Result("(a) sequential, one session", args.turns, flat=True)
            concurrent = Result(
                f"(b) concurrent, {args.sessions} sessions x {args.session_turns} turns",
                args.sessions * args.session_turns,
            )
            for r in range(args.rounds):
                sequential.rounds.append(
                    await sequential_round(server, control, args.turns, args.block, f"seq{r}", pool)
                )
                if args.sessions:
                    concurrent.rounds.append(
                        await concurrent_round(
                            server, control, args.sessions, args.session_turns, f"conc{r}", pool
                        )
                    )
            print(
                f"openai provider turn overhead against same-bytes raw httpx (target: ours/raw <= "
                f"{TARGET_RATIO}); connection pool {pool} on both sides"
            )
            for result in (sequential, concurrent):
                if result.rounds:
                    print("\n".join(result.lines()))
            print("no cross-talk: every session got its own replies, in order, and stored exactly its turns")

            if args.profile:
                await _profile(server, control, args)
    return 0


async def _profile(server: BenchServer, control: httpx.AsyncClient, args: argparse.Namespace) -> None:
    from luminora_nb import LuminoraCoreClient, StorageConfig

    async def sequential() -> None:
        async with LuminoraCoreClient(storage_config=StorageConfig(storage_type="memory")) as client:
            sid = await client.create_session("aurora", _provider_config(server, args.pool))
            for t in range(args.turns):
                await client.send_message(sid, _message("prof", 0, t))

    profiler = cProfile.Profile()
    profiler.enable()
    await sequential()
    profiler.disable()
    await take_stats(control)  # reset
    for title, sort, restrictions in (
        ("cumulative time, functions of luminora_nb", "cumulative", ("luminora_nb", 40)),
        ("own time, all functions", "tottime", (30,)),
    ):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(*restrictions)
        print(f"\n== cProfile of our sequential run ({args.turns} turns): {title}")
        print(out.getvalue().strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=1000, help="sequential turns (default 1000)")
    parser.add_argument(
        "--sessions", type=int, default=200, help="concurrent sessions (default 200; 0: skip)"
    )
    parser.add_argument("--session-turns", type=int, default=10, help="turns per concurrent session")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each workload (default 3)")
    parser.add_argument(
        "--block", type=int, default=50, help="sequential turns per paired block (default 50)"
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=20,
        help="keep-alive connections per pool, ours and raw (default 20; the adapter's default is 100)",
    )
    parser.add_argument("--profile", action="store_true", help="also print cProfile of our sequential side")
    parser.add_argument("--serve", action="store_true", help="only run the server (prints its port)")
    parser.add_argument("--port", type=int, default=0, help="server port with --serve (0: any free)")
    args = parser.parse_args(argv)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args.port))
        return 0
    if min(args.turns, args.session_turns, args.rounds, args.pool, args.block) < 1 or args.sessions < 0:
        parser.error("--turns, --session-turns, --rounds, --block and --pool must be at least 1")
    try:
        return asyncio.run(run(args))
    except CheckFailed as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
