"""Offline simulator, wording tables: JSON data inside the package, validated on load."""

from __future__ import annotations

import json
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import luminora_nb
from luminora_nb.personality.library import builtin_names
from luminora_nb.providers.offline.wording import WORDING, WORDING_DIR, in_register, load_wording

FILES = ("register", "replies", "style", "closers", "elaborations")
PLACEHOLDERS = {"topic", "name", "obj", "what", "feeling", "fact", "forbidden", "description"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | frozenset):
        for item in value:
            yield from _strings(item)


def test_the_tables_live_next_to_the_personas_inside_the_package() -> None:
    assert WORDING_DIR.is_relative_to(Path(luminora_nb.__file__).parent)
    assert WORDING_DIR.parent.name == "personality"
    assert sorted(path.stem for path in WORDING_DIR.glob("*.json")) == sorted(FILES)
    assert not set(FILES) & set(builtin_names())  # not mistaken for personas


def test_templates_use_only_the_known_placeholders() -> None:
    for name in FILES:
        data = json.loads((WORDING_DIR / f"{name}.json").read_text(encoding="utf-8"))
        data.pop("description")
        for template in _strings(data):
            fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
            assert fields <= PLACEHOLDERS, (name, template)


def test_loading_again_gives_equal_tables() -> None:
    assert load_wording() == WORDING


def _broken_copy(tmp_path: Path, name: str, edit: Any) -> Path:
    shutil.copytree(WORDING_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("replies", lambda data: data["core"].pop("refuse"), r"missing \['refuse'\]"),
        ("closers", lambda data: data["chatting"].update(shouty=["HEY"]), r"unknown \['shouty'\]"),
        ("style", lambda data: data.update(humour=[]), "humour"),
        ("elaborations", lambda data: data["family_of_intent"].update(greeting="nope"), "nope"),
        ("register", lambda data: data["light_contractions"].append("we are not"), "we are not"),
        ("register", lambda data: data.update(extra_table={}), "extra_table"),
    ],
)
def test_a_broken_table_fails_on_load(tmp_path: Path, name: str, edit: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_wording(_broken_copy(tmp_path, name, edit))


def test_register_contracts_our_templates() -> None:
    template = "It is what it is; I am sure that is fine, and we will not stop."
    assert in_register(template, "formal") == template
    assert in_register(template, "neutral") == "It's what it's; I'm sure that's fine, and we will not stop."
    assert in_register(template, "casual") == "It's what it's; I'm sure that's fine, and we'll not stop."
    assert in_register("You are welcome. Do not worry.", "casual") == "You're welcome. Don't worry."
