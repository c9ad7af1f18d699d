"""Character cards: import and export (V1/V2/V3; JSON, PNG, CHARX), bad input, estimator.

PNGs we write with our own chunk writer are read back with Pillow, an independent
reader; PNGs fed to the importer are made with Pillow too.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from luminora_nb import LuminoraCoreClient
from luminora_nb.errors import PersonalityError
from luminora_nb.personality.blend import blend_personalities
from luminora_nb.personality.cards import (
    CARD_METADATA_KEY,
    estimate_profile,
    export_card,
    import_card,
    parse_examples,
    render,
)
from luminora_nb.personality.library import get_builtin

DATA = Path(__file__).parent / "data" / "cards"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def pillow_png(texts: dict[str, str] | None = None, size: tuple[int, int] = (8, 8)) -> bytes:
    """A PNG made by Pillow, with the given tEXt chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (texts or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def b64(card: Any) -> str:
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")


def pillow_card(png: bytes, key: str) -> dict[str, Any]:
    """The card in chunk ``key`` of ``png``, read by Pillow (not by our reader)."""
    image = Image.open(io.BytesIO(png))
    image.load()
    return json.loads(base64.b64decode(image.text[key]))


# -- round trips ------------------------------------------------------------------------

V2_EXPECTED_FROM_V1 = {
    "creator_notes": "",
    "system_prompt": "",
    "post_history_instructions": "",
    "alternate_greetings": [],
    "tags": [],
    "creator": "",
    "character_version": "",
    "extensions": {},
}


@pytest.mark.parametrize("container", ["json", "png"])
def test_v1_round_trip_keeps_fields_and_unknown_root_fields(container: str) -> None:
    original = load("v1_mira.json")
    first = import_card(original if container == "json" else pillow_png({"chara": b64(original)}))
    assert first.metadata[CARD_METADATA_KEY] == original
    exported = export_card(first, "v2", container=container)
    card = exported if container == "json" else pillow_card(exported, "chara")
    # V1 -> V2: every V1 field (and unknown root field) stays at the root, the fields also in data
    assert {k: card[k] for k in original} == original
    assert card["spec"] == "chara_card_v2" and card["spec_version"] == "2.0"
    v1_fields = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
    assert card["data"] == {**{k: original[k] for k in v1_fields}, **V2_EXPECTED_FROM_V1}
    second = import_card(exported)
    assert second.metadata[CARD_METADATA_KEY] == card
    assert export_card(second, "v2") == card
    assert second.definition is not None and first.definition is not None
    assert second.definition.metadata["card_spec"] == "chara_card_v2"  # it was V1 before
    assert second.definition.model_copy(update={"metadata": {}}) == first.definition.model_copy(
        update={"metadata": {}}
    )


@pytest.mark.parametrize(("fixture", "fmt"), [("v2_bastian.json", "v2"), ("v3_nyx.json", "v3")])
@pytest.mark.parametrize("container", ["json", "png"])
def test_v2_v3_round_trip_is_exact(fixture: str, fmt: str, container: str) -> None:
    original = load(fixture)
    key = "ccv3" if fmt == "v3" else "chara"
    source = original if container == "json" else pillow_png({key: b64(original)})
    first = import_card(source)
    exported = export_card(first, fmt, container=container)  # type: ignore[arg-type]
    card = exported if container == "json" else pillow_card(exported, key)
    assert card == original  # extensions and unknown fields included
    second = import_card(exported)
    assert export_card(second, fmt) == original  # type: ignore[arg-type]
    assert second.definition == first.definition and second.system_prompt == first.system_prompt


def test_png_export_embeds_into_a_given_image_and_replaces_an_old_card() -> None:
    card = load("v2_bastian.json")
    image = pillow_png({"chara": b64({"name": "Old", "description": "an older card"}), "Comment": "hi"})
    png = export_card(import_card(card), "v2", image=image)
    opened = Image.open(io.BytesIO(png))
    opened.load()
    assert opened.size == (8, 8) and opened.getpixel((3, 3)) == (200, 10, 10)
    assert opened.text["Comment"] == "hi"
    assert pillow_card(png, "chara") == card  # the old card chunk was replaced, not duplicated
    assert png.count(b"tEXtchara") == 1


def test_v3_png_prefers_ccv3_and_backfills_v2_with_the_spec_warning() -> None:
    v3 = load("v3_nyx.json")
    png = export_card(import_card(v3), "v3", container="png")
    assert pillow_card(png, "ccv3") == v3
    backfill = pillow_card(png, "chara")
    assert backfill["spec"] == "chara_card_v2"
    assert backfill["data"]["creator_notes"].startswith("This character card is Character Card V3")
    # with both chunks, ccv3 wins even when chara names another character
    both = pillow_png({"chara": b64({"name": "Decoy", "description": "x"}), "ccv3": b64(v3)})
    assert import_card(both).name == "nyx_starfall"


def test_plain_png_is_generated_when_no_image_is_given() -> None:
    png = export_card(get_builtin("aurora"), "v2", container="png")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.size == (64, 64)
    assert pillow_card(png, "chara")["data"]["name"] == "Aurora"


def test_charx_import_and_export_keep_card_and_assets() -> None:
    v3 = load("v3_nyx.json")
    v3["data"]["assets"].append(
        {"type": "emotion", "uri": "embeded://assets/emotion/images/happy.png", "name": "happy", "ext": "png"}
    )
    icon = pillow_png()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(v3))
        archive.writestr("assets/emotion/images/happy.png", icon)
    personality = import_card(buffer.getvalue())
    assert personality.metadata["card_container"] == "charx"
    charx = export_card(personality, "v3", container="charx")
    with zipfile.ZipFile(io.BytesIO(charx)) as archive:
        assert json.loads(archive.read("card.json")) == v3
        assert archive.read("assets/emotion/images/happy.png") == icon


def test_export_to_path_and_import_from_path(tmp_path: Path) -> None:
    p = import_card(DATA / "v2_bastian.json")
    target = tmp_path / "bastian.png"
    export_card(p, "v2", container="png", path=target)
    again = import_card(str(target))
    assert export_card(again, "v2") == load("v2_bastian.json")
    with (DATA / "v3_nyx.json").open("rb") as handle:
        assert import_card(handle).name == "nyx_starfall"


# -- mapping ----------------------------------------------------------------------------


def test_mapping_of_fields() -> None:
    p = import_card(DATA / "v2_bastian.json")
    d = p.definition
    assert d is not None
    assert p.name == "bastian" and p.name_override == "Bastian"
    assert d.persona.name == "Bastian" and d.persona.author == "luminora_nb tests"
    assert d.persona.version == "1.2" and d.persona.tags == ["butler", "fantasy", "formal"]
    assert d.trigger_responses.on_greeting == [
        "Good evening. I trust the journey was tolerable, User.",
        "Ah, User. You are late.",
        "The tea is ready.",
    ]
    assert [(s.input, s.output) for s in d.examples.sample_responses] == [
        ("Where is the library?", "East wing, second door. Do not touch the atlases.")
    ]
    assert (
        p.metadata["tags"] == ["butler", "fantasy", "formal"] and p.metadata["creator"] == "luminora_nb tests"
    )
    assert d.instructions is not None and "Bastian is a stern, formal royal butler" in d.instructions
    # creator_notes never reach a prompt
    assert "A test butler" not in p.system_prompt
    # {{original}} is our compiled prompt; the card's own line follows it
    assert p.system_prompt.startswith("You are Bastian.")
    assert "Write only Bastian's replies." in p.system_prompt
    # the constant lore entry is in the prompt with no conversation at all
    assert "The House of Vell fell from favour" in p.system_prompt
    assert "only complete atlas" not in p.system_prompt


def test_v3_nickname_and_cbs() -> None:
    p = import_card(DATA / "v3_nyx.json")
    assert p.name == "nyx_starfall" and p.definition is not None
    assert p.definition.trigger_responses.on_greeting == ["Psst, User! Want to hear a riddle?"]
    assert "Nyx is a playful, mischievous star spirit" in p.system_prompt


def test_parse_examples_handles_names_and_multiline() -> None:
    text = "<START>\nMira: I start.\n{{user}}: hi\n{{char}}: hello\nsecond line\n<start>\n<USER>: a\nMira: b"
    assert parse_examples(text, char="Mira", user="Sam") == [("hi", "hello\nsecond line"), ("a", "b")]


def test_render_macros_case_insensitive() -> None:
    assert (
        render("{{CHAR}} and <bot> meet {{User}} / <USER>", char="Mira", user="Sam")
        == "Mira and Mira meet Sam / Sam"
    )
    assert render("{{random:a,b,c}}", char="x") == render("{{random:a,b,c}}", char="x")
    assert render("{{comment: hidden}}ok{{hidden_key: k}}", char="x") == "ok"


# -- estimator ---------------------------------------------------------------------------


def test_estimator_is_deterministic_and_reads_the_text() -> None:
    jolly = estimate_profile("A cheerful, witty jester who loves jokes and pranks.", ["Ha! Gotcha, lol!"])
    grim = estimate_profile("A stern, serious, formal knight. Cold and blunt.", ["State your business."])
    assert jolly == estimate_profile(
        "A cheerful, witty jester who loves jokes and pranks.", ["Ha! Gotcha, lol!"]
    )
    assert jolly.parameters["humor"] > 0.6 > 0.4 > grim.parameters["humor"]
    assert grim.parameters["formality"] > jolly.parameters["formality"]
    assert grim.parameters["directness"] > 0.5 and grim.parameters["empathy"] < 0.5
    assert jolly.traits["archetype"] == "jester" and grim.traits["archetype"] == "guardian"
    assert jolly.traits["temperament"] == "cheerful"


def test_traits_and_parameters_can_be_overridden_and_travel_with_the_card() -> None:
    p = import_card(DATA / "v1_mira.json", traits={"archetype": "sage"}, parameters={"humor": 0.95})
    assert p.definition is not None
    assert p.definition.core_traits.archetype == "sage" and p.definition.advanced_parameters.humor == 0.95
    card = export_card(p, "v2")
    assert card["data"]["extensions"]["luminora_nb"] == {
        "traits": {"archetype": "sage"},
        "parameters": {"humor": 0.95},
    }
    again = import_card(card)
    assert again.definition is not None and again.definition.advanced_parameters.humor == 0.95
    with pytest.raises(PersonalityError, match="unknown parameter"):
        import_card(DATA / "v1_mira.json", parameters={"humour": 1.0})


def test_blend_of_cards_and_a_shipped_persona_exports_sources_and_weights() -> None:
    mira, bastian = import_card(DATA / "v1_mira.json"), import_card(DATA / "v2_bastian.json")
    blend = blend_personalities([mira, bastian, get_builtin("aurora")], [5, 3, 2], name="mix")
    card = export_card(blend, "v2")
    ours = card["data"]["extensions"]["luminora_nb"]
    assert sorted(ours["blend"]["sources"]) == ["aurora", "bastian", "mira"]
    assert ours["blend"]["weights"] == {"mira": 0.5, "bastian": 0.3, "aurora": 0.2}
    assert card["data"]["system_prompt"] == blend.system_prompt
    assert card["data"]["description"] == blend.description
    assert (
        "cartographer" in blend.system_prompt and "butler" in blend.system_prompt
    )  # card text is blended in
    again = import_card(card, name="mix_again")
    assert again.definition is not None and blend.definition is not None
    assert again.definition.advanced_parameters == blend.definition.advanced_parameters
    assert again.definition.core_traits == blend.definition.core_traits


# -- bad input -------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


BAD_INPUTS: dict[str, tuple[Any, str]] = {
    "png without card chunk": (pillow_png({"Comment": "just a picture"}), "no 'chara' .* or 'ccv3'"),
    "chara chunk not base64": (pillow_png({"chara": "not base64 at all!"}), "is not base64"),
    "base64 that is not JSON": (
        pillow_png({"chara": base64.b64encode(b"hello, not json").decode()}),
        "PNG chunk 'chara' .after base64. is not valid JSON",
    ),
    "JSON that is not a card": (b'{"title": "a recipe", "steps": []}', "not a character card"),
    "V2 missing data": (
        {"spec": "chara_card_v2", "spec_version": "2.0", "name": "Nodata"},
        "has no 'data' object",
    ),
    "V3 data not an object": ({"spec": "chara_card_v3", "data": "x"}, "has no 'data' object"),
    "a lorebook, not a card": ({"spec": "lorebook_v3", "data": {"entries": []}}, "not a character card"),
    "name not a string": ({"spec": "chara_card_v2", "data": {"name": 7}}, "'name' must be a non-empty"),
    "not JSON at all": (b"GIF89a....", "neither a PNG, a CHARX"),
    "charx without card.json": (_zip({"other.json": b"{}"}), "no card.json"),
    "not a zip": (b"PK\x03\x04 broken", "not a valid zip"),
    "shipped persona name": ({"name": "Aurora", "description": "an impostor"}, "shipped persona"),
    "an integer": (42, "cannot read a character card from int"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_input_is_a_clear_error_and_registers_nothing(case: str) -> None:
    source, message = BAD_INPUTS[case]
    with pytest.raises(PersonalityError, match=message):
        import_card(source)
    async with LuminoraCoreClient() as client:
        before = await client.list_personalities()
        with pytest.raises(PersonalityError, match=message):
            await client.load_card(source)
        assert await client.list_personalities() == before


def test_a_50_mb_png_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "huge.png"
    with big.open("wb") as handle:
        handle.write(pillow_png({"chara": b64(load("v1_mira.json"))}))
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper
    with pytest.raises(PersonalityError, match=r"50\.0 MB; cards up to 32 MB"):
        import_card(big)
    with pytest.raises(PersonalityError, match=r"50\.0 MB; cards up to 32 MB"):
        import_card(big.read_bytes())


def test_a_zip_bomb_charx_is_refused() -> None:
    # 65 MB of zeros compresses to about 65 KB: far below the file limit, above the 64 MB expansion one
    bomb = _zip(
        {"card.json": json.dumps(load("v3_nyx.json")).encode(), "assets/other/x.bin": bytes(65 * 2**20)}
    )
    assert len(bomb) < 1_000_000
    with pytest.raises(PersonalityError, match="zip bomb"):
        import_card(bomb)
    json_bomb = _zip({"card.json": b" " * (9 * 2**20)})  # card.json may expand to 8 MB
    with pytest.raises(PersonalityError, match="zip bomb"):
        import_card(json_bomb)


def test_a_corrupt_png_is_refused() -> None:
    png = bytearray(pillow_png({"chara": b64(load("v1_mira.json"))}))
    png[40] ^= 0xFF
    with pytest.raises(PersonalityError, match="corrupt|truncated"):
        import_card(bytes(png))
    with pytest.raises(PersonalityError, match="truncated"):
        import_card(bytes(png[:60]))


def test_export_refuses_unknown_format() -> None:
    with pytest.raises(PersonalityError, match="unknown card format 'v4'"):
        export_card(get_builtin("aurora"), "v4")  # type: ignore[arg-type]
    with pytest.raises(PersonalityError, match="unknown container"):
        export_card(get_builtin("aurora"), "v2", container="gif")  # type: ignore[arg-type]


# -- the client -------------------------------------------------------------------------


async def test_client_load_card_registers_it_and_refuses_a_taken_name() -> None:
    async with LuminoraCoreClient() as client:
        p = await client.load_card(DATA / "v2_bastian.json")
        assert "bastian" in await client.list_personalities()
        assert await client.get_personality("bastian") == p
        again = await client.load_card(DATA / "v2_bastian.json")  # identical: fine
        assert again == p
        other = copy.deepcopy(load("v2_bastian.json"))
        other["data"]["description"] = "Another Bastian entirely."
        with pytest.raises(PersonalityError, match="already loaded; pass replace=True"):
            await client.load_card(other)
        assert (await client.load_card(other, replace=True)).description == "Another Bastian entirely."
        sid = await client.create_session("bastian", {"name": "offline"})
        reply = await client.send_message(sid, "Where is the library?")
        assert reply.content
        blended = await client.blend_personalities(["bastian", "aurora"], [6, 4], "bastian_aurora")
        assert sorted(blended.metadata["blend"]["sources"]) == ["aurora", "bastian"]


def test_sync_facade_load_card(tmp_path: Path) -> None:
    from luminora_nb import Luminora

    lum = Luminora(log=None)
    try:
        p = lum.load_card(DATA / "v3_nyx.json", name="nyx")
        assert p.name == "nyx" and "nyx" in lum.list_personalities()
    finally:
        lum.close()


def test_png_asset_chunks_keep_their_path_and_a_non_json_dict_is_refused() -> None:
    png = pillow_png(
        {
            "ccv3": b64(load("v3_nyx.json")),
            "chara-ext-asset_:Assets/Icon.PNG": base64.b64encode(b"icon").decode(),
        }
    )
    p = import_card(png)
    assert base64.b64decode(p.metadata["card_assets"]["Assets/Icon.PNG"]) == b"icon"
    with pytest.raises(PersonalityError, match="not JSON at .*extensions.*set"):
        import_card({"name": "Mira", "description": "x", "extensions": {"ids": {1, 2}}})


def test_a_newer_v3_spec_version_imports_with_a_warning() -> None:
    card = load("v3_nyx.json")
    card["spec_version"] = "3.1"
    card["data"]["x_new_in_3_1"] = {"kept": True}
    with pytest.warns(UserWarning, match="spec_version 3.1, newer than the 3.0"):
        p = import_card(card)
    assert export_card(p, "v3") == card


def test_every_public_name_of_the_package_resolves() -> None:
    import luminora_nb.personality.cards as cards

    assert sorted(cards.__all__) == sorted({"CARD_METADATA_KEY", *cards._LAZY})
    for name in cards.__all__:
        assert getattr(cards, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = cards.nope


@pytest.mark.parametrize("container", ["png", "charx"])
def test_damaged_files_fail_only_with_personality_error(container: str) -> None:
    import random

    blob = export_card(import_card(DATA / "v3_nyx.json"), "v3", container=container)  # type: ignore[arg-type]
    rng = random.Random(3)  # seeded: the same damage on every run
    outcomes = {"imported": 0, "refused": 0}
    for _ in range(400):
        damaged = bytearray(blob)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.2:
            damaged = damaged[: rng.randrange(len(damaged))]
        try:
            import_card(bytes(damaged))
            outcomes["imported"] += 1
        except PersonalityError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 400


def test_deeply_nested_card_json_is_refused() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    card = {"name": "Deep", "description": "x", "extensions": deep}
    with pytest.raises(PersonalityError, match="nests deeper than 64 levels"):
        import_card(card)
    with pytest.raises(PersonalityError, match="nests deeper than 64 levels"):
        import_card(json.dumps(card).encode())
    with pytest.raises(PersonalityError, match="nests deeper than 64 levels"):
        import_card(b'{"name": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_a_chunk_holding_json_null_is_not_a_card() -> None:
    with pytest.raises(PersonalityError, match="expected a JSON object, got NoneType"):
        import_card(pillow_png({"chara": base64.b64encode(b"null").decode()}))
