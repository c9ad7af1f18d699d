"""The input of a comparison, checked: blend specs, labels, prompts, baseline, provider.

Everything here runs before a comparison touches the client (:func:`blend_specs` and the
``check_*`` functions are pure), except :func:`register` (loads the given personalities
and blends the mixes, after checking every name exists) and :func:`check_provider`
(builds the provider once, so a missing API key fails now rather than once per cell).

A blend is given as:

* a personality name (``"aurora"``), loaded or shipped;
* a :class:`~luminora_nb.types.PersonalityData`, loaded into the client under its name
  (always, so the object you pass is the one that runs, even if you edited it);
* a ``{name: weight}`` mapping, blended on the fly and registered under a readable,
  deterministic name built from the normalised weights in percent
  (``{"aurora": 7, "captain_quip": 3}`` -> ``aurora70_captain_quip30``), or under its
  dict key when the blends are given as a dict.

Example:
    >>> [(s.label, s.kind) for s in blend_specs(["aurora", {"aurora": 1, "vex": 3}])]
    [('aurora', 'name'), ('aurora25_vex75', 'mix')]
    >>> check_baseline(-1, ["a", "b"])
    'b'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ..errors import PersonalityError, SessionError
from ..personality.blend import blend_name
from ..types.personality import PersonalityData, normalise_weights
from ..types.provider import ProviderConfig

if TYPE_CHECKING:
    from ..client import LuminoraCoreClient

__all__ = [
    "BlendSpec",
    "Spec",
    "blend_labels",
    "blend_specs",
    "check_baseline",
    "check_positive",
    "check_prompts",
    "check_provider",
    "provider_config",
    "register",
]

#: A blend to compare: a personality name, a personality, or ``{name: weight}``.
BlendSpec: TypeAlias = str | PersonalityData | Mapping[str, float]


@dataclass(frozen=True)
class Spec:
    """One blend as given, checked: what runs under ``label`` and how to register it."""

    label: str
    name: str  # the personality the cells run
    kind: Literal["name", "data", "mix"]
    data: PersonalityData | None = None
    sources: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _spec(spec: object, label: str | None, position: str) -> Spec:
    if isinstance(spec, str):
        if not spec.strip():
            raise PersonalityError(f"{position}: the personality name is empty")
        return Spec(label=label or spec, name=spec, kind="name")
    if isinstance(spec, PersonalityData):
        return Spec(label=label or spec.name, name=spec.name, kind="data", data=spec)
    if isinstance(spec, Mapping):
        if not spec:
            raise PersonalityError(f"{position}: the weight mapping is empty; give {{name: weight, ...}}")
        sources = list(spec)
        bad = [s for s in sources if not isinstance(s, str) or not s.strip()]
        if bad:
            raise PersonalityError(f"{position}: personality names must be non-empty strings, got {bad[0]!r}")
        weights = normalise_weights(sources, list(spec.values()))
        name = label or blend_name(sources, weights)
        return Spec(label=name, name=name, kind="mix", sources=tuple(sources), weights=tuple(weights))
    raise PersonalityError(
        f"{position}: a blend is a personality name, a PersonalityData or a {{name: weight}} mapping, "
        f"got {type(spec).__name__}"
    )


def blend_specs(blends: Sequence[BlendSpec] | Mapping[str, BlendSpec] | BlendSpec) -> list[Spec]:
    """``blends`` (a list, a ``{label: blend}`` dict or one blend) checked, one :class:`Spec` each.

    Raises:
        PersonalityError: a malformed spec, bad weights, no blends, duplicate labels, or
            two blends that would register the same personality name.
    """
    if isinstance(blends, str | PersonalityData):
        blends = [blends]
    specs: list[Spec] = []
    if isinstance(blends, Mapping):
        if blends and all(_is_number(v) for v in blends.values()):
            raise PersonalityError(
                f"blends looks like one weight mapping ({dict(blends)!r}); pass a list of blends, "
                "e.g. [{'aurora': 7, 'vex': 3}], or label it: {'my blend': {...}}"
            )
        for label, given in blends.items():
            if not isinstance(label, str) or not label.strip():
                raise PersonalityError(f"blend labels must be non-empty strings, got {label!r}")
            specs.append(_spec(given, label.strip(), f"blend {label!r}"))
    elif isinstance(blends, Sequence):
        specs = [_spec(given, None, f"blends[{i}]") for i, given in enumerate(blends)]
    else:
        raise PersonalityError(
            f"blends must be a list of blends or a {{label: blend}} dict, got {type(blends).__name__}"
        )
    if not specs:
        raise PersonalityError("no blends to compare; pass at least one personality name, personality or mix")
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.label in seen:
            raise PersonalityError(
                f"duplicate blend label {spec.label!r} (blends {seen[spec.label]} and {i}); labels must be "
                "unique: pass the blends as a dict {label: blend} to name them"
            )
        seen[spec.label] = i
    registered: dict[str, str] = {}
    for spec in specs:
        if spec.kind == "name":
            continue
        if spec.name in registered:
            raise PersonalityError(
                f"blends {registered[spec.name]!r} and {spec.label!r} would both register a personality "
                f"named {spec.name!r}; give them different names"
            )
        registered[spec.name] = spec.label
    return specs


def blend_labels(blends: Sequence[BlendSpec] | Mapping[str, BlendSpec]) -> list[str]:
    """The labels :func:`compare` gives ``blends``, without running anything.

    Raises:
        PersonalityError: a malformed spec, bad weights or duplicate labels.

    Example:
        >>> blend_labels(["aurora", {"aurora": 7, "captain_quip": 3}, {"vex": 1, "pip": 2}])
        ['aurora', 'aurora70_captain_quip30', 'vex33.3_pip66.7']
        >>> blend_labels({"calm": "aurora", "mix": {"aurora": 1, "vex": 1}})
        ['calm', 'mix']
    """
    return [spec.label for spec in blend_specs(blends)]


async def register(client: LuminoraCoreClient, specs: Sequence[Spec]) -> None:
    """Check every name exists, then load the personalities and blend the mixes."""
    known = set(await client.list_personalities()) | {s.name for s in specs if s.kind == "data"}
    for spec in specs:
        needed = spec.sources if spec.kind == "mix" else (spec.name,) if spec.kind == "name" else ()
        missing = [n for n in needed if n not in known]
        if missing:
            raise PersonalityError(
                f"unknown personality {missing[0]!r} in blend {spec.label!r}; load it with "
                f"load_personality() or pass the PersonalityData itself. Known: {', '.join(sorted(known))}"
            )
        if spec.kind == "mix":
            existing = await client.get_personality(spec.name)
            if existing is not None and "blend" not in existing.metadata:
                raise PersonalityError(
                    f"blend label {spec.name!r} is already the name of a personality that is not a blend; "
                    "choose another label so it is not replaced"
                )
    for spec in specs:
        if spec.kind == "data" and spec.data is not None:
            # the object given is what runs, even where a personality of that name was loaded
            await client.load_personality(spec.name, spec.data, replace=True)
    for spec in specs:
        if spec.kind == "mix":
            # a labelled mix may replace an earlier blend of that name (never a persona: see above)
            await client.blend_personalities(list(spec.sources), list(spec.weights), spec.name, replace=True)


def provider_config(
    value: ProviderConfig | Mapping[str, Any] | str | None, default: ProviderConfig
) -> ProviderConfig:
    """``value`` as a :class:`ProviderConfig`; ``default`` when it is ``None``."""
    return default if value is None else ProviderConfig.coerce(value)


async def check_provider(config: ProviderConfig) -> None:
    """Fail now, not once per cell, when the provider cannot even be set up (name, key, URL)."""
    from ..providers.registry import create_provider

    provider = create_provider(config)
    await provider.aclose()


def check_prompts(prompts: Sequence[str] | str) -> list[str]:
    """The prompts as a list (one string counts as one prompt); SessionError if none or one is empty."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence):
        raise SessionError(f"prompts must be a list of strings, got {type(prompts).__name__}")
    checked = list(prompts)
    if not checked:
        raise SessionError("no prompts to compare; pass a list of one or more prompt strings")
    for i, prompt in enumerate(checked):
        if not isinstance(prompt, str) or not prompt.strip():
            raise SessionError(f"prompts[{i}] must be a non-empty string, got {prompt!r}")
    return checked


def check_positive(name: str, value: object) -> int:
    """``value`` if it is an int >= 1, else a SessionError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SessionError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_baseline(baseline: str | int | None, labels: Sequence[str]) -> str:
    """The baseline's label from a label, an index (negative from the end) or ``None`` (the first)."""
    if baseline is None:
        return labels[0]
    if isinstance(baseline, str):
        if baseline not in labels:
            raise SessionError(
                f"unknown baseline {baseline!r}; use one of the blend labels: {', '.join(labels)}"
            )
        return baseline
    if isinstance(baseline, int) and not isinstance(baseline, bool):
        if not -len(labels) <= baseline < len(labels):
            raise SessionError(f"baseline index {baseline} is out of range for {len(labels)} blend(s)")
        return labels[baseline]
    raise SessionError(f"baseline must be a blend label or index, got {baseline!r}")
