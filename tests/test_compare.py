"""compare: blends x prompts side by side, on the offline simulator and on real local HTTP servers.

The offline provider (the embedded deterministic simulator) gives stable replies for the
matrix, baseline and diff tests. Failures use the vendor server of the provider tests
(a real OpenAI wire-format server that answers one request with HTTP 400). Concurrency
and cancellation use a tiny threaded OpenAI-compatible server defined here, which
counts the requests it is serving at once and can hold them until the test releases
them, so no test depends on wall-clock timing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.compare import (
    CompareCell,
    blend_labels,
    compare,
    plan_compare,
    rerun_cell,
    run_compare,
    word_diff,
)
from luminora_nb.errors import PersonalityError, ProviderAuthenticationError, SessionError

from .providers.vendor_server import Fail, VendorServer

PROMPTS = [
    "Hello there!",
    "What is a black hole?",
    "Tell me a joke about cats.",
    "I feel a bit sad today.",
]


@pytest.fixture
async def client() -> AsyncIterator[LuminoraCoreClient]:
    async with LuminoraCoreClient() as c:
        yield c


def others() -> set[asyncio.Task[Any]]:
    """Tasks of this event loop other than the test's own."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


def rebuild(ops: list[tuple[str, str]]) -> tuple[str, str]:
    old = "".join(text for op, text in ops if op in ("equal", "delete"))
    new = "".join(text for op, text in ops if op in ("equal", "insert"))
    return old, new


# --------------------------------------------------------------------------- a counting server


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.requests = 0
        self.delay = 0.02
        self.gate: threading.Event | None = None  # when set, requests wait for it

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients hanging up
        return


class _CountingHandler(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` in the OpenAI format; replies ``echo: <last user message>``."""

    protocol_version = "HTTP/1.1"
    server: _CountingServer

    def setup(self) -> None:
        super().setup()
        # headers and body are separate writes: without NODELAY, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            srv.inflight += 1
            srv.requests += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        try:
            if srv.gate is not None:
                srv.gate.wait(20)
            else:
                time.sleep(srv.delay)
        finally:
            with srv.lock:
                srv.inflight -= 1
        text = f"echo: {body['messages'][-1]['content']}"
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body.get("model", "stub"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def counting() -> Iterator[_CountingServer]:
    server = _CountingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if server.gate is not None:
            server.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def stub_provider(server: _CountingServer) -> ProviderConfig:
    host, port = server.server_address[:2]
    return ProviderConfig(name="llama", base_url=f"http://{host!s}:{port}/v1", model="stub")


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[VendorServer]:
    with VendorServer() as server:
        yield server


# --------------------------------------------------------------------------- the offline matrix


async def test_offline_matrix_shape_order_and_baseline(client: LuminoraCoreClient):
    vex = await client.get_personality("vex")
    assert vex is not None
    vex_copy = vex.model_copy(update={"name": "vex_copy"})
    blends = ["aurora", vex_copy, {"aurora": 7, "captain_quip": 3}]
    result = await compare(client, blends, PROMPTS, repeat=2, progress=False, run_id="run-1")

    labels = ["aurora", "vex_copy", "aurora70_captain_quip30"]
    assert result.labels == labels
    assert result.prompts == PROMPTS
    assert result.baseline == "aurora" and result.run_id == "run-1"
    assert len(result.cells) == 3 * 4 * 2
    assert [(c.prompt_index, c.label, c.repeat) for c in result.cells] == [
        (p, label, r) for p in range(4) for label in labels for r in range(2)
    ]
    assert result.errors == 0 and result.done
    for cell in result.cells:
        assert cell.status == "ok" and cell.ok and cell.error is None
        assert cell.prompt == PROMPTS[cell.prompt_index]
        assert cell.reply
        assert cell.prompt_tokens and cell.completion_tokens
        assert cell.total_tokens == cell.prompt_tokens + cell.completion_tokens
        assert cell.latency_ms is not None and cell.latency_ms >= 0
        assert cell.finish_reason == "stop"
        assert cell.is_baseline == (cell.label == "aurora")
    # fresh sessions: one per cell, each holding exactly its own turn, tagged with the run
    ids = {c.session_id for c in result.cells}
    assert len(ids) == len(result.cells) and None not in ids
    cell = result.cell(2, "vex_copy", 1)
    assert cell.session_id is not None
    conversation = await client.get_conversation(cell.session_id)
    assert conversation is not None
    assert [m.content for m in conversation.messages] == [PROMPTS[2], cell.reply]
    assert conversation.metadata["compare_run"] == "run-1"
    assert conversation.metadata["prompt_index"] == 2 and conversation.metadata["repeat"] == 1
    # the simulator is deterministic: both repeats agree; the blends differ from aurora
    for p in range(4):
        for label in labels:
            assert result.cell(p, label, 0).reply == result.cell(p, label, 1).reply
        assert result.cell(p, "aurora").same_as_baseline
        assert not result.cell(p, "vex_copy").same_as_baseline
    # mixes are registered under their readable name
    mixed = await client.get_personality("aurora70_captain_quip30")
    assert mixed is not None
    assert mixed.metadata["blend"]["weights"] == {"aurora": 0.7, "captain_quip": 0.3}
    # diffs against the baseline rebuild both texts
    for p in range(4):
        for label in labels:
            ops = result.diff(p, label)
            assert {op for op, _ in ops} <= {"equal", "insert", "delete"}
            assert rebuild(ops) == (result.cell(p, "aurora").reply, result.cell(p, label).reply)
    assert any(op != "equal" for op, _ in result.diff(1, "vex_copy"))
    assert result.diff(1, "aurora") == [("equal", result.cell(1, "aurora").reply)]


async def test_identical_blends_are_same_as_baseline(client: LuminoraCoreClient):
    aurora = await client.get_personality("aurora")
    assert aurora is not None
    twin = aurora.model_copy(update={"name": "aurora_twin"})
    result = await compare(client, {"a": "aurora", "twin": twin, "vex": "vex"}, PROMPTS[:3], progress=False)
    assert result.personalities == {"a": "aurora", "twin": "aurora_twin", "vex": "vex"}
    for p in range(3):
        assert result.cell(p, "twin").same_as_baseline
        assert result.diff(p, "twin") == [("equal", result.cell(p, "a").reply)]
        assert not result.cell(p, "vex").same_as_baseline
    summary = result.summary()
    assert list(summary.index) == ["a", "twin", "vex"]
    assert summary.loc["twin", "differs_from_baseline"] == 0
    assert summary.loc["vex", "differs_from_baseline"] == 3
    assert bool(summary.loc["a", "is_baseline"]) and summary.loc["a", "errors"] == 0
    assert summary.loc["vex", "mean_tokens"] > 0 and summary.loc["vex", "p50_latency_ms"] >= 0


async def test_dataframe_columns_and_baseline_by_index(client: LuminoraCoreClient):
    result = await compare(
        client, ["aurora", "vex"], PROMPTS[:2], repeat=2, baseline=1, progress=False, provider="offline"
    )
    assert result.baseline == "vex"
    frame = result.to_dataframe()
    assert len(frame) == 2 * 2 * 2
    for column in (
        "blend",
        "prompt",
        "prompt_index",
        "repeat",
        "reply",
        "tokens",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "finish_reason",
        "error",
        "is_baseline",
        "same_as_baseline",
        "session_id",
    ):
        assert column in frame.columns
    assert list(frame["blend"]) == ["aurora", "aurora", "vex", "vex"] * 2
    assert list(frame["is_baseline"]) == [False, False, True, True] * 2
    assert (frame["tokens"] == frame["prompt_tokens"] + frame["completion_tokens"]).all()
    assert frame["error"].isna().all()
    # the plain-text and HTML views put the baseline first
    text = repr(result)
    assert text.splitlines()[1].split("|")[1].strip() == "*vex (baseline)"
    assert result._repr_html_().index("vex") < result._repr_html_().index("aurora")


async def test_mapping_labels_and_provider_forms(client: LuminoraCoreClient):
    assert blend_labels([{"aurora": 1, "vex": 2}, {"pip": 1}]) == ["aurora33.3_vex66.7", "pip100"]
    result = await compare(
        client,
        {"mostly aurora": {"aurora": 9, "vex": 1}, "plain": "vex"},
        ["Hi"],
        provider={"name": "offline"},
        progress=False,
    )
    assert result.labels == ["mostly aurora", "plain"]
    registered = await client.get_personality("mostly aurora")
    assert registered is not None and registered.metadata["blend"]["sources"] == ["aurora", "vex"]
    # running the same labelled mix again re-blends it (it is a blend, so it may be replaced)
    again = await compare(client, {"mostly aurora": {"aurora": 1, "vex": 9}}, ["Hi"], progress=False)
    assert again.errors == 0


# --------------------------------------------------------------------------- the word diff


def test_word_diff_examples():
    assert word_diff("", "") == []
    assert word_diff("", "new words") == [("insert", "new words")]
    assert word_diff("old words", "") == [("delete", "old words")]
    assert word_diff("a b c", "a b c") == [("equal", "a b c")]
    assert word_diff("the quick brown fox", "the slow red fox") == [
        ("equal", "the "),
        ("delete", "quick brown"),
        ("insert", "slow red"),
        ("equal", " fox"),
    ]
    assert word_diff("one two", "one  two") == [
        ("equal", "one"),
        ("delete", " "),
        ("insert", "  "),
        ("equal", "two"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "cat", "dog", " ", "  ", "\n", "x."]), max_size=30),
    st.lists(st.sampled_from(["a", "b", "cat", "dog", " ", "  ", "\n", "x."]), max_size=30),
)
def test_word_diff_rebuilds_both_texts(left: list[str], right: list[str]):
    a, b = "".join(left), "".join(right)
    ops = word_diff(a, b)
    assert rebuild(ops) == (a, b)
    assert all(text for _, text in ops)
    # no two neighbouring ops of the same kind
    assert all(x[0] != y[0] for x, y in itertools.pairwise(ops))


# --------------------------------------------------------------------------- failures over HTTP


async def test_failing_cell_records_a_scrubbed_error_and_rerun_fixes_it(
    client: LuminoraCoreClient, vendor_server: VendorServer
):
    key = "sk-test-compare-0123456789abcdef"
    scenario = vendor_server.scenario("openai", key=key, model="gpt-4o-mini")
    # The first request is refused; the vendor's message echoes the key, as OpenAI's can.
    scenario.push(Fail(400, message=f"Invalid request for key {key}: bad parameter"))
    provider = ProviderConfig(name="openai", api_key=key, base_url=scenario.base_url)
    seen: list[CompareCell] = []
    # concurrency 1: cells run in matrix order, so the first cell gets the 400
    result = await compare(
        client, ["aurora", "vex"], PROMPTS[:3], provider=provider, concurrency=1, on_cell=seen.append
    )
    assert len(seen) == len(result.cells) == 6
    failed = result.cell(0, "aurora")
    assert result.failed == [failed] and result.errors == 1
    assert failed.status == "error" and failed.reply is None
    assert failed.error_type == "ProviderBadRequestError"
    assert failed.error is not None and "bad parameter" in failed.error
    for cell in result.cells:
        if cell is not failed:
            assert cell.ok and cell.reply == f"Echo: {cell.prompt} — done."
    everything = repr(result) + result._repr_html_() + result.to_dataframe().to_csv() + repr(result.cells)
    assert key not in everything and key not in failed.error
    # the server echoes the prompt, so both blends agree wherever both succeeded
    assert not result.cell(0, "vex").same_as_baseline  # its baseline failed
    assert result.cell(1, "vex").same_as_baseline
    assert result.summary().loc["aurora", "errors"] == 1
    with pytest.raises(SessionError, match="failed"):
        result.diff(0, "vex")

    cell = await rerun_cell(client, result, 0, "aurora")
    assert cell is failed and cell.ok and cell.error is None
    assert cell.reply == f"Echo: {PROMPTS[0]} — done."
    assert result.errors == 0
    assert result.cell(0, "vex").same_as_baseline  # the row's flags were recomputed
    assert result.diff(0, "vex") == [("equal", cell.reply)]


async def test_unconfigurable_provider_fails_before_any_cell(client: LuminoraCoreClient):
    with pytest.raises(ProviderAuthenticationError, match="no API key"):
        await compare(client, ["aurora"], ["Hi"], provider="openai", progress=False)
    assert await client.list_sessions() == []


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("limit", [1, 3])
async def test_in_flight_requests_never_exceed_concurrency(
    client: LuminoraCoreClient, counting: _CountingServer, limit: int
):
    result = await compare(
        client,
        ["aurora", "vex"],
        [f"question {i}" for i in range(6)],
        provider=stub_provider(counting),
        concurrency=limit,
        progress=False,
    )
    assert result.errors == 0
    assert counting.requests == 12
    assert 1 <= counting.max_inflight <= limit
    if limit > 1:
        assert counting.max_inflight > 1  # the cells really did overlap
    # whatever order they finished in, the cells are in matrix order
    assert [c.reply for c in result.cells] == [f"echo: question {i}" for i in range(6) for _ in range(2)]


async def _wait_for(predicate: Any, what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def test_cancellation_leaves_no_task_and_pending_cells_resume(
    client: LuminoraCoreClient, counting: _CountingServer
):
    counting.gate = threading.Event()
    plan = await plan_compare(
        client, ["aurora", "vex"], ["one", "two", "three"], provider=stub_provider(counting)
    )
    run = asyncio.create_task(run_compare(client, plan, concurrency=2, progress=False))
    await _wait_for(lambda: counting.inflight == 2, "two requests in flight")
    assert [c.status for c in plan.cells[:2]] == ["running", "running"]
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert others() == set()
    assert all(c.status == "pending" for c in plan.cells)
    counting.gate.set()
    await _wait_for(lambda: counting.inflight == 0, "the server to finish")
    # the same plan finishes on a second run
    counting.gate = None
    await run_compare(client, plan, concurrency=2, progress=False)
    assert plan.done and plan.errors == 0
    assert [c.reply for c in plan.cells] == ["echo: one"] * 2 + ["echo: two"] * 2 + ["echo: three"] * 2


async def test_cancelled_compare_cancels_its_cells(client: LuminoraCoreClient, counting: _CountingServer):
    counting.gate = threading.Event()
    task = asyncio.create_task(
        compare(client, ["aurora"], ["a", "b", "c", "d"], provider=stub_provider(counting), concurrency=3)
    )
    await _wait_for(lambda: counting.inflight == 3, "three requests in flight")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert others() == set()
    counting.gate.set()


# --------------------------------------------------------------------------- callbacks and progress


async def test_on_cell_sync_and_async(client: LuminoraCoreClient):
    seen: list[tuple[int, str, int]] = []

    def sync_callback(cell: CompareCell) -> None:
        assert cell.done
        seen.append((cell.prompt_index, cell.label, cell.repeat))

    result = await compare(client, ["aurora", "vex"], PROMPTS[:3], repeat=2, on_cell=sync_callback)
    assert sorted(seen) == sorted((c.prompt_index, c.label, c.repeat) for c in result.cells)
    assert len(seen) == 12

    awaited: list[CompareCell] = []

    async def async_callback(cell: CompareCell) -> None:
        await asyncio.sleep(0)
        awaited.append(cell)

    result = await compare(client, ["aurora"], PROMPTS, on_cell=async_callback, concurrency=2)
    assert sorted(id(c) for c in awaited) == sorted(id(c) for c in result.cells)


async def test_on_cell_exception_stops_the_run(client: LuminoraCoreClient):
    def broken(cell: CompareCell) -> None:
        raise ValueError("widget exploded")

    with pytest.raises(ValueError, match="widget exploded"):
        await compare(client, ["aurora", "vex"], PROMPTS, on_cell=broken, concurrency=2)
    assert others() == set()


async def test_progress_bar(client: LuminoraCoreClient, capsys: pytest.CaptureFixture[str]):
    await compare(client, ["aurora", "vex"], PROMPTS[:2], progress=True)
    assert "4/4" in capsys.readouterr().err
    await compare(client, ["aurora", "vex"], PROMPTS[:2], progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("blends", "prompts", "options", "error", "match"),
    [
        ([], ["Hi"], {}, PersonalityError, "no blends"),
        ({}, ["Hi"], {}, PersonalityError, "no blends"),
        (["aurora"], [], {}, SessionError, "no prompts"),
        (["aurora"], ["Hi", "  "], {}, SessionError, r"prompts\[1\]"),
        (["aurora"], ["Hi", 3], {}, SessionError, r"prompts\[1\]"),
        (["aurora", "zed"], ["Hi"], {}, PersonalityError, "'zed'"),
        ([{"aurora": 1, "zed": 2}], ["Hi"], {}, PersonalityError, "'zed'"),
        ([{"aurora": 0, "vex": 0}], ["Hi"], {}, PersonalityError, "zero"),
        ([{"aurora": -1, "vex": 2}], ["Hi"], {}, PersonalityError, "negative"),
        ([{}], ["Hi"], {}, PersonalityError, "empty"),
        (["aurora", "aurora"], ["Hi"], {}, PersonalityError, "duplicate blend label 'aurora'"),
        (["aurora70_vex30", {"aurora": 7, "vex": 3}], ["Hi"], {}, PersonalityError, "duplicate"),
        ({"aurora": 7, "vex": 3}, ["Hi"], {}, PersonalityError, "one weight mapping"),
        ({"vex": {"aurora": 1, "vex": 1}}, ["Hi"], {}, PersonalityError, "not a blend"),
        ([42], ["Hi"], {}, PersonalityError, "got int"),
        (["aurora"], ["Hi"], {"repeat": 0}, SessionError, "repeat"),
        (["aurora"], ["Hi"], {"concurrency": 0}, SessionError, "concurrency"),
        (["aurora"], ["Hi"], {"baseline": "nope"}, SessionError, "unknown baseline 'nope'"),
        (["aurora"], ["Hi"], {"baseline": 3}, SessionError, "out of range"),
    ],
)
async def test_bad_input(
    client: LuminoraCoreClient, blends: Any, prompts: Any, options: dict[str, Any], error: type, match: str
):
    with pytest.raises(error, match=match):
        await compare(client, blends, prompts, progress=False, **options)
    # nothing ran, and nothing was registered
    assert await client.list_sessions() == []
    assert "aurora70_vex30" not in await client.list_personalities()


async def test_lookup_errors(client: LuminoraCoreClient):
    result = await compare(client, ["aurora"], ["Hi"], progress=False)
    with pytest.raises(SessionError, match="unknown blend label 'vex'"):
        result.cell(0, "vex")
    with pytest.raises(SessionError, match="out of range"):
        result.diff(1, "aurora")
    with pytest.raises(SessionError, match="repeat"):
        await rerun_cell(client, result, 0, "aurora", repeat=1)


async def test_html_and_text_escape_everything(client: LuminoraCoreClient):
    aurora = await client.get_personality("aurora")
    assert aurora is not None
    evil = aurora.model_copy(update={"name": "<b>evil</b>"})
    result = await compare(client, [evil], ["<script>alert(1)</script>\nsecond line"], progress=False)
    page = result._repr_html_()
    assert "<script>" not in page and "<b>evil" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;evil&lt;/b&gt;" in page
    lines = repr(result).splitlines()
    assert len(lines) == 3  # headline, header, one prompt row: newlines are flattened
