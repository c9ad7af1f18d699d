"""Facade benchmark: offline turns through ``Luminora`` with the session log on, against the
async client with no log, measured in one process.

Run: ``.venv/bin/python benchmarks/bench_facade.py [--turns 3000]`` (about 15 s).

* **baseline**: the async client (``await client.send_message``) in ``asyncio.run``,
  in-memory storage, no log.
* **facade + log**: ``lum.send_message`` from the main thread (each call crosses to the
  facade's loop thread and back) with the DuckDB session log recording every event and
  flushing in the background. Target: >= 0.8x the baseline's turns/s.
* **facade, no log**: the same without the log, so the log's own share shows
  (target: the log costs <= 5%).

Runs alternate (baseline, facade + log, facade) ``--repeat`` times and the medians are
compared, because these machines are noisy: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from luminora_nb import Luminora, LuminoraCoreClient

WARM_UP = 200


def prompts(turns: int) -> list[str]:
    return [f"Tell me about topic number {i}, please." for i in range(turns)]


async def _client_tps(turns: int) -> float:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora")
        for i in range(WARM_UP):
            await client.send_message(sid, f"warm up {i}")
        sid = await client.create_session("aurora")
        texts = prompts(turns)
        start = time.perf_counter()
        for text in texts:
            await client.send_message(sid, text)
        return turns / (time.perf_counter() - start)


def client_tps(turns: int) -> float:
    return asyncio.run(_client_tps(turns))


def facade_tps(turns: int, log: Path | None) -> float:
    with Luminora(log=log) as lum:
        sid = lum.create_session("aurora")
        for i in range(WARM_UP):
            lum.send_message(sid, f"warm up {i}")
        sid = lum.create_session("aurora")
        texts = prompts(turns)
        start = time.perf_counter()
        for text in texts:
            lum.send_message(sid, text)
        elapsed = time.perf_counter() - start
        if log is not None:
            assert lum.log is not None
            lum.log.flush()
            logged = len(lum.messages(sid))
            assert logged == 2 * turns, f"the log holds {logged} of {2 * turns} messages"
    return turns / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base, logged, bare = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            base.append(client_tps(args.turns))
            logged.append(facade_tps(args.turns, Path(tmp) / f"log{run}.duckdb"))
            bare.append(facade_tps(args.turns, None))
    b, lg, fb = statistics.median(base), statistics.median(logged), statistics.median(bare)
    print(f"baseline: async client, no log          {b:>10,.0f} turns/s")
    print(f"facade, no log                          {fb:>10,.0f} turns/s  ({fb / b:.2f}x the baseline)")
    ratio = lg / b
    verdict = "ok" if ratio >= 0.8 else "MISSED"
    print(
        f"facade + session log                    {lg:>10,.0f} turns/s  ({ratio:.2f}x the baseline, "
        f"target >= 0.80)  {verdict}"
    )
    cost = 1 - lg / fb
    print(
        f"the log's own cost                      {cost:>10.1%}             (target <= 5%)  "
        f"{'ok' if cost <= 0.05 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
