"""CompareGrid, driven as the browser drives it: custom messages in, recorded messages out.

No browser and no mocks of our own code: the grid runs on a real facade (the offline
simulator, in-memory storage, a real DuckDB session log in ``tmp_path``). The failing
cell comes from the vendor server of the provider tests (a real OpenAI wire-format HTTP
server scripted to answer one request with 400). Waiting is done with ``grid.wait()``
or by polling a condition; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from luminora_nb.compare import CompareResult
from luminora_nb.errors import PersonalityError, SessionError
from luminora_nb.sync import Luminora
from luminora_nb.types.provider import ProviderConfig
from luminora_nb.widgets import CompareGrid
from luminora_nb.widgets._base import asset_text
from luminora_nb.widgets.testing import CommRecorder

from ..providers.vendor_server import Fail, Reply, VendorServer
from .browser_code import assert_module_inserts_text_only_as_text, scoped_selectors

BLENDS: list[Any] = ["aurora", "vex", {"aurora": 7, "vex": 3}]
MIX = "aurora70_vex30"
PROMPTS = ["Hello there!", "What is a black hole?", "Tell me a joke about cats."]


@pytest.fixture
def logged(tmp_path: Any) -> Iterator[Luminora]:
    """A facade with a real session log (offline provider, in-memory storage)."""
    facade = Luminora(log=tmp_path / "log.duckdb")
    try:
        yield facade
    finally:
        facade.close()


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[VendorServer]:
    with VendorServer() as server:
        yield server


def cell_messages(wire: CommRecorder, grid: CompareGrid) -> list[dict[str, Any]]:
    return [m for m in wire.custom_messages(grid) if m["type"] == "cell"]


def last_of(wire: CommRecorder, grid: CompareGrid, kind: str) -> dict[str, Any]:
    return [m for m in wire.custom_messages(grid) if m["type"] == kind][-1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until ``condition()`` holds (never asserts on wall-clock time itself)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def rebuild(ops: list[list[str]]) -> tuple[str, str]:
    old = "".join(text for op, text in ops if op in ("equal", "delete"))
    new = "".join(text for op, text in ops if op in ("equal", "insert"))
    return old, new


def opening_state(grid: CompareGrid) -> dict[str, Any]:
    """The state ipywidgets sends when the widget's comm opens (what a first render sees)."""
    state: dict[str, Any] = grid.get_state()
    return state


# -- a full run ------------------------------------------------------------------------------


def test_a_3x3_run_matches_the_engine_baseline_first(logged: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(logged, BLENDS, PROMPTS, baseline="vex", autorun=False)
    # the whole grid is drawn at once: every cell pending, baseline first
    opened = opening_state(grid)
    assert opened["labels"] == ["vex", "aurora", MIX] and opened["baseline"] == "vex"
    assert opened["prompts"] == PROMPTS and opened["progress"] == {"done": 0, "total": 9}
    assert [c["status"] for c in opened["cells"]] == ["pending"] * 9
    assert opened["running"] is False and opened["error"] == ""
    wire.custom(grid, {"type": "run"})  # the Run button
    grid.wait()

    result = grid.result
    assert isinstance(result, CompareResult) and result.done and result.errors == 0
    assert grid.error == "" and grid.running is False and grid.busy is False
    assert grid.labels == ["vex", "aurora", MIX] and grid.baseline == "vex" and grid.run_id == result.run_id
    assert grid.progress == {"done": 9, "total": 9}

    # one small message per cell, each carrying just that cell (and its row's flags)
    sent = cell_messages(wire, grid)
    assert len(sent) == 9
    assert sorted((m["cell"]["p"], m["cell"]["label"]) for m in sent) == sorted(
        (p, label) for p in range(3) for label in ["aurora", "vex", MIX]
    )
    for message in sent:
        assert set(message) == {"type", "cell", "same", "differs", "total"}
        assert set(message["same"]) == {"aurora", "vex", MIX}
        assert list(message["total"]) == [message["cell"]["label"]]
    # the whole grid went over the wire once, at the end of the run; a cell message costs
    # about its reply
    updates = [m.data["state"] for m in wire.messages if m.data.get("method") == "update"]
    assert sum(1 for state in updates if "cells" in state) == 1
    for m in wire.messages:
        if m.data.get("method") == "custom" and m.data["content"]["type"] == "cell":
            assert m.size < len(m.data["content"]["cell"]["reply"]) + 1000
    # the snapshot trait equals the engine's cells, in matrix order
    assert len(grid.cells) == 9
    for compact, cell in zip(grid.cells, result.cells, strict=True):
        assert (compact["p"], compact["label"], compact["r"]) == (cell.prompt_index, cell.label, cell.repeat)
        assert compact["status"] == "ok" and compact["reply"] == cell.reply and cell.reply
        assert compact["tokens"] == cell.total_tokens and compact["error"] is None
        assert compact["same"] == cell.same_as_baseline
        assert compact["differs"] == (not cell.is_baseline and not cell.same_as_baseline)
        assert compact["rating"] == 0 and compact["note"] == ""
    # each message's cell is the final cell
    final = {(m["cell"]["p"], m["cell"]["label"]): m["cell"] for m in sent}
    for cell in result.cells:
        assert final[(cell.prompt_index, cell.label)]["reply"] == cell.reply

    frame = grid.to_dataframe()
    assert len(frame) == 9 and {"rating", "note", "blend", "reply"} <= set(frame.columns)
    assert frame["reply"].tolist() == [c.reply for c in result.cells]
    assert grid.summary().loc["vex", "is_baseline"]
    # the cells really ran, each in its own session
    assert len(logged.list_sessions()) == 9 == len({c.session_id for c in result.cells})


def test_a_view_asking_for_sync_gets_a_complete_snapshot(lum: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(lum, ["aurora", "vex"], PROMPTS[:2])
    grid.wait()
    grid.rate(1, "vex", -1)
    # ratings travel as cell messages; the snapshot trait is refreshed when a view asks
    assert grid.cells[3]["rating"] == 0
    wire.custom(grid, {"type": "sync"})
    assert grid.cells[3]["rating"] == -1 and grid.cells[3]["label"] == "vex"
    versions = [c["v"] for c in grid.cells]
    wire.clear()
    wire.custom(grid, {"type": "sync"})  # nothing changed: nothing sent
    assert wire.messages == [] and [c["v"] for c in grid.cells] == versions


# -- ratings and notes -------------------------------------------------------------------------


def test_rate_and_note_through_the_browser_land_in_the_log_at_once(
    logged: Luminora, wire: CommRecorder
) -> None:
    grid = CompareGrid(logged, BLENDS, PROMPTS)
    grid.wait()
    result = grid.result
    assert result is not None and logged.log is not None
    cell = result.cell(1, "vex")

    wire.custom(grid, {"type": "rate", "p": 1, "label": "vex", "r": 0, "rating": 1})
    assert grid.error == ""
    # in the log at once (record_rating flushes), no waiting
    ratings = logged.log.ratings(run_id=result.run_id)
    assert ratings[["blend", "prompt", "repeat", "rating"]].values.tolist() == [["vex", PROMPTS[1], 0, 1]]
    assert ratings["session_id"].tolist() == [cell.session_id]
    echoed = last_of(wire, grid, "cell")
    assert echoed["cell"]["rating"] == 1 and echoed["cell"]["label"] == "vex" and echoed["cell"]["p"] == 1
    assert echoed["total"]["vex"]["up"] == 1

    wire.custom(grid, {"type": "note", "p": 1, "label": "vex", "r": 0, "note": "  crisp, but cold "})
    wire.custom(grid, {"type": "rate", "p": 2, "label": MIX, "r": 0, "rating": -1})
    latest = logged.log.ratings(run_id=result.run_id).set_index("blend")
    assert latest.loc["vex", "note"] == "crisp, but cold" and latest.loc["vex", "rating"] == 1
    assert latest.loc[MIX, "rating"] == -1 and latest.loc[MIX, "prompt"] == PROMPTS[2]
    events = logged.log.events("rating")
    assert len(events) == 3

    frame = grid.to_dataframe().set_index(["prompt_index", "blend"])
    assert frame.loc[(1, "vex"), "rating"] == 1 and frame.loc[(1, "vex"), "note"] == "crisp, but cold"
    assert frame.loc[(2, MIX), "rating"] == -1
    assert frame["rating"].isna().sum() == 7
    assert grid.totals["vex"]["up"] == 1 and grid.totals[MIX]["down"] == 1

    # clearing: rating 0 in the log, NA in the frame, the note kept
    grid.rate(1, "vex", 0)
    latest = logged.log.ratings(run_id=result.run_id).set_index("blend")
    assert latest.loc["vex", "rating"] == 0 and latest.loc["vex", "note"] == "crisp, but cold"
    frame = grid.to_dataframe().set_index(["prompt_index", "blend"])
    assert pd.isna(frame.loc[(1, "vex"), "rating"]) and frame.loc[(1, "vex"), "note"] == "crisp, but cold"
    summary = grid.summary()
    assert summary.loc["vex", "rating_up"] == 0 and summary.loc[MIX, "rating_down"] == 1


def test_ratings_without_a_log_stay_in_the_widget(lum: Luminora, wire: CommRecorder) -> None:
    assert lum.log is None
    grid = CompareGrid(lum, ["aurora", "vex"], PROMPTS[:2], repeat=2)
    grid.wait()
    grid.rate(1, "aurora", 1, repeat=1, note="warm")
    grid.annotate(0, "vex", "too short")
    assert grid.error == ""
    frame = grid.to_dataframe().set_index(["prompt_index", "blend", "repeat"])
    assert frame.loc[(1, "aurora", 1), "rating"] == 1 and frame.loc[(1, "aurora", 1), "note"] == "warm"
    assert pd.isna(frame.loc[(0, "vex", 0), "rating"]) and frame.loc[(0, "vex", 0), "note"] == "too short"
    assert pd.isna(frame.loc[(1, "aurora", 0), "rating"])


def test_repeat_rows_are_logged_with_their_repeat(logged: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(logged, ["aurora", "vex"], ["Hello!"], repeat=2)
    grid.wait()
    assert grid.repeat == 2 and grid.progress == {"done": 4, "total": 4}
    wire.custom(grid, {"type": "rate", "p": 0, "label": "vex", "r": 1, "rating": -1})
    assert logged.log is not None
    row = logged.log.ratings().iloc[0]
    assert (row["blend"], row["repeat"], row["rating"]) == ("vex", 1, -1)


def test_bad_ratings_show_in_place(lum: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(lum, ["aurora", "vex"], PROMPTS[:1])
    grid.wait()
    bad: list[dict[str, Any]] = [
        {"type": "rate", "p": 0, "label": "vex", "r": 0, "rating": 5},
        {"type": "rate", "p": 0, "label": "vex", "r": 0, "rating": True},
        {"type": "rate", "p": 0, "label": "nobody", "r": 0, "rating": 1},
        {"type": "rate", "p": 7, "label": "vex", "r": 0, "rating": 1},
        {"type": "rate", "p": "0", "label": "vex", "r": 0, "rating": 1},
        {"type": "rate", "p": 0, "label": ["vex"], "r": 0, "rating": 1},
        {"type": "note", "p": 0, "label": "vex", "r": 0, "note": 42},
        {"type": "note", "p": 0, "label": "vex", "r": 0, "note": "x" * 5000},
        {"type": "retry", "p": 0, "label": "vex", "r": 3},
    ]
    for message in bad:
        grid.clear_error()
        wire.custom(grid, message)  # nothing raised
        assert grid.error, message
        assert grid.last_error is not None
    wire.custom(grid, {"type": "nonsense"})  # ignored
    grid.comm.handle_msg(
        {"content": {"data": {"method": "custom", "content": ["not", "a", "dict"]}}, "buffers": []}
    )
    assert grid.to_dataframe()["rating"].isna().all() and grid.to_dataframe()["note"].isna().all()


# -- differences -------------------------------------------------------------------------------


def test_only_differences_and_the_same_markers(lum: Luminora, wire: CommRecorder) -> None:
    aurora = lum.get_personality("aurora")
    assert aurora is not None
    twin = aurora.model_copy(update={"name": "aurora_twin"})
    grid = CompareGrid(lum, {"a": "aurora", "twin": twin, "vex": "vex"}, PROMPTS)
    grid.wait()
    by = {(c["p"], c["label"]): c for c in grid.cells}
    for p in range(3):
        assert by[(p, "twin")]["same"] and not by[(p, "twin")]["differs"]
        assert by[(p, "vex")]["differs"] and not by[(p, "vex")]["same"]
        assert not by[(p, "a")]["differs"]

    assert grid.only_differences is False
    wire.update(grid, only_differences=True)  # the browser's toggle
    assert grid.only_differences is True
    text = grid._text()
    assert "Hello there!" in text  # vex differs on every row: nothing hidden
    assert "= baseline" in text

    # twins only: every row equals the baseline, so every row is hidden
    twins = CompareGrid(lum, {"a": "aurora", "twin": twin}, PROMPTS)
    twins.wait()
    wire.update(twins, only_differences=True)
    text = twins._text()
    assert "3 row(s) equal to the baseline hidden" in text
    assert "Hello there!" not in text
    wire.update(twins, only_differences=False)
    assert "Hello there!" in twins._text()


def test_diff_on_request_rebuilds_both_texts(lum: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(lum, BLENDS, PROMPTS)
    grid.wait()
    result = grid.result
    assert result is not None
    wire.clear()
    wire.custom(grid, {"type": "diff", "p": 1, "label": "vex", "r": 0})
    sent = wire.custom_messages(grid)
    assert len(sent) == 1
    reply = sent[0]
    assert (reply["type"], reply["p"], reply["label"], reply["r"]) == ("diff", 1, "vex", 0)
    ops = reply["ops"]
    assert {op for op, _ in ops} <= {"equal", "insert", "delete"} and any(op != "equal" for op, _ in ops)
    assert rebuild(ops) == (result.cell(1, "aurora").reply, result.cell(1, "vex").reply)
    assert [list(op) for op in grid.diff(1, "vex")] == ops

    wire.custom(grid, {"type": "diff", "p": 1, "label": "nobody", "r": 0})
    failed = last_of(wire, grid, "diff")
    assert "unknown blend label 'nobody'" in failed["error"] and "ops" not in failed
    with pytest.raises(SessionError):
        grid.diff(9, "vex")


# -- failures, retry, stop ---------------------------------------------------------------------


def test_a_failing_cell_shows_its_error_and_retry_reruns_only_it(
    lum: Luminora, wire: CommRecorder, vendor_server: VendorServer
) -> None:
    key = "sk-test-grid-0123456789abcdef"
    scenario = vendor_server.scenario("openai", key=key, model="gpt-4o-mini")
    # concurrency 1: cells run in matrix order, so the third request is prompt 1's baseline cell
    scenario.push(Reply(), Reply(), Fail(400, message=f"Invalid request for key {key}: bad parameter"))
    provider = ProviderConfig(name="openai", api_key=key, base_url=scenario.base_url)
    grid = CompareGrid(lum, ["aurora", "vex"], PROMPTS, provider=provider, concurrency=1)
    grid.wait()
    result = grid.result
    assert result is not None
    failed = result.cell(1, "aurora")
    assert result.failed == [failed] and grid.error == ""  # the grid itself is fine
    by = {(c["p"], c["label"]): c for c in grid.cells}
    shown = by[(1, "aurora")]
    assert shown["status"] == "error" and shown["reply"] is None
    assert shown["error"].startswith("ProviderBadRequestError: ") and "bad parameter" in shown["error"]
    assert key not in str(grid.cells) and key not in grid._text()
    assert all(c["status"] == "ok" for k, c in by.items() if k != (1, "aurora"))
    assert not by[(1, "vex")]["same"] and not by[(1, "vex")]["differs"]  # its baseline failed
    assert grid.totals["aurora"]["errors"] == 1 and grid.totals["vex"]["errors"] == 0
    assert "ERROR ProviderBadRequest" in grid._text()
    assert grid.summary().loc["aurora", "errors"] == 1

    requests = len(scenario.requests)
    sessions = {(c.prompt_index, c.label): c.session_id for c in result.cells}
    wire.clear()
    wire.custom(grid, {"type": "retry", "p": 1, "label": "aurora", "r": 0})
    grid.wait()
    assert len(scenario.requests) == requests + 1  # only that cell ran again
    assert failed.ok and failed.reply == f"Echo: {PROMPTS[1]} — done." and result.errors == 0
    for cell in result.cells:
        if (cell.prompt_index, cell.label) != (1, "aurora"):
            assert cell.session_id == sessions[(cell.prompt_index, cell.label)]
    assert failed.session_id != sessions[(1, "aurora")]
    sent = cell_messages(wire, grid)
    assert [m["cell"]["status"] for m in sent] == ["running", "ok"]
    assert sent[-1]["cell"]["label"] == "aurora" and sent[-1]["cell"]["p"] == 1
    # the row's flags came along: vex now equals its (echoing) baseline
    assert sent[-1]["same"] == {"aurora": True, "vex": True}
    assert sent[-1]["total"]["aurora"]["errors"] == 0
    assert grid.totals["aurora"]["errors"] == 0 and grid.progress == {"done": 6, "total": 6}


def test_stop_leaves_pending_cells_and_run_finishes_them(lum: Luminora, wire: CommRecorder) -> None:
    slow = {"name": "offline", "extra": {"latency": 0.2}}
    grid = CompareGrid(lum, BLENDS, PROMPTS, provider=slow, concurrency=1)
    assert grid.running is True
    wait_for(lambda: grid.progress["done"] >= 1, "the first cell")
    wire.custom(grid, {"type": "stop"})
    grid.wait()
    result = grid.result
    assert result is not None
    done = [c for c in result.cells if c.done]
    assert grid.running is False and grid.busy is False and grid.error == ""
    assert 1 <= len(done) < 9
    assert {c.status for c in result.cells} == {"ok", "pending"}  # cancelled cells are pending again
    assert grid.progress == {"done": len(done), "total": 9}
    assert [c["status"] for c in grid.cells] == [c.status for c in result.cells]
    assert f"({9 - len(done)} not run)" in grid._text() and "(not run)" in grid._text()
    sessions = {id(c): c.session_id for c in done}

    wire.custom(grid, {"type": "run"})
    assert grid.running is True
    grid.wait()
    assert result.done and result.errors == 0 and grid.progress == {"done": 9, "total": 9}
    assert all(c.session_id == sessions[id(c)] for c in done)  # finished cells did not run again
    assert [c["status"] for c in grid.cells] == ["ok"] * 9
    grid.run()  # nothing pending: nothing happens
    assert grid.running is False


def test_autorun_off_waits_for_run(lum: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(lum, ["aurora"], ["Hi"], autorun=False)
    grid.wait()
    assert grid.progress == {"done": 0, "total": 1} and grid.cells[0]["status"] == "pending"
    assert "(not run)" in grid._text()
    grid.stop()  # nothing running: nothing happens
    grid.run()
    grid.wait()
    assert grid.cells[0]["status"] == "ok"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blends", "prompts", "options", "error", "match"),
    [
        (["aurora"], [], {}, SessionError, "no prompts"),
        ([], ["Hi"], {}, PersonalityError, "no blends"),
        (["aurora", "nobody"], ["Hi"], {}, PersonalityError, "unknown personality 'nobody'"),
        ([{"aurora": 0, "vex": 0}], ["Hi"], {}, PersonalityError, "zero"),
        (["aurora", "aurora"], ["Hi"], {}, PersonalityError, "duplicate blend label 'aurora'"),
        (["aurora", "vex"], ["Hi"], {"baseline": "nope"}, SessionError, "unknown baseline 'nope'"),
        (["aurora"], ["Hi"], {"concurrency": 0}, SessionError, "concurrency"),
        (["aurora"], ["Hi"], {"provider": "openai"}, Exception, "API key"),
    ],
)
def test_bad_input_shows_in_place(
    lum: Luminora,
    wire: CommRecorder,
    blends: Any,
    prompts: Any,
    options: dict[str, Any],
    error: type[BaseException],
    match: str,
) -> None:
    grid = CompareGrid(lum, blends, prompts, **options)  # never raises
    assert isinstance(grid.last_error, error)
    assert re.search(match, grid.error, re.I) and len(grid.error) <= 300
    assert re.search(match, opening_state(grid)["error"], re.I)  # shown from the first render
    assert grid.result is None and grid.cells == [] and grid.labels == [] and grid.running is False
    assert "error:" in grid._text()
    assert grid.to_dataframe().empty and "rating" in grid.to_dataframe().columns
    assert grid.summary().empty
    assert lum.list_sessions() == []
    # actions on a broken grid explain themselves in place
    for message in ({"type": "run"}, {"type": "retry", "p": 0, "label": "aurora", "r": 0}, {"type": "sync"}):
        wire.custom(grid, message)
    grid.rate(0, "aurora", 1)
    wire.custom(grid, {"type": "diff", "p": 0, "label": "aurora", "r": 0})
    assert "error" in last_of(wire, grid, "diff")
    assert grid.error and grid.wait() is None


def test_a_closed_facade_shows_in_place(wire: CommRecorder) -> None:
    facade = Luminora(log=None)
    facade.close()
    grid = CompareGrid(facade, ["aurora"], ["Hi"])
    assert "closed" in grid.error and grid.result is None


# -- header totals and text --------------------------------------------------------------------


def test_header_totals_match_the_summary(lum: Luminora, wire: CommRecorder) -> None:
    grid = CompareGrid(lum, BLENDS, PROMPTS)
    grid.wait()
    grid.rate(0, "aurora", 1)
    grid.rate(1, "aurora", 1)
    grid.rate(2, MIX, -1)
    summary = grid.summary()
    assert set(grid.totals) == {"aurora", "vex", MIX}
    for label, t in grid.totals.items():
        row = summary.loc[label]
        assert t["mean_tokens"] == pytest.approx(row["mean_tokens"], abs=0.05)
        assert t["p50_latency_ms"] == pytest.approx(row["p50_latency_ms"], abs=0.05)
        assert (t["up"], t["down"], t["errors"]) == (row["rating_up"], row["rating_down"], row["errors"])
        assert (t["done"], t["cells"]) == (3, 3)
    assert grid.totals["aurora"]["up"] == 2 and grid.totals[MIX]["down"] == 1
    text = grid._text()
    assert "aurora (baseline): mean tokens" in text and "ratings +2/-0" in text and "ratings +0/-1" in text


def test_plain_text_form_is_a_clamped_matrix(lum: Luminora, wire: CommRecorder) -> None:
    prompts = [
        f"Question number {i}: what is the meaning of a very long prompt like this one?" for i in range(15)
    ]
    grid = CompareGrid(lum, ["aurora", "vex"], prompts, baseline="vex")
    grid.wait()
    grid.rate(0, "aurora", 1)
    text = grid._text()
    assert repr(grid) == text
    lines = text.splitlines()
    assert (
        lines[0].startswith("CompareGrid 'cmp_") and "2 blend(s) x 15 prompt(s), 30/30 cells done" in lines[0]
    )
    assert [h.strip() for h in lines[1].split(" | ")[1:]] == ["vex (baseline)", "aurora"]
    assert "[+]" in lines[2]
    assert "3 more row(s): see to_dataframe()" in text
    assert max(len(line) for line in lines[1:14]) <= 3 * 28 + 6
    bundle = grid._repr_mimebundle_()
    assert bundle is not None and bundle[0]["text/plain"] == text


# -- the browser code --------------------------------------------------------------------------


def test_js_inserts_text_only_as_text() -> None:
    assert_module_inserts_text_only_as_text("compare_grid")
    source = asset_text("compare_grid.js")
    assert "textContent" in source
    assert "export default" in source and "render({ model, el })" in source


def test_js_and_css_offer_the_stable_hooks() -> None:
    source = asset_text("compare_grid.js")
    for hook in (
        '"lnb-root lnb-compare-grid"',
        'h("td", "lnb-cell")',
        "td.dataset.prompt",
        "td.dataset.label",
        '"Rate up"',
        '"Rate down"',
        'setAttribute("aria-label", "Note")',
        'button("Retry")',
        'button("Stop")',
        'button("Run"',
        '" Show only differences"',
        'prog.className = "lnb-progress"',
        '"lnb-error"',
        '"msg:custom"',
        'type: "sync"',
        'type: "rate"',
        'type: "note"',
        'type: "retry"',
        'type: "diff"',
        'type: "stop"',
        'type: "run"',
        '"only_differences"',
        "model.off",
    ):
        assert hook in source, hook
    css = re.sub(r"/\*.*?\*/", "", asset_text("compare_grid.css"), flags=re.S)
    assert "position: sticky" in css and "line-through" in css and "underline" in css
    assert len(scoped_selectors("compare_grid")) > 20
