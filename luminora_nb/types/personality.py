"""``PersonalityData`` and ``PersonalityBlend``, with the seed's field names."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..errors import PersonalityError
from ._base import DisplayedModel
from .persona import PersonaDefinition

__all__ = ["BLEND_TYPES", "BlendType", "PersonalityBlend", "PersonalityData", "normalise_weights"]

BlendType = Literal["weighted", "weighted_average", "dominant", "hybrid"]
BLEND_TYPES: tuple[str, ...] = ("weighted", "weighted_average", "dominant", "hybrid")


class PersonalityData(DisplayedModel):
    """A loaded personality: the seed's simple fields plus the structured definition.

    ``system_prompt`` is the compiled prompt of ``definition`` when there is one, or the
    text given in the simple seed form. Fields this model does not know (another tool's
    data, such as ``author`` or ``version``) are kept and given back by ``model_dump``,
    the same whether the object is built directly or by ``load_personality``; the
    structured ``definition`` is strict and names every unknown field by its JSON path.

    Example:
        >>> p = PersonalityData(name="helpful_assistant", description="A helpful AI assistant",
        ...                     system_prompt="You are a helpful AI assistant.", metadata={}, author="me")
        >>> p.display_name, p.model_dump()["author"]
        ('helpful_assistant', 'me')
    """

    model_config = ConfigDict(validate_assignment=True, populate_by_name=True, extra="allow")

    name: str = Field(min_length=1)
    description: str = ""
    system_prompt: str = ""
    name_override: str | None = None
    description_override: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    definition: PersonaDefinition | None = None

    @property
    def display_name(self) -> str:
        """``name_override`` when set, else ``name``."""
        return self.name_override or self.name

    @property
    def display_description(self) -> str:
        """``description_override`` when set, else ``description``."""
        return self.description_override or self.description

    _display_as: ClassVar[str] = "personality"


def normalise_weights(names: Sequence[str], weights: Sequence[float]) -> list[float]:
    """Check blend weights against names and scale them to sum to 1.

    Raises:
        PersonalityError: no names, duplicate names, a count mismatch, or a negative,
            NaN, infinite or all-zero weight.

    Example:
        >>> normalise_weights(["a", "b"], [7, 3])
        [0.7, 0.3]
    """
    if len(names) < 1:
        raise PersonalityError("a blend needs at least one personality; pass one or more names")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise PersonalityError(
            f"duplicate personalities in blend: {', '.join(duplicates)}; list each once and "
            "raise its weight instead"
        )
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise PersonalityError(
            f"weights must be a list of numbers, one per personality (e.g. [7, 3]), not {weights!r}"
        )
    if len(weights) != len(names):
        raise PersonalityError(
            f"got {len(weights)} weights for {len(names)} personalities; give one weight per personality"
        )
    values: list[float] = []
    for name, weight in zip(names, weights, strict=True):
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise PersonalityError(f"weight for {name!r} is {weight!r}, not a number") from None
        except OverflowError:  # an int (or Fraction) beyond any float, 2**1100 say
            raise PersonalityError(
                f"weight for {name!r} is too large for a float; weights are shares (e.g. [7, 3])"
            ) from None
        if math.isnan(value) or math.isinf(value):
            raise PersonalityError(f"weight for {name!r} is {value}; weights must be finite numbers")
        if value < 0:
            raise PersonalityError(f"weight for {name!r} is negative ({value}); weights must be >= 0")
        values.append(value)
    if max(values) <= 0:
        raise PersonalityError("all blend weights are zero; give at least one personality a positive weight")
    try:
        total = math.fsum(values)
    except OverflowError:
        total = math.inf
    if math.isinf(total):
        # finite weights as large as 1e308 overflow their sum: scale them down first
        # (only then, so ordinary weights divide exactly as given: 7 and 3 give 0.7 and 0.3)
        largest = max(values)
        values = [v / largest for v in values]
        total = math.fsum(values)
    return [v / total for v in values]


class PersonalityBlend(DisplayedModel):
    """A recipe for blending personalities.

    ``blend_type`` is ``"weighted"`` / ``"weighted_average"`` (numeric parameters by
    weighted mean), ``"dominant"`` (the heaviest personality wins every categorical and
    list field, numbers still averaged) or ``"hybrid"`` (numbers averaged, categorical
    fields by weighted vote, lists interleaved by weight). ``custom_rules`` maps a field
    path to a strategy (``"mean"``, ``"max"``, ``"min"``, ``"dominant"``, ``"vote"``,
    ``"union"``) or to ``{"value": ...}`` to fix it.

    Example:
        >>> a = PersonalityData(name="a", system_prompt="A")
        >>> b = PersonalityData(name="b", system_prompt="B")
        >>> PersonalityBlend(personalities=[a, b], weights=[0.6, 0.4], blend_type="weighted").blend_type
        'weighted'
    """

    personalities: list[PersonalityData]
    weights: list[float]
    blend_type: BlendType = "weighted_average"
    custom_rules: dict[str, Any] | None = None

    @field_validator("blend_type", mode="before")
    @classmethod
    def _known_blend_type(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in BLEND_TYPES:
            raise PersonalityError(f"unknown blend_type {value!r}; use one of: {', '.join(BLEND_TYPES)}")
        return value

    @model_validator(mode="after")
    def _check_weights(self) -> PersonalityBlend:
        normalise_weights([p.name for p in self.personalities], self.weights)
        return self

    @property
    def normalised_weights(self) -> list[float]:
        """The weights scaled to sum to 1."""
        return normalise_weights([p.name for p in self.personalities], self.weights)

    _display_as: ClassVar[str] = "blend"
