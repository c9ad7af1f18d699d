"""AffinityInspector, driven as the browser drives it, against a real facade that learns.

No browser and no mocks of our own code: every change the inspector shows comes from a
real turn (the offline simulator, the rules classifier) or a real ``update_affinity``.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from luminora_nb.errors import PersonalityError, SessionError
from luminora_nb.sync import Luminora
from luminora_nb.widgets import AffinityInspector
from luminora_nb.widgets._base import asset_text
from luminora_nb.widgets.affinity_inspector import ladder, progress_to_next
from luminora_nb.widgets.testing import CommRecorder

from .browser_code import assert_module_inserts_text_only_as_text, run_in_node, scoped_selectors

AURORA_LEVELS = [
    {"name": "stranger", "low": 0, "high": 20},
    {"name": "acquaintance", "low": 21, "high": 50},
    {"name": "friend", "low": 51, "high": 100},
]


def check_matches_store(inspector: AffinityInspector, lum: Luminora) -> dict[str, Any]:
    stored = lum.get_affinity(inspector.user_id, inspector.personality)
    assert inspector.points == stored["affinity_points"]
    assert inspector.level == stored["current_level"]
    assert inspector.total_interactions == stored.get("total_interactions", 0)
    history = stored.get("history", [])  # type: ignore[typeddict-item]
    assert [c["points"] for c in inspector.history] == [h["points_after"] for h in history]
    assert [c["delta"] for c in inspector.history] == [h["points_delta"] for h in history]
    return dict(stored)


def test_follows_turns_through_the_levels(learning: Luminora, wire: CommRecorder) -> None:
    inspector = AffinityInspector(learning, "sam", "aurora")
    assert inspector.error == "" and inspector.levels == AURORA_LEVELS
    assert (inspector.points, inspector.level, inspector.history) == (10, "stranger", [])
    assert (inspector.next_level, inspector.to_next) == ("acquaintance", 11)
    assert inspector.progress == pytest.approx(10 / 21, abs=1e-4)

    sid = learning.create_session("aurora", user_id="sam")
    levels_seen = [inspector.level]
    for _ in range(12):
        learning.send_message(sid, "Thank you so much, you're wonderful and so kind!")
        inspector.wait()
        if inspector.level != levels_seen[-1]:
            levels_seen.append(inspector.level)
        check_matches_store(inspector, learning)
    assert levels_seen == ["stranger", "acquaintance", "friend"]
    assert [c["level"] for c in inspector.history if c["level_changed"]] == ["acquaintance", "friend"]
    assert all(c["reason"] == "interaction" and c["delta"] > 0 for c in inspector.history)
    assert inspector.next_level == "" and inspector.to_next == 0  # friend is aurora's top level
    assert inspector.progress == pytest.approx((inspector.points - 51) / 49, abs=1e-4)
    # the browser got the history as it grew
    sent = [
        m.data["state"]["history"]
        for m in wire.messages
        if m.data.get("method") == "update" and "history" in m.data.get("state", {})
    ]
    assert sent[-1] == inspector.history and len(sent) >= 2


def test_adjust_from_the_browser_and_bad_deltas(learning: Luminora, wire: CommRecorder) -> None:
    inspector = AffinityInspector(learning, "sam", "aurora")
    wire.custom(inspector, {"type": "adjust", "delta": 45, "reason": "a long talk"})
    inspector.wait()
    assert inspector.error == "" and (inspector.points, inspector.level) == (55, "friend")
    last = inspector.history[-1]
    assert (last["reason"], last["type"], last["delta"], last["level_changed"]) == (
        "a long talk",
        "explicit",
        45,
        True,
    )
    stored = check_matches_store(inspector, learning)

    for bad, message in [
        ("abc", "points_delta must be a number, got 'abc' (str)"),
        (math.nan, "points_delta must be a finite number, got nan"),
        (None, "points_delta must be a number, got None (NoneType)"),
        (True, "points_delta must be a number, got True (bool)"),
    ]:
        wire.custom(inspector, {"type": "adjust", "delta": bad})
        assert inspector.error == message and isinstance(inspector.last_error, SessionError)
    inspector.wait()
    assert dict(learning.get_affinity("sam", "aurora")) == stored  # nothing changed
    inspector.adjust(-100)
    inspector.wait()
    assert (inspector.points, inspector.level, inspector.error) == (0, "stranger", "")


def test_other_pairs_do_not_move_it(learning: Luminora) -> None:
    inspector = AffinityInspector(learning, "sam", "aurora")
    learning.update_affinity("ana", "aurora", 30)
    learning.update_affinity("sam", "vex", 30)
    learning.update_affinity("sam", "aurora", 3)
    inspector.wait()
    assert inspector.points == 13 and len(inspector.history) == 1


def test_changes_from_many_threads_end_in_the_stored_state(learning: Luminora) -> None:
    inspector = AffinityInspector(learning, "sam", "aurora")

    def bump() -> None:
        for _ in range(10):
            learning.update_affinity("sam", "aurora", 1)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inspector.wait()
    assert inspector.points == 50 and len(inspector.history) == 40
    check_matches_store(inspector, learning)


def test_bad_persona_or_user_shows_a_message(learning: Luminora, wire: CommRecorder) -> None:
    unknown = AffinityInspector(learning, "sam", "nobody")
    assert (
        unknown.error == "unknown personality 'nobody'; lum.list_personalities() lists the ones you can use"
    )
    assert isinstance(unknown.last_error, PersonalityError) and unknown.levels == []
    wire.custom(unknown, {"type": "adjust", "delta": 5})
    unknown.refresh()
    unknown.wait()
    assert unknown.history == [] and repr(unknown).splitlines()[1].startswith("error: unknown personality")
    bad_user = AffinityInspector(learning, "", "aurora")
    assert bad_user.error == "user_id must be a non-empty string, got '' (str)"
    assert AffinityInspector(learning, "sam", 5).error.startswith("personality must be a persona name")  # type: ignore[arg-type]


def test_a_persona_without_levels_uses_the_default_ladder(learning: Luminora) -> None:
    learning.load_personality("plain", {"name": "plain", "description": "d", "system_prompt": "Be plain."})
    inspector = AffinityInspector(learning, "sam", "plain")
    assert [lvl["name"] for lvl in inspector.levels] == [lvl["name"] for lvl in ladder(None)]
    learning.update_affinity("sam", "plain", 45)
    inspector.wait()
    assert (inspector.level, inspector.next_level, inspector.to_next) == ("friend", "close_friend", 16)


def test_progress_to_next() -> None:
    default = ladder(None)
    assert progress_to_next(default, 0) == ("acquaintance", 21, 0.0)
    assert progress_to_next(default, 41) == ("close_friend", 20, 0.0)
    assert progress_to_next(default, 100) == ("", 0, 1.0)
    assert progress_to_next([{"name": "a", "low": 10, "high": 100}], 4) == ("a", 6, 0.0)


def test_data_out_plot_and_text(learning: Luminora) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inspector = AffinityInspector(learning, "sam", "aurora")
    for delta in (5, 10, 30, -4):
        learning.update_affinity("sam", "aurora", delta, reason="test")
    inspector.wait()
    frame = inspector.to_dataframe()
    assert frame["points"].tolist() == [15, 25, 55, 51]
    assert frame["level"].tolist() == ["stranger", "acquaintance", "friend", "friend"]
    assert frame["level_changed"].tolist() == [False, True, True, False]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(frame["timestamp"].dtype)
    assert inspector.value["affinity_points"] == 51
    ax = inspector.plot()
    _xs, ys = ax.lines[0].get_data()
    assert list(ys) == [10, 15, 25, 55, 51]
    plt.close(ax.figure)
    assert repr(inspector).splitlines() == [
        "AffinityInspector · sam and Aurora",
        "level friend · 51 points · 4 interactions",
        "top level",
        "ladder: stranger < acquaintance < [friend]",
        "  +5 explicit: 15 points",
        "  +10 explicit: 25 points -> acquaintance",
        "  +30 explicit: 55 points -> friend",
        "  -4 explicit: 51 points",
    ]
    inspector.close()
    learning.update_affinity("sam", "aurora", 1)  # no longer listening: nothing breaks


# -- the browser code --------------------------------------------------------------------------


def test_js_inserts_text_only_as_text_and_css_is_scoped() -> None:
    assert_module_inserts_text_only_as_text("affinity_inspector")
    source = asset_text("affinity_inspector.js")
    for hook in ('type: "adjust"', '"aria-current"', "model.off", '"change:history"'):
        assert hook in source, hook
    scoped_selectors("affinity_inspector", grey="rgba(127, 127, 127")  # greys of several opacities


def test_a_closed_facade_is_said_in_place() -> None:
    lum = Luminora(log=None, learn=True)
    inspector = AffinityInspector(lum, "sam", "aurora")
    lum.close()
    inspector.adjust(5)
    assert "closed" in inspector.error and inspector.busy is False and inspector.points == 10
    inspector.clear_error()
    inspector.refresh()
    assert "closed" in inspector.error
    inspector.close()


@pytest.mark.integration  # starts another process
def test_the_browser_module_renders_and_sends_what_python_expects(
    learning: Luminora, wire: CommRecorder, tmp_path: Any
) -> None:
    inspector = AffinityInspector(learning, "sam", "aurora")
    for delta in (5, 10, 30):
        learning.update_affinity("sam", "aurora", delta)
    inspector.wait()
    script = """
out.text = el.textContent;
out.here = find((n) => n.getAttribute("aria-current") === "step").map((n) => n.textContent);
out.dots = find((n) => n.tagName === "CIRCLE").length;
out.path = find((n) => n.tagName === "PATH")[0].getAttribute("d");
out.progress = find((n) => n.tagName === "PROGRESS")[0].value;
const delta = find((n) => n.getAttribute("aria-label") === "Points to add (negative to remove)")[0];
delta.value = "-7";
find((n) => n.getAttribute("aria-label") === "Reason of the change")[0].value = "a quarrel";
find((n) => n.tagName === "FORM")[0].dispatch("submit");
delta.value = "abc";
find((n) => n.tagName === "FORM")[0].dispatch("submit");
model.change("level", "stranger");
out.after = find((n) => n.getAttribute("aria-current") === "step").map((n) => n.textContent);
out.sent = model.sent;
cleanup();
out.listeners = model.listeners();
"""
    got = run_in_node(tmp_path, "affinity_inspector", inspector.get_state(), script)
    assert "sam and Aurora" in got["text"] and "55 / 100 points" in got["text"] and "top level" in got["text"]
    assert got["here"] == ["\u25b6friend 51\u2013100"] and got["after"] == ["\u25b6stranger 0\u201320"]
    assert got["dots"] == 4 and got["path"].count(" V ") == 3  # the start and three changes, as steps
    assert got["progress"] == inspector.progress
    assert (
        got["sent"]
        == [
            {"type": "adjust", "delta": -7, "reason": "a quarrel"},
            {"type": "adjust", "delta": "abc", "reason": "a quarrel"},
        ]
        and got["listeners"] == 0
    )
    # delivered to the real widget: the number applies, the text is refused in place
    wire.custom(inspector, got["sent"][0])
    inspector.wait()
    assert inspector.points == 48 and inspector.history[-1]["reason"] == "a quarrel"
    wire.custom(inspector, got["sent"][1])
    assert inspector.error == "points_delta must be a number, got 'abc' (str)" and inspector.points == 48
