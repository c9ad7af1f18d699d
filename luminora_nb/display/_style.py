"""What every rendering shares: the style sheet, escaping and number formats, bars, the mime bundle.

* **Native look.** One inline ``<style>`` block (:data:`CSS`), every selector under the
  ``lnbr-`` class prefix (nothing global), coloured only by JupyterLab CSS variables
  (``--jp-layout-color*``, ``--jp-ui-font-color*``, ``--jp-brand-color1``,
  ``--jp-border-color2``, ...) so light, dark and high-contrast themes work. A
  ``var(--x, fallback)`` fallback is given only where an undefined variable (VS Code,
  nbviewer, an exported page) would hide something: bar fills and tracks, borders, the
  user bubble and prompt backgrounds; never a fixed colour, only ``currentColor`` or a
  translucent grey that reads on light and dark pages. No JavaScript.
* **Escaped.** :func:`esc` escapes text and attributes alike (quotes too).
* **Defensive.** The number helpers take anything: what is not a finite number is 0
  (:func:`clamp_unit`) or ``None`` (:func:`finite_number`), so a repr never raises.
* **Bars print their value beside them.** :func:`bar_html` and :func:`stacked_bar_html`
  are decorative (``aria-hidden``); :func:`text_bar` is the plain-text form.

Example:
    >>> esc('<a title="x">'), pct(1 / 3), when("not a time")
    ('&lt;a title=&quot;x&quot;&gt;', '33.3%', 'not a time')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from html import escape
from typing import Any

__all__ = [
    "CSS",
    "SEP",
    "STYLE",
    "bar_html",
    "clamp_unit",
    "esc",
    "finite_number",
    "mimebundle",
    "pct",
    "role_of",
    "stacked_bar_html",
    "text_bar",
    "time_tag",
    "weight_text",
    "when",
    "wrap",
]

_FONT = "var(--jp-ui-font-family, system-ui, sans-serif)"
_CODE = "var(--jp-code-font-family, monospace)"
_SMALL = "var(--jp-ui-font-size0, 0.85em)"
_MUTED = "var(--jp-ui-font-color2)"
_BORDER = "var(--jp-border-color2, rgba(128, 128, 128, 0.4))"
_SURFACE = "var(--jp-layout-color2, rgba(128, 128, 128, 0.12))"
_FILL = "var(--jp-brand-color1, currentColor)"
_TRACK = "var(--jp-layout-color3, rgba(128, 128, 128, 0.25))"

#: The shared style sheet: every selector starts with an ``.lnbr`` class (``lnb-`` is the widgets' prefix).
CSS = (
    f".lnbr{{font-family:{_FONT};font-size:var(--jp-content-font-size1, 14px);"
    "color:var(--jp-ui-font-color1);line-height:1.45;max-width:100%;box-sizing:border-box;"
    f"border:1px solid {_BORDER};border-radius:4px;padding:8px 10px;margin:2px 0;"
    "overflow-wrap:anywhere}"
    ".lnbr *{box-sizing:border-box}"
    ".lnbr-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 10px}"
    ".lnbr-title{font-weight:600;font-size:var(--jp-content-font-size2, 1.15em)}"
    f".lnbr-muted{{color:{_MUTED};font-size:{_SMALL}}}"
    f".lnbr-code{{font-family:{_CODE}}}"
    ".lnbr-p{margin:4px 0}"
    f".lnbr-h{{font-weight:600;font-size:{_SMALL};color:{_MUTED};text-transform:uppercase;"
    "letter-spacing:0.04em;margin:10px 0 3px}"
    ".lnbr-table{border-collapse:collapse;width:100%;max-width:520px;font-size:inherit}"
    ".lnbr-table th{text-align:left;font-weight:normal;padding:1px 10px 1px 0;white-space:nowrap;"
    "vertical-align:top}"
    ".lnbr-table th[scope=row]{width:1%}"
    f".lnbr-table th[scope=col]{{color:{_MUTED};font-size:{_SMALL}}}"
    ".lnbr-table td{padding:1px 0;vertical-align:middle}"
    ".lnbr-table caption{text-align:left;caption-side:bottom}"
    ".lnbr-params th{vertical-align:middle}"
    ".lnbr-levels{max-width:100%}"
    ".lnbr-levels td{vertical-align:top}"
    ".lnbr-table .lnbr-desc{padding-left:12px}"
    f".lnbr-table .lnbr-num{{text-align:right;font-family:{_CODE};width:4em;padding-left:8px;"
    "white-space:nowrap}"
    f".lnbr-bar{{height:8px;border-radius:4px;background:{_TRACK};overflow:hidden;min-width:60px}}"
    f".lnbr-bar-fill{{height:100%;background:{_FILL}}}"
    f".lnbr-stack{{display:flex;gap:2px;height:12px;border-radius:6px;overflow:hidden;background:{_TRACK};"
    "max-width:520px;margin:2px 0 4px}"
    f".lnbr-stack>span{{display:block;height:100%;background:{_FILL}}}"
    ".lnbr-stack>span:nth-child(3n+2){opacity:0.6}"
    ".lnbr-stack>span:nth-child(3n){opacity:0.35}"
    ".lnbr-list{margin:2px 0;padding-left:1.4em}"
    ".lnbr-chips{list-style:none;margin:2px 0;padding:0;display:flex;flex-wrap:wrap;gap:4px}"
    f".lnbr-chip{{border:1px solid {_BORDER};border-radius:10px;padding:0 8px;font-size:{_SMALL}}}"
    f".lnbr-badges{{display:flex;flex-wrap:wrap;gap:4px;margin-top:4px;font-size:{_SMALL};"
    f"color:{_MUTED}}}"
    f".lnbr-badge{{border:1px solid {_BORDER};border-radius:3px;padding:0 5px;font-family:{_CODE}}}"
    ".lnbr-chat{max-height:32em;overflow-y:auto;display:flex;flex-direction:column-reverse;"
    "margin-top:6px}"
    ".lnbr-msgs{display:flex;flex-direction:column;gap:6px;padding:2px}"
    f".lnbr-msg{{max-width:85%;padding:5px 9px;border-radius:8px;border:1px solid {_BORDER}}}"
    f".lnbr-msg-user{{align-self:flex-end;background:{_SURFACE}}}"
    f".lnbr-msg-assistant{{align-self:flex-start;border-left:3px solid {_FILL}}}"
    ".lnbr-msg-system{align-self:center;border-style:dashed;font-style:italic}"
    f".lnbr-msg-head{{display:flex;gap:10px;justify-content:space-between;font-size:{_SMALL};"
    f"color:{_MUTED}}}"
    ".lnbr-role{font-weight:600}"
    ".lnbr-text{white-space:pre-wrap;margin:2px 0 0}"
    f".lnbr-pre{{white-space:pre-wrap;font-family:{_CODE};font-size:var(--jp-code-font-size, 0.9em);"
    f"background:{_SURFACE};border-radius:3px;padding:6px 8px;max-height:18em;"
    "overflow-y:auto;margin:4px 0 0}"
    ".lnbr-details>summary{cursor:pointer;margin-top:8px}"
    ".lnbr-kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0 0}"
    f".lnbr-kv dt{{color:{_MUTED}}}"
    ".lnbr-kv dd{margin:0}"
)
STYLE = f"<style>{CSS}</style>"

SEP = " · "


def esc(value: Any) -> str:
    """``value`` as escaped text (quotes too, so it is safe in attributes)."""
    return escape(value if isinstance(value, str) else str(value), quote=True)


def clamp_unit(value: Any) -> float:
    """``value`` as a finite number clamped to 0..1 (0 when it is not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number) or math.isinf(number):
        return 0.0
    return min(1.0, max(0.0, number))


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` when it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def weight_text(value: Any) -> str:
    """A raw weight as given, shortly: ``7.0`` -> ``7``, ``0.3333333`` -> ``0.333333``."""
    number = finite_number(value)
    return f"{number:g}" if number is not None else str(value)


def pct(share: float) -> str:
    """A share of 1 as a short percentage: ``0.7`` -> ``70%``, ``1/3`` -> ``33.3%``."""
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def when(moment: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS TZ`` (no zone for a naive one)."""
    if not isinstance(moment, datetime):
        return str(moment)
    zone = moment.tzname()
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} {zone}" if zone else text


def time_tag(moment: Any, short: str | None = None) -> str:
    """A ``<time>`` element showing ``short`` (default: the full time), the full time on hover."""
    if not isinstance(moment, datetime):
        return f'<span class="lnbr-muted">{esc(moment)}</span>'
    full = when(moment)
    return (
        f'<time class="lnbr-muted" datetime="{esc(moment.isoformat())}" title="{esc(full)}">'
        f"{esc(short or full)}</time>"
    )


def role_of(message: Any) -> str:
    """A message's role as text (``"user"``, ``"assistant"``, ...)."""
    role = getattr(message, "role", "")
    return str(getattr(role, "value", role))


def wrap(body: str, kind: str) -> str:
    """``body`` in the outer ``lnbr`` box of a ``kind`` of card, with the style sheet."""
    return f'{STYLE}<div class="lnbr lnbr-{kind}">{body}</div>'


def text_bar(value: float, width: int = 10) -> str:
    """A text bar for a value in 0..1: ``█`` per filled cell, ``·`` per empty one.

    Args:
        value: The value; clamped to 0..1 (anything not a number counts as 0).
        width: Number of cells.

    Returns:
        ``width`` characters.

    Example:
        >>> text_bar(0.7)
        '███████···'
    """
    filled = min(width, math.floor(clamp_unit(value) * width + 0.5))  # half up: 0.25 -> 3 of 10
    return "█" * filled + "·" * (width - filled)


def bar_html(value: float, *, label: str) -> str:
    """A horizontal bar for a value in 0..1 (decorative: print the value beside it).

    Args:
        value: The value; clamped to 0..1.
        label: What the bar measures, used as its tooltip.

    Returns:
        A ``<div>`` bar, hidden from screen readers.

    Example:
        >>> print(bar_html(0.25, label="humor").replace("><", ">\\n<"))
        <div class="lnbr-bar" title="humor: 0.25" aria-hidden="true">
        <div class="lnbr-bar-fill" style="width:25.0%">
        </div>
        </div>
    """
    unit = clamp_unit(value)
    return (
        f'<div class="lnbr-bar" title="{esc(label)}: {unit:.2f}" aria-hidden="true">'
        f'<div class="lnbr-bar-fill" style="width:{unit * 100:.1f}%"></div></div>'
    )


def stacked_bar_html(parts: Sequence[tuple[str, float]]) -> str:
    """One bar split into segments by share, e.g. the weights of a blend.

    Segments alternate in opacity and are separated by a small gap; list the names and
    shares as text next to it too (the bar alone relies on position and shade).

    Args:
        parts: ``(name, share)`` pairs; shares are normalised here.

    Returns:
        A ``<div>`` of ``<span>`` segments, hidden from screen readers.

    Example:
        >>> stacked_bar_html([("a", 3), ("b", 1)]).count('title="')
        2
    """
    values = [(name, max(0.0, finite_number(share) or 0.0)) for name, share in parts]
    total = math.fsum(v for _, v in values)
    segments = "".join(
        f'<span style="width:{(v / total if total else 0) * 100:.2f}%" '
        f'title="{esc(name)}: {pct(v / total if total else 0)}"></span>'
        for name, v in values
    )
    return f'<div class="lnbr-stack" aria-hidden="true">{segments}</div>'


def mimebundle(
    text: Callable[[], str],
    html: Callable[[], str],
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, str]:
    """The ``text/plain`` + ``text/html`` bundle IPython asks ``_repr_mimebundle_`` for.

    Only the requested formats are built.

    Args:
        text: Builds the plain-text form.
        html: Builds the HTML form.
        include: Mime types wanted (all when ``None`` or empty).
        exclude: Mime types not wanted.

    Returns:
        Mime type -> content.

    Example:
        >>> sorted(mimebundle(lambda: "t", lambda: "<b>t</b>"))
        ['text/html', 'text/plain']
        >>> mimebundle(lambda: "t", lambda: "<b>t</b>", exclude={"text/html"})
        {'text/plain': 't'}
    """
    bundle: dict[str, str] = {}
    for mime, build in (("text/plain", text), ("text/html", html)):
        if include and mime not in include:
            continue
        if exclude and mime in exclude:
            continue
        bundle[mime] = build()
    return bundle
