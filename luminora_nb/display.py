"""Rich notebook display of the public models: HTML for Jupyter, plain text for everything else.

The models in :mod:`luminora_nb.types` get thin ``_repr_html_`` and
``_repr_mimebundle_`` methods that import this module lazily and call one of the
builders below, so ``import luminora_nb`` stays fast and ``types`` keeps no display
code of its own. Design rules:

* **Pure stdlib.** Only :mod:`html` and :mod:`datetime`; the models are imported for
  type checking only, and every builder reads its object by attribute, defensively
  (a repr must never raise, whatever sits in a ``metadata`` dict).
* **Escaped.** Every piece of user-provided text (names, descriptions, prompts, message
  contents, metadata values) goes through :func:`html.escape`, in text and attributes.
* **Native look.** One inline ``<style>`` block, every selector under the ``lnbr-`` class
  prefix (nothing global), coloured only by JupyterLab CSS variables
  (``--jp-layout-color*``, ``--jp-ui-font-color*``, ``--jp-brand-color1``,
  ``--jp-border-color2``, ...) so light, dark and high-contrast themes work. A
  ``var(--x, fallback)`` fallback is given only where an undefined variable (VS Code,
  nbviewer, an exported page) would hide something: bar fills and tracks, borders, the
  user bubble and prompt backgrounds; never a fixed colour, only ``currentColor`` or a
  translucent grey that reads on light and dark pages. No JavaScript.
* **Fits the cell.** Full width, wrapping long words, long transcripts and prompts
  scroll inside a capped height; a conversation shows at most its last ``limit``
  messages (200 by default) with a line saying how many were left out.
* **Accessible.** Nothing is said by colour alone: every bar prints its value, roles
  are written as text, the default mood is marked in words; decorative bars are
  ``aria-hidden`` and tables have header cells.
* **Plain-text fallback.** Each object also has a short text form (``text/plain`` of
  the mime bundle) for nbconvert, GitHub previews and terminals, with text bars such as
  ``verbosity   0.70 ███████···``.

Example:
    >>> from luminora_nb.types import ChatResponse
    >>> reply = ChatResponse(content="Hi <there>", finish_reason="stop", model="m")
    >>> "Hi &lt;there&gt;" in chat_response_html(reply)
    True
    >>> print(chat_response_text(reply))
    Hi <there>
    [model m · finish stop]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .types.personality import PersonalityBlend, PersonalityData
    from .types.provider import ChatResponse
    from .types.session import Conversation, Message, SessionSummary

__all__ = [
    "CSS",
    "DEFAULT_LIMIT",
    "bar_html",
    "blend_html",
    "blend_text",
    "chat_response_html",
    "chat_response_text",
    "conversation_html",
    "conversation_text",
    "mimebundle",
    "personality_html",
    "personality_text",
    "session_summary_html",
    "session_summary_text",
    "stacked_bar_html",
    "text_bar",
]

#: Most messages a conversation renders; older ones are counted, not shown.
DEFAULT_LIMIT = 200

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
_STYLE = f"<style>{CSS}</style>"

_SEP = " · "


# --------------------------------------------------------------------------- helpers


def _e(value: Any) -> str:
    """``value`` as escaped text (quotes too, so it is safe in attributes)."""
    return escape(value if isinstance(value, str) else str(value), quote=True)


def _unit(value: Any) -> float:
    """``value`` as a finite number clamped to 0..1 (0 when it is not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number) or math.isinf(number):
        return 0.0
    return min(1.0, max(0.0, number))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _weight(value: Any) -> str:
    """A raw weight as given, shortly: ``7.0`` -> ``7``, ``0.3333333`` -> ``0.333333``."""
    number = _number(value)
    return f"{number:g}" if number is not None else str(value)


def _pct(share: float) -> str:
    """A share of 1 as a short percentage: ``0.7`` -> ``70%``, ``1/3`` -> ``33.3%``."""
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _when(moment: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS TZ`` (no zone for a naive one)."""
    if not isinstance(moment, datetime):
        return str(moment)
    zone = moment.tzname()
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} {zone}" if zone else text


def _time_tag(moment: Any, short: str | None = None) -> str:
    if not isinstance(moment, datetime):
        return f'<span class="lnbr-muted">{_e(moment)}</span>'
    full = _when(moment)
    return (
        f'<time class="lnbr-muted" datetime="{_e(moment.isoformat())}" title="{_e(full)}">'
        f"{_e(short or full)}</time>"
    )


def _role(message: Any) -> str:
    role = getattr(message, "role", "")
    return str(getattr(role, "value", role))


def _wrap(body: str, kind: str) -> str:
    return f'{_STYLE}<div class="lnbr lnbr-{kind}">{body}</div>'


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
    filled = min(width, math.floor(_unit(value) * width + 0.5))  # half up: 0.25 -> 3 of 10
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
    unit = _unit(value)
    return (
        f'<div class="lnbr-bar" title="{_e(label)}: {unit:.2f}" aria-hidden="true">'
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
    values = [(name, max(0.0, _number(share) or 0.0)) for name, share in parts]
    total = math.fsum(v for _, v in values)
    segments = "".join(
        f'<span style="width:{(v / total if total else 0) * 100:.2f}%" '
        f'title="{_e(name)}: {_pct(v / total if total else 0)}"></span>'
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


# --------------------------------------------------------------------------- badges


def _badges(
    model: Any, finish_reason: Any, usage: Any, latency_ms: Any, extra: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """``(label, value)`` pairs of a reply's badge line; absent values are left out."""
    out: list[tuple[str, str]] = []
    if model:
        out.append(("model", str(model)))
    if finish_reason:
        out.append(("finish", str(finish_reason)))
    if isinstance(usage, Mapping):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if prompt is not None or completion is not None:
            out.append(
                (
                    "tokens",
                    f"{prompt if prompt is not None else '?'} in / "
                    f"{completion if completion is not None else '?'} out",
                )
            )
        elif usage.get("total_tokens") is not None:
            out.append(("tokens", f"{usage['total_tokens']} total"))
    latency = _number(latency_ms)
    if latency is not None:
        if latency >= 1000:
            out.append(("latency", f"{latency / 1000:.2f} s"))
        else:
            out.append(("latency", f"{latency:.1f} ms" if latency < 10 else f"{latency:.0f} ms"))
    for key in ("relationship_level", "mood", "affinity_points"):
        value = (extra or {}).get(key)
        if value not in (None, ""):
            out.append((key.replace("_", " "), str(value)))
    return out


def _message_badges(message: Any) -> list[tuple[str, str]]:
    meta = getattr(message, "metadata", None)
    if _role(message) != "assistant" or not isinstance(meta, Mapping):
        return []
    return _badges(
        meta.get("model"), meta.get("finish_reason"), meta.get("usage"), meta.get("latency_ms"), meta
    )


def _response_badges(response: Any) -> list[tuple[str, str]]:
    meta = getattr(response, "metadata", None)
    meta = meta if isinstance(meta, Mapping) else {}
    return _badges(
        getattr(response, "model", None),
        getattr(response, "finish_reason", None),
        getattr(response, "usage", None),
        meta.get("latency_ms"),
        meta,
    )


def _badges_html(badges: list[tuple[str, str]]) -> str:
    if not badges:
        return ""
    items = "".join(
        f'<span class="lnbr-badge" title="{_e(label)}">{_e(label)} {_e(value)}</span>'
        for label, value in badges
    )
    return f'<div class="lnbr-badges">{items}</div>'


def _badges_text(badges: list[tuple[str, str]]) -> str:
    return "[" + _SEP.join(f"{label} {value}" for label, value in badges) + "]" if badges else ""


# --------------------------------------------------------------------------- personality


def _blend_info(metadata: Any) -> tuple[list[tuple[str, float]], str, Any] | None:
    """``(sources with normalised weights, blend type, custom rules)`` of ``metadata["blend"]``."""
    if not isinstance(metadata, Mapping):
        return None
    blend = metadata.get("blend")
    if not isinstance(blend, Mapping):
        return None
    weights = blend.get("weights")
    weights = weights if isinstance(weights, Mapping) else {}
    sources = blend.get("sources")
    names = [str(s) for s in sources] if isinstance(sources, list | tuple) else [str(k) for k in weights]
    if not names:
        return None
    values = [max(0.0, _number(weights.get(n)) or 0.0) for n in names]
    total = math.fsum(values)
    parts = [(n, v / total if total else 0.0) for n, v in zip(names, values, strict=True)]
    return parts, str(blend.get("blend_type") or ""), blend.get("custom_rules")


def _blend_section_html(parts: list[tuple[str, float]], blend_type: str, rules: Any) -> str:
    kind = f' <span class="lnbr-muted">({_e(blend_type)})</span>' if blend_type else ""
    items = "".join(
        f'<li><span class="lnbr-code">{_e(name)}</span> {_pct(share)}</li>' for name, share in parts
    )
    rules_html = ""
    if isinstance(rules, Mapping) and rules:
        chips = "".join(
            f'<li class="lnbr-chip"><span class="lnbr-code">{_e(k)}</span>: {_e(v)}</li>'
            for k, v in rules.items()
        )
        rules_html = f'<div class="lnbr-muted">custom rules</div><ul class="lnbr-chips">{chips}</ul>'
    return (
        f'<div class="lnbr-h">Blend{kind}</div>{stacked_bar_html(parts)}'
        f'<ol class="lnbr-list">{items}</ol>{rules_html}'
    )


def _blend_line(parts: list[tuple[str, float]], blend_type: str) -> str:
    kind = f" ({blend_type})" if blend_type else ""
    return f"blend{kind}: " + ", ".join(f"{name} {_pct(share)}" for name, share in parts)


def _title(p: Any) -> tuple[str, str | None]:
    """The personality's shown name, and its registry name when that differs."""
    definition = getattr(p, "definition", None)
    title = getattr(p, "name_override", None) or (
        definition.persona.name if definition is not None else getattr(p, "name", "")
    )
    name = str(getattr(p, "name", ""))
    return str(title), (name if name != title else None)


def _description(p: Any) -> str:
    return str(getattr(p, "description_override", None) or getattr(p, "description", "") or "")


def personality_html(p: PersonalityData) -> str:
    """HTML card of a personality.

    With a definition: name, description, archetype · temperament · communication
    style, the six advanced parameters as labelled bars with their values, relationship
    levels, moods, the blend's sources and weights when it is a blend, and the compiled
    system prompt folded away. The simple seed form shows name, description and prompt.

    Args:
        p: The personality.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import PersonalityData
        >>> out = personality_html(PersonalityData(name="x", description="<i>", system_prompt="Be nice."))
        >>> "&lt;i&gt;" in out and "<i>" not in out and "Be nice." in out
        True
    """
    title, name = _title(p)
    definition = p.definition
    head = f'<span class="lnbr-title">{_e(title)}</span>'
    if name:
        head += f' <span class="lnbr-code lnbr-muted">{_e(name)}</span>'
    if definition is not None:
        info = definition.persona
        byline = f"v{info.version}"
        if info.author and info.author != "unknown":
            byline += f" by {info.author}"
        head += f' <span class="lnbr-muted">{_e(byline)}</span>'
    parts = [f'<div class="lnbr-head">{head}</div>']
    description = _description(p)
    if description:
        parts.append(f'<p class="lnbr-p">{_e(description)}</p>')
    if definition is None:
        parts.append('<div class="lnbr-h">System prompt</div>')
        parts.append(
            f'<div class="lnbr-pre">{_e(p.system_prompt)}</div>'
            if p.system_prompt
            else '<div class="lnbr-muted">(empty)</div>'
        )
        blend = _blend_info(p.metadata)
        if blend is not None:
            parts.append(_blend_section_html(*blend))
        return _wrap("".join(parts), "persona")

    traits = definition.core_traits
    parts.append(
        '<p class="lnbr-p">'
        + _SEP.join(
            f'<span class="lnbr-muted">{label}</span> <b>{_e(value)}</b>'
            for label, value in (
                ("archetype", traits.archetype),
                ("temperament", traits.temperament),
                ("style", traits.communication_style),
            )
        )
        + "</p>"
    )
    if definition.persona.tags:
        chips = "".join(f'<li class="lnbr-chip">{_e(tag)}</li>' for tag in definition.persona.tags)
        parts.append(f'<ul class="lnbr-chips" aria-label="tags">{chips}</ul>')

    rows = "".join(
        f'<tr><th scope="row">{_e(key)}</th><td>{bar_html(value, label=key)}</td>'
        f'<td class="lnbr-num">{_unit(value):.2f}</td></tr>'
        for key, value in definition.advanced_parameters.as_dict().items()
    )
    parts.append(
        '<div class="lnbr-h">Parameters</div>'
        f'<table class="lnbr-table lnbr-params"><caption class="lnbr-muted">0 = none, 1 = a lot</caption>'
        f"{rows}</table>"
    )

    levels = sorted(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0])
    if levels:
        rows = "".join(
            f'<tr><th scope="row">{_e(lvl.name)}</th>'
            f'<td class="lnbr-num">{lvl.affinity_range[0]}&ndash;{lvl.affinity_range[1]}</td>'
            f'<td class="lnbr-muted lnbr-desc">{_e(lvl.description)}</td></tr>'
            for lvl in levels
        )
        parts.append(
            '<div class="lnbr-h">Relationship levels</div><table class="lnbr-table lnbr-levels">'
            '<tr><th scope="col">level</th><th scope="col" class="lnbr-num">points</th>'
            f'<th scope="col" class="lnbr-desc">description</th></tr>{rows}</table>'
        )

    mood_config = definition.mood_config
    if mood_config.enabled and mood_config.moods:
        chips = "".join(
            f'<li class="lnbr-chip" title="{_e(mood.description)}">{_e(mood.name)}'
            + (" (default)" if mood.name == mood_config.default_mood else "")
            + "</li>"
            for mood in mood_config.moods
        )
        parts.append(f'<div class="lnbr-h">Moods</div><ul class="lnbr-chips">{chips}</ul>')

    blend = _blend_info(p.metadata)
    if blend is not None:
        parts.append(_blend_section_html(*blend))

    if p.system_prompt:
        parts.append(
            '<details class="lnbr-details"><summary class="lnbr-muted">System prompt '
            f"({len(p.system_prompt)} characters)</summary>"
            f'<div class="lnbr-pre">{_e(p.system_prompt)}</div></details>'
        )
    return _wrap("".join(parts), "persona")


def personality_text(p: PersonalityData) -> str:
    """Plain-text form of a personality: name, traits, parameter bars, levels, moods, blend.

    Args:
        p: The personality.

    Returns:
        A few lines of text.

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> print(personality_text(get_builtin("aurora")).splitlines()[3])
        verbosity   0.65 ███████···
    """
    title, name = _title(p)
    lines = [title + (f" ({name})" if name else "")]
    description = _description(p)
    if description:
        lines.append(description)
    definition = p.definition
    if definition is None:
        if p.system_prompt:
            lines.append("system prompt: " + p.system_prompt.replace("\n", "\n  "))
    else:
        traits = definition.core_traits
        lines.append(_SEP.join((traits.archetype, traits.temperament, traits.communication_style)))
        for key, value in definition.advanced_parameters.as_dict().items():
            lines.append(f"{key:<11} {_unit(value):.2f} {text_bar(value)}")
        levels = sorted(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0])
        if levels:
            lines.append(
                "levels: "
                + ", ".join(f"{lvl.name} {lvl.affinity_range[0]}-{lvl.affinity_range[1]}" for lvl in levels)
            )
        mood_config = definition.mood_config
        if mood_config.enabled and mood_config.moods:
            lines.append(
                "moods: "
                + ", ".join(
                    m.name + (" (default)" if m.name == mood_config.default_mood else "")
                    for m in mood_config.moods
                )
            )
    blend = _blend_info(p.metadata)
    if blend is not None:
        lines.append(_blend_line(blend[0], blend[1]))
    return "\n".join(lines)


def _blend_parts(b: PersonalityBlend) -> list[tuple[str, float]]:
    names = [str(p.name) for p in b.personalities]
    try:
        weights = b.normalised_weights
    except Exception:  # an invalid recipe still displays
        weights = [0.0] * len(names)
    return list(zip(names, weights, strict=False))


def blend_html(b: PersonalityBlend) -> str:
    """HTML card of a blend recipe: sources, weights (normalised) and blend type.

    Args:
        b: The blend recipe.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import PersonalityBlend, PersonalityData
        >>> a, b = PersonalityData(name="a"), PersonalityData(name="b")
        >>> "75%" in blend_html(PersonalityBlend(personalities=[a, b], weights=[3, 1]))
        True
    """
    parts = _blend_parts(b)
    rows = "".join(
        f'<tr><th scope="row" class="lnbr-code">{_e(name)}</th><td>{bar_html(share, label=name)}</td>'
        f'<td class="lnbr-num">{_pct(share)}</td>'
        f'<td class="lnbr-num lnbr-muted">weight {_e(_weight(raw))}</td></tr>'
        for (name, share), raw in zip(parts, b.weights, strict=False)
    )
    body = (
        f'<div class="lnbr-head"><span class="lnbr-title">Blend</span>'
        f'<span class="lnbr-muted">{_e(b.blend_type)}{_SEP}{len(parts)} personalities</span></div>'
        f"{stacked_bar_html(parts)}"
        f'<table class="lnbr-table lnbr-weights">{rows}</table>'
    )
    if b.custom_rules:
        chips = "".join(
            f'<li class="lnbr-chip"><span class="lnbr-code">{_e(k)}</span>: {_e(v)}</li>'
            for k, v in b.custom_rules.items()
        )
        body += f'<div class="lnbr-h">Custom rules</div><ul class="lnbr-chips">{chips}</ul>'
    return _wrap(body, "blend")


def blend_text(b: PersonalityBlend) -> str:
    """Plain-text form of a blend recipe.

    Args:
        b: The blend recipe.

    Returns:
        One header line, then one line per source.

    Example:
        >>> from luminora_nb.types import PersonalityBlend, PersonalityData
        >>> a, b = PersonalityData(name="a"), PersonalityData(name="b")
        >>> print(blend_text(PersonalityBlend(personalities=[a, b], weights=[3, 1])))
        blend (weighted_average) of 2
          a   75%  ████████··
          b   25%  ███·······
    """
    parts = _blend_parts(b)
    width = max((len(name) for name, _ in parts), default=0)
    lines = [f"blend ({b.blend_type}) of {len(parts)}"]
    lines += [f"  {name:<{width}} {_pct(share):>5}  {text_bar(share)}".rstrip() for name, share in parts]
    if b.custom_rules:
        lines.append("  rules: " + ", ".join(f"{k}={v}" for k, v in b.custom_rules.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------- conversation


def _message_html(message: Message, short_time: str | None) -> str:
    role = _role(message)
    kind = role if role in ("user", "assistant", "system") else "system"
    head = f'<span class="lnbr-role">{_e(role)}</span>{_time_tag(message.timestamp, short_time)}'
    return (
        f'<div class="lnbr-msg lnbr-msg-{kind}"><div class="lnbr-msg-head">{head}</div>'
        f'<div class="lnbr-text">{_e(message.content)}</div>'
        f"{_badges_html(_message_badges(message))}</div>"
    )


def _hidden_line(hidden: int) -> str:
    return f"… {hidden} earlier message{'s' if hidden != 1 else ''} not shown"


def conversation_html(c: Conversation, *, limit: int = DEFAULT_LIMIT) -> str:
    """HTML transcript of a conversation as chat bubbles.

    User messages sit on the right, assistant messages on the left with an accent
    border, system messages centred; each bubble names its role and time (the full
    timestamp on hover), and assistant bubbles carry a badge line (model, finish
    reason, tokens in/out, latency). Only the last ``limit`` messages are rendered.

    Args:
        c: The conversation.
        limit: Most messages to render.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import Conversation, Message
        >>> msgs = [Message(role="user", content=str(i)) for i in range(3)]
        >>> conv = Conversation(session_id="s", messages=msgs)
        >>> "… 1 earlier message not shown" in conversation_html(conv, limit=2)
        True
    """
    messages = list(c.messages)
    shown = messages[max(0, len(messages) - max(0, limit)) :] if limit > 0 else []
    hidden = len(messages) - len(shown)
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}"
    head = (
        f'<div class="lnbr-head"><span class="lnbr-title">Conversation</span>'
        f'<span class="lnbr-code lnbr-muted">{_e(c.session_id)}</span>'
        f'<span class="lnbr-muted">{count}</span></div>'
    )
    if not messages:
        return _wrap(head + '<p class="lnbr-p lnbr-muted">No messages yet.</p>', "conversation")
    bubbles: list[str] = []
    if hidden:
        bubbles.append(f'<div class="lnbr-muted">{_e(_hidden_line(hidden))}</div>')
    previous_day = None
    for message in shown:
        moment = message.timestamp
        short = None
        if isinstance(moment, datetime):
            day = moment.date()
            short = moment.strftime("%H:%M") if day == previous_day else moment.strftime("%Y-%m-%d %H:%M")
            previous_day = day
        bubbles.append(_message_html(message, short))
    chat = f'<div class="lnbr-chat"><div class="lnbr-msgs" role="log">{"".join(bubbles)}</div></div>'
    return _wrap(head + chat, "conversation")


def conversation_text(c: Conversation, *, limit: int = DEFAULT_LIMIT) -> str:
    """Plain-text transcript: ``role: text`` lines, assistant badges in brackets.

    Args:
        c: The conversation.
        limit: Most messages to include.

    Returns:
        A header line, then the messages.

    Example:
        >>> from luminora_nb.types import Conversation, Message
        >>> conv = Conversation(session_id="s1", messages=[
        ...     Message(role="user", content="Hi"),
        ...     Message(role="assistant", content="Hello!\\nHow are you?", metadata={"model": "m"})])
        >>> print(conversation_text(conv))
        conversation s1 · 2 messages
        user: Hi
        assistant: Hello!
                   How are you?
          [model m]
    """
    messages = list(c.messages)
    shown = messages[max(0, len(messages) - max(0, limit)) :] if limit > 0 else []
    hidden = len(messages) - len(shown)
    lines = [f"conversation {c.session_id} · {len(messages)} message{'s' if len(messages) != 1 else ''}"]
    if hidden:
        lines.append(_hidden_line(hidden))
    for message in shown:
        prefix = f"{_role(message)}: "
        lines.append(prefix + str(message.content).replace("\n", "\n" + " " * len(prefix)))
        badges = _badges_text(_message_badges(message))
        if badges:
            lines.append("  " + badges)
    return "\n".join(lines)


# --------------------------------------------------------------------------- replies, sessions


def chat_response_html(r: ChatResponse) -> str:
    """HTML of a provider reply: its text, then a badge line.

    The badge line shows model, finish reason, tokens in/out and the latency from
    ``metadata["latency_ms"]`` when present.

    Args:
        r: The reply.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import ChatResponse
        >>> usage = {"prompt_tokens": 3, "completion_tokens": 4}
        >>> out = chat_response_html(ChatResponse(content="ok", usage=usage))
        >>> "tokens 3 in / 4 out" in out
        True
    """
    text = (
        f'<div class="lnbr-text">{_e(r.content)}</div>'
        if r.content
        else '<div class="lnbr-muted">(empty reply)</div>'
    )
    head = f'<div class="lnbr-msg-head"><span class="lnbr-role">{_e(r.role)}</span></div>'
    return _wrap(head + text + _badges_html(_response_badges(r)), "reply")


def chat_response_text(r: ChatResponse) -> str:
    """Plain-text form of a provider reply: the text, then the badges in brackets.

    Args:
        r: The reply.

    Returns:
        The reply text and, when there is metadata, one more line.

    Example:
        >>> from luminora_nb.types import ChatResponse
        >>> print(chat_response_text(ChatResponse(content="ok", metadata={"latency_ms": 1234})))
        ok
        [latency 1.23 s]
    """
    badges = _badges_text(_response_badges(r))
    return "\n".join(part for part in (r.content, badges) if part) or "(empty reply)"


def _summary_rows(s: SessionSummary) -> list[tuple[str, str]]:
    return [
        ("personality", s.personality_name),
        ("provider", s.provider or "—"),
        ("user", s.user_id or "—"),
        ("messages", str(s.message_count)),
        ("created", _when(s.created_at)),
        ("last active", _when(s.last_active)),
    ]


def session_summary_html(s: SessionSummary) -> str:
    """HTML card of a session listing row.

    Args:
        s: The summary.

    Returns:
        A self-contained HTML fragment: session id, personality, provider, user,
        message count, created and last active.

    Example:
        >>> from datetime import datetime, timezone
        >>> from luminora_nb.types import SessionSummary
        >>> t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        >>> out = session_summary_html(SessionSummary(session_id="s1", personality_name="aurora",
        ...                                           provider="offline", created_at=t, last_active=t))
        >>> "2024-05-01 12:00:00 UTC" in out
        True
    """
    rows = []
    for label, value in _summary_rows(s):
        moment = s.created_at if label == "created" else s.last_active if label == "last active" else None
        cell = _time_tag(moment) if moment is not None else _e(value)
        rows.append(f"<dt>{label}</dt><dd>{cell}</dd>")
    body = (
        f'<div class="lnbr-head"><span class="lnbr-title">Session</span>'
        f'<span class="lnbr-code">{_e(s.session_id)}</span></div>'
        f'<dl class="lnbr-kv">{"".join(rows)}</dl>'
    )
    return _wrap(body, "session")


def session_summary_text(s: SessionSummary) -> str:
    """Plain-text form of a session listing row.

    Args:
        s: The summary.

    Returns:
        ``session <id>`` and one ``label: value`` line per field.

    Example:
        >>> from datetime import datetime, timezone
        >>> from luminora_nb.types import SessionSummary
        >>> t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        >>> print(session_summary_text(SessionSummary(session_id="s1", personality_name="aurora",
        ...                                           provider="offline", created_at=t, last_active=t)))
        session s1
          personality  aurora
          provider     offline
          user         —
          messages     0
          created      2024-05-01 12:00:00 UTC
          last active  2024-05-01 12:00:00 UTC
    """
    return "\n".join([f"session {s.session_id}", *(f"  {k:<12} {v}" for k, v in _summary_rows(s))])
