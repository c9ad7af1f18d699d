"""Card prompts: the lorebook rules, {{original}}, macros, post-history placement in turns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.personality.cards import (
    Lorebook,
    approx_tokens,
    card_turn_prompt,
    compile_card_prompt,
    import_card,
)
from luminora_nb.personality.cards import prompt as card_prompt
from luminora_nb.providers import ChatRequest, Provider, register_provider
from luminora_nb.types import ChatResponse

DATA = Path(__file__).parent / "data" / "cards"


def entry(keys: list[str], content: str, **extra: Any) -> dict[str, Any]:
    return {
        "keys": keys,
        "content": content,
        "extensions": {},
        "enabled": True,
        "insertion_order": 0,
        **extra,
    }


def active(book: dict[str, Any], messages: list[str]) -> list[str]:
    return [e.content for e in Lorebook(book).activate(messages)]


# -- lorebook -------------------------------------------------------------------------


def test_entry_is_inserted_only_when_its_key_is_within_scan_depth() -> None:
    book = {"scan_depth": 2, "entries": [entry(["dragon"], "Dragons sleep in the north.")]}
    assert active(book, ["I saw a dragon", "really?", "yes"]) == []  # three messages back: out of reach
    assert active(book, ["I saw a dragon", "really?"]) == ["Dragons sleep in the north."]
    assert active(book, ["hello", "the DRAGON again"]) == ["Dragons sleep in the north."]
    assert active({**book, "scan_depth": 3}, ["I saw a dragon", "really?", "yes"]) == [
        "Dragons sleep in the north."
    ]
    assert active({**book, "scan_depth": 0}, ["dragon"]) == []


def test_default_scan_depth_is_two_messages() -> None:
    book = {"entries": [entry(["dragon"], "D")]}
    assert active(book, ["dragon", "a", "b"]) == []
    assert active(book, ["dragon", "a"]) == ["D"]


def test_token_budget_caps_what_is_inserted_by_priority() -> None:
    text = "x" * 40  # 10 tokens each
    entries = [
        entry(["k"], "low " + text, priority=1, insertion_order=1),
        entry(["k"], "high " + text, priority=9, insertion_order=3),
        entry(["k"], "mid " + text, priority=5, insertion_order=2),
    ]
    assert approx_tokens("high " + text) == 12
    assert [c.split()[0] for c in active({"token_budget": 25, "entries": entries}, ["k"])] == ["mid", "high"]
    assert [c.split()[0] for c in active({"token_budget": 12, "entries": entries}, ["k"])] == ["high"]
    assert [c.split()[0] for c in active({"entries": entries}, ["k"])] == ["low", "mid", "high"]  # no budget
    # without priority, the highest insertion_order is kept first
    plain = [{k: v for k, v in e.items() if k != "priority"} for e in entries]
    assert [c.split()[0] for c in active({"token_budget": 12, "entries": plain}, ["k"])] == ["high"]


def test_constant_entries_always_and_first_within_budget() -> None:
    entries = [
        entry([], "Always here.", constant=True, insertion_order=5),
        entry(["k"], "y" * 40, priority=100),
    ]
    assert active({"entries": entries}, []) == ["Always here."]
    assert active({"entries": entries}, ["nothing relevant"]) == ["Always here."]
    assert active({"token_budget": 5, "entries": entries}, ["k"]) == ["Always here."]


def test_disabled_and_empty_entries_never_activate() -> None:
    entries = [
        entry(["k"], "off", enabled=False),
        entry(["k"], "   "),
        entry(["k"], "on", constant=True, enabled=False),
    ]
    assert active({"entries": entries}, ["k"]) == []


def test_case_sensitivity() -> None:
    entries = [entry(["Rose"], "the person", case_sensitive=True), entry(["tulip"], "the flower")]
    assert active({"entries": entries}, ["a rose and a TULIP"]) == ["the flower"]
    assert active({"entries": entries}, ["Rose and tulip"]) == ["the person", "the flower"]


def test_selective_entries_need_a_secondary_key() -> None:
    e = entry(["sword"], "The sword is cursed.", selective=True, secondary_keys=["curse", "hex"])
    assert active({"entries": [e]}, ["a sword"]) == []
    assert active({"entries": [e]}, ["a sword with a HEX"]) == ["The sword is cursed."]
    # secondary keys are ignored when selective is false
    assert active({"entries": [{**e, "selective": False}]}, ["a sword"]) == ["The sword is cursed."]


def test_insertion_order_and_position() -> None:
    entries = [
        entry(["a"], "third", insertion_order=30),
        entry(["a"], "first", insertion_order=10),
        entry(["a"], "second", insertion_order=20, position="after_char"),
    ]
    assert active({"entries": entries}, ["a"]) == ["first", "second", "third"]
    data = {"name": "Mira", "description": "A mapmaker.", "character_book": {"entries": entries}}
    from luminora_nb.personality.cards.convert import _definition

    system, _ = compile_card_prompt(data, _definition(data, "chara_card_v1", None, None), messages=["a"])
    assert (
        system.index("first")
        < system.index("third")
        < system.index("Description: A mapmaker.")
        < system.index("second")
    )


def test_overlapping_and_prefix_keys_are_all_found_in_one_pass() -> None:
    entries = [
        entry(["dragon"], "D"),
        entry(["dragon queen"], "Q"),
        entry(["the dragon"], "T"),
        entry(["queen"], "R"),
    ]
    assert active({"entries": entries}, ["all hail the dragon queen"]) == ["D", "Q", "T", "R"]


def test_regex_keys_and_invalid_patterns() -> None:
    entries = [
        entry([r"\bri+ddle\b"], "riddles", use_regex=True),
        entry(["(unclosed"], "never", use_regex=True),
        entry([r"nope"], "constant ignored with regex", use_regex=True, constant=True),
    ]
    assert active({"entries": entries}, ["tell me a RIIDDLE"]) == ["riddles"]
    assert active({"entries": entries}, ["(unclosed"]) == []


def test_v3_decorators_are_stripped_and_honoured() -> None:
    entries = [
        entry(["wish"], "@@scan_depth 5\nWishes twist."),
        entry(["x"], "@@activate\nAlways."),
        entry(["moon"], "@@dont_activate\nNever."),
        entry(["star"], "@@unknown_thing 3\n@@@additional_keys bright\nBright star."),
        entry(["sun"], "@@exclude_keys night\nSunny."),
    ]
    msgs = ["a wish", "b", "c", "d", "moon star sun night"]
    assert active({"entries": entries}, msgs) == ["Wishes twist.", "Always."]
    assert active({"entries": entries}, ["bright star, sun"]) == ["Always.", "Bright star.", "Sunny."]


def test_recursive_scanning() -> None:
    entries = [entry(["castle"], "The castle has a dragon."), entry(["dragon"], "The dragon is old.")]
    assert active({"entries": entries}, ["the castle"]) == ["The castle has a dragon."]
    both = active({"recursive_scanning": True, "entries": entries}, ["the castle"])
    assert both == ["The castle has a dragon.", "The dragon is old."]


def test_a_large_lorebook_matches_the_same_as_entry_by_entry() -> None:
    entries = [entry([f"word{i}x", f"alias {i}"], f"entry {i}", insertion_order=i) for i in range(500)]
    messages = [f"message mentions word{i * 7}x and alias {i * 3}." for i in range(50)]
    book = {"scan_depth": 50, "entries": entries}
    text = "\n".join(messages).lower()
    expected = [f"entry {i}" for i in range(500) if f"word{i}x" in text or f"alias {i}" in text]
    assert active(book, messages) == expected and len(expected) > 50


# -- prompt ------------------------------------------------------------------------


def test_original_and_macros_and_post_history() -> None:
    p = import_card(DATA / "v2_bastian.json")
    system, after = card_turn_prompt(
        p, history=["Where is the library?"], user_message="Thanks.", provider="openai", user_name="Sam"
    )
    assert system.startswith("You are Bastian.")  # {{original}}: our compiled prompt
    assert "Write only Bastian's replies." in system
    assert "Sam is a new guest at Vell Manor." in system and "{{user}}" not in system
    assert "only complete atlas" in system  # "library" within scan_depth 3
    assert [(m.role, m.content) for m in after] == [
        ("system", "Stay in character as Bastian and address Sam formally.")
    ]
    system, after = card_turn_prompt(p, history=[], user_message="Hi", provider="anthropic")
    assert after == []
    assert system.endswith("Stay in character as Bastian and address User formally.")


def test_empty_system_prompt_falls_back_to_ours() -> None:
    p = import_card(DATA / "v3_nyx.json")
    system, after = card_turn_prompt(p, history=[], user_message="a riddle please", provider="openai")
    assert system.startswith("You are Nyx.") and after == []
    assert "Nyx knows a thousand riddles." not in system  # ^ anchors the regex at the text start
    system, _ = card_turn_prompt(p, history=[], user_message="riddle me", provider="openai")
    assert "Nyx knows a thousand riddles." in system


# -- turns -----------------------------------------------------------------------------

SEEN: list[ChatRequest] = []


class CardRecorder(Provider):
    name = "card_recorder"
    default_model = "echo-1"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        SEEN.append(request)
        return ChatResponse(content="Indeed.", finish_reason="stop", model=self.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        SEEN.append(request)
        yield ChatResponse(content="Indeed.", finish_reason="stop", model=self.model)


register_provider("card_recorder", CardRecorder, replace=True)


@pytest.mark.parametrize("placement", ["message", "system"])
async def test_turns_place_post_history_instructions(placement: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(card_prompt.POST_HISTORY_PLACEMENT, "card_recorder", placement)
    SEEN.clear()
    async with LuminoraCoreClient() as client:
        await client.load_card(DATA / "v2_bastian.json")
        sid = await client.create_session("bastian", {"name": "card_recorder"})
        await client.send_message(sid, "Show me the library.")
        await client.send_message(sid, "And the cellar?")
        first, second = SEEN
        assert "only complete atlas" in first.system  # type: ignore[operator]
        if placement == "message":
            assert [m.role for m in second.messages] == ["user", "assistant", "user", "system"]
            assert second.messages[-1].content.startswith("Stay in character as Bastian")
        else:
            assert [m.role for m in second.messages] == ["user", "assistant", "user"]
            assert second.system is not None and second.system.endswith("address User formally.")
        conversation = await client.get_conversation(sid)
        assert conversation is not None
        assert [m.role.value for m in conversation.messages] == ["user", "assistant"] * 2
        # the library entry is still within scan_depth 3 on the second turn
        assert "only complete atlas" in second.system  # type: ignore[operator]
        await client.send_message(sid, "Fine.")
        await client.send_message(sid, "Goodnight.")
        assert "only complete atlas" not in SEEN[-1].system  # type: ignore[operator]


async def test_a_stored_card_session_resumes_with_its_card_prompt(tmp_path: Path) -> None:
    from luminora_nb.types.session import StorageConfig

    config = StorageConfig(storage_type="file", connection_string=str(tmp_path))
    SEEN.clear()
    async with LuminoraCoreClient(config) as first:
        await first.load_card(DATA / "v2_bastian.json")
        sid = await first.create_session("bastian", {"name": "card_recorder"})
        await first.send_message(sid, "Hello.")
    async with LuminoraCoreClient(config) as second:  # another process: nothing loaded here
        await second.resume_session(sid)
        await second.send_message(sid, "Is there an atlas?")
    assert "only complete atlas" not in SEEN[0].system  # type: ignore[operator]
    assert "only complete atlas" in SEEN[1].system  # type: ignore[operator]
    assert SEEN[1].system.endswith("address User formally.")  # type: ignore[union-attr]


def test_a_negative_scan_depth_scans_nothing() -> None:
    assert active({"scan_depth": -3, "entries": [entry(["k"], "K")]}, ["k", "x", "y"]) == []


def test_user_name_falls_back_to_user_when_not_a_name() -> None:
    p = import_card(DATA / "v2_bastian.json")
    for odd in (None, "", "   ", 42):
        system, _ = card_turn_prompt(p, history=[], user_message="hi", provider="offline", user_name=odd)
        assert "User is a new guest at Vell Manor." in system
