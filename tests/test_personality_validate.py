"""parse_personality / validate_definition: every accepted input shape, every fault with its JSON path."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from luminora_nb.errors import PersonalityError
from luminora_nb.personality.compile import compile_prompt
from luminora_nb.personality.library import PERSONAS_DIR
from luminora_nb.personality.validate import (
    MAX_JSON_DEPTH,
    json_problem,
    parse_personality,
    validate_definition,
)
from luminora_nb.types.persona import PersonaDefinition
from luminora_nb.types.personality import PersonalityData


def aurora() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PERSONAS_DIR / "aurora.json").read_text(encoding="utf-8"))
    return data


def aurora_with_overlapping_levels() -> dict[str, Any]:
    """Aurora whose second relationship level (acquaintance, now [15, 60]) overlaps the first."""
    data = aurora()
    data["relationship_levels"][1]["affinity_range"] = [15, 60]
    return data


def problems(exc: pytest.ExceptionInfo[PersonalityError]) -> list[str]:
    """The fault lines of a PersonalityError (indented lines after the headline)."""
    return [line.strip() for line in str(exc.value).splitlines()[1:]]


# --- accepted shapes -----------------------------------------------------------------------------


def test_full_definition_is_parsed_and_compiled() -> None:
    p = parse_personality("tutor", aurora())
    assert isinstance(p, PersonalityData)
    assert p.name == "tutor"
    assert isinstance(p.definition, PersonaDefinition)
    assert p.definition.persona.name == "Aurora"
    assert p.description == p.definition.persona.description
    assert p.system_prompt == compile_prompt(p.definition)
    assert p.metadata == {"created_at": "2026-11-26", "category": "education"}


def test_name_is_stripped() -> None:
    assert parse_personality("  tutor \n", aurora()).name == "tutor"


def test_simple_seed_form() -> None:
    p = parse_personality(
        "helpful_assistant",
        {
            "name": "helpful_assistant",
            "description": "A helpful AI assistant",
            "system_prompt": "You are a helpful AI assistant.",
            "metadata": {"k": 1},
        },
    )
    assert p.name == "helpful_assistant"
    assert p.description == "A helpful AI assistant"
    assert p.system_prompt == "You are a helpful AI assistant."
    assert p.metadata == {"k": 1}
    assert p.definition is None


def test_simple_seed_form_with_only_a_system_prompt_and_overrides() -> None:
    p = parse_personality("x", {"system_prompt": "Be brief.", "name_override": "Brief Bot"})
    assert p.system_prompt == "Be brief."
    assert p.display_name == "Brief Bot"
    assert p.description == ""


@pytest.mark.parametrize("mode", ["python", "json"])
def test_dumped_personality_data_with_definition(mode: str) -> None:
    original = parse_personality("aurora", aurora()).model_copy(update={"name_override": "Rory"})
    dumped = original.model_dump(mode=mode)  # type: ignore[arg-type]
    again = parse_personality("aurora", dumped)
    assert again == original
    assert again.definition == original.definition
    assert again.display_name == "Rory"


def test_definition_wrapper_fills_description_and_prompt_from_the_definition() -> None:
    p = parse_personality("w", {"definition": aurora()})
    assert p.definition is not None
    assert p.description == p.definition.persona.description
    assert p.system_prompt == compile_prompt(p.definition)


def test_definition_wrapper_keeps_an_explicit_system_prompt() -> None:
    p = parse_personality("w", {"definition": aurora(), "system_prompt": "Custom prompt."})
    assert p.system_prompt == "Custom prompt."


def test_definition_wrapper_reports_faults_inside_the_definition() -> None:
    data = aurora()
    data["core_traits"]["temperament"] = "grumpy"
    with pytest.raises(PersonalityError, match=r"core_traits\.temperament: 'grumpy' is not one of"):
        parse_personality("w", {"definition": data})


@pytest.mark.parametrize("mode", ["python", "json"])
def test_dumped_simple_personality_data_round_trips(mode: str) -> None:
    # A simple-form PersonalityData dumps with "definition": None; loading that dump must work.
    original = PersonalityData(name="helper", description="Helps.", system_prompt="Be helpful.")
    dumped = original.model_dump(mode=mode)  # type: ignore[arg-type]
    assert parse_personality("helper", dumped) == original


def test_personality_data_instance_is_copied_and_renamed() -> None:
    original = parse_personality("aurora", aurora())
    p = parse_personality("renamed", original)
    assert p.name == "renamed"
    assert p.definition == original.definition
    assert p.definition is not original.definition
    assert original.name == "aurora"


# --- faults, each with its JSON path -------------------------------------------------------------


def test_literal_fault_names_the_path_the_value_and_the_choices() -> None:
    data = aurora()
    data["core_traits"]["temperament"] = "grumpy"
    with pytest.raises(PersonalityError) as info:
        parse_personality("moody", data)
    message = str(info.value)
    assert message.startswith("personality 'moody' is invalid (1 problem):")
    [line] = problems(info)
    assert line.startswith("core_traits.temperament: 'grumpy' is not one of ")
    for choice in ("'calm'", "'stoic'", "'wry'"):
        assert choice in line


def test_nested_list_path_is_reported_with_indexes() -> None:
    data = aurora()
    data["examples"]["sample_responses"][1]["output"] = ""
    del data["examples"]["sample_responses"][0]["input"]
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", data)
    lines = problems(info)
    assert "examples.sample_responses[0].input: required field is missing" in lines
    assert any(
        line.startswith("examples.sample_responses[1].output: String should have at least 1 character")
        for line in lines
    ), lines


def test_several_faults_are_all_reported_at_once() -> None:
    data = aurora()
    data["core_traits"]["temperament"] = "grumpy"
    data["advanced_parameters"]["humor"] = 1.5
    data["persona"]["nmae"] = "typo"
    del data["linguistic_profile"]
    data["relationship_levels"][2]["affinity_range"] = [90, 60]
    data["mood_config"]["default_mood"] = "zen"
    with pytest.raises(PersonalityError) as info:
        parse_personality("broken", data)
    assert "(6 problems)" in str(info.value)
    lines = problems(info)
    assert len(lines) == 6
    expected = {
        "persona.nmae: unknown field",
        "core_traits.temperament: 'grumpy' is not one of",
        "linguistic_profile: required field is missing",
        "advanced_parameters.humor: Input should be less than or equal to 1",
        "relationship_levels[2].affinity_range:",
        "mood_config:",
    }
    for start in expected:
        assert any(line.startswith(start) for line in lines), f"no line starts with {start!r}: {lines}"
    assert any("affinity_range [90, 60] must satisfy 0 <= min <= max <= 100" in line for line in lines)
    assert any(
        "default_mood 'zen' is not one of the moods ['calm', 'excited', 'concerned']" in x for x in lines
    )


def test_missing_required_sections_are_listed() -> None:
    with pytest.raises(PersonalityError) as info:
        parse_personality("bare", {"persona": {"name": "Bare"}})
    assert "(3 problems)" in str(info.value)
    assert problems(info) == [
        "persona.description: required field is missing",
        "core_traits: required field is missing",
        "linguistic_profile: required field is missing",
    ]


def test_wrong_type_fault_shows_what_was_given() -> None:
    data = aurora()
    data["behavioral_rules"] = "be nice"
    with pytest.raises(
        PersonalityError, match=r"behavioral_rules: Input should be a valid list \(got 'be nice'\)"
    ):
        parse_personality("x", data)


def test_overlapping_relationship_levels_are_named_on_a_line_with_their_json_path() -> None:
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", aurora_with_overlapping_levels())
    [line] = problems(info)
    assert "relationship levels 'stranger' [0, 20] and 'acquaintance' [15, 60] overlap" in line
    # The fault is in relationship_levels, so its line must say so (not "(root)").
    assert line.startswith("relationship_levels: "), line


def test_overlap_is_reported_together_with_other_faults() -> None:
    data = aurora_with_overlapping_levels()
    data["core_traits"]["temperament"] = "grumpy"
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", data)
    lines = problems(info)
    assert any(line.startswith("core_traits.temperament:") for line in lines), lines
    assert any("overlap" in line for line in lines), f"the overlap fault was dropped: {lines}"


def test_value_error_lines_do_not_echo_the_whole_input() -> None:
    for mutate in ("levels", "mood"):
        if mutate == "levels":
            sample = aurora_with_overlapping_levels()
        else:
            sample = aurora()
            sample["mood_config"]["default_mood"] = "zen"
        with pytest.raises(PersonalityError) as info:
            parse_personality("x", sample)
        for line in problems(info):
            assert "(got {" not in line, f"a fault line dumps the whole section back: {line}"
            assert "Value error, " not in line, f"pydantic's prefix leaked into the message: {line}"


def test_duplicate_level_and_mood_names() -> None:
    data = aurora()
    data["relationship_levels"][1]["name"] = "stranger"
    with pytest.raises(PersonalityError, match=r"relationship level names must be unique"):
        parse_personality("x", data)
    data = aurora()
    data["mood_config"]["moods"].append({"name": "calm"})
    with pytest.raises(PersonalityError, match=r"mood_config: .*mood names must be unique"):
        parse_personality("x", data)


def test_unknown_default_mood() -> None:
    data = aurora()
    data["mood_config"]["default_mood"] = "zen"
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", data)
    [line] = problems(info)
    assert line.startswith("mood_config: ")
    assert "default_mood 'zen' is not one of the moods ['calm', 'excited', 'concerned']" in line


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("persona", "language"), "English", r"persona\.language: String should match pattern"),
        (("persona", "version"), "v1", r"persona\.version: String should match pattern"),
        (("relationship_levels", 0, "name"), "Best Friend", r"relationship_levels\[0\]\.name: String should"),
        (
            ("relationship_levels", 2, "modifiers", "humor"),
            3,
            r"relationship_levels\[2\]\.modifiers\.humor: ",
        ),
        (
            ("mood_config", "moods", 1, "modifiers", "nonsense"),
            1,
            r"mood_config\.moods\[1\]\.modifiers\.nonsense",
        ),
        (
            ("affinity_config", "initial_points"),
            101,
            r"affinity_config\.initial_points: Input should be less",
        ),
        (
            ("safety_guards", "tone_limits", "max_aggression"),
            -1,
            r"safety_guards\.tone_limits\.max_aggression",
        ),
    ],
)
def test_each_fault_path(path: tuple[str | int, ...], value: Any, expected: str) -> None:
    data = aurora()
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(PersonalityError) as info:
        validate_definition(data, source="checked")
    assert str(info.value).startswith("personality 'checked' is invalid (1 problem):")
    [line] = problems(info)
    assert re.match(expected, line), line


# --- bad calls -----------------------------------------------------------------------------------


def test_empty_data() -> None:
    with pytest.raises(PersonalityError, match=r"personality 'x': data is empty; give a full definition"):
        parse_personality("x", {})


@pytest.mark.parametrize(
    ("data", "kind"), [([], "list"), ("You are nice.", "str"), (None, "NoneType"), (3, "int")]
)
def test_non_dict_data(data: Any, kind: str) -> None:
    with pytest.raises(PersonalityError, match=rf"personality 'x': data must be a dict .* got {kind}$"):
        parse_personality("x", data)


@pytest.mark.parametrize("name", ["", "   ", None, 7])
def test_empty_or_non_string_name(name: Any) -> None:
    with pytest.raises(PersonalityError, match="personality name must be a non-empty string"):
        parse_personality(name, {"system_prompt": "x"})


def test_an_inner_name_that_differs_is_an_error_not_ignored() -> None:
    with pytest.raises(PersonalityError, match="data\\['name'\\] is 'other'"):
        parse_personality("mine", {"name": "other", "system_prompt": "x"})


def test_simple_form_without_system_prompt() -> None:
    with pytest.raises(PersonalityError, match=r"'x': system_prompt: required field is missing or empty"):
        parse_personality("x", {"description": "No prompt here."})
    with pytest.raises(PersonalityError, match=r"system_prompt: required field is missing or empty"):
        parse_personality("x", {"system_prompt": "   "})


def test_simple_form_keeps_other_tools_fields_and_gives_them_back() -> None:
    p = parse_personality("x", {"system_prompt": "hi", "temperature": 0.3, "author": "someone"})
    dumped = p.model_dump()
    assert dumped["temperature"] == 0.3 and dumped["author"] == "someone"
    assert parse_personality("x", dumped) == p  # round trip
    direct = PersonalityData(name="x", system_prompt="hi", temperature=0.3, author="someone")
    assert direct == p  # one behaviour, built directly or loaded


def test_simple_form_without_a_prompt_names_the_fields_it_has() -> None:
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", {"temperature": 0.3, "prompt": "?"})
    message = str(info.value)
    assert "system_prompt: required field is missing" in message
    assert "['prompt', 'temperature']" in message
    assert "'persona' and 'core_traits'" in message


def test_simple_form_with_wrong_types() -> None:
    with pytest.raises(
        PersonalityError, match=r"personality 'x' is invalid:\n  metadata: Input should be a valid"
    ):
        parse_personality("x", {"system_prompt": "hi", "metadata": 5})


def test_errors_are_personality_errors_not_pydantic_errors() -> None:
    data = aurora()
    data["advanced_parameters"]["empathy"] = "very"
    with pytest.raises(PersonalityError) as info:
        parse_personality("x", data)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": float("nan")}, "['a'] (nan; JSON has no NaN or infinity)"),
        ({"a": [1, -math.inf]}, "['a'][1] (-inf; JSON has no NaN or infinity)"),
        ({"\udc00": 1}, "['\\udc00'] (the key holds the unpaired surrogate '\\udc00'"),
        ({"a": "x\ud800"}, "['a'] (holds the unpaired surrogate '\\ud800'"),
        ({"a": 10**5000}, "['a'] (an integer of 16610 bits; store it as a string)"),
    ],
)
def test_json_problem_refuses_what_json_cannot_hold(value: Any, problem: str) -> None:
    # Found by the fuzzer: these passed the check, then were stored as something else
    # (NaN as null) or failed every later write of the session (UnicodeEncodeError).
    found = json_problem(value)
    assert found is not None and found.startswith(problem)


def test_json_problem_refuses_cycles_and_deep_nesting_without_recursing_out() -> None:
    # Found by the fuzzer: a dict holding itself raised RecursionError from the check itself.
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert json_problem(cyclic) == "['self'] (holds itself; JSON cannot hold a cycle)"
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5_000):
        node["k"] = node = {}
    found = json_problem(deep)
    assert found is not None and found.endswith(
        f"(nested more than {MAX_JSON_DEPTH} levels deep; flatten it)"
    )
    shallow: dict[str, Any] = {}
    node = shallow
    for _ in range(MAX_JSON_DEPTH - 1):
        node["k"] = node = {}
    assert json_problem(shallow) is None


def test_personality_metadata_that_json_cannot_hold_is_refused_at_load() -> None:
    with pytest.raises(PersonalityError, match=r"metadata\['score'\] \(nan; JSON has no NaN"):
        parse_personality("x", {"system_prompt": "hi", "metadata": {"score": float("nan")}})
