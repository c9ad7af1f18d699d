"""BlendStudio driven as the browser drives it: trait updates and custom messages, no browser.

Browser messages go through :func:`~luminora_nb.widgets.testing.record_comms` (the
``wire`` fixture) and the widget's real message handler; nothing of our own code is mocked. Background work
(tries, saves) is awaited with ``studio.wait()``; no assertion depends on wall-clock time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import Luminora
from luminora_nb.personality.library import get_builtin
from luminora_nb.types.persona import PARAMETER_NAMES
from luminora_nb.widgets import BlendStudio
from luminora_nb.widgets._base import asset_text
from luminora_nb.widgets.blend_studio import (
    ALL_ZERO_MESSAGE,
    DRAFT_SUFFIX,
    prompt_diff,
    shares_percent,
)
from luminora_nb.widgets.testing import CommRecorder


def params_of(name: str) -> dict[str, float]:
    definition = get_builtin(name).definition
    assert definition is not None
    return definition.advanced_parameters.as_dict()


def state_updates(wire: CommRecorder, widget: Any) -> list[dict[str, Any]]:
    return [
        m.data["state"]
        for m in wire.messages
        if m.comm_id == widget.comm.comm_id and m.data.get("method") in ("update", "echo_update")
    ]


# --------------------------------------------------------------------------- construction


def test_synced_state_is_small_json(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 70, "vex": 30})
    assert studio.error == ""
    assert [p["name"] for p in studio.personas] == ["aurora", "vex"]
    assert studio.personas[0]["archetype"] == "mentor"
    assert studio.personas[1]["params"] == params_of("vex")
    assert studio.weights == {"aurora": 70, "vex": 30}
    assert studio.blend_type == "weighted_average"
    assert set(studio.preview) >= {"params", "sources", "shares", "prompt", "prompt_diff"}
    for trait in ("personas", "weights", "blend_type", "preview", "saved_name", "error", "busy", "tries"):
        json.dumps(getattr(studio, trait))
    # the comm opened with the whole state in one message: no follow-up updates
    assert state_updates(wire, studio) == []


def test_browser_assets_meet_the_house_rules() -> None:
    js = asset_text("blend_studio.js")
    assert "export default" in js
    assert re.search(r"\.innerHTML|outerHTML|insertAdjacentHTML", js) is None
    assert not any(line.startswith("import ") for line in js.splitlines())  # no external imports
    for hook in (
        "lnb-root lnb-blend-studio",
        "Weight of ",
        "lnb-trait-fill",
        "lnb-trait-value",
        "lnb-prompt",
    ):
        assert hook in js
    for label in ("Try it", "Compare with sources", "Save", "Copy as code", "Stop"):
        assert f'text: "{label}"' in js
    css = asset_text("blend_studio.css")
    assert re.search(r"#[0-9a-fA-F]{3,8}\b", css) is None  # no fixed colours: JupyterLab variables


def test_plain_text_form_shows_weights_and_the_six_parameters(lum: Luminora) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights=[70, 30])
    text = repr(studio)
    assert "aurora" in text and "weight  70" in text and "share  70%" in text
    for name in PARAMETER_NAMES:
        assert name in text
    assert "█" in text
    bundle = studio._repr_mimebundle_()
    assert bundle is not None and bundle[0]["text/plain"] == text


# --------------------------------------------------------------------------- live preview


def test_slider_moves_the_preview_in_the_right_direction(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "captain_quip"])
    before = dict(studio.preview["params"])
    wire.clear()
    wire.update(studio, weights={"aurora": 20, "captain_quip": 80})
    after = studio.preview["params"]
    assert after["humor"] > before["humor"]  # captain_quip is the joker
    assert after["formality"] < before["formality"]  # ... and the casual one
    assert studio.normalised_weights == {"aurora": 0.2, "captain_quip": 0.8}
    blend = studio.blend
    assert blend is not None and blend.definition is not None
    assert blend.definition.advanced_parameters.as_dict() == after
    # the new preview went out to the browser, in one state message
    sent = [s for s in state_updates(wire, studio) if "preview" in s]
    assert len(sent) == 1 and sent[0]["preview"]["params"] == after
    assert "code_text" in sent[0]


def test_blend_lies_between_its_sources_and_ghosts_are_the_sources(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex", "captain_quip"], weights=[10, 30, 60])
    sources = studio.preview["sources"]
    assert sources == {n: params_of(n) for n in ("aurora", "vex", "captain_quip")}
    for trait, value in studio.preview["params"].items():
        values = [sources[n][trait] for n in sources]
        assert min(values) - 1e-9 <= value <= max(values) + 1e-9


def test_shares_sum_to_100(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex", "lyra"], weights=[1, 1, 1])
    assert sum(studio.preview["shares"].values()) == 100
    for weights in ({"aurora": 33, "vex": 33, "lyra": 34}, {"aurora": 7, "vex": 0, "lyra": 3}, {"vex": 100}):
        wire.update(studio, weights=weights)
        assert sum(studio.preview["shares"].values()) == 100
        assert sum(studio.normalised_weights.values()) == pytest.approx(1.0)
    assert studio.preview["shares"]["vex"] == max(studio.preview["shares"].values())
    assert shares_percent([1, 1, 1]) == [34, 33, 33]


def test_prompt_diff_marks_what_changed(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 90, "vex": 10})
    first = studio.preview
    assert [op for op, _ in first["prompt_diff"]] == ["equal"]  # nothing to compare with yet
    wire.update(studio, weights={"aurora": 10, "vex": 90})
    diff = studio.preview["prompt_diff"]
    inserted = "".join(t for op, t in diff if op == "insert")
    deleted = "".join(t for op, t in diff if op == "delete")
    assert "90%" in inserted and "10%" in deleted
    # the diff is exact: old text from equal+delete, new text from equal+insert
    assert "".join(t for op, t in diff if op != "insert") == first["prompt"]
    assert "".join(t for op, t in diff if op != "delete") == studio.preview["prompt"]
    # an unchanged recipe diffs to nothing
    studio.refresh()
    assert [op for op, _ in studio.preview["prompt_diff"]] == ["equal"]


def test_prompt_diff_function() -> None:
    old, new = "a b c\nkeep this line\nx y", "a B c\nkeep this line\nx y z"
    ops = prompt_diff(old, new)
    assert ["delete", "b "] in ops and ["insert", "B "] in ops
    assert "".join(t for op, t in ops if op != "insert") == old
    assert "".join(t for op, t in ops if op != "delete") == new


def test_all_zero_weights_show_a_message_and_keep_the_preview(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 60, "vex": 40})
    good = studio.preview
    code = studio.code()
    wire.update(studio, weights={"aurora": 0, "vex": 0})  # raises nothing
    assert studio.error == ALL_ZERO_MESSAGE
    assert studio.last_error is not None
    assert studio.preview == good
    assert studio.code() == code
    assert studio.weights == {"aurora": 0, "vex": 0}
    assert studio.normalised_weights == {"aurora": 0.6, "vex": 0.4}
    # raising one slider clears the message
    wire.update(studio, weights={"aurora": 0, "vex": 5})
    assert studio.error == ""
    assert studio.preview["shares"] == {"aurora": 0, "vex": 100}


def test_all_zero_at_construction(lum: Luminora) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights=[0, 0])
    assert studio.error == ALL_ZERO_MESSAGE
    assert studio.preview == {} and studio.blend is None
    studio.weights = {"vex": 1}
    assert studio.error == "" and studio.preview["shares"] == {"aurora": 0, "vex": 100}


def test_blend_type_switch_changes_the_result(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "captain_quip"], weights={"aurora": 70, "captain_quip": 30})
    averaged = studio.preview["prompt"]
    wire.update(studio, blend_type="dominant")
    assert studio.blend_type == "dominant"
    dominant = studio.preview["prompt"]
    assert dominant != averaged
    assert studio.blend is not None and studio.blend.metadata["blend"]["blend_type"] == "dominant"
    assert 'blend_type="dominant"' in studio.code()
    wire.update(studio, blend_type="hybrid")
    assert studio.preview["prompt"] not in (averaged, dominant)


def test_bad_weights_from_python_are_refused_with_a_clear_message(lum: Luminora) -> None:
    import traitlets

    studio = BlendStudio(lum, ["aurora", "vex"])
    with pytest.raises(traitlets.TraitError, match="use a number from 0 to 100"):
        studio.weights = {"aurora": -1}
    with pytest.raises(traitlets.TraitError, match="'nobody' is not in the studio"):
        studio.weights = {"nobody": 10}
    studio.weights = {"aurora": 80}  # partial updates keep the others
    assert studio.weights == {"aurora": 80, "vex": 50}


# --------------------------------------------------------------------------- errors in place


def test_unknown_persona_is_shown_in_place(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "nobody_here"])
    assert "nobody_here" in studio.error
    assert "Known:" in studio.error and "vex" in studio.error
    assert studio.last_error is not None
    assert [p["name"] for p in studio.personas] == ["aurora"]  # the known ones stay usable
    assert studio.preview["shares"] == {"aurora": 100}


def test_no_persona_is_shown_in_place(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, [])
    assert "at least one persona" in studio.error
    assert studio.last_error is not None
    assert studio.personas == [] and studio.preview == {}
    studio.try_it("Hello")
    studio.save("x")
    studio.wait()
    assert studio.replies == {} and studio.saved_name == ""


def test_bad_blend_type_and_name_at_construction_are_shown_in_place(lum: Luminora) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], blend_type="mixed", name="aurora")
    assert "unknown blend_type 'mixed'" in studio.error
    assert "one of the blend's sources" in studio.error
    assert studio.blend_type == "weighted_average" and studio.blend_name == "aurora_vex_blend"


# --------------------------------------------------------------------------- save and code


def test_save_registers_the_blend(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 75, "vex": 25})
    wire.custom(studio, {"type": "save", "name": "calm_scientist"})
    studio.wait()
    assert studio.error == ""
    assert studio.saved_name == "calm_scientist"
    assert studio.blend_name == "calm_scientist"
    assert "calm_scientist" in lum.list_personalities()
    saved = lum.get_personality("calm_scientist")
    assert saved is not None
    assert saved.metadata["blend"]["weights"] == {"aurora": 0.75, "vex": 0.25}
    assert saved.metadata["blend"]["blend_type"] == "weighted_average"
    assert saved.system_prompt == studio.preview["prompt"]
    # re-saving the same name with other weights is fine
    wire.update(studio, weights={"aurora": 40, "vex": 60})
    studio.save("calm_scientist")
    studio.wait()
    again = lum.get_personality("calm_scientist")
    assert again is not None and again.metadata["blend"]["weights"] == {"aurora": 0.4, "vex": 0.6}


def test_save_publishes_a_blend_created_event(lum: Luminora, wire: CommRecorder) -> None:
    from luminora_nb.events import BlendCreated, Event

    seen: list[BlendCreated] = []

    def on_event(event: Event) -> None:
        assert isinstance(event, BlendCreated)
        seen.append(event)

    lum.subscribe(on_event, types=[BlendCreated])
    studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 1, "vex": 3})
    studio.save("evented")
    studio.wait()
    assert [e.personality_name for e in seen] == ["evented"]
    assert seen[0].weights == {"aurora": 0.25, "vex": 0.75}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "type a name"),
        ("   ", "type a name"),
        ("two\nlines", "line breaks"),
        ("x" * 101, "at most 100"),
        ("vex", "one of the blend's sources"),
        ("lyra", "not a blend"),
    ],
)
def test_save_with_a_bad_name_shows_a_message(
    lum: Luminora, wire: CommRecorder, name: str, message: str
) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"])
    before = set(lum.list_personalities())
    wire.custom(studio, {"type": "save", "name": name})
    studio.wait()
    assert message in studio.error
    assert studio.last_error is not None
    assert studio.saved_name == ""
    assert set(lum.list_personalities()) == before
    lyra = lum.get_personality("lyra")
    assert lyra is not None and "blend" not in lyra.metadata  # never replaced


def test_save_with_all_zero_weights_is_refused(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"])
    wire.update(studio, weights={"aurora": 0, "vex": 0})
    studio.save("nothing")
    studio.wait()
    assert studio.error == ALL_ZERO_MESSAGE
    assert "nothing" not in lum.list_personalities()


def test_code_reproduces_the_blend_in_a_fresh_facade(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "captain_quip", "vex"], weights=[55, 30, 15], name="quirky")
    wire.update(studio, weights={"vex": 40}, blend_type="hybrid")
    code = studio.code()
    assert code.startswith("lum.blend_personalities(")
    assert studio.code_text == code
    with Luminora(log=None) as fresh:
        result = eval(code, {"lum": fresh})  # the code is one expression
        assert result.definition.advanced_parameters.as_dict() == studio.preview["params"]
        assert result.system_prompt == studio.preview["prompt"]
    assert studio.code(asynchronous=True).startswith("await client.blend_personalities(")


def test_code_with_awkward_names_is_valid_python(lum: Luminora) -> None:
    lum.load_personality('it\'s "quoted"', get_builtin("aurora").model_copy(update={"name": "q"}))
    studio = BlendStudio(lum, ['it\'s "quoted"', "vex"], name='blend "with" quotes')
    with Luminora(log=None) as fresh:
        fresh.load_personality('it\'s "quoted"', get_builtin("aurora"))
        result = eval(studio.code(), {"lum": fresh})
        assert result.name == 'blend "with" quotes'


# --------------------------------------------------------------------------- try it


def test_try_it_streams_the_blends_reply(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "captain_quip"], weights={"aurora": 30, "captain_quip": 70})
    wire.clear()
    wire.custom(studio, {"type": "try", "prompt": "Tell me about volcanoes."})
    studio.wait()
    assert studio.error == ""
    assert list(studio.replies) == [studio.blend_name]
    reply = studio.replies[studio.blend_name]
    assert reply.kind == "blend" and reply.finish_reason == "stop" and reply.text
    deltas = [m for m in wire.custom_messages(studio) if m["type"] == "delta"]
    assert "".join(m["text"] for m in deltas) == reply.text
    assert deltas[-1]["final"] is True and deltas[-1]["finish_reason"] == "stop"
    assert {m["run"] for m in deltas} == {studio.tries["run"]}
    # the final text reached the tries trait once; streaming did not resend it per chunk
    [column] = studio.tries["columns"]
    assert column["done"] and column["text"] == reply.text
    tries_updates = [s for s in state_updates(wire, studio) if "tries" in s]
    assert len(tries_updates) <= 2
    # the reply ran in a fresh session on the unsaved preview, registered as a draft
    conversation = lum.get_conversation(reply.session_id or "")
    assert conversation is not None and [m.content for m in conversation.messages][-1] == reply.text
    draft = lum.get_personality(studio.blend_name + DRAFT_SUFFIX)
    assert draft is not None and draft.system_prompt == studio.preview["prompt"]
    assert studio.blend_name not in lum.list_personalities()  # not saved by trying


def test_each_try_uses_a_fresh_session(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"])
    studio.try_it("Hello!")
    studio.wait()
    first = studio.replies[studio.blend_name].session_id
    wire.update(studio, weights={"aurora": 90})
    studio.try_it("Hello!")
    studio.wait()
    second = studio.replies[studio.blend_name].session_id
    assert first != second
    conversation = lum.get_conversation(second or "")
    assert conversation is not None and len(conversation.messages) == 2


def test_compare_with_sources_gives_one_reply_each(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "captain_quip", "vex"], name="trio")
    wire.custom(studio, {"type": "compare", "prompt": "What is a black hole?"})
    studio.wait()
    assert list(studio.replies) == ["trio", "aurora", "captain_quip", "vex"]
    assert [r.kind for r in studio.replies.values()] == ["blend", "source", "source", "source"]
    assert all(r.finish_reason == "stop" and r.text and r.error is None for r in studio.replies.values())
    assert len({r.session_id for r in studio.replies.values()}) == 4
    # each column streamed under its own id, and the texts match the replies
    by_id: dict[str, str] = {}
    for m in wire.custom_messages(studio):
        by_id[m["id"]] = by_id.get(m["id"], "") + m["text"]
    labels = {c["id"]: c["label"] for c in studio.tries["columns"]}
    assert {labels[i]: t for i, t in by_id.items()} == {k: r.text for k, r in studio.replies.items()}


def test_stop_keeps_the_partial_replies(lum: Luminora, wire: CommRecorder) -> None:
    slow = {"name": "offline", "extra": {"chunk_delay": 0.05}}
    studio = BlendStudio(lum, ["aurora", "vex"], provider=slow)
    studio.compare_with_sources("Tell me everything about the history of volcanoes, please.")
    assert studio.busy
    wire.custom(studio, {"type": "stop"})
    studio.wait()
    assert not studio.busy
    assert len(studio.replies) == 3
    assert {r.finish_reason for r in studio.replies.values()} == {"stopped"}
    full = BlendStudio(lum, ["aurora", "vex"])
    full.compare_with_sources("Tell me everything about the history of volcanoes, please.")
    full.wait()
    for label, reply in studio.replies.items():
        assert len(reply.text) < len(full.replies[label].text)


def test_closing_the_widget_stops_its_try(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], provider={"name": "offline", "extra": {"chunk_delay": 0.05}})
    studio.try_it("Tell me everything about the history of volcanoes, please.")
    studio.close()
    studio.wait()
    [reply] = studio.replies.values()
    assert reply.finish_reason == "stopped"


def test_try_with_an_empty_prompt_shows_a_message(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"])
    wire.custom(studio, {"type": "try", "prompt": "  "})
    studio.wait()
    assert "type a prompt" in studio.error
    assert studio.replies == {}


def test_a_failing_provider_shows_its_error_in_place(lum: Luminora, wire: CommRecorder) -> None:
    studio = BlendStudio(lum, ["aurora", "vex"], provider="openai")  # no API key in tests
    studio.compare_with_sources("Hello!")
    studio.wait()
    assert studio.error and "OPENAI_API_KEY" in studio.error
    assert studio.last_error is not None
    assert len(studio.replies) == 3
    assert all(r.error and r.finish_reason is None for r in studio.replies.values())
    finals = [m for m in wire.custom_messages(studio) if m.get("final")]
    assert len(finals) == 3 and all(m["error"] for m in finals)


# --------------------------------------------------------------------------- the session log


def test_saves_and_tries_reach_the_session_log(tmp_path: Path, wire: CommRecorder) -> None:
    with Luminora(log=tmp_path / "log.duckdb") as logged:
        studio = BlendStudio(logged, ["aurora", "vex"], weights={"aurora": 80, "vex": 20})
        studio.save("logged_blend")
        studio.wait()
        studio.try_it("Hello!")
        studio.wait()
        assert logged.log is not None
        logged.log.flush()
        blends = logged.log.blends()
        assert list(blends["name"]) == ["logged_blend"]  # trying publishes no BlendCreated
        assert list(blends["sources"].iloc[0]) == ["aurora", "vex"]
        sessions = logged.sessions()
        [row] = sessions.to_dict("records")
        assert row["personality"] == "logged_blend" + DRAFT_SUFFIX
        assert list(row["blend_sources"]) == ["aurora", "vex"]
        assert row["session_id"] == studio.replies["logged_blend"].session_id
