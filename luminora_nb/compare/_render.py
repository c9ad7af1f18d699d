"""The text and HTML forms of a comparison, shared by :class:`CompareResult` and CompareGrid.

Both forms show the matrix with prompts as rows and blends as columns, the baseline
first and marked, repeat 0 only, and a headline with the counts. Replies are clipped to
one short line in text (:func:`clip`) and scroll inside a capped cell in HTML; every
piece of text is escaped in HTML. :func:`text_table` pads the columns of a text matrix.

Example:
    >>> print("\\n".join(text_table([["prompt", "aurora"], ["Hi", clip("Hello   there!\\nHow are you?")]])))
    prompt | aurora
    Hi     | Hello there! How are you?
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import CompareCell, CompareResult

__all__ = [
    "HTML_ROWS",
    "TEXT_ROWS",
    "TEXT_WIDTH",
    "clip",
    "display_order",
    "result_html",
    "result_text",
    "text_table",
]

TEXT_WIDTH = 28  # characters of a reply in the plain-text matrix
TEXT_ROWS = 12  # rows of the plain-text matrix
HTML_ROWS = 50  # prompts shown by the HTML matrix


def clip(text: str, width: int = TEXT_WIDTH) -> str:
    """``text`` on one line (whitespace runs folded), cut to ``width`` characters with an ellipsis.

    Example:
        >>> clip("a reply that goes on and on and on")
        'a reply that goes on and on…'
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` (the header first) as lines of ``|``-separated columns padded to one width each."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def display_order(result: CompareResult) -> list[str]:
    """The labels with the baseline first."""
    return [result.baseline, *(label for label in result.labels if label != result.baseline)]


def _headline(result: CompareResult) -> str:
    counts = (
        f"{len(result.labels)} blend(s) x {len(result.prompts)} prompt(s) x {result.repeat} repeat(s) "
        f"= {len(result.cells)} cells"
    )
    state = f"{result.errors} failed"
    pending = sum(1 for c in result.cells if not c.done)
    if pending:
        state += f", {pending} not run"
    return f"CompareResult {result.run_id!r}: {counts}, {state}; baseline {result.baseline!r}"


def _notes(result: CompareResult, shown: int) -> list[str]:
    notes = []
    if len(result.prompts) > shown:
        notes.append(f"{len(result.prompts) - shown} more prompt(s)")
    if result.repeat > 1:
        notes.append("repeat 0 shown")
    return notes


def _cell_text(cell: CompareCell, is_baseline: bool) -> str:
    if cell.status == "error":
        return f"ERROR {cell.error_type}"
    if cell.reply is None:
        return "(not run)"
    if not is_baseline and cell.same_as_baseline:
        return "= baseline"
    return cell.reply


def result_text(result: CompareResult) -> str:
    """The plain-text matrix of ``result`` (its ``repr``)."""
    columns = display_order(result)
    header = ["prompt", *(f"*{label} (baseline)" if i == 0 else label for i, label in enumerate(columns))]
    rows = [header]
    for p, prompt in enumerate(result.prompts[:TEXT_ROWS]):
        row = [clip(prompt)]
        for label in columns:
            row.append(clip(_cell_text(result.cell(p, label, 0), label == result.baseline)))
        rows.append(row)
    lines = [_headline(result), *text_table(rows)]
    notes = _notes(result, TEXT_ROWS)
    if notes:
        lines.append(f"({'; '.join(notes)}: see to_dataframe())")
    return "\n".join(lines)


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


def result_html(result: CompareResult) -> str:
    """The HTML matrix of ``result`` (its ``_repr_html_``)."""
    columns = display_order(result)
    esc = html.escape
    head = "".join(
        f"<th title='baseline'>&#9733; {esc(label)} <small>(baseline)</small></th>"
        if label == result.baseline
        else f"<th>{esc(label)}</th>"
        for label in columns
    )
    body = []
    for p, prompt in enumerate(result.prompts[:HTML_ROWS]):
        cells = "".join(_html_cell(result.cell(p, label, 0), label == result.baseline) for label in columns)
        body.append(f"<tr><th style='text-align:left;vertical-align:top'>{esc(prompt)}</th>{cells}</tr>")
    notes = _notes(result, HTML_ROWS)
    note = f"<p><small>{esc('; '.join(notes))}: see to_dataframe()</small></p>" if notes else ""
    return (
        f"<div class='luminora-compare'><p>{esc(_headline(result))}</p>"
        f"<table><thead><tr><th>prompt</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}</div>"
    )
