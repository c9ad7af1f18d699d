"""analytics.snapshots: snapshot files as DataFrames, and the diff of two snapshots of a user.

Everything is checked against real exports of real offline sessions: a
``LuminoraCoreClient`` with ``LuminoraCoreClientV11`` learning from the conversation
(facts, episodes, affinity, mood), saved with ``save_snapshot`` into a folder laid out as
a team's (one sub-folder per machine, JSON and gzip). What each frame says is compared
with what the store held when the snapshot was taken (``get_facts``, ``get_episodes``,
``get_affinity``, the stored conversation), and the diff with the set difference of
those stored facts and episodes.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.figure import Figure

from luminora_nb import LuminoraCoreClient
from luminora_nb.analytics import (
    DIFF_COLUMNS,
    MESSAGE_COLUMNS,
    diff_snapshots,
    latest_snapshots,
    load_snapshots,
    plot_affinity,
    plot_episode_timeline,
    plot_fact_categories,
    plot_message_lengths,
    snapshot_affinity,
    snapshot_episodes,
    snapshot_facts,
    snapshot_messages,
    snapshot_summary,
    usage_table,
)
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.snapshot import SnapshotError

SAM_BEFORE = "machine-a/sam-before.json"
SAM_AFTER = "machine-a/sam-after.json.gz"
KIM = "machine-b/kim.json"


@dataclass
class Stored:
    """What the store held when one snapshot was taken."""

    facts: list[dict[str, Any]]
    episodes: list[dict[str, Any]]
    affinity: dict[str, Any]
    messages: list[dict[str, Any]]


@dataclass
class Team:
    folder: Path
    stored: dict[str, Stored] = field(default_factory=dict)
    imported: dict[str, Any] = field(default_factory=dict)


async def _stored(v11: LuminoraCoreClientV11, base: LuminoraCoreClient, user: str, sid: str) -> Stored:
    conversation = await base.get_conversation(sid)
    assert conversation is not None
    session = await base.storage.load_session(sid)
    assert session is not None
    return Stored(
        facts=[dict(f) for f in await v11.get_facts(user)],
        episodes=[dict(e) for e in await v11.get_episodes(user)],
        affinity=dict(await v11.get_affinity(user, session.personality.name)),
        messages=[m.model_dump(mode="json") for m in conversation.messages],
    )


async def _team(folder: Path) -> Team:
    team = Team(folder)
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)  # learns from every turn
    sam = await base.create_session("aurora", user_id="sam")
    for text in ("Hello! My name is Sam.", "I work as a nurse in Lyon.", "I just got engaged!! So happy"):
        await base.send_message(sam, text)
    await v11.save_snapshot(sam, folder / SAM_BEFORE)
    team.stored[SAM_BEFORE] = await _stored(v11, base, "sam", sam)

    for text in (
        "Actually I work as a teacher now.",
        "My favourite colour is blue.",
        "Thanks, you are great!",
    ):
        await base.send_message(sam, text)
    await v11.save_episode("sam", "bonding", "Tea talk", "Sam shared a favourite tea.", 6.5, "positive")
    await v11.delete_fact("sam", "personal_info", "name")
    await v11.save_snapshot(sam, folder / SAM_AFTER)
    team.stored[SAM_AFTER] = await _stored(v11, base, "sam", sam)

    await base.blend_personalities(["aurora", "vex"], [6, 4], "aurora_vex")
    kim = await base.create_session("aurora_vex", user_id="kim")
    for text in ("Hi, I'm Kim.", "I live in Oslo and I love hiking.", "Thank you so much, that helps!"):
        await base.send_message(kim, text)
    await v11.save_snapshot(kim, folder / KIM)
    team.stored[KIM] = await _stored(v11, base, "kim", kim)

    # the "after" snapshot imported for a new user, and exported again unchanged
    zoe = await v11.import_snapshot(await v11.load_snapshot(folder / SAM_AFTER), "zoe")
    team.imported = dict(await v11.export_snapshot(zoe))
    await base.cleanup()
    return team


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Team:
    folder = tmp_path_factory.mktemp("team")
    (folder / "machine-a").mkdir()
    (folder / "machine-b").mkdir()
    (folder / "machine-b" / "notes.txt").write_text("not a snapshot", encoding="utf-8")
    return asyncio.run(_team(folder))


def _fact_set(rows: Any) -> set[tuple[str, str, str, float]]:
    return {(r["category"], r["key"], json.dumps(r["value"]), float(r["confidence"])) for r in rows}


def _rows(frame: pd.DataFrame, label: str) -> list[dict[str, Any]]:
    return frame[frame["snapshot"] == label].to_dict("records")


# --------------------------------------------------------------------------- reading


def test_a_folder_reads_every_snapshot_json_and_gzip_by_relative_path(team: Team) -> None:
    loaded = load_snapshots(team.folder)
    assert [s.label for s in loaded] == [SAM_AFTER, SAM_BEFORE, KIM]  # sorted; notes.txt left out
    assert (team.folder / SAM_AFTER).read_bytes()[:2] == b"\x1f\x8b"  # really gzip
    # one file, a list and a labelled mapping read the same documents
    assert load_snapshots(team.folder / KIM)[0].document == loaded[2].document
    assert [s.label for s in load_snapshots([team.folder / KIM, loaded[1].document])] == [
        "kim.json",
        "snapshot[1]",
    ]
    assert [s.label for s in load_snapshots({"k": team.folder / KIM})] == ["k"]
    # what load_snapshots returned is passed on without reading again
    assert snapshot_summary(loaded).equals(snapshot_summary(team.folder))


def test_facts_are_the_stored_facts_of_each_snapshot(team: Team) -> None:
    frame = snapshot_facts(team.folder)
    for label, stored in team.stored.items():
        rows = _rows(frame, label)
        assert _fact_set(rows) == _fact_set(stored.facts), label
        user = {"machine-b/kim.json": "kim"}.get(label, "sam")
        assert {r["user_id"] for r in rows} == {user}
    after = {(r["category"], r["key"]): r for r in _rows(frame, SAM_AFTER)}
    assert after[("work", "job")]["value"] == "teacher" and after[("work", "job")]["revisions"] == 1
    assert after[("work", "job")]["source_message"] == "Actually I work as a teacher now."
    assert ("personal_info", "name") not in after  # forgotten before the export


def test_episodes_are_the_stored_episodes_of_each_snapshot(team: Team) -> None:
    frame = snapshot_episodes(team.folder)
    for label, stored in team.stored.items():
        got = {(r["episode_id"], r["title"], r["importance"], r["sentiment"]) for r in _rows(frame, label)}
        want = {(e["episode_id"], e["title"], e["importance"], e["sentiment"]) for e in stored.episodes}
        assert got == want, label
    assert {r["title"] for r in _rows(frame, SAM_AFTER)} >= {"Engagement", "Tea talk"}
    assert frame["ts"].notna().all() and str(frame["ts"].dtype) == "datetime64[us, UTC]"


def test_affinity_history_ends_at_the_stored_affinity(team: Team) -> None:
    frame = snapshot_affinity(team.folder)
    for label, stored in team.stored.items():
        rows = _rows(frame, label)
        assert len(rows) == stored.affinity["total_interactions"] > 0, label
        assert rows[-1]["affinity_points"] == stored.affinity["affinity_points"]
        assert rows[-1]["current_level"] == stored.affinity["current_level"]
        points = [r["affinity_points"] for r in rows]
        deltas = [r["points_delta"] for r in rows]
        assert [b - a for a, b in itertools.pairwise(points)] == deltas[1:]
    assert set(frame["personality_name"]) == {"aurora", "aurora_vex"}


def test_messages_are_the_stored_conversation_in_the_log_s_columns(team: Team) -> None:
    frame = snapshot_messages(team.folder)
    assert list(frame.columns) == ["snapshot", *MESSAGE_COLUMNS]
    for label, stored in team.stored.items():
        rows = _rows(frame, label)
        assert [(r["role"], r["content"]) for r in rows] == [
            (m["role"], m["content"]) for m in stored.messages
        ]
        assert [r["turn_index"] for r in rows] == [i // 2 for i in range(len(stored.messages))]
        replies = [m for m in stored.messages if m["role"] == "assistant"]
        assert [r["completion_tokens"] for r in rows if r["role"] == "assistant"] == [
            m["metadata"]["usage"]["completion_tokens"] for m in replies
        ]
        assert [r["latency_ms"] for r in rows if r["role"] == "assistant"] == [
            m["metadata"]["latency_ms"] for m in replies
        ]


def test_usage_over_the_latest_snapshots_is_computed_from_the_stored_replies(team: Team) -> None:
    latest = latest_snapshots(team.folder)
    assert sorted(s.label for s in latest) == [SAM_AFTER, KIM]  # sam-before is superseded
    table = usage_table(snapshot_messages(latest)).set_index("blend")
    for label, blend in ((SAM_AFTER, "aurora"), (KIM, "aurora_vex")):
        replies = [m for m in team.stored[label].messages if m["role"] == "assistant"]
        row = table.loc[blend]
        assert row["provider"] == "offline" and row["turns"] == len(replies)
        assert row["tokens_in"] == sum(m["metadata"]["usage"]["prompt_tokens"] for m in replies)
        assert row["tokens_out"] == sum(m["metadata"]["usage"]["completion_tokens"] for m in replies)


def test_summary_has_one_row_per_snapshot_with_its_totals(team: Team) -> None:
    summary = snapshot_summary(team.folder).set_index("snapshot")
    assert list(summary.index) == [SAM_AFTER, SAM_BEFORE, KIM]
    for label, stored in team.stored.items():
        row = summary.loc[label]
        replies = [m for m in stored.messages if m["role"] == "assistant"]
        assert row["facts"] == len(stored.facts) and row["episodes"] == len(stored.episodes)
        assert row["messages"] == row["messages_included"] == len(stored.messages)
        assert row["user_messages"] == row["assistant_messages"] == len(replies)
        assert row["tokens_out"] == sum(m["metadata"]["usage"]["completion_tokens"] for m in replies)
        assert row["affinity_points"] == stored.affinity["affinity_points"]
        assert row["level"] == stored.affinity["current_level"]
        assert row["days_active"] == 1 and row["format_version"] == "1.0"
    assert summary.loc[KIM, "blend_sources"] == ["aurora", "vex"]
    assert summary.loc[SAM_AFTER, "blend_sources"] is None
    assert summary.loc[KIM, "user_id"] == "kim" and summary.loc[KIM, "personality"] == "aurora_vex"


# --------------------------------------------------------------------------- diff


def test_diff_is_the_difference_of_the_stored_facts_and_episodes(team: Team) -> None:
    before, after = team.stored[SAM_BEFORE], team.stored[SAM_AFTER]
    diff = diff_snapshots(team.folder / SAM_BEFORE, team.folder / SAM_AFTER)
    assert list(diff.columns) == list(DIFF_COLUMNS)
    assert set(diff["change"]) <= {"learned", "forgotten", "changed"}

    old = {(f["category"], f["key"]): f for f in before.facts}
    new = {(f["category"], f["key"]): f for f in after.facts}
    facts = diff[diff["kind"] == "fact"]
    got = {(r["change"], r["category"], r["key"]) for r in facts.to_dict("records")}
    want = (
        {("learned", *k) for k in new.keys() - old.keys()}
        | {("forgotten", *k) for k in old.keys() - new.keys()}
        | {
            ("changed", *k)
            for k in old.keys() & new.keys()
            if (old[k]["value"], old[k]["confidence"]) != (new[k]["value"], new[k]["confidence"])
        }
    )
    assert got == want
    job = facts[facts["key"] == "job"].iloc[0]
    assert (job["change"], job["old_value"], job["new_value"]) == ("changed", "nurse", "teacher")
    name = facts[facts["key"] == "name"].iloc[0]
    assert (name["change"], name["old_value"], name["new_value"]) == ("forgotten", "Sam", None)
    assert name["old_confidence"] == old[("personal_info", "name")]["confidence"]

    episodes = diff[diff["kind"] == "episode"]
    learned = {e["episode_id"] for e in after.episodes} - {e["episode_id"] for e in before.episodes}
    titles = {e["title"] for e in after.episodes if e["episode_id"] in learned}
    assert set(episodes["key"]) == titles and "Tea talk" in titles
    assert set(episodes["change"]) == {"learned"}
    tea = episodes[episodes["key"] == "Tea talk"].iloc[0]
    assert (tea["new_importance"], tea["sentiment"], tea["category"]) == (6.5, "positive", "bonding")

    affinity = diff[diff["kind"] == "affinity"].set_index("key")
    assert affinity.loc["points", "old_value"] == before.affinity["affinity_points"]
    assert affinity.loc["points", "new_value"] == after.affinity["affinity_points"]
    assert (affinity["change"] == "changed").all()


def test_reversed_diff_reads_as_forgotten_and_is_refused_when_strict(team: Team) -> None:
    with pytest.raises(SnapshotError, match="exported after new"):
        diff_snapshots(team.folder / SAM_AFTER, team.folder / SAM_BEFORE)
    with pytest.raises(SnapshotError, match="two users"):
        diff_snapshots(team.folder / SAM_BEFORE, team.folder / KIM)
    back = diff_snapshots(team.folder / SAM_AFTER, team.folder / SAM_BEFORE, strict=False)
    episodes = back[back["kind"] == "episode"]
    assert "Tea talk" in set(episodes["key"]) and set(episodes["change"]) == {"forgotten"}
    assert set(back[(back["kind"] == "fact")]["change"]) == {"learned", "forgotten", "changed"}


def test_an_imported_snapshot_differs_in_nothing_it_remembers(team: Team) -> None:
    diff = diff_snapshots(team.folder / SAM_AFTER, team.imported, strict=False)
    assert diff.empty, diff.to_string()
    assert list(diff.columns) == list(DIFF_COLUMNS)


# --------------------------------------------------------------------------- errors


def test_a_broken_file_is_named_or_skipped_with_a_warning(team: Team, tmp_path: Path) -> None:
    shutil.copy(team.folder / KIM, tmp_path / "kim.json")
    broken = json.loads((team.folder / KIM).read_text(encoding="utf-8"))
    broken["current_state"]["learned_facts"][0]["confidence"] = 2
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"broken\.json.*learned_facts\[0\]\.confidence"):
        snapshot_facts(tmp_path)
    with pytest.warns(UserWarning, match=r"snapshot skipped: .*broken\.json"):
        loaded = load_snapshots(tmp_path, errors="skip")
    assert [s.label for s in loaded] == ["kim.json"]
    with pytest.raises(FileNotFoundError, match="no snapshot file or folder"):
        load_snapshots(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="not a snapshot source"):
        load_snapshots(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- plots


def _rendered(fig: Figure) -> Figure:
    fig.savefig(io.BytesIO(), format="png")
    return fig


def test_plots_take_the_snapshot_frames_and_draw_repeated_history_once(team: Team) -> None:
    ax = _rendered(plot_affinity(snapshot_affinity(team.folder))).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"sam / aurora", "kim / aurora_vex"}
    # sam's history is in both of sam's snapshots; drawn once, ending at the stored points
    sam = team.stored[SAM_AFTER].affinity
    assert len(lines["sam / aurora"].get_ydata()) == sam["total_interactions"]
    assert lines["sam / aurora"].get_ydata()[-1] == sam["affinity_points"]

    episodes = snapshot_episodes(team.folder)
    ax = _rendered(plot_episode_timeline(episodes)).axes[0]
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == len({e["episode_id"] for s in team.stored.values() for e in s.episodes})

    facts = snapshot_facts(latest_snapshots(team.folder))
    ax = _rendered(plot_fact_categories(facts)).axes[0]
    bars = {t.get_text(): int(p.get_width()) for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert bars == facts["category"].value_counts().to_dict()

    messages = snapshot_messages(team.folder)
    ax = _rendered(plot_message_lengths(messages)).axes[0]
    counts = {c.get_label(): int(sum(p.get_height() for p in c.patches)) for c in ax.containers}
    assert counts == messages["role"].value_counts().to_dict()


def test_snapshots_of_other_tools_and_anonymised_exports_read_with_gaps(team: Team) -> None:
    """The seed's minimal shape (empty sections, ``{}`` affinity) and an anonymised export."""
    from luminora_nb.snapshot import anonymous_id, minimal_snapshot

    other = minimal_snapshot("aurora", user_id="sam")
    row = snapshot_summary({"other": other}).iloc[0]
    assert pd.isna(row["affinity_points"]) and pd.isna(row["mood"]) and row["format_version"] == "1.0"
    assert row["facts"] == 0 and pd.isna(row["first_message_at"])
    assert snapshot_affinity(other).empty and snapshot_messages(other).empty
    assert list(snapshot_messages(other).columns) == ["snapshot", *MESSAGE_COLUMNS]

    async def anonymised() -> dict[str, Any]:
        v11 = LuminoraCoreClientV11(LuminoraCoreClient(), embedder=None)
        await v11.import_snapshot(json.loads((team.folder / SAM_BEFORE).read_text(encoding="utf-8")), "sam")
        sid = (await v11.base_client.list_sessions())[0]
        return dict(await v11.export_snapshot(sid, {"anonymize_user_data": True}))

    anon = asyncio.run(anonymised())
    messages = snapshot_messages(anon)
    assert set(messages["user_id"]) == {anonymous_id("sam")}
    assert len(messages) == len(team.stored[SAM_BEFORE].messages)
    assert messages["completion_tokens"].isna().all()  # metadata dropped by the anonymisation
    # the facts are the user's, whatever id the export shows
    assert _fact_set(snapshot_facts(anon).to_dict("records")) == _fact_set(team.stored[SAM_BEFORE].facts)


def test_latest_snapshots_groups_by_the_named_keys(team: Team) -> None:
    by_session = latest_snapshots(team.folder, by=("session_id",))
    assert sorted(s.label for s in by_session) == [SAM_AFTER, KIM]
    by_user = latest_snapshots(team.folder, by=("user_id",))
    assert [s.info["user_id"] for s in by_user] == ["sam", "kim"]
    with pytest.raises(ValueError, match="groups by some of"):
        latest_snapshots(team.folder, by=("host",))
