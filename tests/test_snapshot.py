"""Snapshots: export -> import -> export round trips on every storage backend, and the options.

The round trip must give the same document except the fields documented as new
(``_snapshot_info.created_at``, ``user_id``, ``session_id``): with unicode and emoji in
messages, facts and episodes, and for a blend whose sources the importing client never
loaded. Backends come from the storage conformance fixtures (memory, file, duckdb here;
redis, postgres, mongodb as integration tests), plain and compressed+encrypted.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.personality.library import PERSONAS_DIR
from luminora_nb.snapshot import Snapshot, SnapshotError, anonymous_id, minimal_snapshot
from luminora_nb.types import ProviderConfig
from tests.conftest import parametrize_backend
from tests.storage.conftest import BackendCase

MODES = ["plain", "compressed+encrypted"]
NEW_FIELDS = ("created_at", "user_id", "session_id")
MESSAGES = (
    "Hi! My name is Zoé and I have a cat named Miso 🐱.",
    "I just got engaged!! 💍🎉",
    "I'm allergic to peanuts. 日本語も話せます。",
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backend(metafunc, modes=MODES)


def _persona(name: str, source: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PERSONAS_DIR / f"{source}.json").read_text(encoding="utf-8"))
    data["persona"]["name"] = name
    return data


async def _rich_session(base: LuminoraCoreClient, v11: LuminoraCoreClientV11, user: str) -> str:
    """A blend of two personas loaded here only, a learning conversation, unicode everywhere."""
    await base.load_personality("sunny_custom", _persona("sunny_custom", "aurora"))
    await base.load_personality("edgy_custom", _persona("edgy_custom", "vex"))
    await base.blend_personalities(["sunny_custom", "edgy_custom"], [0.7, 0.3], "sunny_edgy")
    sid = await base.create_session("sunny_edgy", user_id=user)
    for text in MESSAGES:
        await base.send_message(sid, text)
    await v11.save_fact(user, "hobbies", "café_music", "jazz 🎷 « manouche »", confidence=0.8)
    await v11.save_episode(
        user, "bonding", "Tea ☕ talk", "Zoé shared her favourite tea — 抹茶.", 6.5, "positive"
    )
    await v11.update_affinity(user, "sunny_edgy", points_delta=4, interaction_type="positive")
    return sid


def _without_new_fields(snapshot: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(snapshot))
    for name in NEW_FIELDS:
        data["_snapshot_info"].pop(name)
    return data


async def test_round_trip_on_every_backend_with_unicode_and_a_blend(backend: BackendCase) -> None:
    storage = await backend.open()
    base = LuminoraCoreClient(storage=storage)
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "zoé")
    first = await v11.export_snapshot(sid)

    state = first["current_state"]
    assert first["_snapshot_info"]["user_id"] == "zoé" and first["_snapshot_info"]["total_messages"] == 6
    assert first["blend"] == {
        "sources": ["edgy_custom", "sunny_custom"],
        "weights": [0.3, 0.7],
        "blend_type": "weighted_average",
    }
    assert {f["key"]: f["value"] for f in state["learned_facts"]}["café_music"] == "jazz 🎷 « manouche »"
    assert {e["title"] for e in state["memorable_episodes"]} == {"Engagement", "Tea ☕ talk"}
    assert state["affinity"] is not None and len(state["affinity"]["progression_history"]) == 4
    assert first["conversation"]["messages"][2]["content"] == MESSAGES[1]

    # imported by a client that never loaded the blend or its sources, on a store reopened
    other = await backend.open() if backend.persistent else storage
    base2 = LuminoraCoreClient(storage=other)
    v11b = LuminoraCoreClientV11(base2, embedder=None)
    assert await base2.get_personality("sunny_custom") is None
    new_sid = await v11b.import_snapshot(first, "李 👩‍💻")
    second = await v11b.export_snapshot(new_sid)

    assert (
        second["_snapshot_info"]["user_id"] == "李 👩‍💻" and second["_snapshot_info"]["session_id"] == new_sid
    )
    assert new_sid != sid
    assert _without_new_fields(second) == _without_new_fields(first)
    # usable at once: the conversation continues and learns for the new user
    reply = await base2.send_message(new_sid, "Do you remember Miso?")
    assert reply.content
    assert len((await base2.get_conversation(new_sid)).messages) == 8  # type: ignore[union-attr]
    assert {f["key"] for f in await v11b.get_facts("李 👩‍💻")} >= {"name", "café_music"}


async def test_round_trip_twice_gives_the_same_document_and_does_not_duplicate_episodes() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "sam")
    snap = await v11.export_snapshot(sid)
    a = await v11.import_snapshot(snap, "kim")
    b = await v11.import_snapshot(snap, "kim")  # the same state again: episodes are known by id
    assert len(await v11.get_episodes("kim")) == len(snap["current_state"]["memorable_episodes"])
    again = await v11.export_snapshot(b)
    assert _without_new_fields(again) == _without_new_fields(snap)
    assert a != b


async def test_options_leave_sections_out_and_cap_messages() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "sam")
    snap = await v11.export_snapshot(
        sid,
        {
            "include_facts": False,
            "include_episodes": False,
            "include_affinity": False,
            "include_mood": False,
            "max_messages": 2,
        },
    )
    state = snap["current_state"]
    assert (state["learned_facts"], state["memorable_episodes"], state["affinity"], state["mood"]) == (
        [],
        [],
        None,
        None,
    )
    assert [m["content"] for m in snap["conversation"]["messages"]] == [  # type: ignore[typeddict-item]
        MESSAGES[2],
        (await base.get_conversation(sid)).messages[-1].content,  # type: ignore[union-attr]
    ]
    assert snap["_snapshot_info"]["total_messages"] == 6
    bare = await v11.export_snapshot(sid, {"include_conversation_history": False})
    assert bare["conversation"] is None  # type: ignore[typeddict-item]
    new = await v11.import_snapshot(bare, "pat")
    assert (await base.get_conversation(new)).messages == []  # type: ignore[union-attr]
    assert {f["key"] for f in await v11.get_facts("pat")} == {f["key"] for f in await v11.get_facts("sam")}
    with pytest.raises(Exception, match="unknown snapshot option 'include_fact'.*include_facts"):
        await v11.export_snapshot(sid, {"include_fact": True})
    with pytest.raises(Exception, match="max_messages must be an integer"):
        await v11.export_snapshot(sid, {"max_messages": -1})


async def test_anonymised_export_has_no_user_id_and_no_metadata() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "zoé.durand@example.com")
    snap = await v11.export_snapshot(sid, {"anonymize_user_data": True})
    text = json.dumps(snap, ensure_ascii=False)
    assert "zoé.durand@example.com" not in text
    assert snap["_snapshot_info"]["user_id"] == anonymous_id("zoé.durand@example.com")
    assert all(m["metadata"] == {} for m in snap["conversation"]["messages"])  # type: ignore[typeddict-item]


async def test_embeddings_travel_only_when_asked(tmp_path: Path) -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base)  # the default embedder: vectors are stored
    sid = await base.create_session("willow", user_id="sam")
    await base.send_message(sid, "My name is Sam and I have a cat named Miso.")
    stored = await base.storage.get_embeddings("sam")
    assert stored
    assert "embeddings" not in await v11.export_snapshot(sid)
    snap = await v11.export_snapshot(sid, {"include_embeddings": True})
    assert sorted(e["item_id"] for e in snap["embeddings"]) == sorted(e["item_id"] for e in stored)  # type: ignore[typeddict-item]
    await v11.import_snapshot(snap, "kim")
    moved = {e["item_id"]: e["vector"] for e in await base.storage.get_embeddings("kim")}
    assert moved == {e["item_id"]: e["vector"] for e in stored}


async def test_never_a_secret_in_an_export() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    config = ProviderConfig(
        name="offline",
        api_key="sk-verysecret123456",
        base_url="https://user:pw-secret@proxy.example/v1?key=sk-other999999&v=1",
        extra={"api_token": "tok-secret-42", "temperature": 0.3},
    )
    sid = await base.create_session("aurora", config, user_id="sam")
    await base.send_message(sid, "hello")
    snap = await v11.export_snapshot(sid)
    text = json.dumps(snap)
    for secret in ("sk-verysecret123456", "pw-secret", "sk-other999999", "tok-secret-42"):
        assert secret not in text
    provider = snap["active_configuration"]["provider"]
    assert provider["name"] == "offline" and provider["extra"] == {"temperature": 0.3}
    assert provider["base_url"] == "https://proxy.example/v1?v=1"


async def test_a_minimal_snapshot_of_another_tool_imports() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await v11.import_snapshot(minimal_snapshot("aurora"), "newcomer")
    assert (await base.session_info(sid)).personality_name == "aurora"  # type: ignore[union-attr]
    assert await v11.get_facts("newcomer") == []
    assert (await base.send_message(sid, "Hello!")).content
    seeded = minimal_snapshot("aurora")
    seeded["current_state"]["learned_facts"] = [{"category": "preferences", "key": "tea", "value": "green"}]
    seeded["current_state"]["affinity"] = {"points": 55, "level": "friend", "progression_history": []}
    seeded["current_state"]["mood"] = {
        "current": "playful",
        "intensity": 0.5,
        "started_at": None,
        "history": [],
    }
    sid2 = await v11.import_snapshot(seeded, "returning")
    assert [(f["key"], f["value"]) for f in await v11.get_facts("returning")] == [("tea", "green")]
    assert (await v11.get_affinity("returning", "aurora"))["affinity_points"] == 55
    assert (await base.storage.get_mood(sid2))["current_mood"] == "playful"  # type: ignore[index]
    unknown = minimal_snapshot("nobody_here")
    with pytest.raises(SnapshotError, match=r"_snapshot_info\.template_name.*load_personality"):
        await v11.import_snapshot(unknown, "x")


async def test_save_and_load_json_and_gzip(tmp_path: Path) -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "sam")
    snap = await v11.export_snapshot(sid)
    plain = await v11.save_snapshot(sid, tmp_path / "s.json")
    packed = await v11.save_snapshot(sid, tmp_path / "s.json.gz")
    assert packed.read_bytes()[:2] == b"\x1f\x8b" and plain.read_bytes()[:1] == b"{"
    assert "🐱" in plain.read_text(encoding="utf-8")  # readable UTF-8, not \\u escapes
    assert _without_new_fields(json.loads(gzip.decompress(packed.read_bytes()))) == _without_new_fields(
        json.loads(plain.read_bytes())
    )
    for path in (plain, packed):
        loaded = await v11.load_snapshot(path)
        assert isinstance(loaded, Snapshot)
        assert _without_new_fields(loaded) == _without_new_fields(snap)
        new = await v11.import_snapshot(loaded, "kim")
        assert (await base.session_info(new)).message_count == 6  # type: ignore[union-attr]
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SnapshotError, match="bad.json is not JSON"):
        await v11.load_snapshot(tmp_path / "bad.json")


async def test_a_snapshot_renders_as_a_summary_card() -> None:
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    sid = await _rich_session(base, v11, "<b>sam</b>")
    snap = await v11.export_snapshot(sid)
    assert isinstance(snap, Snapshot) and isinstance(snap, dict)
    card = snap._repr_html_()
    summary = snap.summary()
    assert summary["facts"] == len(snap["current_state"]["learned_facts"]) and summary["messages"] == 6
    assert "sunny_edgy" in card and "sunny_custom 70%" in card and "edgy_custom 30%" in card
    assert "&lt;b&gt;sam&lt;/b&gt;" in card and "<b>sam</b>" not in card
    assert f"{summary['level']} ({summary['affinity_points']} / 100 points)" in card
    assert repr(snap).startswith("<Snapshot 'sunny_edgy' user='<b>sam</b>'")


def test_the_facade_saves_loads_and_imports(tmp_path: Path) -> None:
    from luminora_nb.sync import Luminora

    with Luminora(log=None, learn=True, v11_options={"embedder": None}) as lum:
        sid = lum.create_session("willow", user_id="sam")
        lum.send_message(sid, "My name is Sam and I love jazz 🎷.")
        snap = lum.export_snapshot(sid)
        path = lum.save_snapshot(sid, tmp_path / "sam.json.gz")
        loaded = lum.load_snapshot(path)
        new = lum.import_snapshot(loaded, "kim")
        assert _without_new_fields(lum.export_snapshot(new)) == _without_new_fields(snap)
        assert (
            {f["key"] for f in lum.get_facts("kim")}
            == {f["key"] for f in lum.get_facts("sam")}
            == {
                "name",
                "jazz",
            }
        )


async def test_the_reference_example_runs_as_written() -> None:
    from luminoracore_sdk import LuminoraCoreClient as SeedClient
    from luminoracore_sdk.client_v1_1 import LuminoraCoreClientV11 as SeedV11
    from luminoracore_sdk.session.storage_v1_1 import InMemoryStorageV11

    base_client = SeedClient()
    await base_client.initialize()
    client_v11 = SeedV11(base_client, storage_v11=InMemoryStorageV11())
    await base_client.create_session("aurora", user_id="user123", session_id="session123")
    await base_client.send_message("session123", "My name is Diego and I love jazz.")
    # verbatim from API_REFERENCE.md "Snapshot Methods"
    snapshot = await client_v11.export_snapshot(
        session_id="session123",
        options={"include_conversation_history": True, "include_facts": True, "include_episodes": True},
    )
    new_session_id = await client_v11.import_snapshot(snapshot, user_id="user456")
    assert isinstance(new_session_id, str) and new_session_id != "session123"
    assert [f["value"] for f in await client_v11.get_facts("user456")] == [
        f["value"] for f in await client_v11.get_facts("user123")
    ]
    copied = copy.deepcopy(snapshot)
    assert copied == snapshot
    await base_client.cleanup()


async def test_a_provider_without_its_key_is_refused_before_any_write_and_can_be_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    base = LuminoraCoreClient()
    v11 = LuminoraCoreClientV11(base, embedder=None)
    snapshot = minimal_snapshot("aurora")
    snapshot["active_configuration"] = {"provider": {"name": "openai", "model": "gpt-4o-mini"}}
    snapshot["current_state"]["learned_facts"] = [{"category": "preferences", "key": "tea", "value": "green"}]
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        await v11.import_snapshot(snapshot, "u1")
    assert await base.list_sessions() == [] and await v11.get_facts("u1") == []
    sid = await v11.import_snapshot(snapshot, "u1", provider_config="offline")
    assert (await base.session_info(sid)).provider == "offline"  # type: ignore[union-attr]
    assert (await base.send_message(sid, "hi")).content
