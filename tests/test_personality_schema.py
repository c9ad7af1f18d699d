"""The shipped JSON Schema file is the one generated from the persona model, and agrees with it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from luminora_nb.personality import schema as schema_module
from luminora_nb.personality.library import PERSONAS_DIR
from luminora_nb.personality.schema import SCHEMA_ID, SCHEMA_PATH, persona_json_schema, render_schema
from luminora_nb.types.persona import PersonaDefinition

REGENERATE = "python -m luminora_nb.personality.schema"


def assert_schema_fresh(shipped: str, generated: str) -> None:
    """Fail with the regeneration command when the shipped schema text differs from the model's."""
    if shipped != generated:
        shipped_lines, generated_lines = shipped.splitlines(), generated.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(shipped_lines, generated_lines, strict=False)) if a != b),
            min(len(shipped_lines), len(generated_lines)),
        )
        raise AssertionError(
            f"{SCHEMA_PATH.name} is stale (first difference at line {first + 1}); "
            f"run `{REGENERATE}` and commit the result"
        )


def _aurora() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PERSONAS_DIR / "aurora.json").read_text(encoding="utf-8"))
    return data


def test_shipped_schema_equals_the_generated_one() -> None:
    assert SCHEMA_PATH.exists(), f"{SCHEMA_PATH} is missing; run `{REGENERATE}`"
    assert_schema_fresh(SCHEMA_PATH.read_text(encoding="utf-8"), render_schema())


def test_a_stale_schema_is_reported_with_the_command_to_fix_it() -> None:
    fresh = render_schema()
    stale = json.loads(fresh)
    stale["$defs"]["CoreTraits"]["properties"]["temperament"]["enum"].remove("wry")
    stale_text = json.dumps(stale, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    with pytest.raises(AssertionError, match=r"is stale \(first difference at line \d+\); run `python -m"):
        assert_schema_fresh(stale_text, fresh)
    with pytest.raises(AssertionError, match="persona.schema.json is stale"):
        assert_schema_fresh(fresh + "\n", fresh)


def test_schema_is_valid_draft_2020_12_with_our_id() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema == persona_json_schema()
    for section in ("persona", "core_traits", "linguistic_profile"):
        assert section in schema["required"]
    for section in ("relationship_levels", "affinity_config", "memory_preferences", "mood_config"):
        assert section in schema["properties"]


def test_render_is_deterministic_and_main_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert render_schema() == render_schema()
    target = tmp_path / "persona.schema.json"
    monkeypatch.setattr(schema_module, "SCHEMA_PATH", target)
    schema_module.main()
    assert target.read_text(encoding="utf-8") == render_schema()


def _edit(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = _aurora()
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("core_traits", "temperament"), "grumpy"),
        (("core_traits", "archetype"), "wizard"),
        (("advanced_parameters", "humor"), 1.5),
        (("advanced_parameters", "verbosity"), -0.1),
        (("persona", "language"), "English"),
        (("persona", "version"), "v1"),
        (("persona", "nickname"), "Rory"),
        (("linguistic_profile", "tone"), []),
        (("linguistic_profile", "syntax"), "baroque"),
        (("relationship_levels", 0, "name"), "Best Friend"),
        (("relationship_levels", 0, "affinity_range"), [0, 20, 40]),
        (("examples", "sample_responses", 0, "output"), ""),
        (("safety_guards", "tone_limits", "max_sarcasm"), 2),
        (("memory_preferences", "episode_min_importance"), 11),
    ],
)
def test_schema_and_model_reject_the_same_faults(path: tuple[str | int, ...], value: Any) -> None:
    validator = jsonschema.Draft202012Validator(persona_json_schema())
    data = _edit(path, value)
    assert list(validator.iter_errors(data)), f"schema accepted {'.'.join(map(str, path))} = {value!r}"
    with pytest.raises(ValidationError):
        PersonaDefinition.model_validate(data)


def test_schema_and_model_accept_a_minimal_definition() -> None:
    minimal = {
        "persona": {"name": "Min", "description": "The smallest valid persona."},
        "core_traits": {"archetype": "sage", "temperament": "calm", "communication_style": "direct"},
        "linguistic_profile": {"tone": ["plain"]},
    }
    validator = jsonschema.Draft202012Validator(persona_json_schema())
    assert not list(validator.iter_errors(copy.deepcopy(minimal)))
    assert PersonaDefinition.model_validate(minimal).persona.name == "Min"
    missing = {k: v for k, v in minimal.items() if k != "core_traits"}
    assert list(validator.iter_errors(missing))
