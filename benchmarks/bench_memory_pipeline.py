"""Memory-pipeline overhead per offline turn (issue #8; target <= 2 ms with the rules extractor).

Run: ``.venv/bin/python benchmarks/bench_memory_pipeline.py [--conversations N]``

Two clients in this process answer the same 30-message conversation (facts, questions,
feelings, milestones, thanks, small talk) with the offline simulator on in-memory
storage: the **baseline** is a plain ``LuminoraCoreClient``; the **learning** one has a
``LuminoraCoreClientV11`` attached with the rules extractor and no embedder, so each of
its turns also loads the relationship, mood and ranked memories into the compiled prompt
before the provider, and after it scores sentiment, extracts facts, detects the episode,
moves affinity and mood, stores all of it and builds the events. Turns alternate between
the two clients (the machines are noisy: both see the same load), each conversation runs
for a fresh user, and the figure is the median per-turn time of each, their difference
(the overhead) and their ratio.

Also printed, for information: the same with the default embedder (semantic search hits
in the prompt, new memories and the message embedded every turn), and the pure pipeline
(``MemoryPipeline.analyse``, no storage) per message.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.memory import LearningState, MemoryPipeline
from luminora_nb.personality.library import get_builtin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_memory_e2e import SCRIPT

MESSAGES = [message for message, _, _ in SCRIPT]
TARGET_MS = 2.0


async def _turn(client: LuminoraCoreClient, sid: str, text: str) -> float:
    start = time.perf_counter()
    await client.send_message(sid, text)
    return time.perf_counter() - start


async def paired_turns(conversations: int, embedder: Any) -> tuple[list[float], list[float]]:
    """Per-turn seconds of the baseline and the learning client, turns interleaved."""
    plain, learning = LuminoraCoreClient(), LuminoraCoreClient()
    LuminoraCoreClientV11(learning, embedder=embedder)
    await plain.initialize()
    await learning.initialize()
    for client in (plain, learning):  # warm-up: first-use caches, the embedder's model
        sid = await client.create_session("willow", user_id="warm")
        for text in MESSAGES:
            await client.send_message(sid, text)
    base: list[float] = []
    memory: list[float] = []
    for n in range(conversations):
        sid_plain = await plain.create_session("willow", user_id=f"user{n}")
        sid_learning = await learning.create_session("willow", user_id=f"user{n}")
        for i, text in enumerate(MESSAGES):
            if i % 2:  # alternate which goes first, so neither always pays a cold cache
                base.append(await _turn(plain, sid_plain, text))
                memory.append(await _turn(learning, sid_learning, text))
            else:
                memory.append(await _turn(learning, sid_learning, text))
                base.append(await _turn(plain, sid_plain, text))
    await plain.cleanup()
    await learning.cleanup()
    return base, memory


def pipeline_only(repeat: int) -> float:
    """Median seconds of ``MemoryPipeline.analyse`` per message (no storage, no prompt)."""
    pipeline, willow = MemoryPipeline(), get_builtin("willow")
    samples = []
    for _ in range(repeat):
        for text in MESSAGES:
            start = time.perf_counter()
            pipeline.analyse(text, LearningState(user_id="u"), willow)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(label: str, base: list[float], memory: list[float], target: float | None) -> None:
    b, m = statistics.median(base) * 1e3, statistics.median(memory) * 1e3
    overhead = m - b
    line = (
        f"{label:<44} baseline {b:7.3f} ms  learning {m:7.3f} ms  "
        f"overhead {overhead:6.3f} ms  ratio {m / b:5.2f}x"
    )
    if target is not None:
        line += f"  target {target:.1f} ms -> {overhead / target:4.2f} of target"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20, help="30-turn conversations per client")
    args = parser.parse_args()
    turns = args.conversations * len(MESSAGES)
    print(f"{turns} offline turns per client, interleaved; medians per turn")
    base, memory = asyncio.run(paired_turns(args.conversations, None))
    report("rules extractor, no embedder", base, memory, TARGET_MS)
    base, memory = asyncio.run(paired_turns(max(1, args.conversations // 4), "default"))
    report("rules extractor + default embedder (info)", base, memory, None)
    print(f"{'pure pipeline per message (info)':<44} {pipeline_only(20) * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
