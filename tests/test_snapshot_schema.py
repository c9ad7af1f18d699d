"""The shipped snapshot JSON Schema is the one generated from the model, and agrees with it."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from luminora_nb.snapshot import schema as schema_module
from luminora_nb.snapshot.model import SnapshotDocument, minimal_snapshot
from luminora_nb.snapshot.schema import SCHEMA_ID, SCHEMA_PATH, render_schema, snapshot_json_schema

REGENERATE = "python -m luminora_nb.snapshot.schema"
#: The top-level sections of a snapshot in the seed's format (the schema requires each one).
SEED_SNAPSHOT_KEYS = {
    "_snapshot_info",
    "persona",
    "core_traits",
    "linguistic_profile",
    "behavioral_rules",
    "advanced_parameters",
    "current_state",
    "active_configuration",
}
#: The sections of the seed's ``current_state``.
SEED_STATE_KEYS = {"affinity", "mood", "learned_facts", "memorable_episodes"}


def test_shipped_schema_equals_the_generated_one() -> None:
    shipped = SCHEMA_PATH.read_text(encoding="utf-8")
    assert shipped == render_schema(), f"{SCHEMA_PATH.name} is stale; run `{REGENERATE}` and commit it"


def test_the_schema_file_ships_inside_the_package_and_names_the_seed_keys() -> None:
    assert SCHEMA_PATH.parent.name == "snapshot" and SCHEMA_PATH.parent.parent.name == "luminora_nb"
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID
    assert set(schema["required"]) == SEED_SNAPSHOT_KEYS
    state = schema["$defs"]["SnapshotState"]
    assert set(state["required"]) == SEED_STATE_KEYS
    assert "conversation_summary" in state["properties"]


def test_main_regenerates_the_file(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "snapshot.schema.json"
    monkeypatch.setattr(schema_module, "SCHEMA_PATH", target)
    schema_module.main()
    assert target.read_text(encoding="utf-8") == render_schema()
    assert str(target) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            lambda d: d["current_state"]["memorable_episodes"].append(
                {"episode_type": "milestone", "title": "t", "importance": 99}
            ),
            "importance",
        ),
        (
            lambda d: d["current_state"]["learned_facts"].append(
                {"category": "work", "key": "job", "value": "x", "confidence": 2}
            ),
            "confidence",
        ),
        (lambda d: d.pop("persona"), "persona"),
        (lambda d: d["_snapshot_info"].__setitem__("total_messages", "5"), "total_messages"),
    ],
)
def test_the_schema_and_the_model_agree_on_bad_documents(change, path) -> None:  # type: ignore[no-untyped-def]
    good = minimal_snapshot("aurora")
    jsonschema.validate(good, snapshot_json_schema())
    SnapshotDocument.model_validate(good)
    bad = copy.deepcopy(good)
    change(bad)
    with pytest.raises(jsonschema.ValidationError) as schema_error:
        jsonschema.validate(bad, snapshot_json_schema())
    assert path in str(schema_error.value.path) or path in schema_error.value.message
    with pytest.raises(Exception, match=path):
        SnapshotDocument.model_validate(bad)


async def test_a_real_export_validates_against_the_shipped_schema() -> None:
    from luminora_nb import LuminoraCoreClient
    from luminora_nb.client_v11 import LuminoraCoreClientV11

    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    await base.blend_personalities(["aurora", "vex"], [0.6, 0.4], "aurora_vex")
    sid = await base.create_session("aurora_vex", user_id="sam")
    await base.send_message(sid, "My name is Sam and I just got engaged!! 🎉")
    snapshot = json.loads(json.dumps(await v11.export_snapshot(sid, {"include_embeddings": True})))
    jsonschema.validate(snapshot, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    assert snapshot["_snapshot_info"]["format"] == "luminora-snapshot"
    assert snapshot["_snapshot_info"]["format_version"] == "1.0"
    assert snapshot["current_state"]["learned_facts"] and snapshot["blend"]["sources"] == ["aurora", "vex"]
