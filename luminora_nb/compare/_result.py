"""The matrix of a comparison: one :class:`CompareCell` per prompt x blend x repeat.

* **Deterministic order.** ``result.cells`` is ordered prompt, then blend, then repeat,
  whatever order the cells finish in; :meth:`CompareResult.cell` finds one by position.
* **Baseline.** One blend (default: the first) is the baseline. A cell is
  ``same_as_baseline`` when it and the baseline's cell for the same prompt and repeat
  both succeeded with exactly the same text (recomputed for a whole row whenever one of
  its cells finishes); :meth:`CompareResult.diff` gives the word diff against the
  baseline (:func:`~luminora_nb.compare.word_diff`).
* **Light imports.** pandas (``to_dataframe``, ``summary``) is imported only when used.
  The text and HTML forms are in :mod:`luminora_nb.compare._render`.

Example:
    >>> from luminora_nb.types import ProviderConfig
    >>> result = CompareResult(run_id="r", labels=["a"], personalities={"a": "aurora"}, prompts=["Hi"],
    ...                        repeat=1, baseline="a", provider=ProviderConfig())
    >>> result.cells = [CompareCell(label="a", personality="aurora", prompt="Hi", prompt_index=0, repeat=0)]
    >>> result.cell(0, "a").status, result.done
    ('pending', False)
"""

from __future__ import annotations

import importlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ..errors import SessionError
from ..types.provider import ProviderConfig
from . import _render
from .diff import DiffOp, word_diff

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CellStatus", "CompareCell", "CompareResult", "column_totals"]

CellStatus: TypeAlias = Literal["pending", "running", "ok", "error"]


@dataclass(eq=False)
class CompareCell:
    """One prompt x blend x repeat of a comparison, filled in when it has run.

    ``status`` is ``"pending"`` (not run yet), ``"running"``, ``"ok"`` or ``"error"``.
    A failed cell has ``reply=None`` and ``error`` / ``error_type`` set. ``latency_ms``
    is the provider call as timed by the client. ``rating`` (+1 / -1) and ``note`` are
    left for the reviewer (CompareGrid) and come back in ``to_dataframe()``.

    Example:
        >>> cell = CompareCell(label="aurora", personality="aurora", prompt="Hi", prompt_index=0, repeat=0)
        >>> cell.status, cell.ok
        ('pending', False)
    """

    label: str
    personality: str
    prompt: str
    prompt_index: int
    repeat: int
    status: CellStatus = "pending"
    reply: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    session_id: str | None = None
    is_baseline: bool = False
    same_as_baseline: bool = False
    rating: int | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the cell ran and has a reply."""
        return self.status == "ok"

    @property
    def done(self) -> bool:
        """Whether the cell has finished, successfully or not."""
        return self.status in ("ok", "error")

    def _reset(self) -> None:
        self.status = "pending"
        self.reply = self.finish_reason = self.error = self.error_type = self.session_id = None
        self.prompt_tokens = self.completion_tokens = self.total_tokens = None
        self.latency_ms = None
        self.same_as_baseline = False


@dataclass(eq=False)
class CompareResult:
    """The matrix of a comparison: ``cells`` ordered by prompt, then blend, then repeat.

    Attributes:
        run_id: Id of the run, stored in each session's ``metadata["compare_run"]``.
        labels: The blends' labels, in the order given.
        personalities: Label -> name of the personality that runs under it.
        prompts: The prompts, in order.
        repeat: How many times each prompt ran with each blend.
        baseline: Label of the blend the others are compared against.
        provider: The provider configuration the cells run with (its API key is never
            shown nor stored).
        user_id: User id of the sessions, if any.
        cells: Every cell; ``len(labels) * len(prompts) * repeat`` of them.
    """

    run_id: str
    labels: list[str]
    personalities: dict[str, str]
    prompts: list[str]
    repeat: int
    baseline: str
    provider: ProviderConfig
    user_id: str | None = None
    cells: list[CompareCell] = field(default_factory=list)

    # -- lookup ---------------------------------------------------------------------
    def _position(self, prompt_index: int, label: str, repeat: int) -> int:
        if isinstance(prompt_index, bool) or not isinstance(prompt_index, int):
            raise SessionError(f"prompt_index must be an int, got {prompt_index!r}")
        if not 0 <= prompt_index < len(self.prompts):
            raise SessionError(
                f"prompt_index {prompt_index} is out of range; this run has {len(self.prompts)} prompt(s)"
            )
        if label not in self.personalities:
            raise SessionError(f"unknown blend label {label!r}; this run has: {', '.join(self.labels)}")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat < self.repeat:
            raise SessionError(f"repeat must be an int from 0 to {self.repeat - 1}, got {repeat!r}")
        column = self.labels.index(label)
        return (prompt_index * len(self.labels) + column) * self.repeat + repeat

    def cell(self, prompt_index: int, label: str, repeat: int = 0) -> CompareCell:
        """The cell of one prompt, blend and repeat.

        Raises:
            SessionError: no such prompt index, label or repeat.
        """
        return self.cells[self._position(prompt_index, label, repeat)]

    def baseline_cell(self, cell: CompareCell) -> CompareCell:
        """The baseline's cell for the same prompt and repeat as ``cell``."""
        return self.cell(cell.prompt_index, self.baseline, cell.repeat)

    @property
    def errors(self) -> int:
        """How many cells failed."""
        return sum(1 for c in self.cells if c.status == "error")

    @property
    def failed(self) -> list[CompareCell]:
        """The cells that failed, in matrix order."""
        return [c for c in self.cells if c.status == "error"]

    @property
    def done(self) -> bool:
        """Whether every cell has finished (successfully or not)."""
        return all(c.done for c in self.cells)

    # -- baseline -------------------------------------------------------------------
    def diff(self, prompt_index: int, label: str, repeat: int = 0) -> list[DiffOp]:
        """Word diff of one cell's reply against the baseline's reply to the same prompt.

        ``"delete"`` ops are baseline text the cell lacks, ``"insert"`` ops text only the
        cell has (see :func:`word_diff`).

        Raises:
            SessionError: no such cell, or it or the baseline cell has no reply.
        """
        cell = self.cell(prompt_index, label, repeat)
        base = self.baseline_cell(cell)
        for which in (base, cell):
            if which.reply is None:
                reason = f"it failed ({which.error_type}: {which.error})" if which.error else "it has not run"
                raise SessionError(
                    f"no reply to diff for blend {which.label!r}, prompt {prompt_index}, repeat {repeat}: "
                    f"{reason}; rerun it with rerun_cell()"
                )
        assert base.reply is not None and cell.reply is not None
        return word_diff(base.reply, cell.reply)

    def _settle(self, prompt_index: int, repeat: int) -> None:
        """Recompute ``same_as_baseline`` of one prompt and repeat (one row of the grid)."""
        base = self.cell(prompt_index, self.baseline, repeat)
        for label in self.labels:
            cell = self.cell(prompt_index, label, repeat)
            cell.same_as_baseline = base.ok and cell.ok and cell.reply == base.reply

    # -- tables ---------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """One row per prompt x blend x repeat, in matrix order (needs pandas).

        Columns: ``prompt_index``, ``prompt``, ``blend`` (the label), ``personality``,
        ``repeat``, ``status``, ``reply``, ``tokens`` (total), ``prompt_tokens``,
        ``completion_tokens``, ``latency_ms``, ``finish_reason``, ``error``,
        ``error_type``, ``is_baseline``, ``same_as_baseline``, ``session_id``,
        ``rating``, ``note``, ``run_id``.
        """
        pd = _pandas()
        rows = [
            {
                "prompt_index": c.prompt_index,
                "prompt": c.prompt,
                "blend": c.label,
                "personality": c.personality,
                "repeat": c.repeat,
                "status": c.status,
                "reply": c.reply,
                "tokens": c.total_tokens,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "latency_ms": c.latency_ms,
                "finish_reason": c.finish_reason,
                "error": c.error,
                "error_type": c.error_type,
                "is_baseline": c.is_baseline,
                "same_as_baseline": c.same_as_baseline,
                "session_id": c.session_id,
                "rating": c.rating,
                "note": c.note,
                "run_id": self.run_id,
            }
            for c in self.cells
        ]
        frame = pd.DataFrame.from_records(rows, columns=_COLUMNS)
        return frame.astype(
            {
                "tokens": "Int64",
                "prompt_tokens": "Int64",
                "completion_tokens": "Int64",
                "rating": "Int64",
                "latency_ms": "float64",
            }
        )

    def summary(self) -> pd.DataFrame:
        """One row per blend (index ``blend``, in the order given; needs pandas).

        Columns: ``personality``, ``is_baseline``, ``cells``, ``errors``,
        ``mean_tokens`` and ``p50_latency_ms`` (over the cells that succeeded),
        ``differs_from_baseline`` (succeeded, with a baseline reply to compare, and a
        different text), ``rating_up`` and ``rating_down``. No rows for a result with no
        blends.
        """
        pd = _pandas()
        rows = []
        for label in self.labels:
            cells = [c for c in self.cells if c.label == label]
            totals = column_totals(cells)
            differs = sum(1 for c in cells if c.ok and not c.same_as_baseline and self.baseline_cell(c).ok)
            rows.append(
                {
                    "blend": label,
                    "personality": self.personalities[label],
                    "is_baseline": label == self.baseline,
                    "cells": totals["cells"],
                    "errors": totals["errors"],
                    "mean_tokens": _or_nan(totals["mean_tokens"]),
                    "p50_latency_ms": _or_nan(totals["p50_latency_ms"]),
                    "differs_from_baseline": differs,
                    "rating_up": totals["up"],
                    "rating_down": totals["down"],
                }
            )
        return pd.DataFrame.from_records(rows, columns=_SUMMARY_COLUMNS).set_index("blend")

    # -- display --------------------------------------------------------------------
    def __repr__(self) -> str:
        return _render.result_text(self)

    def _repr_html_(self) -> str:
        return _render.result_html(self)


def column_totals(cells: Sequence[CompareCell]) -> dict[str, Any]:
    """Totals of one blend's cells: the grid's header row, the rows of ``summary()``.

    ``mean_tokens`` and ``p50_latency_ms`` are over the cells that succeeded (``None``
    when none did); ``up`` / ``down`` count ratings; ``done`` the finished cells.

    Example:
        >>> cell = CompareCell(label="a", personality="a", prompt="Hi", prompt_index=0, repeat=0,
        ...                    status="ok", total_tokens=12, latency_ms=40.0, rating=1)
        >>> column_totals([cell])
        {'mean_tokens': 12.0, 'p50_latency_ms': 40.0, 'up': 1, 'down': 0, 'errors': 0, 'done': 1, 'cells': 1}
    """
    good = [c for c in cells if c.ok]
    tokens = [c.total_tokens for c in good if c.total_tokens is not None]
    latencies = [c.latency_ms for c in good if c.latency_ms is not None]
    return {
        "mean_tokens": statistics.fmean(tokens) if tokens else None,
        "p50_latency_ms": statistics.median(latencies) if latencies else None,
        "up": sum(1 for c in cells if c.rating is not None and c.rating > 0),
        "down": sum(1 for c in cells if c.rating is not None and c.rating < 0),
        "errors": sum(1 for c in cells if c.status == "error"),
        "done": sum(1 for c in cells if c.done),
        "cells": len(cells),
    }


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


_COLUMNS = [
    "prompt_index",
    "prompt",
    "blend",
    "personality",
    "repeat",
    "status",
    "reply",
    "tokens",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "finish_reason",
    "error",
    "error_type",
    "is_baseline",
    "same_as_baseline",
    "session_id",
    "rating",
    "note",
    "run_id",
]


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ImportError("CompareResult tables need pandas: pip install 'luminora_nb[notebook]'") from None


_SUMMARY_COLUMNS = [
    "blend",
    "personality",
    "is_baseline",
    "cells",
    "errors",
    "mean_tokens",
    "p50_latency_ms",
    "differs_from_baseline",
    "rating_up",
    "rating_down",
]
