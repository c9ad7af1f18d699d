"""Timing and report helpers shared by the ``bench_*.py`` scripts (not a benchmark itself).

Each script is run as ``python benchmarks/bench_X.py``, which puts this folder first on
``sys.path``, so ``from _harness import ...`` works without installing anything.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def samples_s(
    fn: Callable[[], object],
    repeat: int,
    *,
    warm_up: bool = True,
    before: Callable[[], object] | None = None,
) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn``.

    Args:
        fn: The work to time.
        repeat: How many timed calls.
        warm_up: Call ``fn`` once, untimed, first, so first-use caches (imports, compiled
            regexes, file cache) do not land in the first sample.
        before: Called untimed before each timed call (e.g. to clear an output folder).

    Returns:
        One duration in seconds per timed call, in call order.
    """
    if warm_up:
        fn()
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median_s(
    fn: Callable[[], object],
    repeat: int,
    *,
    warm_up: bool = True,
    before: Callable[[], object] | None = None,
) -> float:
    """Median seconds of ``repeat`` calls of ``fn``; the arguments are those of :func:`samples_s`.

    The median, not the mean, because these machines are shared: a burst of load hits a
    few samples, not the middle one.
    """
    return statistics.median(samples_s(fn, repeat, warm_up=warm_up, before=before))


def target_row(
    label: str, value: float, unit: str, target: float | None = None, *, lower_is_better: bool = True
) -> None:
    """Print one figure, and, if it has a target, the target, the ratio and the verdict.

    The ratio is oriented so that ``<= 1.0`` always meets the target: figure / target,
    or target / figure for a figure where more is better (a rate).

    Args:
        label: What was measured.
        value: The figure, in ``unit``.
        unit: Printed after the figure (``"ms"``, ``"turns/s"``, ``"x"``).
        target: The figure to meet, in ``unit``; ``None`` prints the figure alone (a
            baseline or an informative figure).
        lower_is_better: ``False`` for a figure that must reach at least ``target``.
    """
    line = f"{label:<52} {value:>12,.2f} {unit:<7}"
    if target is not None:
        ratio = value / target if lower_is_better else target / value
        sign = "<=" if lower_is_better else ">="
        verdict = "ok" if ratio <= 1.0 else "MISSED"
        line += f" target {sign} {target:>8,g}  ratio {ratio:5.2f}  {verdict}"
    print(line.rstrip())
