"""Facade benchmark: offline turns through ``Luminora`` with the session log on, against the
async client with no log, measured in one process.

Run: ``.venv/bin/python benchmarks/bench_facade.py [--rounds 36 --turns 250]`` (about 15 s).

* **baseline**: the async client (``await client.send_message``) in ``asyncio.run``,
  in-memory storage, no log. The facades run with ``learn=False``: the v1.1 learning
  pipeline is measured on its own by ``bench_memory_pipeline.py``.
* **facade + log**: ``lum.send_message`` from the main thread (which drives
  the facade's loop itself, see luminora_nb/_loop.py) with the DuckDB session log
  recording every event and flushing in the background. Target: >= 0.8x the baseline's turns/s.
* **facade, no log**: the same without the log, so the log's own share shows
  (target: the log costs <= 5%).

These machines drift by +-25% within seconds, so the three run side by side: each round
runs a short burst of turns through each of them (one async client on one
``asyncio.Runner``, one facade with a log, one without, all warmed up and kept for the
whole run; the order rotates through all six), the ratios are taken within each round,
and their medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from luminora_nb import Luminora, LuminoraCoreClient

WARM_UP = 200


class AsyncBaseline:
    """The async client with no log, on a loop kept across rounds."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.client = LuminoraCoreClient()
        self.sid = self.runner.run(self._start())

    async def _start(self) -> str:
        sid = await self.client.create_session("aurora")
        for i in range(WARM_UP):
            await self.client.send_message(sid, f"warm up {i}")
        return sid

    async def _burst(self, texts: list[str]) -> float:
        start = time.perf_counter()
        for text in texts:
            await self.client.send_message(self.sid, text)
        return len(texts) / (time.perf_counter() - start)

    def burst(self, texts: list[str]) -> float:
        return self.runner.run(self._burst(texts))

    def close(self) -> None:
        self.runner.run(self.client.cleanup())
        self.runner.close()


class Facade:
    """A warmed-up facade (with or without the session log)."""

    def __init__(self, log: Path | None) -> None:
        # The v1.0 notebook surface against the v1.0 async client: v1.1 learning (on by
        # default in the facade) is work the baseline does not do, so it is off on both.
        self.lum = Luminora(log=log, learn=False)
        self.sid = self.lum.create_session("aurora")
        for i in range(WARM_UP):
            self.lum.send_message(self.sid, f"warm up {i}")

    def burst(self, texts: list[str]) -> float:
        start = time.perf_counter()
        for text in texts:
            self.lum.send_message(self.sid, text)
        return len(texts) / (time.perf_counter() - start)

    def close(self, expected_turns: int) -> None:
        if self.lum.log is not None:
            self.lum.log.flush()
            logged = len(self.lum.messages(self.sid))
            assert logged == 2 * expected_turns, f"the log holds {logged} of {2 * expected_turns} messages"
        self.lum.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=36)
    parser.add_argument("--turns", type=int, default=250, help="turns per burst")
    args = parser.parse_args()
    texts = [f"Tell me about topic number {i}, please." for i in range(args.turns)]
    with tempfile.TemporaryDirectory() as tmp:
        base, logged, bare = AsyncBaseline(), Facade(Path(tmp) / "log.duckdb"), Facade(None)
        rates: dict[str, list[float]] = {"base": [], "log": [], "bare": []}
        with_log, log_cost = [], []
        runners = {"base": base, "log": logged, "bare": bare}
        orders = list(itertools.permutations(runners))
        for round_ in range(args.rounds):
            # every order in turn, so no contender always runs right after another one
            got = {name: runners[name].burst(texts) for name in orders[round_ % len(orders)]}
            for name, rate in got.items():
                rates[name].append(rate)
            with_log.append(got["log"] / got["base"])
            log_cost.append(1 - got["log"] / got["bare"])
        logged.close(WARM_UP + args.rounds * args.turns)
        bare.close(0)
        base.close()
    b, lg, fb = (statistics.median(rates[k]) for k in ("base", "log", "bare"))
    ratio, cost = statistics.median(with_log), statistics.median(log_cost)
    print(f"baseline: async client, no log          {b:>10,.0f} turns/s")
    print(f"facade, no log                          {fb:>10,.0f} turns/s")
    verdict = "ok" if ratio >= 0.8 else "MISSED"
    print(
        f"facade + session log                    {lg:>10,.0f} turns/s  ratio to the baseline "
        f"{ratio:.2f} (median of {args.rounds} rounds), target >= 0.80  {verdict}"
    )
    print(
        f"the log's own cost                      {cost:>10.1%}             (target <= 5%)  "
        f"{'ok' if cost <= 0.05 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
