"""Run blends x prompts side by side: the engine behind ``Luminora.compare`` and CompareGrid.

A comparison is a matrix of **cells**, one per prompt x blend x repeat. Every cell runs
in a fresh session (no history from another cell can leak into its reply), created
with ``metadata={"compare_run": run_id, "compare_label": label, "prompt_index": i,
"repeat": r}`` so the session log can group a run's turns afterwards.

Blends are given as a list (or as a ``{label: spec}`` dict), each spec one of:

* a personality name (``"aurora"``), loaded or shipped;
* a :class:`~luminora_nb.types.PersonalityData`, loaded into the client under its name
  (always, so the object you pass is the one that runs, even if you edited it);
* a ``{name: weight}`` mapping, blended on the fly and registered under a readable,
  deterministic name built from the normalised weights in percent
  (``{"aurora": 7, "captain_quip": 3}`` -> ``aurora70_captain_quip30``), or under its
  dict key when the blends are given as a dict.

Design:

* **Two phases.** :func:`plan_compare` checks every input and registers the blends
  (nothing touches the client before all input is valid), then returns a
  :class:`CompareResult` whose cells are all ``"pending"``; :func:`run_compare` runs
  the pending cells. :func:`compare` does both. A widget can therefore draw the whole
  grid first, fill it from ``on_cell`` and offer a retry (:func:`rerun_cell`) for a
  failed cell while the others are still running. A cancelled run leaves the cells it
  had not finished ``"pending"``, and ``run_compare`` on the same result finishes them.
* **Bounded concurrency.** ``min(concurrency, cells)`` workers take cells in order
  from one shared queue, so at most ``concurrency`` cells are in flight, they start
  in matrix order (the grid fills row by row) and a large matrix costs a handful of
  tasks, not one per cell. The workers live in an :class:`asyncio.TaskGroup`: cancelling
  the run cancels every cell and leaves no task behind.
* **Failures are data.** A cell whose session or turn fails records the exception's
  type and message (the library scrubs API keys from its messages; any other exception
  is scrubbed of the provider's key here as well) and the other cells go on. Bad input,
  and a provider that cannot even be configured (unknown name, missing API key), raise
  at once instead of producing a matrix of identical failures.
* **Deterministic order.** ``result.cells`` is ordered prompt, then blend, then repeat,
  whatever order the cells finish in.
* **Baseline.** One blend (default: the first) is the baseline. A cell is
  ``same_as_baseline`` when it and the baseline's cell for the same prompt and repeat
  both succeeded with exactly the same text; :meth:`CompareResult.diff` gives the word
  diff against the baseline (:func:`word_diff`).
* **Light imports.** pandas (``to_dataframe``, ``summary``) and tqdm (the progress
  bar) are imported only when used; without tqdm there is simply no bar.

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

import asyncio
import difflib
import html
import importlib
import inspect
import logging
import math
import re
import statistics
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from .errors import LuminoraError, PersonalityError, SessionError
from .types.personality import PersonalityData, normalise_weights
from .types.provider import ProviderConfig

if TYPE_CHECKING:
    import pandas as pd

    from .client import LuminoraCoreClient

__all__ = [
    "BlendSpec",
    "CellCallback",
    "CellStatus",
    "CompareCell",
    "CompareResult",
    "DiffOp",
    "blend_labels",
    "compare",
    "plan_compare",
    "rerun_cell",
    "run_compare",
    "word_diff",
]

logger = logging.getLogger("luminora_nb.compare")

#: A blend to compare: a personality name, a personality, or ``{name: weight}``.
BlendSpec: TypeAlias = str | PersonalityData | Mapping[str, float]
#: Called (or awaited, when it returns an awaitable) with every finished cell.
CellCallback: TypeAlias = Callable[["CompareCell"], Awaitable[None] | None]
CellStatus: TypeAlias = Literal["pending", "running", "ok", "error"]
#: One operation of a word diff: ``("equal" | "insert" | "delete", text)``.
DiffOp: TypeAlias = tuple[Literal["equal", "insert", "delete"], str]

_MASK = "***"
_TEXT_WIDTH = 28  # characters of a reply in the plain-text matrix
_TEXT_ROWS = 12  # prompts shown by __repr__
_HTML_ROWS = 50  # prompts shown by _repr_html_


# --------------------------------------------------------------------------- cells and results


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
        different text), ``rating_up`` and ``rating_down``.
        """
        pd = _pandas()
        rows = []
        for label in self.labels:
            cells = [c for c in self.cells if c.label == label]
            good = [c for c in cells if c.ok]
            tokens = [c.total_tokens for c in good if c.total_tokens is not None]
            latencies = [c.latency_ms for c in good if c.latency_ms is not None]
            differs = sum(1 for c in good if not c.same_as_baseline and self.baseline_cell(c).ok)
            rows.append(
                {
                    "blend": label,
                    "personality": self.personalities[label],
                    "is_baseline": label == self.baseline,
                    "cells": len(cells),
                    "errors": sum(1 for c in cells if c.status == "error"),
                    "mean_tokens": statistics.fmean(tokens) if tokens else math.nan,
                    "p50_latency_ms": statistics.median(latencies) if latencies else math.nan,
                    "differs_from_baseline": differs,
                    "rating_up": sum(1 for c in cells if c.rating is not None and c.rating > 0),
                    "rating_down": sum(1 for c in cells if c.rating is not None and c.rating < 0),
                }
            )
        return pd.DataFrame.from_records(rows).set_index("blend")

    # -- display --------------------------------------------------------------------
    def _columns(self) -> list[str]:
        """Labels with the baseline first (the display order)."""
        return [self.baseline, *(label for label in self.labels if label != self.baseline)]

    def _headline(self) -> str:
        counts = (
            f"{len(self.labels)} blend(s) x {len(self.prompts)} prompt(s) x {self.repeat} repeat(s) "
            f"= {len(self.cells)} cells"
        )
        state = f"{self.errors} failed"
        pending = sum(1 for c in self.cells if not c.done)
        if pending:
            state += f", {pending} not run"
        return f"CompareResult {self.run_id!r}: {counts}, {state}; baseline {self.baseline!r}"

    def __repr__(self) -> str:
        columns = self._columns()
        header = ["prompt", *(f"*{label} (baseline)" if i == 0 else label for i, label in enumerate(columns))]
        rows = [header]
        for p, prompt in enumerate(self.prompts[:_TEXT_ROWS]):
            row = [_clip(prompt)]
            for label in columns:
                row.append(_clip(_cell_text(self.cell(p, label, 0), label == self.baseline)))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [self._headline()]
        lines.extend(" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)
        notes = []
        if len(self.prompts) > _TEXT_ROWS:
            notes.append(f"{len(self.prompts) - _TEXT_ROWS} more prompt(s)")
        if self.repeat > 1:
            notes.append("repeat 0 shown")
        if notes:
            lines.append(f"({'; '.join(notes)}: see to_dataframe())")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        columns = self._columns()
        esc = html.escape
        head = "".join(
            f"<th title='baseline'>&#9733; {esc(label)} <small>(baseline)</small></th>"
            if label == self.baseline
            else f"<th>{esc(label)}</th>"
            for label in columns
        )
        body = []
        for p, prompt in enumerate(self.prompts[:_HTML_ROWS]):
            cells = "".join(_html_cell(self.cell(p, label, 0), label == self.baseline) for label in columns)
            body.append(f"<tr><th style='text-align:left;vertical-align:top'>{esc(prompt)}</th>{cells}</tr>")
        notes = []
        if len(self.prompts) > _HTML_ROWS:
            notes.append(f"{len(self.prompts) - _HTML_ROWS} more prompt(s)")
        if self.repeat > 1:
            notes.append("repeat 0 shown")
        note = f"<p><small>{esc('; '.join(notes))}: see to_dataframe()</small></p>" if notes else ""
        return (
            f"<div class='luminora-compare'><p>{esc(self._headline())}</p>"
            f"<table><thead><tr><th>prompt</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{note}</div>"
        )


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


def _clip(text: str, width: int = _TEXT_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def _cell_text(cell: CompareCell, is_baseline: bool) -> str:
    if cell.status == "error":
        return f"ERROR {cell.error_type}"
    if cell.reply is None:
        return "(not run)"
    if not is_baseline and cell.same_as_baseline:
        return "= baseline"
    return cell.reply


def _html_cell(cell: CompareCell, is_baseline: bool) -> str:
    esc = html.escape
    style = "text-align:left;vertical-align:top;max-width:28em"
    if cell.status == "error":
        text = f"{cell.error_type}: {cell.error}"
        return f"<td style='{style};color:#b00020' title='failed'>{esc(text)}</td>"
    if cell.reply is None:
        return f"<td style='{style};color:#888'>not run</td>"
    same = not is_baseline and cell.same_as_baseline
    meta = f"{cell.total_tokens if cell.total_tokens is not None else '?'} tok"
    if cell.latency_ms is not None:
        meta += f" \u00b7 {cell.latency_ms:,.0f} ms"
    if same:
        meta += " \u00b7 same as baseline"
    colour = ";color:#888" if same else ""
    return (
        f"<td style='{style}{colour}'><div style='max-height:8em;overflow:auto'>{esc(cell.reply)}</div>"
        f"<small>{esc(meta)}</small></td>"
    )


# --------------------------------------------------------------------------- word diff

_TOKEN = re.compile(r"\s+|\S+")


def word_diff(a: str, b: str) -> list[DiffOp]:
    """Word-level diff turning ``a`` into ``b``; whitespace is kept.

    Joining the ``"equal"`` and ``"delete"`` texts gives back ``a``; joining the
    ``"equal"`` and ``"insert"`` texts gives back ``b``. A change spanning several words
    comes as one delete and one insert (the spaces between changed words are not
    reported as tiny "equal" islands).

    Example:
        >>> word_diff("the quick brown fox", "the slow red fox")
        [('equal', 'the '), ('delete', 'quick brown'), ('insert', 'slow red'), ('equal', ' fox')]
        >>> word_diff("same", "same")
        [('equal', 'same')]
    """
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    # Blocks: ("equal", text) or ("change", deleted, inserted).
    blocks: list[list[str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if tag == "equal":
            blocks.append(["equal", "".join(ta[i1:i2])])
            continue
        deleted, inserted = "".join(ta[i1:i2]), "".join(tb[j1:j2])
        if blocks and blocks[-1][0] == "change":
            blocks[-1][1] += deleted
            blocks[-1][2] += inserted
        else:
            blocks.append(["change", deleted, inserted])
    # Fold whitespace-only equal islands between two changes into one change.
    merged: list[list[str]] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if (
            block[0] == "equal"
            and not block[1].strip()
            and merged
            and merged[-1][0] == "change"
            and i + 1 < len(blocks)
            and blocks[i + 1][0] == "change"
        ):
            nxt = blocks[i + 1]
            merged[-1][1] += block[1] + nxt[1]
            merged[-1][2] += block[1] + nxt[2]
            i += 2
            continue
        merged.append(list(block))
        i += 1
    ops: list[DiffOp] = []
    for block in merged:
        if block[0] == "equal":
            if block[1]:
                ops.append(("equal", block[1]))
            continue
        if block[1]:
            ops.append(("delete", block[1]))
        if block[2]:
            ops.append(("insert", block[2]))
    return ops


# --------------------------------------------------------------------------- blend specs


@dataclass(frozen=True)
class _Spec:
    """One blend as given, checked: what runs under ``label`` and how to register it."""

    label: str
    name: str  # the personality the cells run
    kind: Literal["name", "data", "mix"]
    data: PersonalityData | None = None
    sources: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()


def _percent(weight: float) -> str:
    text = f"{weight * 100:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _mix_name(sources: Sequence[str], weights: Sequence[float]) -> str:
    return "_".join(f"{n}{_percent(w)}" for n, w in zip(sources, weights, strict=True))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _spec(spec: object, label: str | None, position: str) -> _Spec:
    if isinstance(spec, str):
        if not spec.strip():
            raise PersonalityError(f"{position}: the personality name is empty")
        return _Spec(label=label or spec, name=spec, kind="name")
    if isinstance(spec, PersonalityData):
        return _Spec(label=label or spec.name, name=spec.name, kind="data", data=spec)
    if isinstance(spec, Mapping):
        if not spec:
            raise PersonalityError(f"{position}: the weight mapping is empty; give {{name: weight, ...}}")
        sources = list(spec)
        bad = [s for s in sources if not isinstance(s, str) or not s.strip()]
        if bad:
            raise PersonalityError(f"{position}: personality names must be non-empty strings, got {bad[0]!r}")
        weights = normalise_weights(sources, list(spec.values()))
        name = label or _mix_name(sources, weights)
        return _Spec(label=name, name=name, kind="mix", sources=tuple(sources), weights=tuple(weights))
    raise PersonalityError(
        f"{position}: a blend is a personality name, a PersonalityData or a {{name: weight}} mapping, "
        f"got {type(spec).__name__}"
    )


def _specs(blends: Sequence[BlendSpec] | Mapping[str, BlendSpec] | BlendSpec) -> list[_Spec]:
    if isinstance(blends, str | PersonalityData):
        blends = [blends]
    specs: list[_Spec] = []
    if isinstance(blends, Mapping):
        if blends and all(_is_number(v) for v in blends.values()):
            raise PersonalityError(
                f"blends looks like one weight mapping ({dict(blends)!r}); pass a list of blends, "
                "e.g. [{'aurora': 7, 'vex': 3}], or label it: {'my blend': {...}}"
            )
        for label, given in blends.items():
            if not isinstance(label, str) or not label.strip():
                raise PersonalityError(f"blend labels must be non-empty strings, got {label!r}")
            specs.append(_spec(given, label.strip(), f"blend {label!r}"))
    elif isinstance(blends, Sequence):
        specs = [_spec(given, None, f"blends[{i}]") for i, given in enumerate(blends)]
    else:
        raise PersonalityError(
            f"blends must be a list of blends or a {{label: blend}} dict, got {type(blends).__name__}"
        )
    if not specs:
        raise PersonalityError("no blends to compare; pass at least one personality name, personality or mix")
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.label in seen:
            raise PersonalityError(
                f"duplicate blend label {spec.label!r} (blends {seen[spec.label]} and {i}); labels must be "
                "unique: pass the blends as a dict {label: blend} to name them"
            )
        seen[spec.label] = i
    registered: dict[str, str] = {}
    for spec in specs:
        if spec.kind == "name":
            continue
        if spec.name in registered:
            raise PersonalityError(
                f"blends {registered[spec.name]!r} and {spec.label!r} would both register a personality "
                f"named {spec.name!r}; give them different names"
            )
        registered[spec.name] = spec.label
    return specs


def blend_labels(blends: Sequence[BlendSpec] | Mapping[str, BlendSpec]) -> list[str]:
    """The labels :func:`compare` gives ``blends``, without running anything.

    Raises:
        PersonalityError: a malformed spec, bad weights or duplicate labels.

    Example:
        >>> blend_labels(["aurora", {"aurora": 7, "captain_quip": 3}, {"vex": 1, "pip": 2}])
        ['aurora', 'aurora70_captain_quip30', 'vex33.3_pip66.7']
        >>> blend_labels({"calm": "aurora", "mix": {"aurora": 1, "vex": 1}})
        ['calm', 'mix']
    """
    return [spec.label for spec in _specs(blends)]


async def _register(client: LuminoraCoreClient, specs: Sequence[_Spec]) -> None:
    """Check every name exists, then load the personalities and blend the mixes."""
    known = set(await client.list_personalities()) | {s.name for s in specs if s.kind == "data"}
    for spec in specs:
        needed = spec.sources if spec.kind == "mix" else (spec.name,) if spec.kind == "name" else ()
        missing = [n for n in needed if n not in known]
        if missing:
            raise PersonalityError(
                f"unknown personality {missing[0]!r} in blend {spec.label!r}; load it with "
                f"load_personality() or pass the PersonalityData itself. Known: {', '.join(sorted(known))}"
            )
        if spec.kind == "mix":
            existing = await client.get_personality(spec.name)
            if existing is not None and "blend" not in existing.metadata:
                raise PersonalityError(
                    f"blend label {spec.name!r} is already the name of a personality that is not a blend; "
                    "choose another label so it is not replaced"
                )
    for spec in specs:
        if spec.kind == "data" and spec.data is not None:
            await client.load_personality(spec.name, spec.data)
    for spec in specs:
        if spec.kind == "mix":
            await client.blend_personalities(list(spec.sources), list(spec.weights), spec.name)


# --------------------------------------------------------------------------- inputs


def _provider(
    value: ProviderConfig | Mapping[str, Any] | str | None, default: ProviderConfig
) -> ProviderConfig:
    return default if value is None else ProviderConfig.coerce(value)


async def _check_provider(config: ProviderConfig) -> None:
    """Fail now, not once per cell, when the provider cannot even be set up (name, key, URL)."""
    from .providers.registry import create_provider

    provider = create_provider(config)
    await provider.aclose()


def _prompts(prompts: Sequence[str] | str) -> list[str]:
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence):
        raise SessionError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    checked = list(prompts)
    if not checked:
        raise SessionError("no prompts to compare; pass a list of one or more prompt strings")
    for i, prompt in enumerate(checked):
        if not isinstance(prompt, str) or not prompt.strip():
            raise SessionError(f"prompts[{i}] must be a non-empty string, got {prompt!r}")
    return checked


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SessionError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _baseline(baseline: str | int | None, labels: Sequence[str]) -> str:
    if baseline is None:
        return labels[0]
    if isinstance(baseline, str):
        if baseline not in labels:
            raise SessionError(
                f"unknown baseline {baseline!r}; use one of the blend labels: {', '.join(labels)}"
            )
        return baseline
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        if not -len(labels) <= baseline < len(labels):
            raise SessionError(f"baseline index {baseline} is out of range for {len(labels)} blend(s)")
        return labels[baseline]
    raise SessionError(f"baseline must be a blend label or index, got {baseline!r}")


def _scrub(text: str, config: ProviderConfig) -> str:
    key = config.api_key
    if key and len(key) >= 4:
        text = text.replace(key, _MASK)
    return text


# --------------------------------------------------------------------------- running


async def plan_compare(
    client: LuminoraCoreClient,
    blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
    prompts: Sequence[str],
    *,
    provider: ProviderConfig | Mapping[str, Any] | str | None = None,
    repeat: int = 1,
    baseline: str | int | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
) -> CompareResult:
    """Check the input, register the blends and return the matrix with every cell pending.

    Arguments as in :func:`compare`; run the cells with :func:`run_compare`.

    Example:
        >>> import asyncio
        >>> from luminora_nb import LuminoraCoreClient
        >>> async def main():
        ...     async with LuminoraCoreClient() as client:
        ...         plan = await plan_compare(client, ["aurora", "vex"], ["Hi"], repeat=2, baseline="vex")
        ...         return plan.baseline, [c.status for c in plan.cells]
        >>> asyncio.run(main())
        ('vex', ['pending', 'pending', 'pending', 'pending'])
    """
    specs = _specs(blends)
    labels = [spec.label for spec in specs]
    prompt_list = _prompts(prompts)
    repeats = _positive("repeat", repeat)
    base = _baseline(baseline, labels)
    if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()):
        raise SessionError(f"run_id must be a non-empty string, got {run_id!r}")
    config = _provider(provider, client.default_provider)
    await _check_provider(config)
    await _register(client, specs)
    result = CompareResult(
        run_id=run_id or f"cmp_{uuid.uuid4().hex[:12]}",
        labels=labels,
        personalities={spec.label: spec.name for spec in specs},
        prompts=prompt_list,
        repeat=repeats,
        baseline=base,
        provider=config,
        user_id=user_id,
    )
    result.cells = [
        CompareCell(
            label=spec.label,
            personality=spec.name,
            prompt=prompt,
            prompt_index=p,
            repeat=r,
            is_baseline=spec.label == base,
        )
        for p, prompt in enumerate(prompt_list)
        for spec in specs
        for r in range(repeats)
    ]
    return result


async def _run_cell(
    client: LuminoraCoreClient, result: CompareResult, cell: CompareCell, config: ProviderConfig
) -> None:
    """Run one cell in a fresh session, filling it in; failures are recorded, not raised."""
    cell._reset()
    cell.status = "running"
    metadata = {
        "compare_run": result.run_id,
        "compare_label": cell.label,
        "prompt_index": cell.prompt_index,
        "repeat": cell.repeat,
    }
    try:
        cell.session_id = await client.create_session(
            cell.personality, config, user_id=result.user_id, metadata=metadata
        )
        response = await client.send_message(cell.session_id, cell.prompt)
    except Exception as exc:
        if not isinstance(exc, LuminoraError):
            logger.debug(
                "compare cell %s/%d/%d failed", cell.label, cell.prompt_index, cell.repeat, exc_info=True
            )
        cell.status = "error"
        cell.error = _scrub(str(exc) or type(exc).__name__, config)
        cell.error_type = type(exc).__name__
    except BaseException:
        # Cancelled (or interrupted): the cell goes back to pending, to be run again later.
        cell._reset()
        raise
    else:
        usage = response.usage
        cell.reply = response.content
        cell.prompt_tokens = usage.get("prompt_tokens")
        cell.completion_tokens = usage.get("completion_tokens")
        cell.total_tokens = usage.get("total_tokens")
        latency = response.metadata.get("latency_ms")
        cell.latency_ms = float(latency) if isinstance(latency, int | float) else None
        cell.finish_reason = response.finish_reason
        cell.status = "ok"
    result._settle(cell.prompt_index, cell.repeat)


def _progress_bar(progress: bool | None, total: int) -> Any:
    if progress is False or total == 0:
        return None
    try:
        auto = importlib.import_module("tqdm.auto")
    except ImportError:
        if progress:
            warnings.warn("progress=True needs tqdm (pip install tqdm); running without a bar", stacklevel=4)
        return None
    # progress=None: the bar appears only if the run lasts more than half a second.
    return auto.tqdm(total=total, desc="compare", unit="cell", delay=0 if progress else 0.5)


async def run_compare(
    client: LuminoraCoreClient,
    result: CompareResult,
    *,
    concurrency: int = 8,
    progress: bool | None = None,
    on_cell: CellCallback | None = None,
) -> CompareResult:
    """Run the pending cells of ``result`` (from :func:`plan_compare`), filling it in place.

    Cells start in matrix order, at most ``concurrency`` at a time. ``on_cell`` is
    called (awaited if it returns an awaitable) with each cell as it finishes,
    successfully or not, inside the worker that ran it: keep it quick. An exception
    it raises stops the run and propagates. If the run is cancelled, the cells it had
    not finished are ``"pending"`` again and another ``run_compare`` finishes them.

    Raises:
        SessionError: ``concurrency`` is not an int >= 1.
    """
    workers = _positive("concurrency", concurrency)
    pending = [cell for cell in result.cells if cell.status == "pending"]
    queue: Iterator[CompareCell] = iter(pending)
    bar = _progress_bar(progress, len(pending))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for cell in queue:
            if cell.status != "pending":  # rerun_cell got to it first
                continue
            await _run_cell(client, result, cell, result.provider)
            if bar is not None:
                if not cell.ok:
                    failures += 1
                    bar.set_postfix(failed=failures, refresh=False)
                bar.update(1)
            if on_cell is not None:
                returned = on_cell(cell)
                if inspect.isawaitable(returned):
                    await returned

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(pending))):
                group.create_task(worker())
    except BaseExceptionGroup as grouped:
        # Only on_cell (or a bug) raises out of a worker: surface the exception itself.
        raise grouped.exceptions[0] from None
    finally:
        if bar is not None:
            bar.close()
    return result


async def compare(
    client: LuminoraCoreClient,
    blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
    prompts: Sequence[str],
    *,
    provider: ProviderConfig | Mapping[str, Any] | str | None = None,
    concurrency: int = 8,
    repeat: int = 1,
    baseline: str | int | None = None,
    progress: bool | None = None,
    on_cell: CellCallback | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
) -> CompareResult:
    """Run every prompt with every blend (``repeat`` times each), each in a fresh session.

    Args:
        client: The client to run on; mixes and personalities are registered in it.
        blends: A list of blends or a ``{label: blend}`` dict; a blend is a personality
            name, a :class:`~luminora_nb.types.PersonalityData` or a ``{name: weight}``
            mapping blended on the fly (see the module docs for its label).
        prompts: The prompts, each a non-empty string.
        provider: A :class:`~luminora_nb.types.ProviderConfig`, a dict, or a provider
            name (default: the client's default provider, offline unless configured).
        concurrency: At most this many cells in flight at once.
        repeat: How many times each prompt runs with each blend.
        baseline: Label or index of the blend the others are compared with (default:
            the first).
        progress: Show a tqdm bar: always (True), never (False), or only when the run
            lasts more than half a second (None).
        on_cell: Called (or awaited) with each cell as it finishes.
        run_id: Id of the run (default: a fresh ``cmp_...`` id), stored in the sessions'
            metadata.
        user_id: User id of the sessions.

    Returns:
        The filled :class:`CompareResult`; failed cells carry their error.

    Raises:
        PersonalityError: no blends, an unknown personality, bad weights, a duplicate
            label, or a label that would replace a personality that is not a blend.
        SessionError: no prompts, an empty prompt, ``repeat`` or ``concurrency`` below
            1, or an unknown baseline.
        ProviderError: a provider that cannot be configured (unknown, no API key).

    Example:
        >>> import asyncio
        >>> from luminora_nb import LuminoraCoreClient
        >>> async def main():
        ...     async with LuminoraCoreClient() as client:
        ...         r = await compare(client, {"calm": "aurora", "blunt": "vex"}, ["Hello!"], progress=False)
        ...         return [(c.label, c.is_baseline, c.status) for c in r.cells]
        >>> asyncio.run(main())
        [('calm', True, 'ok'), ('blunt', False, 'ok')]
    """
    _positive("concurrency", concurrency)
    result = await plan_compare(
        client,
        blends,
        prompts,
        provider=provider,
        repeat=repeat,
        baseline=baseline,
        run_id=run_id,
        user_id=user_id,
    )
    return await run_compare(client, result, concurrency=concurrency, progress=progress, on_cell=on_cell)


async def rerun_cell(
    client: LuminoraCoreClient,
    result: CompareResult,
    prompt_index: int,
    label: str,
    repeat: int = 0,
    *,
    provider: ProviderConfig | Mapping[str, Any] | str | None = None,
) -> CompareCell:
    """Run one cell again, in a fresh session, updating it (and its row's baseline flags) in place.

    This is the grid's retry button: it works while :func:`run_compare` is still busy
    with other cells, and on a cell a cancelled run left pending. ``provider`` replaces
    the run's provider for this cell (for example with a corrected API key).

    Returns:
        The same :class:`CompareCell` object, now filled in.

    Raises:
        SessionError: no such cell, or it is running right now.
    """
    cell = result.cell(prompt_index, label, repeat)
    if cell.status == "running":
        raise SessionError(
            f"cell {label!r}, prompt {prompt_index}, repeat {repeat} is running; wait for it to finish"
        )
    config = result.provider if provider is None else _provider(provider, result.provider)
    if config is not result.provider:
        await _check_provider(config)
    await _run_cell(client, result, cell, config)
    return cell
