"""BlendStudio benchmark: a slider move to an updated preview, in the kernel.

Run: ``.venv/bin/python benchmarks/bench_blend_studio.py``

A "move" is what a released slider sends: a ``weights`` state update delivered through
the widget's real ipywidgets message handler (``record_comms``), which validates the
weights, blends, diffs the prompt against the previous preview and sends the new state
(serialised to JSON, as it would cross the wire). Printed for this machine: the median
and 95th percentile over 200 moves next to the 20 ms target (ratio <= 1.0 meets it), the
bytes one move sends, and the same-process baseline, the bare ``blend_personalities``
call, so the widget's own overhead reads as a ratio on a noisy machine.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable

from _harness import samples_s, target_row

from luminora_nb import Luminora
from luminora_nb.personality.blend import blend_personalities
from luminora_nb.widgets.blend_studio import BlendStudio, prompt_diff
from luminora_nb.widgets.testing import record_comms

MOVES = 200
TARGET_MS = 20.0


def samples_ms(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls of ``fn``, after one untimed warm-up call."""
    return [seconds * 1000.0 for seconds in samples_s(fn, repeat)]


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def bench(lum: Luminora, personas: list[str]) -> None:
    rng = random.Random(7)
    with record_comms() as wire:
        studio = BlendStudio(lum, personas)
        moves = [{rng.choice(personas): rng.randint(1, 100)} for _ in range(MOVES + 1)]
        it = iter(moves)
        wire.clear()
        moved = samples_ms(lambda: wire.update(studio, weights=next(it)), MOVES)
        sent = [m.size for m in wire.messages if m.data.get("method") == "update"]
        assert studio.error == "", studio.error

    sources = [p for p in (lum.get_personality(n) for n in personas) if p is not None]
    weights = [rng.randint(1, 100) for _ in personas]
    bare = samples_ms(lambda: blend_personalities(sources, weights, name="bench"), MOVES)
    a = blend_personalities(sources, weights, name="bench").system_prompt
    b = blend_personalities(sources, weights[::-1], name="bench").system_prompt
    diff = samples_ms(lambda: prompt_diff(a, b), MOVES)

    move_ms, bare_ms = statistics.median(moved), statistics.median(bare)
    label = f"{len(personas)} personas"
    print(f"-- {label} ({', '.join(personas)})")
    diff_ms, kib = statistics.median(diff), statistics.median(sent) / 1024
    print(
        f"baseline: bare blend_personalities {bare_ms:.2f} ms (median); prompt diff {diff_ms:.2f} ms; "
        f"{kib:.1f} KiB sent per move (median)"
    )
    target_row(f"slider move -> preview, {label} (median)", move_ms, "ms", TARGET_MS)
    target_row(f"slider move -> preview, {label} (p95)", p95(moved), "ms", TARGET_MS)
    print(f"slider move = {move_ms / bare_ms:.1f}x the bare blend call")


def main() -> None:
    with Luminora(log=None) as lum:
        bench(lum, ["aurora", "captain_quip"])
        bench(lum, ["aurora", "captain_quip", "vex", "lyra"])


if __name__ == "__main__":
    main()
