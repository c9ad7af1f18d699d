"""Fault injection: a server killed in the middle of many concurrent sessions, through the client.

For each server backend, each with its own durability on (Redis with its append-only file,
PostgreSQL recovering from its WAL after an immediate shutdown, the MongoDB wire server
syncing on commit), :data:`SESSIONS` sessions run :data:`TURNS` turns each, all at once,
through one :class:`~luminora_nb.LuminoraCoreClient`. Part-way through the server is
killed hard, stays down briefly while the sessions keep trying, and is started again; the
sessions go on.

The kill is timed to land on a write: the client talks to the server through a
:class:`~tests.storage.proxy.CuttingProxy`, armed part-way through to cut the next append
right after the server answered it (applied, its reply lost), and the server is killed
at that moment, with the other sessions' writes in flight. (MongoDB appends in two ordered
steps; one case cuts after the first, leaving a reservation whose messages are missing,
the other after the second.) Then:

* every turn that returned is stored exactly once, in the order it was sent;
* every turn that failed raised :class:`~luminora_nb.errors.StorageError` and is stored at
  most once (its messages stay in the client and are written with a later turn, or, if the
  killed server had applied the write before its reply was lost, recognised as stored);
* each reply is stored right after its message;
* every turn started once the server is back succeeds (no stale pooled connection fails);
* no call hangs (each turn is bounded by :data:`HANG_LIMIT`);
* every session accepts more turns afterwards.

The stored state is read back through a fresh storage object, as another process would.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.errors import StorageError
from luminora_nb.storage import create_storage
from tests.storage.proxy import CuttingProxy
from tests.storage.servers import ServerHandle
from tests.storage.test_faults import FIXTURES, config_for
from tests.storage.test_hardening import CUTS, _through

pytestmark = pytest.mark.integration

SESSIONS = 32
TURNS = 20
# A bound for "did not hang": a turn fails by itself within the connect timeout (2 s) plus
# the socket timeout of a write the dead server never answers.
HANG_LIMIT = 20.0
DOWN_SECONDS = 0.5
_CUT_NAMES = {b"\x02insert\x00": "insert"}


@dataclass
class Outcomes:
    """What each turn of one session did, in the order sent."""

    sent: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    after_restart: list[tuple[str, bool]] = field(default_factory=list)  # (turn, succeeded)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> ServerHandle:
    handle: ServerHandle = request.getfixturevalue(FIXTURES[request.param])
    return handle


@pytest.mark.parametrize(
    ("server", "backend", "pattern"),
    [(kind, kind, pattern) for kind, pattern in CUTS],
    ids=[f"{kind}-{_CUT_NAMES.get(pattern, pattern.decode())}" for kind, pattern in CUTS],
    indirect=["server"],
)
async def test_a_server_killed_during_concurrent_turns_loses_and_duplicates_nothing(
    server: ServerHandle, backend: str, pattern: bytes
) -> None:
    with CuttingProxy(server.port) as proxy:
        await _run(server, backend, proxy, pattern)


async def _run(server: ServerHandle, backend: str, proxy: CuttingProxy, pattern: bytes) -> None:
    # Bounded waits on every driver (a killed server closes its sockets, so none is reached).
    extra = {"socket_timeout": 5.0, "command_timeout": 5.0}
    config = config_for(backend, _through(proxy, server, backend), extra=extra)
    client = LuminoraCoreClient(storage_config=config)
    await client.initialize()
    restarted_at: float | None = None  # monotonic time the server answered again
    outcomes: dict[str, Outcomes] = {}
    try:
        sids = [
            await client.create_session("aurora", ProviderConfig(name="offline"), user_id=f"fi-{i}")
            for i in range(SESSIONS)
        ]
        outcomes = {sid: Outcomes() for sid in sids}
        done = 0

        async def run_session(number: int, sid: str) -> None:
            nonlocal done
            record = outcomes[sid]
            for t in range(TURNS):
                text = f"session {number} turn {t}"
                record.sent.append(text)
                started = time.monotonic()
                back = restarted_at is not None and started >= restarted_at
                try:
                    await asyncio.wait_for(client.send_message(sid, text), HANG_LIMIT)
                except StorageError:
                    record.failed.append(text)
                    if back:
                        record.after_restart.append((text, False))
                    await asyncio.sleep(0.05)  # the server is away: do not spin
                    continue
                except TimeoutError:
                    pytest.fail(f"{backend}: a turn of session {number} hung for {HANG_LIMIT} s")
                record.ok.append(text)
                if back:
                    record.after_restart.append((text, True))
                done += 1

        async def kill_and_restart() -> None:
            nonlocal restarted_at
            # Part-way through, right after the server applied an append whose reply is lost.
            while done < SESSIONS * TURNS // 4:
                await asyncio.sleep(0.002)
            proxy.cut_after(pattern)
            assert await asyncio.to_thread(proxy.wait_cut, HANG_LIMIT), "no append went by"
            server.stop()
            await asyncio.sleep(DOWN_SECONDS)
            await asyncio.to_thread(server.start)
            restarted_at = time.monotonic()

        killer = asyncio.create_task(kill_and_restart())
        await asyncio.gather(*(run_session(i, sid) for i, sid in enumerate(sids)))
        await killer
        assert restarted_at is not None, "the run ended before the server was killed"

        failed = sum(len(o.failed) for o in outcomes.values())
        assert failed > 0, "the kill landed on no turn; nothing was tested"
        # Every turn started once the server was back succeeded: no stale connection failed.
        late_failures = [t for o in outcomes.values() for t, succeeded in o.after_restart if not succeeded]
        assert late_failures == [], f"{backend}: turns failed after the restart: {late_failures[:5]}"

        # Every session accepts more turns (and so writes what a failed turn kept).
        for sid in sids:
            await asyncio.wait_for(client.send_message(sid, "one more"), HANG_LIMIT)
            outcomes[sid].sent.append("one more")
            outcomes[sid].ok.append("one more")
    finally:
        await client.cleanup()
        server.start()  # shared by the session's other tests, whatever happened

    fresh = create_storage(
        config_for(backend, server.url).model_copy(
            update={"table_name": config.table_name, "key_prefix": config.key_prefix}
        )
    )
    await fresh.initialize()
    try:
        for sid, record in outcomes.items():
            stored = await fresh.load_session(sid)
            assert stored is not None
            messages = stored.conversation.messages
            users = [m.content for m in messages[0::2]]
            # each reply right after its message
            assert [m.role.value for m in messages] == ["user", "assistant"] * len(users)
            assert len(messages) == 2 * len(users)
            # stored exactly once each: every successful turn; at most once: every failed one
            assert len(users) == len(set(users)), f"{backend}: a turn of {sid} is stored twice"
            assert set(record.ok) <= set(users), f"{backend}: a successful turn of {sid} is not stored"
            assert set(users) <= set(record.ok) | set(record.failed)
            # in the order sent
            assert users == [text for text in record.sent if text in set(users)]
            assert await fresh.message_count(sid) == len(messages)
    finally:
        await fresh.close()
