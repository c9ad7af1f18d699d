"""What needs a real socket: connection reuse and pools, cookies of shared clients, dropped
connections, read timeouts against slow and silent servers, refused connections, event
loops — and one end-to-end turn (plain and streamed) per vendor, all against the loopback
vendor server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable

import pytest

from luminora_nb.errors import ProviderError, ProviderTimeoutError
from luminora_nb.providers import create_provider
from luminora_nb.types import ProviderConfig

from .conftest import ALL_CASES, CASES, MakeHarness, collect, one_turn, stream_into, user_request
from .vendor_server import VendorServer
from .wire import Drop, Reply, Stall

# --------------------------------------------------------------------------- clients and connections


async def test_connections_are_reused_across_turns(make: MakeHarness):
    h = await make("openai")
    for text in ("one", "two", "three"):
        assert (await h.provider.chat(user_request(text))).content == f"Echo: {text} — done."
    chunks = await collect(h.provider, user_request("four"))
    assert chunks[-1].finish_reason == "stop"
    ports = {r.client_port for r in h.scenario.requests}
    assert len(h.scenario.requests) == 4 and len(ports) == 1


async def test_equal_configs_share_one_client_until_the_last_one_closes(vendor_server: VendorServer):
    scenario = vendor_server.scenario("openai", key="sk-shared-123456", model="gpt-4o-mini")
    config = ProviderConfig(name="openai", api_key="sk-shared-123456", base_url=scenario.base_url)
    first, second = create_provider(config), create_provider(config)
    await first.chat(user_request("a"))
    await second.chat(user_request("b"))
    assert len({r.client_port for r in scenario.requests}) == 1  # one pool, one kept-alive connection
    await first.aclose()
    await first.aclose()  # idempotent
    await second.chat(user_request("c"))  # still works: the shared client stays open for it
    await second.aclose()
    third = create_provider(config)
    await third.chat(user_request("d"))  # a fresh client after the last one was closed
    await third.aclose()
    assert len(scenario.requests) == 4


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_cookies_set_by_one_answer_are_never_sent_again(vendor_server: VendorServer, streamed: bool):
    # Equal configs share one client even with different keys: a cookie jar would leak one
    # user's session cookie into another user's requests.
    scenario = vendor_server.scenario("openai_compat", key=None, model="m")
    cookie = {"Set-Cookie": "session=user-a-secret; Path=/; Max-Age=3600"}
    scenario.push(Reply(headers=cookie), Reply(headers=cookie))
    configs = [
        ProviderConfig(name="llama", model="m", base_url=scenario.base_url, api_key=key)
        for key in ("key-user-a-123", "key-user-b-456")
    ]
    a, b = create_provider(configs[0]), create_provider(configs[1])
    try:
        await one_turn(a, user_request(), streamed=False)
        await one_turn(b, user_request(), streamed=streamed)
        await one_turn(a, user_request(), streamed=streamed)
    finally:
        await a.aclose()
        await b.aclose()
    assert all("cookie" not in r.headers for r in scenario.requests)


async def test_concurrent_streams_on_one_provider_get_their_own_replies(make: MakeHarness):
    h = await make("openai")

    async def one(i: int) -> str:
        chunks = await collect(h.provider, user_request(f"message number {i}"))
        assert chunks[-1].finish_reason == "stop"
        return "".join(c.content for c in chunks)

    replies = await asyncio.gather(*(one(i) for i in range(25)))
    assert replies == [f"Echo: message number {i} — done." for i in range(25)]


# --------------------------------------------------------------------------- every adapter, end to end


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_plain_reply_is_normalised(make: MakeHarness, case_id: str):
    h = await make(case_id)
    reply = await h.provider.chat(user_request("hello there"))
    assert reply.content == "Echo: hello there — done."
    assert reply.role == "assistant"
    assert reply.finish_reason == "stop"
    assert reply.model == h.scenario.model
    usage = reply.usage
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert reply.metadata["latency_ms"] > 0 and reply.metadata["attempts"] == 1
    (request,) = h.scenario.requests
    assert request.method == "POST" and request.path == h.scenario.expected_path(False)
    assert not request.stream


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_streamed_reply_chunks_concatenate_and_the_last_carries_finish_and_usage(
    make: MakeHarness, case_id: str
):
    h = await make(case_id)
    chunks = await collect(h.provider, user_request("stream this reply please"))
    text = "".join(c.content for c in chunks)
    assert text == "Echo: stream this reply please — done."
    assert len(chunks) >= 7  # one chunk per word, plus the final one
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert all(c.content for c in chunks[:-1])
    last = chunks[-1]
    assert last.content == "" and last.finish_reason == "stop"
    assert last.usage["completion_tokens"] == 7 and last.usage["prompt_tokens"] > 0
    assert last.usage["total_tokens"] == last.usage["prompt_tokens"] + 7
    assert last.model == h.scenario.model
    assert last.metadata["latency_ms"] > 0 and last.metadata["chunks"] == len(chunks) - 1
    (request,) = h.scenario.requests
    assert request.stream and request.path == h.scenario.expected_path(True)


# --------------------------------------------------------------------------- dropped connections


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_connection_dropped_mid_stream_is_an_error_and_not_retried(make: MakeHarness, case_id: str):
    h = await make(case_id, actions=[Drop(after=2)])
    received: list[str] = []
    with pytest.raises(ProviderError) as info:
        await stream_into(h.provider, user_request("one two three four"), into=received)
    assert received == ["Echo: ", "one "]  # what arrived before the drop was delivered
    err = info.value
    assert "broke after 2 chunk(s)" in str(err) and "not retried" in str(err)
    assert err.retryable  # the caller may repeat the whole turn
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("case_id", ALL_CASES)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
async def test_connection_dropped_before_any_answer_is_retried(
    make: MakeHarness, case_id: str, streamed: bool
):
    h = await make(case_id, actions=[Drop()])
    text = await one_turn(h.provider, user_request(), streamed=streamed)
    assert text == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2 and len(h.delays) == 1


# ------------------------------------------------------------------- timeouts: slow and silent servers


async def every_case(check: Callable[[str], Awaitable[None]]) -> None:
    """Run ``check(case_id)`` for every adapter at once (a failure names its case).

    These tests wait on the clock (read timeouts, slow chunks), not on the CPU: run side
    by side, seven adapters take the time of one.
    """

    async def run(case_id: str) -> None:
        try:
            await check(case_id)
        except Exception as exc:
            exc.add_note(f"adapter case: {case_id}")
            raise

    async with asyncio.TaskGroup() as group:
        for case_id in ALL_CASES:
            group.create_task(run(case_id))


async def test_slow_stream_longer_than_the_read_timeout_succeeds(make: MakeHarness):
    read_timeout, gap = 0.35, 0.1
    text = "slow healthy stream"

    async def check(case_id: str) -> None:
        h = await make(case_id, actions=[Reply(gap=gap)], read_timeout=read_timeout, max_retries=0)
        chunks = await collect(h.provider, user_request(text))
        words = len(f"Echo: {text} — done.".split())
        assert (words - 1) * gap > read_timeout  # total stream time exceeds the read timeout...
        assert gap < read_timeout / 2  # ...while every gap stays well under it
        assert "".join(c.content for c in chunks) == f"Echo: {text} — done."
        assert chunks[-1].finish_reason == "stop"

    await every_case(check)


async def test_a_stream_that_goes_silent_hits_the_read_timeout_and_is_retried(make: MakeHarness):
    async def check(case_id: str) -> None:
        h = await make(case_id, actions=[Stall(1.0)], read_timeout=0.15, max_retries=0)
        with pytest.raises(ProviderTimeoutError, match="timed out") as info:
            await collect(h.provider, user_request())
        assert info.value.retryable and info.value.status is None
        assert "no data for 0.15 s" in str(info.value)

    await every_case(check)


async def test_a_plain_reply_slower_than_the_read_timeout_is_not_retried(make: MakeHarness):
    # The server may still be generating (and billing) the reply: retrying would pay twice.
    async def check(case_id: str) -> None:
        h = await make(case_id, actions=[Stall(0.6)] * 3, read_timeout=0.15, max_retries=2)
        with pytest.raises(ProviderTimeoutError) as info:
            await h.provider.chat(user_request())
        err = info.value
        assert not err.retryable and err.status is None
        assert "no reply within read_timeout 0.15 s" in str(err)
        assert "extra['read_timeout']" in str(err) and "not retried" in str(err)
        assert len(h.scenario.requests) == 1 and h.delays == []

    await every_case(check)


# ---------------------------------------------------- refused connections, closing, event loops


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_connection_refused_is_retried_then_reported(case_id: str):
    case = CASES[case_id]
    provider = create_provider(
        ProviderConfig(
            name=case.provider,
            api_key="k-123456" if case.needs_key else None,
            base_url=f"http://127.0.0.1:{_closed_port()}",
            extra={**dict(case.extra), "max_retries": 2, "retry_base_delay": 0.001, "retry_max_delay": 0.002},
        )
    )
    try:
        with pytest.raises(ProviderError, match="connection to http://127.0.0.1:.* failed") as info:
            await provider.chat(user_request())
        assert info.value.retryable and "after 3 attempts" in str(info.value)
        with pytest.raises(ProviderError, match="ConnectError"):
            await collect(provider, user_request())
    finally:
        await provider.aclose()


async def test_closing_mid_stream_releases_the_connection(make: MakeHarness):
    h = await make("openai", actions=[Reply(gap=0.05)])
    stream = h.provider.stream(user_request("many words to stream slowly here"))
    first = await anext(stream)
    assert first.content == "Echo: "
    await stream.aclose()  # the consumer stops early
    reply = await h.provider.chat(user_request("after"))
    assert reply.content == "Echo: after — done."


def test_a_provider_used_from_another_event_loop_moves_its_connections(vendor_server: VendorServer):
    scenario = vendor_server.scenario("openai", key="sk-loops-123456", model="gpt-4o-mini")
    provider = create_provider(
        ProviderConfig(name="openai", api_key="sk-loops-123456", base_url=scenario.base_url)
    )
    background = asyncio.new_event_loop()
    thread = threading.Thread(target=background.run_forever, daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(provider.chat(user_request("there")), background)
        assert future.result(timeout=10).content == "Echo: there — done."
        old_client = provider._client  # type: ignore[attr-defined]
        assert old_client is not None and not old_client.is_closed

        async def here() -> str:
            text = (await provider.chat(user_request("here"))).content
            await provider.aclose()
            return text

        # --------------------------------------------------------------------------- clients and connections

        assert asyncio.run(here()) == "Echo: here — done."
        # The first loop's client was closed on its own loop once this provider left it.
        deadline = time.monotonic() + 5
        while not old_client.is_closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert old_client.is_closed
    finally:
        background.call_soon_threadsafe(background.stop)
        thread.join(timeout=5)
        background.close()
    assert len({r.client_port for r in scenario.requests}) == 2
