"""Blending: rules, provenance, errors, and properties (hypothesis)."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luminora_nb.errors import PersonalityError
from luminora_nb.personality.blend import blend_definitions, blend_personalities, blend_recipe
from luminora_nb.personality.library import builtin_names, get_builtin
from luminora_nb.personality.validate import validate_definition
from luminora_nb.types.persona import PARAMETER_NAMES, PersonaDefinition
from luminora_nb.types.personality import PersonalityBlend, PersonalityData

AURORA = get_builtin("aurora").definition
assert AURORA is not None


def persona(name: str, **params: float) -> PersonalityData:
    """Aurora with another name and some parameters changed."""
    assert AURORA is not None
    definition = AURORA.model_copy(
        update={
            "persona": AURORA.persona.model_copy(update={"name": name}),
            "advanced_parameters": AURORA.advanced_parameters.model_copy(update=params),
        }
    )
    return PersonalityData(name=name, description=name, system_prompt=name, definition=definition)


def with_traits(p: PersonalityData, **traits: str) -> PersonalityData:
    assert p.definition is not None
    definition = p.definition.model_copy(
        update={"core_traits": p.definition.core_traits.model_copy(update=traits)}
    )
    return p.model_copy(update={"definition": definition})


def with_lists(p: PersonalityData, vocabulary: list[str], forbidden: list[str]) -> PersonalityData:
    assert p.definition is not None
    d = p.definition
    definition = d.model_copy(
        update={
            "linguistic_profile": d.linguistic_profile.model_copy(update={"vocabulary": vocabulary}),
            "safety_guards": d.safety_guards.model_copy(update={"forbidden_topics": forbidden}),
        }
    )
    return p.model_copy(update={"definition": definition})


def params(p: PersonalityData) -> dict[str, float]:
    assert p.definition is not None
    return p.definition.advanced_parameters.as_dict()


# -- rules -------------------------------------------------------------------------------
def test_numeric_parameters_are_weighted_means() -> None:
    a, b = persona("a", humor=0.0, verbosity=1.0), persona("b", humor=1.0, verbosity=0.0)
    out = params(blend_personalities([a, b], [0.7, 0.3], name="ab"))
    assert out["humor"] == pytest.approx(0.3) and out["verbosity"] == pytest.approx(0.7)


def test_weights_are_normalised() -> None:
    a, b = persona("a", humor=0.0), persona("b", humor=1.0)
    assert params(blend_personalities([a, b], [7, 3], name="x")) == params(
        blend_personalities([a, b], [0.7, 0.3], name="x")
    )


def test_categorical_traits_by_weighted_vote_with_deterministic_ties() -> None:
    a = with_traits(persona("a"), archetype="jester", temperament="playful")
    b = with_traits(persona("b"), archetype="sage", temperament="stoic")
    c = with_traits(persona("c"), archetype="sage", temperament="calm")
    # sage has 0.3 + 0.3 = 0.6 against jester's 0.4
    blended = blend_personalities([a, b, c], [4, 3, 3], name="abc").definition
    assert blended is not None and blended.core_traits.archetype == "sage"
    # temperament ties 0.5 / 0.5: broken alphabetically, whatever the argument order
    t1 = blend_personalities([a, b], [1, 1], name="t").definition
    t2 = blend_personalities([b, a], [1, 1], name="t").definition
    assert t1 is not None and t2 is not None
    assert t1.core_traits.temperament == t2.core_traits.temperament == "playful"


def test_lists_by_weighted_rank_with_caps() -> None:
    a = with_lists(persona("a"), [f"a{i}" for i in range(12)], ["politics"])
    b = with_lists(persona("b"), [f"b{i}" for i in range(12)], ["gambling"])
    blended = blend_personalities([a, b], [0.8, 0.2], name="ab").definition
    assert blended is not None
    vocab = blended.linguistic_profile.vocabulary
    assert len(vocab) == 12  # capped
    assert vocab[0] == "a0" and sum(v.startswith("a") for v in vocab) > sum(v.startswith("b") for v in vocab)
    # safety guards are a union, whatever the weights
    assert set(blended.safety_guards.forbidden_topics) == {"politics", "gambling"}


def test_safety_guards_keep_the_strictest_tone_limit_even_at_zero_weight() -> None:
    a, b = persona("a"), persona("b")
    assert b.definition is not None
    strict = b.definition.safety_guards.model_copy(
        update={"tone_limits": b.definition.safety_guards.tone_limits.model_copy(update={"max_sarcasm": 0.0})}
    )
    b = b.model_copy(update={"definition": b.definition.model_copy(update={"safety_guards": strict})})
    blended = blend_personalities([a, b], [1, 0], name="ab").definition
    assert blended is not None and blended.safety_guards.tone_limits.max_sarcasm == 0.0


def test_zero_weight_source_adds_no_vocabulary() -> None:
    a = with_lists(persona("a"), ["alpha"], [])
    b = with_lists(persona("b"), ["beta"], [])
    blended = blend_personalities([a, b], [1, 0], name="ab").definition
    assert blended is not None and blended.linguistic_profile.vocabulary == ["alpha"]


def test_dominant_blend_takes_categories_and_lists_from_heaviest() -> None:
    a = with_traits(with_lists(persona("a", humor=0.0), ["alpha"], []), archetype="jester")
    b = with_traits(with_lists(persona("b", humor=1.0), ["beta"], []), archetype="sage")
    blended = blend_personalities([a, b], [0.4, 0.6], name="ab", blend_type="dominant").definition
    assert blended is not None
    assert blended.core_traits.archetype == "sage"
    assert blended.linguistic_profile.vocabulary == ["beta"]
    assert blended.advanced_parameters.humor == pytest.approx(0.6)  # numbers still averaged


def test_hybrid_blend_interleaves_lists_by_weight() -> None:
    a = with_lists(persona("a"), ["a1", "a2", "a3", "a4"], [])
    b = with_lists(persona("b"), ["b1", "b2", "b3", "b4"], [])
    blended = blend_personalities([a, b], [0.5, 0.5], name="ab", blend_type="hybrid").definition
    assert blended is not None
    assert blended.linguistic_profile.vocabulary[:4] == ["a1", "b1", "a2", "b2"]


def test_custom_rules_strategies_and_fixed_values() -> None:
    a, b = persona("a", humor=0.2, formality=0.1), persona("b", humor=0.8, formality=0.3)
    blended = blend_personalities(
        [a, b],
        [0.5, 0.5],
        name="ab",
        custom_rules={"advanced_parameters.humor": "max", "advanced_parameters.formality": {"value": 0.95}},
    )
    assert params(blended)["humor"] == 0.8 and params(blended)["formality"] == 0.95
    with pytest.raises(PersonalityError, match="not a strategy"):
        blend_personalities([a, b], [1, 1], name="x", custom_rules={"advanced_parameters.humor": "median"})
    with pytest.raises(PersonalityError, match="unknown field path"):
        blend_personalities([a, b], [1, 1], name="x", custom_rules={"nonsense.field": "max"})
    with pytest.raises(PersonalityError, match="advanced_parameters.humor"):
        blend_personalities(
            [a, b], [1, 1], name="x", custom_rules={"advanced_parameters.humor": {"value": 7}}
        )


def test_provenance_and_validity() -> None:
    a, b = get_builtin("aurora"), persona("b", humor=0.9)
    blended = blend_personalities([a, b], [3, 1], name="mix")
    assert blended.metadata["blend"] == {
        "sources": ["aurora", "b"],
        "weights": {"aurora": 0.75, "b": 0.25},
        "blend_type": "weighted_average",
        "custom_rules": None,
    }
    assert blended.definition is not None
    assert validate_definition(blended.definition.model_dump(mode="json")) == blended.definition
    assert blended.system_prompt.startswith("You are mix.")


def test_relationship_levels_are_merged_without_overlap() -> None:
    a, b = persona("a"), persona("b")
    assert b.definition is not None
    # b's friend level shifts humour far more
    levels = [lvl.model_copy() for lvl in b.definition.relationship_levels]
    levels[-1] = levels[-1].model_copy(
        update={"modifiers": levels[-1].modifiers.model_copy(update={"humor": 0.55})}
    )
    b = b.model_copy(update={"definition": b.definition.model_copy(update={"relationship_levels": levels})})
    blended = blend_personalities([a, b], [0.5, 0.5], name="ab").definition
    assert blended is not None
    friend = next(lvl for lvl in blended.relationship_levels if lvl.name == "friend")
    assert friend.modifiers.humor == pytest.approx((0.15 + 0.55) / 2)
    ranges = [lvl.affinity_range for lvl in blended.relationship_levels]
    assert all(x[1] < y[0] for x, y in itertools.pairwise(ranges))


def test_simple_seed_personalities_blend() -> None:
    a = PersonalityData(name="a", description="A", system_prompt="Always answer in French.")
    b = PersonalityData(name="b", description="B", system_prompt="Be brief.")
    blended = blend_personalities([a, b], [2, 1], name="ab")
    assert blended.definition is not None and blended.definition.instructions is not None
    assert blended.definition.instructions.index("French") < blended.definition.instructions.index("brief")


def test_blend_recipe_applies_personality_blend() -> None:
    a, b = persona("a", humor=0.0), persona("b", humor=1.0)
    recipe = PersonalityBlend(personalities=[a, b], weights=[1, 3], blend_type="weighted")
    assert params(blend_recipe(recipe, name="r"))["humor"] == pytest.approx(0.75)


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "weights", "message"),
    [
        ([], [], "at least one personality"),
        (["a", "b"], [1.0], "got 1 weights for 2 personalities"),
        (["a", "b"], [1.0, -0.5], "weight for 'b' is negative"),
        (["a", "b"], [1.0, math.nan], "weight for 'b' is nan"),
        (["a", "b"], [math.inf, 1.0], "weight for 'a' is inf"),
        (["a", "b"], [0.0, 0.0], "all blend weights are zero"),
        (["a", "a"], [1.0, 1.0], "duplicate personalities in blend: a"),
        (["a", "b"], [1.0, "heavy"], "weight for 'b' is 'heavy', not a number"),
    ],
)
def test_bad_weights_and_names(names: list[str], weights: list[float], message: str) -> None:
    defs = [AURORA] * len(names)
    with pytest.raises(PersonalityError, match=message):
        blend_definitions(names, defs, weights, name="x")  # type: ignore[arg-type]


def test_bad_blend_type_and_name() -> None:
    a, b = persona("a"), persona("b")
    with pytest.raises(PersonalityError, match="unknown blend_type 'average'"):
        blend_personalities([a, b], [1, 1], name="x", blend_type="average")
    with pytest.raises(PersonalityError, match="blend_name must be a non-empty string"):
        blend_personalities([a, b], [1, 1], name=" ")
    with pytest.raises(PersonalityError, match="unknown blend_type"):
        PersonalityBlend(personalities=[a, b], weights=[1, 1], blend_type="average")  # type: ignore[arg-type]
    with pytest.raises(PersonalityError, match="got 1 weights"):
        PersonalityBlend(personalities=[a, b], weights=[1])


# -- properties -------------------------------------------------------------------------------
LIBRARY = {name: get_builtin(name) for name in builtin_names()}
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def sources(draw: st.DrawFn) -> tuple[list[PersonalityData], list[float]]:
    count = draw(st.integers(min_value=1, max_value=5))
    people = []
    for i in range(count):
        base = draw(st.sampled_from(sorted(LIBRARY)))
        p = persona(f"p{i}", **{k: draw(unit) for k in PARAMETER_NAMES})
        src = LIBRARY[base].definition
        assert src is not None and p.definition is not None
        definition = src.model_copy(update={"advanced_parameters": p.definition.advanced_parameters})
        people.append(p.model_copy(update={"definition": definition}))
    weights = draw(
        st.lists(
            st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=count, max_size=count
        ).filter(lambda ws: sum(ws) > 0)
    )
    return people, weights


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_property_numeric_parameters_lie_between_sources(
    case: tuple[list[PersonalityData], list[float]],
) -> None:
    people, weights = case
    out = params(blend_personalities(people, weights, name="prop"))
    for key in PARAMETER_NAMES:
        values = [params(p)[key] for p in people]
        assert min(values) <= out[key] <= max(values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources())
def test_property_result_always_validates(case: tuple[list[PersonalityData], list[float]]) -> None:
    people, weights = case
    blended = blend_personalities(people, weights, name="prop")
    assert blended.definition is not None
    PersonaDefinition.model_validate_json(blended.definition.model_dump_json())
    assert sum(blended.metadata["blend"]["weights"].values()) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), st.randoms(use_true_random=False))
def test_property_permutation_invariance(
    case: tuple[list[PersonalityData], list[float]], rnd: object
) -> None:
    people, weights = case
    pairs = list(zip(people, weights, strict=True))
    rnd.shuffle(pairs)  # type: ignore[attr-defined]
    shuffled = blend_personalities([p for p, _ in pairs], [w for _, w in pairs], name="prop")
    assert shuffled == blend_personalities(people, weights, name="prop")


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(sorted(LIBRARY)),
    st.integers(min_value=1, max_value=4),
    st.floats(min_value=0.01, max_value=100),
)
def test_property_blend_with_itself_keeps_parameters(name: str, copies: int, weight: float) -> None:
    original = LIBRARY[name]
    people = [original.model_copy(update={"name": f"{name}_{i}"}) for i in range(copies)]
    blended = blend_personalities(people, [weight] * copies, name="self")
    assert params(blended) == params(original)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=2, max_size=6).filter(
        lambda ws: sum(ws) > 0
    )
)
def test_property_weights_are_normalised(weights: list[float]) -> None:
    people = [persona(f"p{i}") for i in range(len(weights))]
    recorded = blend_personalities(people, weights, name="n").metadata["blend"]["weights"]
    assert sum(recorded.values()) == pytest.approx(1.0)
    scaled = blend_personalities(people, [w * 3.5 for w in weights], name="n").metadata["blend"]["weights"]
    assert recorded == pytest.approx(scaled)


@pytest.mark.parametrize("recipe", [False, None, {"personalities": ["aurora", "vex"], "weights": [1, 1]}])
def test_blend_recipe_refuses_what_is_not_a_recipe(recipe: object) -> None:
    # Found by the fuzzer: AttributeError ('bool' object has no attribute 'personalities').
    with pytest.raises(PersonalityError, match="blend must be a PersonalityBlend"):
        blend_recipe(recipe, name="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("rules", [b"x", "max", [("advanced_parameters.humor", "max")], 1])
def test_custom_rules_that_are_not_a_mapping_are_refused(rules: object) -> None:
    # Found by the fuzzer: TypeError/ValueError from dict(custom_rules).
    a, b = get_builtin("aurora"), get_builtin("vex")
    with pytest.raises(PersonalityError, match="custom_rules must be a dict"):
        blend_personalities([a, b], [1, 1], name="x", custom_rules=rules)  # type: ignore[arg-type]


def test_a_weight_too_large_for_a_float_is_refused() -> None:
    # Found by the fuzzer: OverflowError from float(2**1100).
    a, b = get_builtin("aurora"), get_builtin("vex")
    with pytest.raises(PersonalityError, match="weight for 'aurora' is too large for a float"):
        blend_personalities([a, b], [2**1100, 1], name="x")


@pytest.mark.parametrize(
    ("path", "rule", "message"),
    [
        ("advanced_parameters.humor", [1], "give a strategy name such as 'max'"),
        ("core_traits.archetype", {}, "a fixed value is written {'value': ...}"),
        ("advanced_parameters.humor", {"value": "x"}, "'x', not a number"),
        ("advanced_parameters.humor", {"value": math.nan}, "nan, not finite"),
        ("advanced_parameters.humor", {"value": 2**1100}, "too large"),
        ("linguistic_profile.vocabulary", {"value": None}, "this field is a list"),
    ],
)
def test_custom_rules_of_the_wrong_shape_are_refused(path: str, rule: object, message: str) -> None:
    # Found by the fuzzer: TypeError (unhashable list), KeyError ('value'), ValueError and
    # OverflowError from float(), TypeError from list(None).
    a, b = get_builtin("aurora"), get_builtin("vex")
    with pytest.raises(PersonalityError, match=re.escape(message)):
        blend_personalities([a, b], [1, 1], name="x", custom_rules={path: rule})
