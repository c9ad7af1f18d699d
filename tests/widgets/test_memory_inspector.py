"""MemoryInspector, driven as the browser drives it: custom messages in, synced state out.

No browser and no mocks of our own code: the inspector runs on a real facade that
learns (offline simulator, in-memory storage, the rules extractor and the shipped
embedder), so every fact and episode it shows was learned from a real turn.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from luminora_nb.errors import LuminoraError, SessionError
from luminora_nb.sync import Luminora
from luminora_nb.widgets import MemoryInspector
from luminora_nb.widgets._base import asset_text
from luminora_nb.widgets.memory_inspector import parse_edit
from luminora_nb.widgets.testing import CommRecorder

from .browser_code import assert_module_inserts_text_only_as_text, run_in_node, scoped_selectors

TEACH = [
    "Hi! My name is Sam and I live in Lyon.",
    "I love jazz.",
    "I just got promoted to lead engineer, I'm so happy!",
]


def teach(lum: Luminora, user: str = "sam", messages: list[str] = TEACH) -> str:
    sid = lum.create_session("aurora", user_id=user)
    for message in messages:
        lum.send_message(sid, message)
    return sid


def facts_of(inspector: MemoryInspector) -> dict[tuple[str, str], str]:
    return {(f["category"], f["key"]): f["value"] for f in inspector.facts}


def stored(lum: Luminora, user: str = "sam") -> dict[tuple[str, str], Any]:
    return {(f["category"], f["key"]): f["value"] for f in lum.get_facts(user)}


def updates(wire: CommRecorder, widget: Any, name: str) -> list[Any]:
    return [
        m.data["state"][name]
        for m in wire.messages
        if m.comm_id == widget.comm.comm_id and m.data.get("method") == "update" and name in m.data["state"]
    ]


# -- live -----------------------------------------------------------------------------------


def test_follows_turns_as_they_happen(learning: Luminora, wire: CommRecorder) -> None:
    inspector = MemoryInspector(learning, "sam")
    assert inspector.facts == [] and inspector.episodes == [] and inspector.error == ""
    assert "No memories of user 'sam' yet" in inspector.notice

    teach(learning)
    inspector.wait()

    assert facts_of(inspector) == {k: str(v) for k, v in stored(learning).items()}
    assert facts_of(inspector)[("personal_info", "name")] == "Sam"
    assert facts_of(inspector)[("personal_info", "location")] == "Lyon"
    assert ("preferences", "jazz") in facts_of(inspector)
    assert [e["type"] for e in inspector.episodes] == ["achievement"]
    episode = inspector.episodes[0]
    assert episode["sentiment"] == "very_positive" and 0 < episode["importance"] <= 10
    assert inspector.notice == ""
    # every fact shows the message it came from (the hover text)
    name = next(f for f in inspector.facts if f["key"] == "name")
    assert name["source"] == "My name is Sam and I live in Lyon." and 0 < name["confidence"] <= 1
    # the browser was told: the facts trait went over the wire as the turns were learned
    assert updates(wire, inspector, "facts")[-1] == inspector.facts
    frame = inspector.to_dataframe()
    assert list(frame.columns)[:4] == ["category", "key", "value", "confidence"]
    assert set(frame["key"]) == {k for _, k in stored(learning)}
    assert inspector.episodes_dataframe()["type"].tolist() == ["achievement"]


def test_another_users_memories_stay_out(learning: Luminora) -> None:
    inspector = MemoryInspector(learning, "sam")
    teach(learning, user="ana", messages=["My name is Ana and I live in Porto."])
    teach(learning, user="sam", messages=["My name is Sam."])
    inspector.wait()
    assert facts_of(inspector) == {("personal_info", "name"): "Sam"}
    assert stored(learning, "ana")[("personal_info", "location")] == "Porto"


def test_many_turns_from_many_threads_end_in_the_stored_state(learning: Luminora) -> None:
    inspector = MemoryInspector(learning, "sam")
    hobbies = ["chess", "jazz", "tennis", "painting", "cooking", "hiking", "sushi", "poetry"]

    def chat(words: list[str]) -> None:
        sid = learning.create_session("aurora", user_id="sam")
        for word in words:
            learning.send_message(sid, f"I love {word}.")

    threads = [threading.Thread(target=chat, args=(hobbies[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):  # the kernel refreshes too while turns land
        inspector.refresh()
    for thread in threads:
        thread.join()
    inspector.wait()
    assert facts_of(inspector) == {k: str(v) for k, v in stored(learning).items()}
    assert {k for _, k in facts_of(inspector)} >= set(hobbies)


# -- edit, delete, filter ----------------------------------------------------------------------


def test_edit_from_the_browser_saves_and_keeps_the_old_value(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam")
    wire.custom(
        inspector, {"type": "edit", "category": "personal_info", "key": "location", "value": " Lisbon "}
    )
    inspector.wait()
    assert inspector.error == ""
    fact = next(f for f in learning.get_facts("sam", "personal_info") if f["key"] == "location")
    assert fact["value"] == "Lisbon" and fact["confidence"] == 1.0
    assert [h["value"] for h in fact["history"]] == ["Lyon"]  # type: ignore[typeddict-item]
    assert facts_of(inspector)[("personal_info", "location")] == "Lisbon"
    row = next(f for f in inspector.facts if f["key"] == "location")
    assert row["revisions"] == 1


def test_a_bad_edit_shows_a_message_and_loses_nothing(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    learning.save_fact("sam", "personal_info", "age", 33, confidence=0.9)
    inspector = MemoryInspector(learning, "sam")
    before = stored(learning)
    shown = list(inspector.facts)

    wire.custom(inspector, {"type": "edit", "category": "personal_info", "key": "age", "value": "thirty"})
    assert inspector.error == "this fact holds a number: 'thirty' is not one (e.g. 34 or 1.5)"
    assert isinstance(inspector.last_error, SessionError)
    wire.custom(inspector, {"type": "edit", "category": "personal_info", "key": "name", "value": "   "})
    assert inspector.error.startswith("a fact's value cannot be empty")
    wire.custom(inspector, {"type": "edit", "category": "personal_info", "key": "name", "value": "x" * 501})
    assert "at most 500 characters" in inspector.error
    wire.custom(inspector, {"type": "edit", "category": "personal_info", "key": "name", "value": 7})
    assert inspector.error == "a fact's new value must be text, got int"
    wire.custom(inspector, {"type": "edit", "category": "work", "key": "nothing", "value": "x"})
    assert inspector.error.startswith("no fact 'work'/'nothing' for user 'sam'")
    inspector.wait()
    assert stored(learning) == before and inspector.facts == shown

    # a number stays a number
    inspector.edit_fact("personal_info", "age", "34")
    inspector.wait()
    assert inspector.error == "" and stored(learning)[("personal_info", "age")] == 34


def test_parse_edit_keeps_the_kind_of_the_value() -> None:
    assert parse_edit("2.5", 1.0) == 2.5 and parse_edit("3", 2) == 3 and isinstance(parse_edit("3", 2), int)
    assert parse_edit("jazz,  blues ,", ["rock"]) == ["jazz", "blues"]
    with pytest.raises(SessionError, match="at least one item"):
        parse_edit(" , ", ["rock"])
    with pytest.raises(SessionError, match="finite"):
        parse_edit("inf", 1)


def test_delete_from_the_browser(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam")
    wire.custom(inspector, {"type": "delete", "category": "preferences", "key": "jazz"})
    inspector.wait()
    assert ("preferences", "jazz") not in stored(learning)
    assert ("preferences", "jazz") not in facts_of(inspector)
    wire.custom(inspector, {"type": "delete", "category": "preferences", "key": "jazz"})
    assert inspector.error == "no fact 'preferences'/'jazz' for user 'sam' to delete"


def test_a_delete_anywhere_leaves_every_inspector_of_the_user(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    teach(learning, user="ada", messages=["I love jazz."])
    first, second = MemoryInspector(learning, "sam"), MemoryInspector(learning, "sam")
    other_user = MemoryInspector(learning, "ada")
    assert ("preferences", "jazz") in facts_of(second) and ("preferences", "jazz") in facts_of(other_user)
    wire.custom(first, {"type": "delete", "category": "preferences", "key": "jazz"})
    first.wait()
    second.wait()
    assert ("preferences", "jazz") not in facts_of(second)  # told by the FactDeleted event
    assert learning.delete_fact("sam", "personal_info", "location")  # from a cell, not a widget
    first.wait()
    second.wait()
    assert ("personal_info", "location") not in facts_of(first) | facts_of(second)
    other_user.wait()
    assert ("preferences", "jazz") in facts_of(other_user)  # another user's delete is not theirs


def test_category_filter(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam", category="preferences")
    assert inspector.to_dataframe()["key"].tolist() == ["jazz"]
    wire.update(inspector, category="personal_info")
    assert set(inspector.to_dataframe()["key"]) == {"name", "location"}
    assert "facts of category personal_info:" in repr(inspector)
    wire.update(inspector, category="colours")
    assert inspector.category == "personal_info" and "unknown fact category 'colours'" in inspector.error
    wire.update(inspector, category="")
    assert len(inspector.to_dataframe()) == len(stored(learning))
    assert inspector.to_dataframe(category="preferences")["key"].tolist() == ["jazz"]
    assert MemoryInspector(learning, "sam", category="nope").error.startswith("unknown fact category 'nope'")


# -- search ---------------------------------------------------------------------------------


def test_search_shows_hits_with_scores(learning: Luminora, wire: CommRecorder) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam")
    wire.custom(inspector, {"type": "search", "query": "what music do I enjoy?"})
    inspector.wait()
    assert inspector.error == "" and inspector.query == "what music do I enjoy?"
    direct = learning.search_memories("sam", "what music do I enjoy?", 5)
    assert [(h["kind"], h["text"]) for h in inspector.hits] == [(h.kind, h.text) for h in direct]
    assert [h["score"] for h in inspector.hits] == [round(h.score, 4) for h in direct]
    assert any("jazz" in h["text"] for h in inspector.hits)
    scores = [h["score"] for h in inspector.hits]
    assert scores == sorted(scores, reverse=True)
    assert inspector.hits_dataframe()["score"].tolist() == scores
    assert inspector.results[0]["item"]  # the full hit, for the next cell

    kept = list(inspector.hits)
    wire.custom(inspector, {"type": "search", "query": "   "})
    inspector.wait()
    assert inspector.error.startswith("query must be a non-empty string") and inspector.hits == kept
    inspector.search("jazz", top_k=0)
    inspector.wait()
    assert inspector.error == "top_k must be a positive integer, got 0" and inspector.hits == kept


# -- bad input ------------------------------------------------------------------------------------


def test_bad_user_shows_a_message_and_does_nothing(learning: Luminora, wire: CommRecorder) -> None:
    inspector = MemoryInspector(learning, 42)  # type: ignore[arg-type]
    assert inspector.error == "user_id must be a non-empty string, got 42 (int)"
    assert isinstance(inspector.last_error, SessionError)
    wire.custom(inspector, {"type": "search", "query": "jazz"})
    inspector.refresh()
    inspector.wait()
    assert inspector.hits == [] and inspector.facts == []
    assert "error: user_id must be a non-empty string" in repr(inspector)


def test_needs_a_facade() -> None:
    with pytest.raises(LuminoraError, match="needs a Luminora facade"):
        MemoryInspector(object(), "sam")  # type: ignore[arg-type]


def test_text_form_and_close(learning: Luminora) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam")
    text = repr(inspector)
    assert text.splitlines()[0] == "MemoryInspector · sam · 3 facts · 1 episode"
    assert "personal_info/name = Sam" in text and "achievement: Achievement ▲▲ very_positive" in text
    inspector.close()
    teach(learning, messages=["I love chess."])  # no longer listening: nothing breaks
    assert ("hobbies", "chess") in stored(learning) or ("preferences", "chess") in stored(learning)


# -- the browser code --------------------------------------------------------------------------


def test_js_inserts_text_only_as_text_and_css_is_scoped() -> None:
    assert_module_inserts_text_only_as_text("memory_inspector")
    source = asset_text("memory_inspector.js")
    for hook in (
        'type: "edit"',
        'type: "delete"',
        'type: "search"',
        'type: "refresh"',
        "model.off",
        '"category"',
    ):
        assert hook in source, hook
    scoped_selectors("memory_inspector", grey="rgba(127, 127, 127")  # greys of several opacities


def test_a_closed_facade_is_said_in_place() -> None:
    lum = Luminora(log=None, learn=True)
    teach(lum, messages=["My name is Sam."])
    inspector = MemoryInspector(lum, "sam")
    lum.close()
    for action in (
        inspector.refresh,
        lambda: inspector.search("name"),
        lambda: inspector.edit_fact("personal_info", "name", "Samuel"),
        lambda: inspector.delete_fact("personal_info", "name"),
    ):
        inspector.clear_error()
        action()
        assert "closed" in inspector.error and inspector.busy is False
    assert facts_of(inspector) == {("personal_info", "name"): "Sam"}  # what it showed stays
    inspector.close()


# -- the browser code, run in Node against a minimal DOM ------------------------------------------


@pytest.mark.integration  # starts another process
def test_the_browser_module_renders_and_sends_what_python_expects(
    learning: Luminora, wire: CommRecorder, tmp_path: Any
) -> None:
    teach(learning)
    inspector = MemoryInspector(learning, "sam")
    inspector.search("where do I live?")
    inspector.wait()
    script = """
const byClass = (c) => find((n) => n.classList.contains(c));
out.text = el.textContent;
out.rows = find((n) => n.tagName === "TR").length;
out.dots = byClass("lnb-mi-dot").map((d) => d.style.width);
out.hits = byClass("lnb-mi-score").map((s) => s.textContent);
// edit the location: click its value, type, press Enter
const value = byClass("lnb-mi-value").find((v) => v.textContent === "Lyon");
value.dispatch("click");
const box = find((n) => n.tagName === "INPUT" && n.value === "Lyon")[0];
box.value = "Lisbon";
box.dispatch("keydown", { key: "Enter" });
// delete the jazz fact
find((n) => n.getAttribute("aria-label") === "Delete the fact jazz")[0].dispatch("click");
// search
const input = find((n) => n.getAttribute("aria-label") === "Search memories")[0];
input.value = "what music do I like?";
find((n) => n.tagName === "FORM")[0].dispatch("submit");
// the category filter
const select = find((n) => n.tagName === "SELECT")[0];
select.value = "preferences";
select.dispatch("change");
out.filtered = find((n) => n.tagName === "TR").length;
model.change("error", "something went wrong");
out.error = find((n) => n.getAttribute("role") === "alert")[0].textContent;
out.sent = model.sent;
cleanup();
out.listeners = model.listeners();
"""
    got = run_in_node(tmp_path, "memory_inspector", inspector.get_state(), script)
    assert "Memory of sam" in got["text"] and "Lyon" in got["text"] and "Achievement" in got["text"]
    assert got["rows"] == 1 + len(inspector.facts)  # the header row and one per fact
    assert got["dots"] == [f"{8 + round(inspector.episodes[0]['importance'] * 2)}px"]
    assert got["hits"] == [f"{h['score']:.3f}" for h in inspector.hits]
    assert got["filtered"] == 1 + 1  # the header and the one preferences fact (the delete is not applied yet)
    assert got["error"] == "something went wrong" and got["listeners"] == 0
    messages = [m for m in got["sent"] if "type" in m]
    assert messages == [
        {"type": "edit", "category": "personal_info", "key": "location", "value": "Lisbon"},
        {"type": "delete", "category": "preferences", "key": "jazz"},
        {"type": "search", "query": "what music do I like?"},
    ]
    assert got["sent"][-1]["saved"]["category"] == "preferences"
    # what the browser sent, delivered to the real widget, does what it says
    for message in messages:
        wire.custom(inspector, message)
        inspector.wait()
    assert inspector.error == ""
    assert stored(learning)[("personal_info", "location")] == "Lisbon"
    assert ("preferences", "jazz") not in stored(learning)
    assert inspector.query == "what music do I like?" and inspector.hits
