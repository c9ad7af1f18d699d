"""BlendStudio takes Character Cards: add_card and the FileUpload that feeds it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from luminora_nb import Luminora
from luminora_nb.widgets import BlendStudio

DATA = Path(__file__).parent / "data" / "cards"


def test_add_card_gives_a_slider_and_updates_the_preview() -> None:
    with Luminora(log=None) as lum:
        studio = BlendStudio(lum, ["aurora"], name="mix")
        before = dict(studio.preview["params"])
        card = studio.add_card(DATA / "v2_bastian.json", weight=50)
        assert card is not None and card.name == "bastian"
        assert [p["name"] for p in studio.personas] == ["aurora", "bastian"]
        assert studio.normalised_weights == {"aurora": 0.5, "bastian": 0.5}
        assert studio.preview["params"] != before and "bastian" in studio.preview["sources"]
        assert "bastian" in lum.list_personalities()
        # the same card again adds no second slider
        studio.add_card(DATA / "v2_bastian.json")
        assert [p["name"] for p in studio.personas] == ["aurora", "bastian"]


def test_a_bad_card_shows_its_error_in_place() -> None:
    with Luminora(log=None) as lum:
        studio = BlendStudio(lum, ["aurora"])
        params = dict(studio.preview["params"])
        assert studio.add_card(b'{"title": "not a card"}') is None
        assert "not a character card" in studio.error
        assert [p["name"] for p in studio.personas] == ["aurora"] and studio.preview["params"] == params


def test_files_dropped_on_the_upload_become_sliders() -> None:
    with Luminora(log=None) as lum:
        studio = BlendStudio(lum, ["aurora"])
        upload = studio.card_upload()
        files = [
            {
                "name": name,
                "type": "application/json",
                "size": (DATA / name).stat().st_size,
                "content": memoryview((DATA / name).read_bytes()),
                "last_modified": datetime(2026, 11, 30, tzinfo=UTC),
            }
            for name in ("v1_mira.json", "v3_nyx.json")
        ]
        upload.value = tuple(files)
        assert [p["name"] for p in studio.personas] == ["aurora", "mira", "nyx_starfall"]
        assert upload.value == ()
        assert '["aurora", "mira", "nyx_starfall"]' in studio.code_text
