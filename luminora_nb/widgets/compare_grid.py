"""CompareGrid: blends x prompts side by side, rated and diffed, in the notebook.

The anchor is promptfoo's matrix view: rows are prompts, columns are blends (the
baseline first, marked "baseline" in text), each cell shows the reply (clamped, expands
on click or Enter), its tokens and latency. Cells that differ from the baseline carry a
marker; their word diff against the baseline is one click away. Each cell has thumbs
up / down and a note; the header row has per-blend totals; a progress bar, Stop and Run
buttons control the run, and a failed cell offers Retry while the others go on.

Design:

* **The engine does the work.** :func:`~luminora_nb.compare.plan_compare` checks the
  input and registers the blends at construction (a few milliseconds on the facade's
  loop), so the whole grid is drawn at once with every cell pending;
  :func:`~luminora_nb.compare.run_compare` then runs on the facade's loop thread
  (:meth:`LuminoraWidget._background`) and never blocks the kernel. Bad input (no
  prompts, no blends, an unknown persona, all-zero weights, duplicate labels, an unknown
  baseline, an unconfigurable provider) leaves a grid with the short message in place
  and the exception in ``last_error``; nothing is raised.
* **One small message per finished cell.** ``on_cell`` runs on the loop thread, so it
  only sends ``{"type": "cell", "cell": {...}, "same": {...}, "differs": {...}, "total":
  {...}}`` (that cell, its row's "same as" / "differs from" baseline flags, which the
  baseline's reply can change, and its column's totals) and sets the tiny ``progress``
  trait. The full ``cells`` trait is
  a snapshot, refreshed at the end of a run and when a view asks (``{"type": "sync"}``,
  sent by every view as it renders), so a re-rendered view is complete. Each compact
  cell carries a version ``v``; the browser keeps the newest of what it has.
* **Stop is clean.** Stop cancels the run's task on the loop (and any retry in flight);
  the engine puts the cells it had not finished back to ``"pending"``, and the run's
  future completes only once they are, so :meth:`CompareGrid.wait` after
  :meth:`CompareGrid.stop` sees a settled grid and :meth:`CompareGrid.run` finishes the
  rest.
* **Ratings are data at once.** Thumbs and notes set the cell's ``rating`` / ``note``
  (back in :meth:`CompareGrid.to_dataframe`) and go to the session log immediately
  (:meth:`~luminora_nb.sessionlog.SessionLog.record_rating`, which flushes); without a
  log they stay in the widget.
* **Diffs on demand.** ``{"type": "diff", ...}`` is answered with the word diff of
  :meth:`~luminora_nb.compare.CompareResult.diff` as ``[[op, text], ...]``; nothing is
  diffed that nobody looks at.

Synced state: ``labels`` (display order, baseline first), ``prompts``, ``repeat``,
``baseline``, ``run_id``, ``cells`` (compact dicts: ``p``, ``label``, ``r``, ``status``,
``reply``, ``tokens``, ``latency_ms``, ``error``, ``same``, ``differs``, ``rating``,
``note``, ``v``), ``progress`` (``{"done", "total"}``), ``totals`` (label -> ``mean_tokens``,
``p50_latency_ms``, ``up``, ``down``, ``errors``, ``done``, ``cells``), ``running``,
``only_differences``, ``error``, ``busy``.

Browser -> kernel: ``only_differences`` as a trait update; custom messages ``{"type":
"rate", "p", "label", "r", "rating"}``, ``{"type": "note", "p", "label", "r", "note"}``,
``{"type": "retry", "p", "label", "r"}``, ``{"type": "diff", "p", "label", "r"}``,
``{"type": "run"}``, ``{"type": "stop"}``, ``{"type": "sync"}``. Each action is a public
method too, so a test (or the next cell) drives the grid exactly as the browser does.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     grid = CompareGrid(lum, ["aurora", "vex"], ["Hello!", "What is a black hole?"])
    ...     grid.wait()
    ...     grid.rate(0, "vex", +1, note="crisp")
    ...     grid.progress, grid.labels, grid.to_dataframe()["rating"].tolist()
    ({'done': 4, 'total': 4}, ['aurora', 'vex'], [<NA>, 1, <NA>, <NA>])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import traitlets

from ..compare import (
    BlendSpec,
    CompareCell,
    CompareResult,
    DiffOp,
    plan_compare,
    rerun_cell,
    run_compare,
)
from ..compare._render import TEXT_ROWS, TEXT_WIDTH, clip, display_order, text_table
from ..compare._result import column_totals
from ..errors import LuminoraError, SessionError
from ..types.provider import ProviderConfig
from ._base import LuminoraWidget, friendly_error, widget_css, widget_module

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import Unpack

    from ..compare import CompareOptions
    from ..sync import Luminora

__all__ = ["CompareGrid"]

T = TypeVar("T")
logger = logging.getLogger("luminora_nb.widgets")

_CELL_ERROR_CHARS = 240  # a failed cell's message in the grid (the full text is in to_dataframe())
_NOTE_CHARS = 2000
_Key = tuple[int, str, int]


def _key(cell: CompareCell) -> _Key:
    return (cell.prompt_index, cell.label, cell.repeat)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class CompareGrid(LuminoraWidget):
    """Run blends x prompts side by side; rate, annotate, diff and retry the cells.

    Args:
        lum: The facade whose client runs the cells (on its loop thread).
        blends: A list of blends or a ``{label: blend}`` dict; a blend is a personality
            name, a :class:`~luminora_nb.types.PersonalityData` or a ``{name: weight}``
            mix (see :mod:`luminora_nb.compare`).
        prompts: The prompts, one row each.
        provider: Provider of the cells (a :class:`ProviderConfig`, a name or a dict;
            default: the facade's default provider).
        concurrency: At most this many cells in flight at once.
        repeat: How many times each prompt runs with each blend (one row per repeat).
        baseline: Label or index of the blend the others are compared with (default:
            the first); shown first.
        autorun: Start running at once (otherwise call :meth:`run` or press Run).

    Attributes:
        last_error: The last exception shown in place (bad input, a failed action).

    Example:
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=None) as lum:
        ...     grid = CompareGrid(lum, ["aurora"], [])
        ...     grid.error, type(grid.last_error).__name__, grid.result is None
        ('no prompts to compare; pass a list of one or more prompt strings', 'SessionError', True)
    """

    _esm = widget_module("compare_grid")
    _css = widget_css("compare_grid")

    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    prompts = traitlets.List(traitlets.Unicode()).tag(sync=True)
    repeat = traitlets.Int(1).tag(sync=True)
    baseline = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    cells = traitlets.List(traitlets.Dict()).tag(sync=True)
    progress = traitlets.Dict({"done": 0, "total": 0}).tag(sync=True)
    totals = traitlets.Dict().tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    only_differences = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        lum: Luminora,
        blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
        prompts: Sequence[str],
        *,
        autorun: bool = True,
        **options: Unpack[CompareOptions],
    ) -> None:
        from ..sync import Luminora

        if not isinstance(lum, Luminora):
            super().__init__(lum)  # raises the base class's explanation
        self._result: CompareResult | None = None
        concurrency = options.get("concurrency", 8)
        self._concurrency = concurrency
        self._seq = itertools.count(1)
        self._versions: dict[_Key, int] = {}
        self._done: set[_Key] = set()
        self._columns: dict[str, list[CompareCell]] = {}
        self._rows: dict[tuple[int, int], list[CompareCell]] = {}
        self._generation = 0  # bumped by stop(): work started before it is cancelled
        self._live: set[asyncio.Task[Any]] = set()  # loop-side tasks of this grid
        problem: BaseException | None = None
        try:
            if not _is_int(concurrency) or concurrency < 1:
                raise SessionError(f"concurrency must be an int >= 1, got {concurrency!r}")
            unknown = sorted(set(options) & {"progress", "on_cell"})
            if unknown:
                raise SessionError(f"CompareGrid does not take {unknown}: the grid shows its own progress")
            self._result = lum.run(
                plan_compare(
                    lum.client,
                    blends,
                    prompts,
                    provider=options.get("provider"),
                    repeat=options.get("repeat", 1),
                    baseline=options.get("baseline"),
                    run_id=options.get("run_id"),
                    user_id=options.get("user_id", lum.user_id),
                )
            )
        except Exception as exc:  # shown in place, never raised
            problem = exc
        state: dict[str, Any] = {}
        if self._result is not None:
            result = self._result
            for cell in result.cells:
                self._versions[_key(cell)] = next(self._seq)
                self._columns.setdefault(cell.label, []).append(cell)
                self._rows.setdefault((cell.prompt_index, cell.repeat), []).append(cell)
            state = {
                "labels": display_order(result),
                "prompts": list(result.prompts),
                "repeat": result.repeat,
                "baseline": result.baseline,
                "run_id": result.run_id,
                **self._snapshot(),
            }
        if problem is not None:
            state["error"] = friendly_error(problem)
        super().__init__(lum, **state)
        if problem is not None:
            self.last_error = problem
        self.on_msg(self._on_custom)
        if self._result is not None and autorun:
            self.run()

    # -- data out ----------------------------------------------------------------------
    @property
    def result(self) -> CompareResult | None:
        """The :class:`~luminora_nb.compare.CompareResult` being filled (``None`` after bad input)."""
        return self._result

    def to_dataframe(self) -> pd.DataFrame:
        """One row per prompt x blend x repeat, in matrix order, with ``rating`` and ``note``.

        The columns of :meth:`CompareResult.to_dataframe()
        <luminora_nb.compare.CompareResult.to_dataframe>`; an empty frame with the same
        columns when the grid has no result (bad input).
        """
        return (self._result or self._empty_result()).to_dataframe()

    def summary(self) -> pd.DataFrame:
        """One row per blend: cells, errors, mean tokens, p50 latency, differences, ratings.

        See :meth:`CompareResult.summary() <luminora_nb.compare.CompareResult.summary>`;
        an empty frame when the grid has no result.
        """
        return (self._result or self._empty_result()).summary()

    def diff(self, prompt_index: int, label: str, repeat: int = 0) -> list[DiffOp]:
        """Word diff of one cell's reply against the baseline's (see :func:`~luminora_nb.compare.word_diff`).

        Raises:
            SessionError: no such cell, or it or its baseline cell has no reply.
        """
        return self._require_result().diff(prompt_index, label, repeat)

    # -- actions -----------------------------------------------------------------------
    def run(self) -> None:
        """Run the cells still pending (all of them at first, the rest after :meth:`stop`).

        Does nothing while a run is going on or when no cell is pending. Returns at once;
        :meth:`wait` waits for the run.
        """
        result = self._result
        if result is None:
            self._fail(self.last_error or SessionError("this grid has nothing to run"))
            return
        if self.running or not any(c.status == "pending" for c in result.cells):
            return
        self.running = True
        if self._launch(self._run_all(result)) is None:
            self.running = False

    def stop(self) -> None:
        """Stop the run (and any retry in flight): unfinished cells go back to pending.

        Returns at once; after :meth:`wait` the grid is settled and :meth:`run` finishes
        the rest.
        """
        if not any(not t.done() for t in self._tasks):
            return
        self._generation += 1
        self.lum.call_soon(self._cancel_live)

    def retry(self, prompt_index: int, label: str, repeat: int = 0) -> None:
        """Run one cell again in a fresh session (a failed one, typically), on the loop.

        The rest of the grid keeps running. A bad cell reference, or a cell running right
        now, gives a message in place.
        """
        cell = self._lookup(prompt_index, label, repeat)
        if cell is None:
            return
        if cell.status == "running":
            self._fail(
                SessionError(
                    f"cell {label!r}, prompt {prompt_index}, repeat {repeat} is running; wait for it"
                )
            )
            return
        self._launch(self._retry(cell))

    def rate(
        self, prompt_index: int, label: str, rating: int, repeat: int = 0, note: str | None = None
    ) -> None:
        """Thumbs up (``+1``), down (``-1``) or clear (``0``) one cell, with an optional note.

        The same path as the browser's thumbs: the cell's ``rating`` (and ``note``, when
        given; ``""`` clears it) change at once, the rating goes to the session log
        (``lum.log.record_rating``, flushed at once) when the facade has one, and the
        browser gets the updated cell. Bad arguments give a message in place.
        """
        if isinstance(rating, bool) or not _is_int(rating) or rating not in (-1, 0, 1):
            self._fail(SessionError(f"rating must be -1, 0 or 1 (thumbs down, clear, up), got {rating!r}"))
            return
        cell = self._lookup(prompt_index, label, repeat)
        if cell is None or not self._check_note(note):
            return
        cell.rating = rating or None
        if note is not None:
            cell.note = note.strip() or None
        self._record(cell)

    def annotate(self, prompt_index: int, label: str, note: str | None, repeat: int = 0) -> None:
        """Set (or with ``""`` / ``None`` clear) one cell's note; logged like a rating."""
        cell = self._lookup(prompt_index, label, repeat)
        if cell is None or not self._check_note(note):
            return
        cell.note = (note or "").strip() or None
        self._record(cell)

    def close(self) -> None:
        """Stop what still runs and close the widget."""
        self.stop()
        super().close()

    # -- running (loop thread) --------------------------------------------------------
    def _launch(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T | None] | None:
        """Run ``work`` on the loop as stoppable background work; ``None`` if it could not start."""
        guarded = self._guard(work, self._generation)
        try:
            future = self._background(guarded)
        except Exception as exc:  # the facade is closed
            guarded.close()
            work.close()
            self.busy = any(not t.done() for t in self._tasks)
            self._fail(exc)
            return None
        return future

    async def _guard(self, work: Coroutine[Any, Any, T], generation: int) -> T | None:
        """Await ``work`` unless :meth:`stop` was called since it was launched; a stop is not an error."""
        if generation != self._generation:
            work.close()
            return None
        task = asyncio.current_task()
        assert task is not None
        self._live.add(task)
        try:
            return await work
        except asyncio.CancelledError:
            if generation != self._generation:  # stop() asked for it: the cells are pending again
                return None
            raise
        finally:
            self._live.discard(task)

    def _cancel_live(self) -> None:
        for task in list(self._live):
            task.cancel()

    def _cell_done(self, cell: CompareCell) -> None:
        """``on_cell``: one finished cell to the browser, cheaply (loop thread; never raises)."""
        try:
            key = _key(cell)
            if cell.done:
                self._done.add(key)
            else:
                self._done.discard(key)
            self._versions[key] = next(self._seq)
            self.progress = self._progress()
            self._send_cell(cell)
        except Exception:  # a display hiccup must not stop the run
            logger.debug("CompareGrid: sending a cell failed", exc_info=True)

    async def _run_all(self, result: CompareResult) -> None:
        try:
            await run_compare(
                self.lum.client,
                result,
                concurrency=self._concurrency,
                progress=False,
                on_cell=self._cell_done,
            )
        finally:  # finished, failed or stopped: the snapshot is published before wait() returns
            self.running = False
            self._publish()

    async def _retry(self, cell: CompareCell) -> None:
        result = self._require_result()
        key = _key(cell)
        self._done.discard(key)
        self._versions[key] = next(self._seq)
        self.progress = self._progress()
        self._send_cell(cell, status="running")
        try:
            await rerun_cell(self.lum.client, result, cell.prompt_index, cell.label, cell.repeat)
        finally:
            self._cell_done(cell)
            self.totals = self._all_totals()

    # -- state -------------------------------------------------------------------------
    def _require_result(self) -> CompareResult:
        if self._result is None:
            raise SessionError(f"this grid has no result: {self.error or 'its input was not valid'}")
        return self._result

    def _empty_result(self) -> CompareResult:
        return CompareResult(
            run_id="",
            labels=[],
            personalities={},
            prompts=[],
            repeat=1,
            baseline="",
            provider=ProviderConfig(),
        )

    def _lookup(self, prompt_index: object, label: object, repeat: object) -> CompareCell | None:
        """The cell, or ``None`` with the reason shown in place."""
        try:
            return self._require_result().cell(prompt_index, label, repeat)  # type: ignore[arg-type]
        except (LuminoraError, TypeError) as exc:
            self._fail(exc)
            return None

    def _check_note(self, note: object) -> bool:
        if note is not None and not isinstance(note, str):
            self._fail(SessionError(f"a note must be text, got {type(note).__name__}"))
            return False
        if isinstance(note, str) and len(note) > _NOTE_CHARS:
            self._fail(SessionError(f"a note may be at most {_NOTE_CHARS} characters long"))
            return False
        return True

    def _record(self, cell: CompareCell) -> None:
        """Log the cell's rating and note (when there is a log) and show them."""
        result = self._require_result()
        log = self.lum.log
        if log is not None:
            try:
                log.record_rating(
                    blend=cell.label,
                    prompt=cell.prompt,
                    rating=cell.rating or 0,
                    note=cell.note,
                    run_id=result.run_id,
                    repeat=cell.repeat,
                    session_id=cell.session_id,
                )
            except Exception as exc:  # the rating stays in the grid
                self._fail(exc)
        self._versions[_key(cell)] = next(self._seq)
        self._send_cell(cell)
        self.totals = {**self.totals, cell.label: self._totals(cell.label)}

    def _compact(self, cell: CompareCell, status: str | None = None) -> dict[str, Any]:
        error = None
        if cell.error is not None:
            error = f"{cell.error_type}: {cell.error}" if cell.error_type else cell.error
            if len(error) > _CELL_ERROR_CHARS:
                error = error[: _CELL_ERROR_CHARS - 1] + "\u2026"
        return {
            "p": cell.prompt_index,
            "label": cell.label,
            "r": cell.repeat,
            "status": status or cell.status,
            "reply": cell.reply,
            "tokens": cell.total_tokens,
            "latency_ms": None if cell.latency_ms is None else round(cell.latency_ms, 1),
            "error": error,
            "same": cell.same_as_baseline,
            "differs": self._differs(cell),
            "rating": cell.rating or 0,
            "note": cell.note or "",
            "v": self._versions.get(_key(cell), 0),
        }

    def _differs(self, cell: CompareCell) -> bool:
        """Whether ``cell`` succeeded and differs from a baseline reply to the same prompt."""
        result = self._result
        if result is None or cell.is_baseline or not cell.ok or cell.same_as_baseline:
            return False
        return result.baseline_cell(cell).ok

    def _send_cell(self, cell: CompareCell, status: str | None = None) -> None:
        row = self._rows.get((cell.prompt_index, cell.repeat), [])
        self.send(
            {
                "type": "cell",
                "cell": self._compact(cell, status),
                "same": {c.label: c.same_as_baseline for c in row},
                "differs": {c.label: self._differs(c) for c in row},
                "total": {cell.label: self._totals(cell.label)},
            }
        )

    def _progress(self) -> dict[str, int]:
        total = len(self._result.cells) if self._result is not None else 0
        return {"done": len(self._done), "total": total}

    def _totals(self, label: str) -> dict[str, Any]:
        totals = column_totals(self._columns.get(label, []))
        for key in ("mean_tokens", "p50_latency_ms"):
            if totals[key] is not None:
                totals[key] = round(totals[key], 1)
        return totals

    def _all_totals(self) -> dict[str, dict[str, Any]]:
        return {label: self._totals(label) for label in self._columns}

    def _snapshot(self) -> dict[str, Any]:
        result = self._result
        if result is None:
            return {}
        return {
            "cells": [self._compact(c) for c in result.cells],
            "progress": {"done": sum(1 for c in result.cells if c.done), "total": len(result.cells)},
            "totals": self._all_totals(),
        }

    def _publish(self) -> None:
        """Refresh the ``cells``, ``progress`` and ``totals`` traits from the result."""
        for name, value in self._snapshot().items():
            setattr(self, name, value)

    def _row_hidden(self, prompt_index: int, repeat: int) -> bool:
        """Whether "Show only differences" hides this row: every other blend equals the baseline."""
        others = [c for c in self._rows.get((prompt_index, repeat), []) if not c.is_baseline]
        return bool(others) and all(c.same_as_baseline for c in others)

    # -- browser messages ----------------------------------------------------------------
    def _on_custom(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        where = (content.get("p"), content.get("label"), content.get("r", 0))
        if kind == "rate":
            self.rate(where[0], where[1], content.get("rating"), where[2])  # type: ignore[arg-type]
        elif kind == "note":
            self.annotate(where[0], where[1], content.get("note"), where[2])  # type: ignore[arg-type]
        elif kind == "retry":
            self.retry(*where)  # type: ignore[arg-type]
        elif kind == "diff":
            self._send_diff(*where)
        elif kind == "run":
            self.run()
        elif kind == "stop":
            self.stop()
        elif kind == "sync":
            self._publish()

    def _send_diff(self, prompt_index: Any, label: Any, repeat: Any) -> None:
        reply: dict[str, Any] = {"type": "diff", "p": prompt_index, "label": label, "r": repeat}
        try:
            reply["ops"] = [[op, text] for op, text in self.diff(prompt_index, label, repeat)]
        except (LuminoraError, TypeError) as exc:
            reply["error"] = friendly_error(exc)
        self.send(reply)

    # -- text form -------------------------------------------------------------------------
    def _cell_text(self, cell: CompareCell) -> str:
        if cell.status == "error":
            text = f"ERROR {cell.error_type or ''}".rstrip()
        elif cell.reply is None:
            text = "(running)" if self.running or cell.status == "running" else "(not run)"
        elif not cell.is_baseline and cell.same_as_baseline:
            text = "= baseline"
        else:
            text = cell.reply
        mark = {1: " [+]", -1: " [-]"}.get(cell.rating or 0, "")
        return clip(text, TEXT_WIDTH - len(mark)) + mark

    def _text(self) -> str:
        result = self._result
        if result is None:
            return f"CompareGrid (not run)\nerror: {self.error or 'no input'}"
        columns = display_order(result)
        done = sum(1 for c in result.cells if c.done)
        waiting = len(result.cells) - done
        state = " (running)" if self.running else f" ({waiting} not run)" if waiting else ""
        lines = [
            f"CompareGrid {result.run_id!r}: {len(columns)} blend(s) x {len(result.prompts)} prompt(s)"
            + (f" x {result.repeat} repeats" if result.repeat > 1 else "")
            + f", {done}/{len(result.cells)} cells done{state}, {result.errors} failed;"
            f" baseline {result.baseline!r}"
        ]
        header = [
            "prompt",
            *(f"{label} (baseline)" if label == result.baseline else label for label in columns),
        ]
        rows = [[clip(h) for h in header]]
        hidden = 0
        shown = 0
        more = 0
        for p, prompt in enumerate(result.prompts):
            for r in range(result.repeat):
                if self.only_differences and self._row_hidden(p, r):
                    hidden += 1
                    continue
                if shown >= TEXT_ROWS:
                    more += 1
                    continue
                shown += 1
                name = prompt if result.repeat == 1 else f"#{r + 1} {prompt}"
                rows.append([clip(name), *(self._cell_text(result.cell(p, label, r)) for label in columns)])
        lines += text_table(rows)
        counted = ((hidden, "row(s) equal to the baseline hidden"), (more, "more row(s): see to_dataframe()"))
        notes = [f"{count} {what}" for count, what in counted if count]
        if notes:
            lines.append(f"({'; '.join(notes)})")
        lines.append("totals:")
        for label in columns:
            t = self._totals(label)
            tokens = "-" if t["mean_tokens"] is None else f"{t['mean_tokens']:g}"
            latency = "-" if t["p50_latency_ms"] is None else f"{t['p50_latency_ms']:g} ms"
            lines.append(
                f"  {label}{' (baseline)' if label == result.baseline else ''}: mean tokens {tokens}, "
                f"p50 latency {latency}, ratings +{t['up']}/-{t['down']}, {t['errors']} error(s)"
            )
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)
