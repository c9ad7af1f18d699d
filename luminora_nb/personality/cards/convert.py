"""Cards to :class:`PersonalityData` and back (the mapping is in the package docstring).

Example:
    >>> p = import_card({"name": "Mira", "description": "A cheerful cartographer.", "first_mes": "Hi!"})
    >>> p.name, p.definition.trigger_responses.on_greeting
    ('mira', ['Hi!'])
    >>> export_card(p)["data"]["first_mes"]
    'Hi!'
"""

from __future__ import annotations

import base64
import copy
import json
import re
import warnings
import zlib
from collections.abc import Mapping
from itertools import pairwise
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from ...errors import PersonalityError
from ...types.persona import PARAMETER_NAMES, PersonaDefinition
from ...types.personality import PersonalityData
from ..compile import compile_prompt
from ..library import builtin_names
from ..validate import check_name, definition_for, validate_definition
from .containers import plain_png, write_charx, write_text_chunks
from .estimate import estimate_profile
from .macros import DEFAULT_USER_NAME, render
from .prompt import CARD_METADATA_KEY, char_name, compile_card_prompt
from .reader import V1_FIELDS, CardSource, RawCard, card_fields, read_card

__all__ = ["CardFormat", "export_card", "import_card", "parse_examples", "slug"]

CardFormat = Literal["v2", "v3"]
#: Assets (the PNG image, CHARX files) kept with a personality, at most this many bytes.
MAX_KEPT_ASSET_BYTES = 4 * 1024 * 1024
_EXTENSION_KEY = "luminora_nb"
_SPEAKER = re.compile(r"^\s*(\{\{\s*user\s*\}\}|<user>|\{\{\s*char\s*\}\}|<bot>|<char>)\s*:\s?(.*)$", re.I)
_START = re.compile(r"^\s*<start>\s*$", re.I | re.M)
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.]+)?$")
_V3_WARNING = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. Please use a "
    "Character Card V3 compatible application to use this character card properly."
)


def slug(name: str) -> str:
    """The registry name of a card: lower case, runs of other characters as ``_``.

    Example:
        >>> slug("Captain  Mira-Vale!")
        'captain_mira_vale'
    """
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_")[:100] or "card"


def parse_examples(mes_example: str, *, char: str, user: str = DEFAULT_USER_NAME) -> list[tuple[str, str]]:
    """``(user line, character reply)`` pairs of a ``mes_example``, macros rendered.

    Blocks start at ``<START>``; a line opening with ``{{user}}:`` / ``<USER>:`` or
    ``{{char}}:`` / ``<BOT>:`` (or the character's name) starts a message, other lines
    continue the one before. A user message followed by a character message is a pair.

    Example:
        >>> parse_examples("<START>\\n{{user}}: hi\\n{{char}}: hello\\nthere", char="Mira")
        [('hi', 'hello\\nthere')]
    """
    pairs: list[tuple[str, str]] = []
    name_prefix = re.compile(rf"^\s*{re.escape(char)}\s*:\s?(.*)$") if char else None
    for block in _START.split(mes_example):
        turns: list[tuple[str, list[str]]] = []
        for line in block.split("\n"):
            match = _SPEAKER.match(line)
            if match:
                who = "user" if "user" in match.group(1).lower() else "char"
                turns.append((who, [match.group(2)]))
            elif name_prefix is not None and (named := name_prefix.match(line)):
                turns.append(("char", [named.group(1)]))
            elif turns:
                turns[-1][1].append(line)
        texts = [(who, render("\n".join(lines).strip(), char=char, user=user)) for who, lines in turns]
        for (who, text), (next_who, reply) in pairwise(texts):
            if who == "user" and next_who == "char" and text and reply:
                pairs.append((text, reply))
    return pairs


def _summary(text: str, limit: int = 2000) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 2 else cut[: cut.rfind(" ")].rstrip(",;:") + "..."


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _definition(
    data: Mapping[str, Any],
    spec: str,
    traits: Mapping[str, str] | None,
    parameters: Mapping[str, float] | None,
) -> PersonaDefinition:
    char = char_name(data)

    def r(key: str) -> str:
        return render(_text(data, key), char=char).strip()

    ours = (
        data.get("extensions", {}).get(_EXTENSION_KEY)
        if isinstance(data.get("extensions"), Mapping)
        else None
    )
    if isinstance(ours, Mapping) and isinstance(ours.get("definition"), Mapping):
        # A card we exported: its definition comes back exactly.
        base = dict(ours["definition"])
        if traits:
            base["core_traits"] = {**base.get("core_traits", {}), **traits}
        if parameters:
            base["advanced_parameters"] = {**base.get("advanced_parameters", {}), **parameters}
        return validate_definition(base, source=char)
    greetings = [
        g
        for g in (
            r("first_mes"),
            *(render(g, char=char).strip() for g in _strings(data, "alternate_greetings")),
        )
        if g
    ]
    pairs = parse_examples(_text(data, "mes_example"), char=char)
    prose = "\n".join(r(k) for k in ("description", "personality", "scenario"))
    estimate = estimate_profile(prose, [*greetings, *(reply for _, reply in pairs)])
    if isinstance(ours, Mapping):  # overrides recorded by an earlier import
        traits = {**(ours.get("traits") or {}), **(traits or {})}
        parameters = {**(ours.get("parameters") or {}), **(parameters or {})}
    unknown = sorted(set(parameters or {}) - set(PARAMETER_NAMES))
    if unknown:
        raise PersonalityError(f"unknown parameter(s) {unknown}; the six are {', '.join(PARAMETER_NAMES)}")
    sheet = [
        f"{label}: {r(key)}"
        for label, key in (
            ("Description", "description"),
            ("Personality", "personality"),
            ("Scenario", "scenario"),
        )
        if r(key)
    ]
    version = _text(data, "character_version").strip()
    tags = [t.strip()[:60] for t in _strings(data, "tags") if t.strip()][:30]
    raw = {
        "persona": {
            "name": char[:100],
            "version": version if _VERSION.match(version) else "1.0.0",
            "description": _summary(r("description") or r("personality") or r("scenario"))
            or f"{char}, a character imported from a character card.",
            "author": _text(data, "creator").strip() or "unknown",
            "tags": tags,
        },
        "core_traits": {**estimate.traits, **(traits or {})},
        "linguistic_profile": {
            "tone": estimate.tone,
            "syntax": estimate.syntax,
            "punctuation_style": estimate.punctuation_style,
        },
        "behavioral_rules": [f"Stay in character as {char}."],
        "trigger_responses": {"on_greeting": greetings},
        "advanced_parameters": {**estimate.parameters, **(parameters or {})},
        "examples": {"sample_responses": [{"input": q, "output": a} for q, a in pairs]},
        "metadata": {"source": "character_card", "card_spec": spec},
        "instructions": "\n".join(sheet) or None,
    }
    return validate_definition(raw, source=char)


def import_card(
    source: CardSource | Any,
    *,
    name: str | None = None,
    traits: Mapping[str, str] | None = None,
    parameters: Mapping[str, float] | None = None,
) -> PersonalityData:
    """A :class:`PersonalityData` from a Character Card (V1, V2 or V3; JSON, PNG or CHARX).

    Args:
        source: A path (``str`` or ``Path``) to a ``.json``, ``.png`` or ``.charx`` file,
            their bytes, a binary file object, JSON text, or the card as a dict.
        name: The registry name; the card's name in lower case (``slug``) by default.
        traits: Overrides of the estimated ``core_traits`` (``{"archetype": "sage"}``).
        parameters: Overrides of the estimated six parameters (``{"humor": 0.9}``).

    Raises:
        PersonalityError: unreadable or oversized input, no card in it, a malformed card,
            or a name that would take a shipped persona's.

    Example:
        >>> card = {"spec": "chara_card_v2", "data": {"name": "Mira", "description": "A witty bard."}}
        >>> p = import_card(card, parameters={"humor": 0.9})
        >>> p.definition.advanced_parameters.humor, p.metadata["card_spec"]
        (0.9, 'chara_card_v2')
    """
    raw = read_card(source)
    return _personality(raw, name=name, traits=traits, parameters=parameters)


def _personality(
    raw: RawCard,
    *,
    name: str | None,
    traits: Mapping[str, str] | None,
    parameters: Mapping[str, float] | None,
) -> PersonalityData:
    data = card_fields(raw.card, raw.spec)
    registry = check_name(name) if name is not None else slug(_text(data, "name"))
    if registry in builtin_names():
        raise PersonalityError(
            f"the card {_text(data, 'name')!r} would be registered as {registry!r}, the name of a shipped "
            f"persona; pass name='{registry}_card' (or another name) to import it"
        )
    _warn_if_newer(raw.card, raw.spec)
    definition = _definition(data, raw.spec, traits, parameters)
    system, _ = compile_card_prompt(data, definition)
    metadata: dict[str, Any] = {
        "source": "character_card",
        "card_spec": raw.spec,
        "card_container": raw.container,
        "tags": _strings(data, "tags"),
        "creator": _text(data, "creator"),
        "character_version": _text(data, "character_version"),
        CARD_METADATA_KEY: raw.card,  # parsed here, or deep-copied from the caller's dict
    }
    if traits or parameters:
        metadata["card_overrides"] = {"traits": dict(traits or {}), "parameters": dict(parameters or {})}
    kept = _kept_assets(raw)
    if kept:
        metadata["card_assets"] = kept
    return PersonalityData(
        name=registry,
        name_override=_text(data, "name").strip(),
        description=definition.persona.description,
        system_prompt=system,
        metadata=metadata,
        definition=definition,
    )


def _warn_if_newer(card: Mapping[str, Any], spec: str) -> None:
    # V3: a newer spec_version is imported, with a word to the user that its new features
    # are not used (they are kept and exported all the same).
    if spec != "chara_card_v3":
        return
    try:
        version = float(card.get("spec_version", "3.0"))
    except (TypeError, ValueError):
        return
    if version > 3.0:
        warnings.warn(
            f"the card {card['data'].get('name')!r} follows Character Card spec_version {version}, newer "
            "than the 3.0 we implement; its new fields are kept and exported but not used",
            stacklevel=4,
        )


def _kept_assets(raw: RawCard) -> dict[str, str]:
    files = dict(raw.assets)
    if raw.image is not None:
        files["ccdefault:"] = raw.image
    size = sum(len(b) for b in files.values())
    if size > MAX_KEPT_ASSET_BYTES:
        warnings.warn(
            f"the card's image and assets ({size / 2**20:.1f} MB) are not kept (at most "
            f"{MAX_KEPT_ASSET_BYTES // 2**20} MB are); pass image= to export_card to embed an image again",
            stacklevel=3,
        )
        return {}
    return {path: base64.b64encode(body).decode("ascii") for path, body in files.items()}


# -- export ------------------------------------------------------------------------------


def _v2_data(fields: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {key: _text(fields, key) for key in V1_FIELDS}
    defaults: dict[str, Any] = {
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {},
    }
    return {**data, **defaults}


def _convert(original: Mapping[str, Any], spec: str, target: str) -> dict[str, Any]:
    card: dict[str, Any] = copy.deepcopy(dict(original))
    if spec == "chara_card_v1":
        # ST-style: the V1 fields (and any unknown root fields) stay at the root too
        card = {**card, "spec": "chara_card_v2", "spec_version": "2.0", "data": _v2_data(card)}
        spec = "chara_card_v2"
    if spec == target:
        return card
    data = dict(card["data"])
    if target == "chara_card_v3":
        data.setdefault("group_only_greetings", [])
        return {**card, "spec": "chara_card_v3", "spec_version": "3.0", "data": data}
    return {**card, "spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _synthesised(personality: PersonalityData, target: str) -> dict[str, Any]:
    definition = definition_for(personality)
    info, traits = definition.persona, definition.core_traits
    greetings = list(definition.trigger_responses.on_greeting)
    examples = "\n".join(
        f"<START>\n{{{{user}}}}: {s.input}\n{{{{char}}}}: {s.output}"
        for s in definition.examples.sample_responses
    )
    ours: dict[str, Any] = {"definition": definition.model_dump(mode="json")}
    blend = personality.metadata.get("blend") if personality.metadata else None
    if isinstance(blend, Mapping):
        ours["blend"] = {k: blend.get(k) for k in ("sources", "weights", "blend_type")}
    data: dict[str, Any] = {
        "name": personality.name_override or info.name,
        "description": personality.display_description or info.description,
        "personality": (
            f"{traits.temperament} {traits.archetype}, {traits.communication_style} in conversation; "
            f"tone: {', '.join(definition.linguistic_profile.tone)}"
        ),
        "scenario": "",
        "first_mes": greetings[0] if greetings else "",
        "mes_example": examples,
        "creator_notes": f"Exported by luminora_nb from the personality {personality.name!r}.",
        "system_prompt": personality.system_prompt or compile_prompt(definition),
        "post_history_instructions": "",
        "alternate_greetings": greetings[1:],
        "tags": list(info.tags),
        "creator": info.author,
        "character_version": info.version,
        "extensions": {_EXTENSION_KEY: ours},
    }
    if target == "chara_card_v3":
        data["group_only_greetings"] = []
        return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _card(personality: PersonalityData, target: str) -> dict[str, Any]:
    meta = personality.metadata or {}
    original = meta.get(CARD_METADATA_KEY)
    if not isinstance(original, Mapping):
        return _synthesised(personality, target)
    card = _convert(original, str(meta.get("card_spec", "chara_card_v2")), target)
    overrides = meta.get("card_overrides")
    if isinstance(overrides, Mapping):
        extensions = card["data"].setdefault("extensions", {})
        extensions[_EXTENSION_KEY] = {**extensions.get(_EXTENSION_KEY, {}), **copy.deepcopy(dict(overrides))}
    return card


def _b64json(card: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii")


def _image_bytes(image: bytes | str | PathLike[str] | None, personality: PersonalityData) -> bytes:
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if image is not None:
        try:
            return Path(image).read_bytes()
        except OSError as exc:
            raise PersonalityError(f"cannot read the image {str(image)!r}: {exc.strerror or exc}") from None
    kept = (personality.metadata or {}).get("card_assets", {}).get("ccdefault:")
    if isinstance(kept, str):
        return base64.b64decode(kept)
    hue = zlib.crc32(personality.name.encode("utf-8"))
    return plain_png(64, 64, (64 + hue % 128, 64 + (hue >> 8) % 128, 64 + (hue >> 16) % 128))


def export_card(
    personality: PersonalityData,
    format: CardFormat = "v2",
    image: bytes | str | PathLike[str] | None = None,
    *,
    container: Literal["json", "png", "charx"] | None = None,
    path: str | PathLike[str] | None = None,
) -> Any:
    """A personality as a Character Card: a dict (JSON), PNG bytes or CHARX bytes.

    A personality imported from a card gives that card back unchanged (converted to
    ``format`` when it was another version: V1 fields stay at the root, V3 fields
    stay in ``data``). Any other personality, a blend included, becomes a card whose
    description and ``system_prompt`` are its own, with its definition (and a blend's
    sources and weights) in ``data.extensions["luminora_nb"]``.

    Args:
        personality: What to export.
        format: ``"v2"`` (``chara_card_v2``) or ``"v3"`` (``chara_card_v3``).
        image: A PNG (bytes or path) to embed the card into; implies ``container="png"``.
        container: ``"json"`` (the default without ``image``), ``"png"`` (into ``image``,
            the imported card's own image, or a plain generated one) or ``"charx"``.
        path: Also write the result there (JSON as UTF-8 text).

    Raises:
        PersonalityError: an unknown format or container, or an image that is not a PNG.

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> card = export_card(get_builtin("aurora"), "v3")
        >>> card["spec"], card["data"]["name"]
        ('chara_card_v3', 'Aurora')
    """
    if format not in ("v2", "v3"):
        raise PersonalityError(f"unknown card format {format!r}; use 'v2' or 'v3'")
    target = "chara_card_v3" if format == "v3" else "chara_card_v2"
    kind = container or ("png" if image is not None else "json")
    if kind not in ("json", "png", "charx"):
        raise PersonalityError(f"unknown container {kind!r}; use 'json', 'png' or 'charx'")
    card = _card(personality, target)
    result: Any
    if kind == "json":
        result = card
        body = json.dumps(card, ensure_ascii=False, indent=2).encode("utf-8")
    elif kind == "png":
        texts = {"ccv3": _b64json(card)} if format == "v3" else {}
        if format == "v3":
            backfill = _convert(card, target, "chara_card_v2")
            notes = _text(backfill["data"], "creator_notes")
            backfill["data"]["creator_notes"] = f"{_V3_WARNING}\n\n{notes}".strip()
            texts["chara"] = _b64json(backfill)
        else:
            texts["chara"] = _b64json(card)
        result = body = write_text_chunks(_image_bytes(image, personality), texts, drop=("chara-ext-asset_",))
    else:
        assets = {
            k: base64.b64decode(v)
            for k, v in ((personality.metadata or {}).get("card_assets") or {}).items()
            if k != "ccdefault:"
        }
        result = body = write_charx(json.dumps(card, ensure_ascii=False).encode("utf-8"), assets)
    if path is not None:
        Path(path).write_bytes(body)
    return result
