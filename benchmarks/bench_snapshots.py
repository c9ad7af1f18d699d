"""Snapshot benchmark: the round trip of a large user, export -> file -> import.

Run: ``.venv/bin/python benchmarks/bench_snapshots.py``

The user has 10,000 facts, 5,000 episodes and one session of 50,000 messages, in the
in-memory store (the store's own cost is the storage benchmark's subject). Measured:

* ``export_snapshot`` — read everything and build the document;
* ``save_snapshot`` / ``load_snapshot`` — JSON text to a file and back, validated;
* ``import_snapshot`` — validate (size, version, secrets, shape) and write it all in
  one batch as a new session for another user;
* the round trip (export + import, the issue's target: <= 3 s) and the same with the
  file in between.

Each line prints the time next to its target (ratio <= 1.0 meets it) and against a
baseline measured in the same process: ``json.dumps`` + ``json.loads`` of the same
document, the least any round trip through JSON costs, so the ratio stays meaningful
on a slow or busy machine.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.types import Conversation, Message, MessageRole
from luminora_nb.types._base import utcnow

FACTS, EPISODES, MESSAGES = 10_000, 5_000, 50_000
TARGET_S = 3.0
CATEGORIES = ("personal_info", "preferences", "relationships", "hobbies", "goals", "work", "events")


async def populate(base: LuminoraCoreClient, v11: LuminoraCoreClientV11) -> str:
    """One user with the benchmark's facts, episodes and a 50,000-message session."""
    sid = await base.create_session("willow", user_id="bench_user")
    record = await base.storage.load_session(sid)
    assert record is not None
    start = utcnow() - timedelta(days=30)
    messages = [
        Message(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=f"message {i}: a sentence of ordinary length about the day, café ☕ {i % 97}",
            timestamp=start + timedelta(seconds=30 * i),
        )
        for i in range(MESSAGES)
    ]
    record = record.model_copy(
        update={"conversation": Conversation(session_id=sid, messages=messages, created_at=start)}
    )
    store = base.storage
    async with store.batch():
        await store.save_session(record)
        for i in range(FACTS):
            await store.save_fact(
                "bench_user",
                CATEGORIES[i % len(CATEGORIES)],
                f"fact_{i}",
                f"value {i} 🎷",
                confidence=0.5 + (i % 50) / 100,
                session_id=sid,
                created_at=start.isoformat(),
            )
        for i in range(EPISODES):
            await store.save_episode(
                "bench_user",
                "bonding",
                f"Episode {i}",
                f"Something memorable happened ({i}).",
                float(i % 11),
                "positive",
                session_id=sid,
                timestamp=(start + timedelta(minutes=i)).isoformat(),
            )
    await v11.update_affinity("bench_user", "willow", points_delta=12, interaction_type="positive")
    return sid


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    begin = time.perf_counter()
    result = await fn()
    return time.perf_counter() - begin, result


def row(label: str, seconds: float, baseline: float, target: float | None = None) -> None:
    verdict = ""
    if target is not None:
        ratio = seconds / target
        verdict = f"  target <= {target:.1f} s  ratio {ratio:5.2f}  {'ok' if ratio <= 1.0 else 'MISSED'}"
    print(f"{label:<38} {seconds:7.3f} s  x{seconds / baseline:6.2f} of baseline{verdict}")


async def main() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None, learn=False)
    sid = await populate(base, v11)
    folder = Path(tempfile.mkdtemp())
    exported_s, snapshot = await timed(lambda: v11.export_snapshot(sid))
    plain = dict(snapshot)

    begin = time.perf_counter()
    text = json.dumps(plain, ensure_ascii=False)
    json.loads(text)
    baseline = time.perf_counter() - begin

    imported_s, new_sid = await timed(lambda: v11.import_snapshot(snapshot, "bench_copy"))
    saved_s, path = await timed(lambda: v11.save_snapshot(sid, folder / "big.json"))
    loaded_s, loaded = await timed(lambda: v11.load_snapshot(path))
    file_import_s, _ = await timed(lambda: v11.import_snapshot(loaded, "bench_copy_2"))
    again = await v11.export_snapshot(new_sid)
    assert len(again["current_state"]["learned_facts"]) == FACTS
    assert len(again["current_state"]["memorable_episodes"]) == EPISODES
    assert again["_snapshot_info"]["total_messages"] == MESSAGES

    size_mb = len(text.encode()) / 1e6
    print(
        f"snapshot of {FACTS:,} facts, {EPISODES:,} episodes, {MESSAGES:,} messages: {size_mb:.1f} MB of JSON"
    )
    print(f"{'baseline: json dumps + loads':<38} {baseline:7.3f} s")
    row("export_snapshot", exported_s, baseline)
    row("import_snapshot", imported_s, baseline)
    row("round trip (export + import)", exported_s + imported_s, baseline, TARGET_S)
    row("save_snapshot (export + write)", saved_s, baseline)
    row("load_snapshot (read + validate)", loaded_s, baseline)
    row("round trip through a file", saved_s + loaded_s + file_import_s, baseline, TARGET_S)


if __name__ == "__main__":
    asyncio.run(main())
