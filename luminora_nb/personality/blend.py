"""Blend personas by weight into a new, valid persona definition.

Rules (``blend_type="weighted"`` / ``"weighted_average"``, the default):

* numbers (``advanced_parameters``, level and mood modifiers, affinity points) by
  weighted mean, kept within the sources' min and max;
* categorical traits (archetype, temperament, syntax, ...) by weighted vote, ties broken
  by the value's alphabetical order so the result never depends on argument order;
* lists (tone, vocabulary, rules, triggers, examples) by weighted rank: an item scores
  the weights of the sources that hold it, discounted by its position there; the best
  items are kept up to a cap per field;
* safety guards by union whatever the weights, the strictest tone limit winning:
  a blend is never less safe than any of its sources;
* relationship levels: the ladder (names and ranges) of the heaviest source, each rung's
  modifiers averaged with the rung of every other source that covers the same points.

``"dominant"`` takes every categorical and list field from the heaviest source (numbers
are still averaged); ``"hybrid"`` interleaves lists by weight instead of ranking them.
``custom_rules`` overrides per field: ``{"advanced_parameters.humor": "max",
"core_traits.archetype": "dominant", "linguistic_profile.vocabulary": "union",
"advanced_parameters.formality": {"value": 0.9}}``.

Example:
    >>> from luminora_nb.personality.library import get_builtin
    >>> a = get_builtin("aurora")
    >>> b = a.model_copy(update={"name": "aurora2"})
    >>> blended = blend_personalities([a, b], [7, 3], name="mix")
    >>> blended.metadata["blend"]["weights"]
    {'aurora': 0.7, 'aurora2': 0.3}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, Unpack

from ..errors import PersonalityError
from ..types.persona import PARAMETER_NAMES, PersonaDefinition, RelationshipLevel
from ..types.personality import BLEND_TYPES, PersonalityBlend, PersonalityData, normalise_weights
from .compile import compile_prompt
from .validate import definition_for, validate_definition

__all__ = [
    "LIST_CAPS",
    "BlendRules",
    "blend_definitions",
    "blend_name",
    "blend_personalities",
    "blend_recipe",
]

T = TypeVar("T")

# How many items each blended list keeps.
LIST_CAPS: dict[str, int] = {
    "persona.tags": 10,
    "linguistic_profile.tone": 6,
    "linguistic_profile.vocabulary": 12,
    "linguistic_profile.fillers": 5,
    "behavioral_rules": 12,
    "trigger_responses": 4,
    "examples.sample_responses": 4,
    "relationship_levels.behavioral_rules": 6,
    "relationship_levels.greetings": 3,
    "mood_config.triggers": 8,
}

_NUMERIC_STRATEGIES = {"mean", "max", "min", "dominant"}
_CATEGORICAL_STRATEGIES = {"vote", "dominant"}
_LIST_STRATEGIES = {"rank", "union", "dominant", "interleave"}
_CATEGORICAL_FIELDS = {
    "core_traits.archetype",
    "core_traits.temperament",
    "core_traits.communication_style",
    "linguistic_profile.syntax",
    "linguistic_profile.punctuation_style",
    "persona.language",
}
_LIST_FIELDS = {
    "persona.tags",
    "linguistic_profile.tone",
    "linguistic_profile.vocabulary",
    "linguistic_profile.fillers",
    "behavioral_rules",
    "examples.sample_responses",
    "safety_guards.forbidden_topics",
    "safety_guards.content_filters",
    *(
        f"trigger_responses.{t}"
        for t in ("on_greeting", "on_confusion", "on_success", "on_error", "on_goodbye")
    ),
}
_NUMERIC_FIELDS = {f"advanced_parameters.{p}" for p in PARAMETER_NAMES}


class _Blender:
    """One blend computation over sources sorted canonically (by name)."""

    def __init__(
        self,
        names: Sequence[str],
        definitions: Sequence[PersonaDefinition],
        weights: Sequence[float],
        blend_type: str,
        custom_rules: Mapping[str, Any],
    ) -> None:
        # Canonical order: sorting by name makes the result independent of argument order.
        order = sorted(range(len(names)), key=lambda i: names[i])
        self.names = [names[i] for i in order]
        self.defs = [definitions[i] for i in order]
        self.weights = [weights[i] for i in order]
        self.blend_type = "weighted_average" if blend_type == "weighted" else blend_type
        self.rules = dict(custom_rules)
        # Heaviest source; equal weights resolve to the first name alphabetically.
        self.dominant = max(range(len(self.names)), key=lambda i: (self.weights[i], -i))

    # -- strategies -------------------------------------------------------------------
    def _rule(self, path: str, allowed: set[str]) -> Any:
        if not self.rules:
            return None
        rule = self.rules.get(path)
        if rule is None and "." in path:
            # A strategy named for a whole section applies to the fields it suits.
            section_rule = self.rules.get(path.split(".", 1)[0])
            return section_rule if isinstance(section_rule, str) and section_rule in allowed else None
        if rule is None or isinstance(rule, Mapping):
            return rule
        if not isinstance(rule, str) or rule not in allowed:
            raise PersonalityError(
                f"custom_rules[{path!r}] = {rule!r} is not a strategy for this field; "
                f"use one of {sorted(allowed)} or {{'value': ...}}"
            )
        return rule

    def number(self, path: str, values: Sequence[float], weights: Sequence[float] | None = None) -> float:
        weights = self.weights if weights is None else weights
        rule = self._rule(path, _NUMERIC_STRATEGIES)
        if isinstance(rule, Mapping):
            return _fixed_number(path, rule["value"])
        if rule == "max":
            return max(values)
        if rule == "min":
            return min(values)
        if rule == "dominant":
            return values[max(range(len(values)), key=lambda i: (weights[i], -i))]
        total = sum(weights)
        if total <= 0:
            return values[0]
        mean = sum([w * v for w, v in zip(weights, values, strict=True)]) / total
        # Float rounding can step outside the sources' range; clamp it back.
        return min(max(round(mean, 6), min(values)), max(values))

    def union(self, section: str, sources: Sequence[Any], field: str) -> list[Any]:
        """The items of list ``field`` kept from every source (``section.field`` in rules):
        what one persona forbids or remembers, the blend keeps too."""
        return self.items(f"{section}.{field}", [getattr(s, field) for s in sources], None, every_source=True)

    def category(self, path: str, values: Sequence[T]) -> T:
        rule = self._rule(path, _CATEGORICAL_STRATEGIES)
        if isinstance(rule, Mapping):
            fixed: T = rule["value"]
            return fixed
        if rule == "dominant" or (rule is None and self.blend_type == "dominant"):
            return values[self.dominant]
        votes: dict[T, float] = {}
        for value, weight in zip(values, self.weights, strict=True):
            votes[value] = votes.get(value, 0.0) + weight
        return min(votes, key=lambda v: (-votes[v], str(v)))

    def items(
        self,
        path: str,
        lists: Sequence[Sequence[T]],
        cap: int | None,
        key: Callable[[T], Hashable] = lambda item: str(item).casefold(),
        *,
        every_source: bool = False,
        weights: Sequence[float] | None = None,
    ) -> list[T]:
        weights = self.weights if weights is None else weights
        rule = self._rule(path, _LIST_STRATEGIES)
        if isinstance(rule, Mapping):
            fixed_items = rule["value"]
            if isinstance(fixed_items, str) or not isinstance(fixed_items, list | tuple):
                raise PersonalityError(
                    f"custom_rules[{path!r}]['value'] is {fixed_items!r}; "
                    "this field is a list (e.g. ['a', 'b'])"
                )
            return list(fixed_items)
        if rule is None:
            rule = {"dominant": "dominant", "hybrid": "interleave"}.get(self.blend_type, "rank")
        if rule == "dominant":
            heaviest = max(range(len(lists)), key=lambda i: (weights[i], -i))
            return list(lists[heaviest])[: cap or None]
        scores: dict[Hashable, float] = {}
        first: dict[Hashable, T] = {}
        for items, weight in zip(lists, weights, strict=True):
            if weight <= 0 and not every_source:
                continue
            weight = weight if weight > 0 else 1e-12
            span = len(items) + 1
            for position, item in enumerate(items):
                k = key(item)
                score = weight * (1.0 - position / span)
                if k in scores:
                    scores[k] += score
                else:
                    scores[k] = score
                    first[k] = item
        if rule == "interleave":
            ranked = self._interleave(lists, weights, key, every_source)
        else:
            # Sources are summed in canonical (name) order, so equal inputs give bit-equal
            # scores whatever the argument order; ties fall back to the item's text.
            ranked = [k for _, _, k in sorted((-v, str(k), k) for k, v in scores.items())]
        if rule == "union" or cap is None:
            return [first[k] for k in ranked]
        return [first[k] for k in ranked[:cap]]

    def _interleave(
        self,
        lists: Sequence[Sequence[T]],
        weights: Sequence[float],
        key: Callable[[T], Hashable],
        every_source: bool,
    ) -> list[Hashable]:
        # Weighted round-robin: each source gets turns in proportion to its weight.
        cursors = [0] * len(lists)
        credit = [0.0] * len(lists)
        out: list[Hashable] = []
        seen: set[Hashable] = set()
        active = [i for i, w in enumerate(weights) if (w > 0 or every_source) and lists[i]]
        while active:
            for i in active:
                credit[i] += weights[i] or 1e-12
            pick = max(active, key=lambda i: (credit[i], -i))
            credit[pick] -= 1.0
            k = key(lists[pick][cursors[pick]])
            cursors[pick] += 1
            if k not in seen:
                seen.add(k)
                out.append(k)
            active = [i for i in active if cursors[i] < len(lists[i])]
        return out

    # -- sections -------------------------------------------------------------------
    def persona(self) -> dict[str, Any]:
        share = ", ".join(f"{n} {w:.0%}" for n, w in sorted(zip(self.names, self.weights, strict=True)))
        compat_lists = [d.persona.compatibility for d in self.defs if d.persona.compatibility]
        compat: list[str] = sorted(set.intersection(*map(set, compat_lists))) if compat_lists else []
        return {
            "version": "1.0.0",
            "description": f"A blend of {share}. "
            + " ".join(
                d.persona.description
                for d, w in sorted(zip(self.defs, self.weights, strict=True), key=lambda p: -p[1])[:2]
            ),
            "author": "luminora_nb blend",
            "tags": self.items(
                "persona.tags", [d.persona.tags for d in self.defs], LIST_CAPS["persona.tags"]
            ),
            "language": self.category("persona.language", [d.persona.language for d in self.defs]),
            "compatibility": compat,
        }

    def advanced_parameters(self) -> dict[str, float]:
        return {
            p: self.number(f"advanced_parameters.{p}", [getattr(d.advanced_parameters, p) for d in self.defs])
            for p in PARAMETER_NAMES
        }

    def linguistic_profile(self) -> dict[str, Any]:
        profiles = [d.linguistic_profile for d in self.defs]
        return {
            "tone": self.items("linguistic_profile.tone", [p.tone for p in profiles], 6),
            "syntax": self.category("linguistic_profile.syntax", [p.syntax for p in profiles]),
            "vocabulary": self.items("linguistic_profile.vocabulary", [p.vocabulary for p in profiles], 12),
            "fillers": self.items("linguistic_profile.fillers", [p.fillers for p in profiles], 5),
            "punctuation_style": self.category(
                "linguistic_profile.punctuation_style", [p.punctuation_style for p in profiles]
            ),
        }

    def safety_guards(self) -> dict[str, Any]:
        guards = [d.safety_guards for d in self.defs]
        return {
            "forbidden_topics": self.union("safety_guards", guards, "forbidden_topics"),
            "content_filters": self.union("safety_guards", guards, "content_filters"),
            "tone_limits": {
                limit: min(getattr(g.tone_limits, limit) for g in guards)
                for limit in ("max_sarcasm", "max_aggression", "max_informality")
            },
        }

    def relationship_levels(self) -> list[dict[str, Any]]:
        ladder = self.defs[self.dominant].relationship_levels
        if not ladder:
            ladder = next((d.relationship_levels for d in self.defs if d.relationship_levels), [])
        out = []
        for level in sorted(ladder, key=lambda lvl: lvl.affinity_range[0]):
            middle = (level.affinity_range[0] + level.affinity_range[1]) // 2
            rungs: list[RelationshipLevel | None] = [
                level if d is self.defs[self.dominant] else d.level_for(middle) for d in self.defs
            ]
            present = [(r, w) for r, w in zip(rungs, self.weights, strict=True) if r is not None]
            weights = [w for _, w in present]
            modifiers = {
                p: round(
                    self.number(
                        f"relationship_levels.modifiers.{p}",
                        [getattr(r.modifiers, p) for r, _ in present],
                        weights,
                    ),
                    6,
                )
                for p in PARAMETER_NAMES
            }
            full = [r.behavioral_rules if r else [] for r in rungs]
            greetings = [r.greetings if r else [] for r in rungs]
            out.append(
                {
                    "name": level.name,
                    "affinity_range": list(level.affinity_range),
                    "description": level.description,
                    "modifiers": modifiers,
                    "behavioral_rules": self.items("relationship_levels.behavioral_rules", full, 6),
                    "greetings": self.items("relationship_levels.greetings", greetings, 3),
                }
            )
        return out

    def affinity_config(self) -> dict[str, Any]:
        configs = [d.affinity_config for d in self.defs]
        kinds = sorted({k for c in configs for k in c.interaction_points})
        points: dict[str, int] = {}
        for kind in kinds:
            pairs = [
                (c.interaction_points[kind], w)
                for c, w in zip(configs, self.weights, strict=True)
                if kind in c.interaction_points
            ]
            points[kind] = round(
                self.number(
                    f"affinity_config.interaction_points.{kind}",
                    [float(v) for v, _ in pairs],
                    [w for _, w in pairs],
                )
            )
        return {
            "enabled": any(c.enabled for c in configs),
            "initial_points": round(
                self.number("affinity_config.initial_points", [float(c.initial_points) for c in configs])
            ),
            "interaction_points": points,
            "max_change_per_turn": max(
                1,
                round(
                    self.number(
                        "affinity_config.max_change_per_turn", [float(c.max_change_per_turn) for c in configs]
                    )
                ),
            ),
        }

    def memory_preferences(self) -> dict[str, Any]:
        prefs = [d.memory_preferences for d in self.defs]
        return {
            "remember_facts": any(p.remember_facts for p in prefs),
            "remember_episodes": any(p.remember_episodes for p in prefs),
            "fact_categories": self.union("memory_preferences", prefs, "fact_categories"),
            "episode_min_importance": self.number(
                "memory_preferences.episode_min_importance", [p.episode_min_importance for p in prefs]
            ),
            "max_facts_in_prompt": round(
                self.number(
                    "memory_preferences.max_facts_in_prompt", [float(p.max_facts_in_prompt) for p in prefs]
                )
            ),
            "max_episodes_in_prompt": round(
                self.number(
                    "memory_preferences.max_episodes_in_prompt",
                    [float(p.max_episodes_in_prompt) for p in prefs],
                )
            ),
        }

    def mood_config(self) -> dict[str, Any]:
        configs = [d.mood_config for d in self.defs]
        by_name = [{m.name: m for m in c.moods} for c in configs]
        names = sorted({name for moods_of in by_name for name in moods_of})
        moods = []
        for name in names:
            present = [(m[name], w) for m, w in zip(by_name, self.weights, strict=True) if name in m]
            weights = [w for _, w in present]
            offsets = [m.modifiers.as_dict() for m, _ in present]
            moods.append(
                {
                    "name": name,
                    "description": max(present, key=lambda p: p[1])[0].description,
                    "modifiers": {
                        p: self.number(f"mood_config.modifiers.{p}", [o[p] for o in offsets], weights)
                        for p in PARAMETER_NAMES
                    },
                    "triggers": self.items(
                        "mood_config.triggers",
                        [m.triggers for m, _ in present],
                        8,
                        every_source=True,
                        weights=weights,
                    ),
                }
            )
        return {
            "enabled": any(c.enabled for c in configs),
            "default_mood": self.category("mood_config.default_mood", [c.default_mood for c in configs]),
            "moods": moods,
            "decay_turns": max(
                1, round(self.number("mood_config.decay_turns", [float(c.decay_turns) for c in configs]))
            ),
        }

    def blend(self, name: str) -> dict[str, Any]:
        defs = self.defs
        triggers = {
            t: self.items(f"trigger_responses.{t}", [getattr(d.trigger_responses, t) for d in defs], 4)
            for t in ("on_greeting", "on_confusion", "on_success", "on_error", "on_goodbye")
        }
        instructions = [
            f"({n}, {w:.0%}) {d.instructions.strip()}"
            for n, d, w in sorted(
                zip(self.names, defs, self.weights, strict=True), key=lambda t: (-t[2], t[0])
            )
            if d.instructions and w > 0
        ]
        data: dict[str, Any] = {
            "persona": {"name": name[:100], **self.persona()},
            "core_traits": {
                trait: self.category(f"core_traits.{trait}", [getattr(d.core_traits, trait) for d in defs])
                for trait in ("archetype", "temperament", "communication_style")
            },
            "linguistic_profile": self.linguistic_profile(),
            "behavioral_rules": self.items("behavioral_rules", [d.behavioral_rules for d in defs], 12),
            "trigger_responses": triggers,
            "advanced_parameters": self.advanced_parameters(),
            "safety_guards": self.safety_guards(),
            "examples": {
                "sample_responses": [
                    s.model_dump()
                    for s in self.items(
                        "examples.sample_responses",
                        [d.examples.sample_responses for d in defs],
                        4,
                        key=lambda s: s.input.casefold(),
                    )
                ]
            },
            "metadata": {"blend": self.provenance()},
            "instructions": "\n".join(instructions) or None,
            "relationship_levels": self.relationship_levels(),
            "affinity_config": self.affinity_config(),
            "memory_preferences": self.memory_preferences(),
            "mood_config": self.mood_config(),
        }
        self._apply_fixed_values(data)
        return data

    def provenance(self) -> dict[str, Any]:
        return {
            "sources": list(self.names),
            "weights": {n: round(w, 12) for n, w in zip(self.names, self.weights, strict=True)},
            "blend_type": self.blend_type,
            "custom_rules": self.rules or None,
        }

    def _apply_fixed_values(self, data: dict[str, Any]) -> None:
        # {"value": ...} rules on whole sections or on fields this module does not route.
        for path, rule in self.rules.items():
            if not isinstance(rule, Mapping):
                continue
            if "value" not in rule:
                raise PersonalityError(f"custom_rules[{path!r}] must be a strategy name or {{'value': ...}}")
            parts = path.split(".")
            target = data
            for part in parts[:-1]:
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    raise PersonalityError(f"custom_rules: unknown field path {path!r}")
                target = nxt
            if parts[-1] not in target:
                raise PersonalityError(f"custom_rules: unknown field path {path!r}")
            target[parts[-1]] = rule["value"]


def _fixed_number(path: str, value: object) -> float:
    # a fixed numeric value is a finite number; its range is checked with the definition
    problem = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem = "not a number"
    else:
        try:
            number = float(value)
        except OverflowError:
            problem = "too large"
        else:
            if math.isfinite(number):
                return number
            problem = "not finite"
    raise PersonalityError(
        f"custom_rules[{path!r}]['value'] is {value!r}, {problem}; this field is a number (e.g. 0.7)"
    )


def _check_rules(custom_rules: Mapping[str, Any]) -> None:
    known = _NUMERIC_FIELDS | _CATEGORICAL_FIELDS | _LIST_FIELDS
    sections = {p.split(".", 1)[0] for p in known} | {
        "relationship_levels",
        "affinity_config",
        "memory_preferences",
        "mood_config",
        "persona",
    }
    for path in custom_rules:
        if not isinstance(path, str) or (path not in known and path.split(".", 1)[0] not in sections):
            raise PersonalityError(
                f"custom_rules: unknown field path {path!r}; use paths like 'advanced_parameters.humor', "
                "'core_traits.archetype' or 'linguistic_profile.vocabulary'"
            )
        rule = custom_rules[path]
        if isinstance(rule, Mapping):
            if set(rule) != {"value"}:
                raise PersonalityError(
                    f"custom_rules[{path!r}] = {rule!r}; a fixed value is written {{'value': ...}}"
                )
        elif rule is not None and not isinstance(rule, str):
            raise PersonalityError(
                f"custom_rules[{path!r}] is {rule!r}; give a strategy name such as 'max' or 'dominant', "
                "or a fixed value as {'value': ...}"
            )


def blend_definitions(
    names: Sequence[str],
    definitions: Sequence[PersonaDefinition],
    weights: Sequence[float],
    *,
    name: str,
    blend_type: str = "weighted_average",
    custom_rules: Mapping[str, Any] | None = None,
) -> PersonaDefinition:
    """Blend ``definitions`` (one per name) into a new definition called ``name``.

    Raises:
        PersonalityError: bad weights or names, unknown blend type or custom rule, or a
            fixed custom value that makes the result invalid.
    """
    normalised = normalise_weights(names, weights)
    if blend_type not in BLEND_TYPES:
        raise PersonalityError(f"unknown blend_type {blend_type!r}; use one of: {', '.join(BLEND_TYPES)}")
    if len(definitions) != len(names):
        raise PersonalityError(f"got {len(definitions)} definitions for {len(names)} names")
    if custom_rules is not None and not isinstance(custom_rules, Mapping):
        raise PersonalityError(
            f"custom_rules must be a dict of field path to rule (e.g. {{'advanced_parameters.humor': "
            f"'max'}}) or None, not {type(custom_rules).__name__}"
        )
    rules = dict(custom_rules or {})
    _check_rules(rules)
    data = _Blender(names, definitions, normalised, blend_type, rules).blend(name)
    return validate_definition(data, source=name)


def blend_name(names: Sequence[str], weights: Sequence[float]) -> str:
    """A readable name for a blend: each source with its share in percent.

    Example:
        >>> blend_name(["aurora", "vex"], [7, 3]), blend_name(["vex", "pip"], [1, 2])
        ('aurora70_vex30', 'vex33.3_pip66.7')
    """
    shares = normalise_weights(list(names), list(weights))

    def percent(share: float) -> str:
        text = f"{share * 100:.1f}"
        return text[:-2] if text.endswith(".0") else text

    return "_".join(f"{name}{percent(share)}" for name, share in zip(names, shares, strict=True))


class BlendRules(TypedDict, total=False):
    """How sources are blended: ``blend_type`` and ``custom_rules`` of :func:`blend_definitions`."""

    blend_type: str
    custom_rules: Mapping[str, Any] | None


def blend_personalities(
    personalities: Sequence[PersonalityData],
    weights: Sequence[float],
    *,
    name: str,
    **rules: Unpack[BlendRules],
) -> PersonalityData:
    """Blend loaded personalities into a new :class:`PersonalityData` called ``name``.

    The result carries the blended definition, its compiled system prompt, and its
    provenance in ``metadata["blend"]`` (sources, normalised weights, blend type).
    """
    if not isinstance(name, str) or not name.strip():
        raise PersonalityError("blend_name must be a non-empty string")
    names = [p.name for p in personalities]
    definition = blend_definitions(
        names,
        [definition_for(p) for p in personalities],
        weights,
        name=name.strip(),
        **rules,
    )
    return PersonalityData(
        name=name.strip(),
        description=definition.persona.description,
        system_prompt=compile_prompt(definition),
        metadata=dict(definition.metadata),
        definition=definition,
    )


def blend_recipe(blend: PersonalityBlend, *, name: str) -> PersonalityData:
    """Apply a :class:`PersonalityBlend` recipe.

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> a, b = get_builtin("aurora"), get_builtin("aurora").model_copy(update={"name": "b"})
        >>> blend_recipe(PersonalityBlend(personalities=[a, b], weights=[1, 1]), name="ab").name
        'ab'

    Raises:
        PersonalityError: ``blend`` is not a :class:`PersonalityBlend`, or the recipe fails
            as in :func:`blend_personalities`.
    """
    if not isinstance(blend, PersonalityBlend):
        raise PersonalityError(
            f"blend must be a PersonalityBlend(personalities=[...], weights=[...]), not "
            f"{type(blend).__name__}; to blend loaded personalities by name use blend_personalities()"
        )
    return blend_personalities(
        blend.personalities,
        blend.weights,
        name=name,
        blend_type=blend.blend_type,
        custom_rules=blend.custom_rules,
    )
