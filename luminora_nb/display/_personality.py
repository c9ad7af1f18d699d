"""HTML cards and text forms of a personality and of a blend recipe.

A personality with a definition shows its name (and registry name when it differs),
version and author, description, archetype · temperament · style, tags, the six
advanced parameters as labelled bars with their values, relationship levels, moods
(the default marked in words), the blend's sources when it is a blend, and the
compiled system prompt folded away. The simple seed form shows name, description and
prompt. Everything read from the object is read defensively: a card never raises.

Example:
    >>> from luminora_nb.types import PersonalityData
    >>> print(personality_text(PersonalityData(name="x", description="Kind.", system_prompt="Be nice.")))
    x
    Kind.
    system prompt: Be nice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._style import (
    SEP,
    bar_html,
    clamp_unit,
    esc,
    finite_number,
    pct,
    stacked_bar_html,
    text_bar,
    weight_text,
    wrap,
)

if TYPE_CHECKING:
    from ..types.personality import PersonalityBlend, PersonalityData

__all__ = ["blend_html", "blend_text", "personality_html", "personality_text"]


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
    values = [max(0.0, finite_number(weights.get(n)) or 0.0) for n in names]
    total = math.fsum(values)
    parts = [(n, v / total if total else 0.0) for n, v in zip(names, values, strict=True)]
    return parts, str(blend.get("blend_type") or ""), blend.get("custom_rules")


def _blend_section_html(parts: list[tuple[str, float]], blend_type: str, rules: Any) -> str:
    kind = f' <span class="lnbr-muted">({esc(blend_type)})</span>' if blend_type else ""
    items = "".join(
        f'<li><span class="lnbr-code">{esc(name)}</span> {pct(share)}</li>' for name, share in parts
    )
    rules_html = ""
    if isinstance(rules, Mapping) and rules:
        chips = "".join(
            f'<li class="lnbr-chip"><span class="lnbr-code">{esc(k)}</span>: {esc(v)}</li>'
            for k, v in rules.items()
        )
        rules_html = f'<div class="lnbr-muted">custom rules</div><ul class="lnbr-chips">{chips}</ul>'
    return (
        f'<div class="lnbr-h">Blend{kind}</div>{stacked_bar_html(parts)}'
        f'<ol class="lnbr-list">{items}</ol>{rules_html}'
    )


def _blend_line(parts: list[tuple[str, float]], blend_type: str) -> str:
    kind = f" ({blend_type})" if blend_type else ""
    return f"blend{kind}: " + ", ".join(f"{name} {pct(share)}" for name, share in parts)


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
    head = f'<span class="lnbr-title">{esc(title)}</span>'
    if name:
        head += f' <span class="lnbr-code lnbr-muted">{esc(name)}</span>'
    if definition is not None:
        info = definition.persona
        byline = f"v{info.version}"
        if info.author and info.author != "unknown":
            byline += f" by {info.author}"
        head += f' <span class="lnbr-muted">{esc(byline)}</span>'
    parts = [f'<div class="lnbr-head">{head}</div>']
    description = _description(p)
    if description:
        parts.append(f'<p class="lnbr-p">{esc(description)}</p>')
    if definition is None:
        parts.append('<div class="lnbr-h">System prompt</div>')
        parts.append(
            f'<div class="lnbr-pre">{esc(p.system_prompt)}</div>'
            if p.system_prompt
            else '<div class="lnbr-muted">(empty)</div>'
        )
        blend = _blend_info(p.metadata)
        if blend is not None:
            parts.append(_blend_section_html(*blend))
        return wrap("".join(parts), "persona")

    traits = definition.core_traits
    parts.append(
        '<p class="lnbr-p">'
        + SEP.join(
            f'<span class="lnbr-muted">{label}</span> <b>{esc(value)}</b>'
            for label, value in (
                ("archetype", traits.archetype),
                ("temperament", traits.temperament),
                ("style", traits.communication_style),
            )
        )
        + "</p>"
    )
    if definition.persona.tags:
        chips = "".join(f'<li class="lnbr-chip">{esc(tag)}</li>' for tag in definition.persona.tags)
        parts.append(f'<ul class="lnbr-chips" aria-label="tags">{chips}</ul>')

    rows = "".join(
        f'<tr><th scope="row">{esc(key)}</th><td>{bar_html(value, label=key)}</td>'
        f'<td class="lnbr-num">{clamp_unit(value):.2f}</td></tr>'
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
            f'<tr><th scope="row">{esc(lvl.name)}</th>'
            f'<td class="lnbr-num">{lvl.affinity_range[0]}&ndash;{lvl.affinity_range[1]}</td>'
            f'<td class="lnbr-muted lnbr-desc">{esc(lvl.description)}</td></tr>'
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
            f'<li class="lnbr-chip" title="{esc(mood.description)}">{esc(mood.name)}'
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
            f'<div class="lnbr-pre">{esc(p.system_prompt)}</div></details>'
        )
    return wrap("".join(parts), "persona")


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
        lines.append(SEP.join((traits.archetype, traits.temperament, traits.communication_style)))
        for key, value in definition.advanced_parameters.as_dict().items():
            lines.append(f"{key:<11} {clamp_unit(value):.2f} {text_bar(value)}")
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
        f'<tr><th scope="row" class="lnbr-code">{esc(name)}</th><td>{bar_html(share, label=name)}</td>'
        f'<td class="lnbr-num">{pct(share)}</td>'
        f'<td class="lnbr-num lnbr-muted">weight {esc(weight_text(raw))}</td></tr>'
        for (name, share), raw in zip(parts, b.weights, strict=False)
    )
    body = (
        f'<div class="lnbr-head"><span class="lnbr-title">Blend</span>'
        f'<span class="lnbr-muted">{esc(b.blend_type)}{SEP}{len(parts)} personalities</span></div>'
        f"{stacked_bar_html(parts)}"
        f'<table class="lnbr-table lnbr-weights">{rows}</table>'
    )
    if b.custom_rules:
        chips = "".join(
            f'<li class="lnbr-chip"><span class="lnbr-code">{esc(k)}</span>: {esc(v)}</li>'
            for k, v in b.custom_rules.items()
        )
        body += f'<div class="lnbr-h">Custom rules</div><ul class="lnbr-chips">{chips}</ul>'
    return wrap(body, "blend")


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
    lines += [f"  {name:<{width}} {pct(share):>5}  {text_bar(share)}".rstrip() for name, share in parts]
    if b.custom_rules:
        lines.append("  rules: " + ", ".join(f"{k}={v}" for k, v in b.custom_rules.items()))
    return "\n".join(lines)
