"""Run blends x prompts side by side: the engine behind ``Luminora.compare`` and CompareGrid.

A comparison is a matrix of **cells**, one per prompt x blend x repeat, each run in a
fresh session. Blends are given as a list (or as a ``{label: spec}`` dict), each spec a
personality name, a :class:`~luminora_nb.types.PersonalityData` or a ``{name: weight}``
mapping blended on the fly (labelled from its weights in percent:
``{"aurora": 7, "captain_quip": 3}`` -> ``aurora70_captain_quip30``).

The package, one concern per module:

* :mod:`~luminora_nb.compare._specs`: the input, checked before anything runs: blend
  specs and their labels (:func:`blend_labels`), prompts, repeat, baseline, provider.
* :mod:`~luminora_nb.compare._runner`: :func:`plan_compare` (check and register, every
  cell pending), :func:`run_compare` (bounded concurrency, cells in matrix order,
  failures recorded as data, cancellable), :func:`compare` (both) and
  :func:`rerun_cell` (the grid's retry).
* :mod:`~luminora_nb.compare._result`: :class:`CompareCell` and :class:`CompareResult`:
  lookup in a deterministic order, the baseline flags, DataFrames.
* :mod:`~luminora_nb.compare._render`: the text and HTML matrices.
* :mod:`~luminora_nb.compare.diff`: the word diff against the baseline
  (:func:`word_diff`), also the BlendStudio's prompt diff: lines first, then words.

pandas and tqdm are imported only when a table or a progress bar is asked for.

Example:
    >>> import asyncio
    >>> from luminora_nb import LuminoraCoreClient
    >>> async def main():
    ...     async with LuminoraCoreClient() as client:
    ...         result = await compare(client, ["aurora", {"aurora": 7, "vex": 3}],
    ...                                ["Hello!", "What is a black hole?"], progress=False)
    ...         return result.labels, len(result.cells), result.errors
    >>> asyncio.run(main())
    (['aurora', 'aurora70_vex30'], 4, 0)
"""

from __future__ import annotations

from ._result import CellStatus, CompareCell, CompareResult
from ._runner import CellCallback, CompareOptions, compare, plan_compare, rerun_cell, run_compare
from ._specs import BlendSpec, blend_labels
from .diff import DiffOp, word_diff

__all__ = [
    "BlendSpec",
    "CellCallback",
    "CellStatus",
    "CompareCell",
    "CompareOptions",
    "CompareResult",
    "DiffOp",
    "blend_labels",
    "compare",
    "plan_compare",
    "rerun_cell",
    "run_compare",
    "word_diff",
]
