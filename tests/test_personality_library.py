"""The shipped persona library: every persona loads, validates, and the set is varied."""

from __future__ import annotations

import json
import re
from itertools import combinations, pairwise
from typing import Any

import jsonschema
import pytest

from luminora_nb.errors import PersonalityError
from luminora_nb.personality.compile import compile_prompt
from luminora_nb.personality.library import PERSONAS_DIR, builtin_names, get_builtin, load_builtins
from luminora_nb.personality.schema import SCHEMA_PATH
from luminora_nb.types.persona import PARAMETER_NAMES, PersonaDefinition
from luminora_nb.types.personality import PersonalityData

NAMES = builtin_names()


def _raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PERSONAS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _definition(name: str) -> PersonaDefinition:
    definition = get_builtin(name).definition
    assert definition is not None, f"shipped persona {name!r} has no structured definition"
    return definition


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_library_holds_at_least_eight_personas_with_lowercase_keys() -> None:
    assert len(NAMES) >= 8, f"only {len(NAMES)} shipped personas: {NAMES}"
    for name in NAMES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"persona key {name!r} must be lowercase snake_case"
    assert "aurora" in NAMES
    assert set(load_builtins()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_persona_loads_as_a_full_definition(name: str) -> None:
    personality = get_builtin(name)
    assert isinstance(personality, PersonalityData)
    assert personality.name == name
    definition = _definition(name)
    # The file content itself validates, field for field, against the model.
    assert PersonaDefinition.model_validate(_raw(name)) == definition
    assert personality.description == definition.persona.description
    assert personality.system_prompt == compile_prompt(definition)
    assert personality.system_prompt.startswith(f"You are {definition.persona.name}.")
    info = definition.persona
    assert info.author == "luminora_nb"
    assert info.language == "en"
    assert info.tags, f"{name}: persona.tags is empty"
    assert len(info.description) >= 40, f"{name}: description is too thin to describe a persona"


@pytest.mark.parametrize("name", NAMES)
def test_persona_validates_against_the_shipped_json_schema(
    name: str, schema_validator: jsonschema.Draft202012Validator
) -> None:
    errors = sorted(schema_validator.iter_errors(_raw(name)), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}.json violates persona.schema.json: " + "; ".join(
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


@pytest.mark.parametrize("name", NAMES)
def test_persona_relationship_levels_cover_0_to_100_without_gaps(name: str) -> None:
    levels = sorted(_definition(name).relationship_levels, key=lambda lvl: lvl.affinity_range[0])
    assert len(levels) >= 2, f"{name}: needs at least two relationship levels"
    assert levels[0].affinity_range[0] == 0, f"{name}: the first level must start at 0"
    assert levels[-1].affinity_range[1] == 100, f"{name}: the last level must end at 100"
    for before, after in pairwise(levels):
        assert after.affinity_range[0] == before.affinity_range[1] + 1, (
            f"{name}: gap or overlap between {before.name} {before.affinity_range} "
            f"and {after.name} {after.affinity_range}"
        )
    assert any(lvl.greetings for lvl in levels), f"{name}: no level has its own greetings"
    assert any(lvl.behavioral_rules for lvl in levels), f"{name}: no level adds behaviour rules"
    assert any(any(lvl.modifiers.as_dict().values()) for lvl in levels), f"{name}: no level shifts parameters"
    definition = _definition(name)
    for points in range(101):
        level = definition.level_for(points)
        assert level is not None, f"{name}: no level for {points} points"
        assert level.affinity_range[0] <= points <= level.affinity_range[1]


@pytest.mark.parametrize("name", NAMES)
def test_persona_sections_are_complete(name: str) -> None:
    d = _definition(name)
    samples = d.examples.sample_responses
    assert len(samples) >= 2, f"{name}: needs at least two examples"
    triggers = d.trigger_responses
    for field in ("on_greeting", "on_confusion", "on_success", "on_error", "on_goodbye"):
        lines = getattr(triggers, field)
        assert len(lines) >= 2, f"{name}: trigger_responses.{field} needs two or more lines"
        assert len(set(lines)) == len(lines), f"{name}: trigger_responses.{field} repeats a line"
    assert 6 <= len(d.linguistic_profile.vocabulary) <= 12, f"{name}: vocabulary should hold 6-12 items"
    assert d.linguistic_profile.fillers, f"{name}: no fillers"
    assert 3 <= len(d.behavioral_rules) <= 6, f"{name}: needs 3-6 behavioural rules"
    assert d.safety_guards.forbidden_topics, f"{name}: no forbidden topics"
    assert d.safety_guards.content_filters, f"{name}: no content filters"
    moods = d.mood_config.moods
    assert 2 <= len(moods) <= 4, f"{name}: needs 2-4 moods"
    triggered = [m for m in moods if m.triggers]
    assert triggered, f"{name}: no mood has triggers"
    assert all(any(m.modifiers.as_dict().values()) for m in triggered), f"{name}: a triggered mood is inert"
    assert d.affinity_config.interaction_points, f"{name}: affinity_config has no interaction points"
    assert d.memory_preferences.fact_categories, f"{name}: memory_preferences has no fact categories"


@pytest.mark.parametrize("name", NAMES)
def test_persona_examples_speak_in_its_own_voice(name: str) -> None:
    d = _definition(name)
    voice = [w.lower() for w in (*d.linguistic_profile.vocabulary, *d.linguistic_profile.fillers)]
    outputs = " ".join(s.output.lower() for s in d.examples.sample_responses)
    assert any(w in outputs for w in voice), f"{name}: no example uses the persona's vocabulary or fillers"


def test_library_is_varied_in_archetype_temperament_and_style() -> None:
    traits = [_definition(n).core_traits for n in NAMES]
    archetypes = {t.archetype for t in traits}
    temperaments = {t.temperament for t in traits}
    styles = {t.communication_style for t in traits}
    assert len(archetypes) >= 6, f"only {len(archetypes)} archetypes: {sorted(archetypes)}"
    assert len(temperaments) >= 5, f"only {len(temperaments)} temperaments: {sorted(temperaments)}"
    assert len(styles) >= 5, f"only {len(styles)} communication styles: {sorted(styles)}"


@pytest.mark.parametrize("parameter", PARAMETER_NAMES)
def test_every_parameter_spans_at_least_0_6_across_the_library(parameter: str) -> None:
    values = {n: _definition(n).advanced_parameters.as_dict()[parameter] for n in NAMES}
    low, high = min(values.values()), max(values.values())
    assert high - low >= 0.6, f"{parameter} only spans {low:.2f}..{high:.2f} across the library: {values}"


def test_no_two_personas_share_parameters_or_names() -> None:
    definitions = {n: _definition(n) for n in NAMES}
    names = [d.persona.name for d in definitions.values()]
    assert len(set(names)) == len(names), f"duplicate persona names: {names}"
    descriptions = [d.persona.description for d in definitions.values()]
    assert len(set(descriptions)) == len(descriptions)
    for a, b in combinations(NAMES, 2):
        pa = definitions[a].advanced_parameters.as_dict()
        pb = definitions[b].advanced_parameters.as_dict()
        distance = sum(abs(pa[k] - pb[k]) for k in PARAMETER_NAMES)
        assert distance >= 0.5, f"{a} and {b} have nearly the same parameters ({distance:.2f} apart)"


def test_signature_vocabulary_is_unique_to_each_persona() -> None:
    owners: dict[str, str] = {}
    for name in NAMES:
        for word in _definition(name).linguistic_profile.vocabulary:
            key = word.lower()
            assert key not in owners, f"{word!r} is signature vocabulary of both {owners[key]} and {name}"
            owners[key] = name


def test_get_builtin_returns_an_independent_copy() -> None:
    first = get_builtin("aurora")
    assert first.definition is not None
    first.definition.behavioral_rules.append("Shout at everyone.")
    first.definition.persona.name = "Changed"
    again = get_builtin("aurora")
    assert again.definition is not None
    assert "Shout at everyone." not in again.definition.behavioral_rules
    assert again.definition.persona.name == "Aurora"


def test_unknown_builtin_names_the_shipped_ones() -> None:
    with pytest.raises(PersonalityError, match="no shipped persona named 'nobody'") as info:
        get_builtin("nobody")
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["../../etc/passwd", "../personas/aurora", "/tmp/x", "aurora.json", "nope"])
def test_get_builtin_loads_shipped_names_only(name: str) -> None:
    with pytest.raises(PersonalityError, match="no shipped persona"):
        get_builtin(name)
