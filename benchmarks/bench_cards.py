"""Character cards benchmark: importing PNG cards, compiling a card with a large lorebook.

Run: ``.venv/bin/python benchmarks/bench_cards.py``

Prints each figure next to its target and the ratio figure/target (<= 1.0 meets it),
and next to baselines measured in the same process, because these machines are noisy:

* importing 1,000 V2 PNG cards (target <= 2 s) beside reading the same 1,000 cards'
  JSON out of the PNGs with Pillow (the least any importer must do) and beside
  loading the same number of shipped-persona definitions with ``parse_personality``;
* compiling a card with a 500-entry lorebook against a 50-message history (target
  <= 5 ms) beside our plain ``compile_prompt`` of its definition, and beside the same
  lorebook matched entry by entry (each key searched separately), which the one-pass
  trie regex replaces.
"""

from __future__ import annotations

import base64
import io
import json

from _harness import median_s, target_row
from PIL import Image

from luminora_nb.personality.cards import export_card, import_card
from luminora_nb.personality.cards.prompt import card_turn_prompt
from luminora_nb.personality.compile import compile_prompt
from luminora_nb.personality.library import get_builtin
from luminora_nb.personality.validate import parse_personality

CARDS = 1000


def v2_card(i: int) -> dict[str, object]:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": f"Card {i}",
            "description": f"{{{{char}}}} number {i} is a cheerful, witty cartographer who maps floating "
            "islands and loves long conversations about the sky. " * 3,
            "personality": "cheerful, curious, kind, talkative",
            "scenario": "{{user}} visits the workshop.",
            "first_mes": f"Hello {{{{user}}}}, welcome to workshop {i}!",
            "mes_example": "<START>\n{{user}}: What are you drawing?\n{{char}}: The eastern isles!",
            "creator_notes": "benchmark card",
            "system_prompt": "{{original}}",
            "post_history_instructions": "Stay in character.",
            "alternate_greetings": ["Oh, hi!", "Back again?"],
            "character_book": {
                "extensions": {},
                "entries": [
                    {
                        "keys": [f"isle{j}"],
                        "content": f"Isle {j} drifts east.",
                        "extensions": {},
                        "enabled": True,
                        "insertion_order": j,
                    }
                    for j in range(10)
                ],
            },
            "tags": ["bench", "fantasy"],
            "creator": "bench",
            "character_version": "1.0",
            "extensions": {"bench/index": i},
        },
    }


def lorebook_card() -> dict[str, object]:
    card = v2_card(0)
    data = card["data"]
    assert isinstance(data, dict)
    data["character_book"] = {
        "scan_depth": 50,
        "token_budget": 2000,
        "extensions": {},
        "entries": [
            {
                "keys": [f"keyword{j}", f"place {j}", f"Person{j}"],
                "secondary_keys": [f"detail{j}"],
                "selective": j % 5 == 0,
                "case_sensitive": j % 7 == 0,
                "content": f"Lore entry {j}: facts about keyword {j} and its history. " * 2,
                "extensions": {},
                "enabled": True,
                "insertion_order": j,
                "priority": j % 10,
                "constant": j % 100 == 0,
            }
            for j in range(500)
        ],
    }
    return card


def main() -> None:
    pngs = [export_card(import_card(v2_card(i)), "v2", container="png") for i in range(CARDS)]
    shipped = get_builtin("aurora").definition
    assert shipped is not None
    shipped_raw = shipped.model_dump(mode="json")

    def pillow_read() -> None:
        for png in pngs:
            json.loads(base64.b64decode(Image.open(io.BytesIO(png)).text["chara"]))

    def import_all() -> None:
        for png in pngs:
            import_card(png)

    def load_shipped() -> None:
        for i in range(CARDS):
            parse_personality(f"p{i}", shipped_raw)

    import_s = median_s(import_all, 3)
    pillow_s = median_s(pillow_read, 3)
    shipped_s = median_s(load_shipped, 3)

    personality = import_card(lorebook_card())
    history = [
        f"Message {i}: we talked about keyword{i * 9} near place {i * 4} with person{i} and detail{i * 9}."
        for i in range(49)
    ]
    user = "What about keyword7 and Person14?"
    definition = personality.definition
    assert definition is not None

    def compile_card() -> None:
        card_turn_prompt(personality, history=history, user_message=user, provider="openai")

    compile_s = median_s(compile_card, 200)
    plain_s = median_s(lambda: compile_prompt(definition), 200)
    entries = lorebook_card()["data"]["character_book"]["entries"]  # type: ignore[index]
    text = "\n".join([*history, user])

    def entry_by_entry() -> None:
        lowered = text.lower()
        for entry in entries:
            keys = entry["keys"] if entry["case_sensitive"] else [k.lower() for k in entry["keys"]]
            haystack = text if entry["case_sensitive"] else lowered
            any(k in haystack for k in keys)

    naive_s = median_s(entry_by_entry, 200)
    system, _ = card_turn_prompt(personality, history=history, user_message=user, provider="openai")

    print(
        f"baselines: Pillow reads {CARDS} card chunks + json in {pillow_s:.3f} s; parse_personality of "
        f"{CARDS} shipped definitions {shipped_s:.3f} s; plain compile_prompt {plain_s * 1000:.3f} ms; "
        f"500 entries matched one by one {naive_s * 1000:.3f} ms"
    )
    target_row(f"import {CARDS} V2 PNG cards (median of 3)", import_s, "s", 2.0)
    target_row("compile card, 500-entry lorebook, 50 messages", compile_s * 1000, "ms", 5.0)
    print(
        f"import = {import_s / pillow_s:.1f}x Pillow's chunk read, {import_s / shipped_s:.2f}x loading "
        f"shipped definitions; card compile = {compile_s / plain_s:.1f}x plain compile_prompt "
        f"({len(system):,} characters of prompt)"
    )


if __name__ == "__main__":
    main()
