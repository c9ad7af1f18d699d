"""The pydantic models of luminora_nb.types: JSON round trips, enums, secrets, validation messages."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import luminora_nb.types as types_pkg
from luminora_nb.errors import ProviderError, SessionError, StorageError
from luminora_nb.personality.library import get_builtin, load_builtins
from luminora_nb.types import (
    Affinity,
    ChatMessage,
    ChatResponse,
    Conversation,
    Episode,
    Fact,
    MemoryConfig,
    MemorySearchResult,
    Message,
    MessageRole,
    MoodState,
    PersonaDefinition,
    PersonalityBlend,
    PersonalityData,
    ProviderConfig,
    SessionConfig,
    SessionRecord,
    SessionSummary,
    SessionType,
    StorageConfig,
    StorageType,
    Usage,
)
from luminora_nb.types import persona as persona_types
from luminora_nb.types.relationship import AffinityHistoryEntry
from luminora_nb.types.session import MAX_SESSION_TIMEOUT

WHEN = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


def _aurora() -> PersonaDefinition:
    definition = get_builtin("aurora").definition
    assert definition is not None
    return definition


def _personality() -> PersonalityData:
    return get_builtin("aurora").model_copy(update={"name_override": "Rory", "metadata": {"k": [1, "two"]}})


def _conversation() -> Conversation:
    return Conversation(
        session_id="s-1",
        messages=[
            Message(role=MessageRole.USER, content="Hello!", timestamp=WHEN, metadata={"lang": "en"}),
            Message(
                role="assistant", content="Hi there — ¿qué tal? 👋", timestamp=WHEN + timedelta(seconds=1)
            ),
        ],
        metadata={"topic": "greeting"},
        created_at=WHEN,
        updated_at=WHEN + timedelta(minutes=5),
    )


def _session_config() -> SessionConfig:
    return SessionConfig(
        session_id="s-1",
        personality={"name": "aurora"},
        provider_config={"name": "offline", "model": "sim"},
        session_type="stateful",
        max_history=20,
        timeout=300,
        user_id="u-1",
        metadata={"source": "test"},
    )


# One sample per public model, with non-default values so a dropped field would show.
SAMPLES: dict[str, Callable[[], BaseModel]] = {
    "AdvancedParameters": lambda: persona_types.AdvancedParameters(verbosity=0.1, humor=0.93, directness=1.0),
    "AffinityConfig": lambda: persona_types.AffinityConfig(
        initial_points=12, interaction_points={"joke": 2}, max_change_per_turn=4
    ),
    "CoreTraits": lambda: persona_types.CoreTraits(
        archetype="jester", temperament="playful", communication_style="casual"
    ),
    "Examples": lambda: _aurora().examples,
    "LinguisticProfile": lambda: _aurora().linguistic_profile,
    "MemoryPreferences": lambda: persona_types.MemoryPreferences(
        remember_episodes=False, fact_categories=["work"], episode_min_importance=7.5
    ),
    "MoodConfig": lambda: _aurora().mood_config,
    "MoodDefinition": lambda: persona_types.MoodDefinition(
        name="giddy", modifiers=persona_types.ParameterModifiers(humor=0.25), triggers=["yay"]
    ),
    "ParameterModifiers": lambda: persona_types.ParameterModifiers(empathy=-0.3, creativity=0.05),
    "PersonaDefinition": _aurora,
    "PersonaInfo": lambda: _aurora().persona,
    "RelationshipLevel": lambda: _aurora().relationship_levels[2],
    "SafetyGuards": lambda: _aurora().safety_guards,
    "SampleResponse": lambda: persona_types.SampleResponse(input="Hi", output="Hello!", context=None),
    "ToneLimits": lambda: persona_types.ToneLimits(max_sarcasm=0.25, max_aggression=0.0),
    "TriggerResponses": lambda: _aurora().trigger_responses,
    "PersonalityData": _personality,
    "PersonalityBlend": lambda: PersonalityBlend(
        personalities=[get_builtin("aurora"), PersonalityData(name="plain", system_prompt="Be plain.")],
        weights=[7, 3],
        blend_type="hybrid",
        custom_rules={"core_traits.archetype": "dominant", "advanced_parameters.humor": {"value": 0.4}},
    ),
    "ChatMessage": lambda: ChatMessage(role="system", content="You are Aurora.", name="setup"),
    "ChatResponse": lambda: ChatResponse(
        content="Hi!",
        finish_reason="stop",
        usage={"prompt_tokens": 10, "completion_tokens": 20},
        model="m",
        metadata={"latency_ms": 12.5},
    ),
    "ProviderConfig": lambda: ProviderConfig(
        name="openai", model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", extra={"timeout": 30}
    ),
    "Usage": lambda: Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
    "Conversation": _conversation,
    "MemoryConfig": lambda: MemoryConfig(max_entries=50, decay_factor=0.3, track_emotions=True),
    "Message": lambda: Message(role="system", content="x", timestamp=datetime(2026, 1, 2, 3, 4, 5)),
    "SessionConfig": _session_config,
    "SessionRecord": lambda: SessionRecord(
        session_id="s-1",
        personality_name="aurora",
        personality=_personality(),
        provider_config={"name": "offline"},
        session_config=_session_config(),
        user_id="u-1",
        conversation=_conversation(),
        memory={"facts": [{"key": "name", "value": "Sam"}]},
        created_at=WHEN,
        last_active=WHEN + timedelta(hours=1),
    ),
    "SessionSummary": lambda: SessionSummary(
        session_id="s-1",
        personality_name="aurora",
        provider="offline",
        message_count=2,
        created_at=WHEN,
        last_active=WHEN.astimezone(timezone(timedelta(hours=2))),
    ),
    "StorageConfig": lambda: StorageConfig(
        storage_type="duckdb",
        connection_string="/tmp/x.duckdb",
        table_name="my_sessions",
        compression_enabled=True,
        key_prefix="team.a",
        extra={"pool": 2},
    ),
    "Fact": lambda: Fact(
        user_id="u", category="hobbies", key="sport", value={"name": "climbing"}, confidence=0.8
    ),
    "Episode": lambda: Episode(
        user_id="u", episode_type="milestone", title="First win", summary="Solved it.", importance=8.5
    ),
    "MoodState": lambda: MoodState(session_id="s", user_id="u", current_mood="excited", mood_intensity=0.4),
    "MemorySearchResult": lambda: MemorySearchResult(
        kind="fact", text="likes tea", score=0.91, item={"k": 1}
    ),
    "Affinity": lambda: Affinity(
        user_id="u", personality_name="aurora", affinity_points=55, current_level="friend"
    ),
    "AffinityHistoryEntry": lambda: AffinityHistoryEntry(
        points_delta=-3, interaction_type="negative", affinity_points=40, current_level="acquaintance"
    ),
}


def _public_models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(types_pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{types_pkg.__name__}.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, BaseModel):
                found[name] = obj
    return found


PUBLIC_MODELS = _public_models()


def test_every_public_model_has_a_round_trip_sample() -> None:
    missing = sorted(set(PUBLIC_MODELS) - set(SAMPLES))
    assert not missing, f"public models without a sample in tests/test_types.py SAMPLES: {missing}"
    assert len(PUBLIC_MODELS) >= 30


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_model_round_trips_through_json(name: str) -> None:
    model = SAMPLES[name]()
    assert type(model).__name__ == name
    assert type(model) is PUBLIC_MODELS[name]
    text = model.model_dump_json()
    again = type(model).model_validate_json(text)
    assert again == model
    assert again.model_dump_json() == text
    # And through a plain JSON document (what storage backends write).
    assert type(model).model_validate(json.loads(text)) == model


@pytest.mark.parametrize("name", sorted(load_builtins()))
def test_every_shipped_persona_round_trips(name: str) -> None:
    personality = get_builtin(name)
    assert PersonalityData.model_validate_json(personality.model_dump_json()) == personality


# --- enums accept their string values ------------------------------------------------------------


@pytest.mark.parametrize("value", [t.value for t in StorageType])
def test_storage_type_accepts_string_values(value: str) -> None:
    config = StorageConfig(storage_type=value)
    assert config.storage_type is StorageType(value)
    assert config.storage_type == value


@pytest.mark.parametrize(
    ("alias", "member"), [("postgresql", "postgres"), ("MONGO", "mongodb"), (" Memory ", "memory")]
)
def test_storage_type_aliases_and_case(alias: str, member: str) -> None:
    assert StorageConfig(storage_type=alias).storage_type is StorageType(member)


def test_seed_enum_members() -> None:
    assert {t.name for t in StorageType} >= {"MEMORY", "REDIS", "POSTGRES", "MONGODB", "FILE", "DUCKDB"}
    assert {t.name for t in SessionType} == {"STATEFUL", "STATELESS", "CHAT"}
    assert {t.name for t in MessageRole} == {"USER", "ASSISTANT", "SYSTEM"}


@pytest.mark.parametrize("value", ["chat", "stateful", "stateless"])
def test_session_type_accepts_string_values(value: str) -> None:
    assert SessionConfig(session_type=value).session_type is SessionType(value)


def test_message_role_accepts_string_values_and_dumps_them() -> None:
    message = Message(role="user", content="hi")
    assert message.role is MessageRole.USER
    assert json.loads(message.model_dump_json())["role"] == "user"
    assert json.loads(StorageConfig(storage_type="redis").model_dump_json())["storage_type"] == "redis"


def test_unknown_enum_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="'stateful', 'stateless' or 'chat'"):
        SessionConfig(session_type="eternal")
    with pytest.raises(ValidationError):
        Message(role="robot", content="x")
    with pytest.raises(ValidationError):
        ChatMessage(role="tool", content="x")


def test_unknown_storage_type_names_the_valid_ones() -> None:
    with pytest.raises(StorageError) as info:
        StorageConfig(storage_type="cassandra")
    message = str(info.value)
    assert (
        "unknown storage_type 'cassandra'; use one of: memory, redis, postgres, mongodb, file, duckdb"
        in message
    )


# --- secrets -------------------------------------------------------------------------------------

SECRET = "sk-VERY-SECRET-0123456789"


def _all_text(model: BaseModel) -> str:
    return "\n".join(
        [
            repr(model),
            str(model),
            model.model_dump_json(),
            repr(model.model_dump()),
            repr(model.model_dump(mode="json")),
        ]
    )


def test_provider_config_never_dumps_or_reprs_its_api_key() -> None:
    config = ProviderConfig(name="OpenAI", api_key=SECRET, model="gpt-4o-mini")
    assert config.api_key == SECRET
    assert config.has_api_key
    assert config.name == "openai"
    assert SECRET not in _all_text(config)
    assert "api_key" not in config.model_dump()
    # What is dumped loads back as a config without a key: the key must be supplied again.
    again = ProviderConfig.model_validate_json(config.model_dump_json())
    assert again.api_key is None
    assert again.model == "gpt-4o-mini"


def test_provider_config_drops_credential_named_keys_from_extra() -> None:
    extra = {
        "timeout": 30,
        "api_key": SECRET,
        "Authorization": f"Bearer {SECRET}",
        "client_secret": SECRET,
        "x-api-key": SECRET,
        "password": SECRET,
        "access_token": SECRET,
    }
    config = ProviderConfig(name="openai", extra=extra)
    assert config.extra is not None and config.extra["api_key"] == SECRET  # still usable in memory
    assert config.model_dump()["extra"] == {"timeout": 30}
    assert json.loads(config.model_dump_json())["extra"] == {"timeout": 30}
    assert SECRET not in _all_text(config)
    assert "'timeout': 30" in repr(config)


def test_provider_config_hides_nested_credentials_in_extra() -> None:
    config = ProviderConfig(
        name="openai",
        extra={
            "headers": {"Authorization": f"Bearer {SECRET}", "X-Trace": "t1"},
            "auth": [{"token": SECRET}],
        },
    )
    dumped = config.model_dump()["extra"]
    assert dumped == {"headers": {"X-Trace": "t1"}, "auth": [{}]}
    assert SECRET not in config.model_dump_json()
    assert SECRET not in repr(config), f"nested credential visible in repr: {config!r}"
    assert SECRET not in str(config)


def test_secrets_are_not_echoed_by_validation_errors() -> None:
    with pytest.raises(ValidationError) as provider_error:
        ProviderConfig(name="openai", api_key=int("987654321987654321"))
    assert "987654321987654321" not in str(provider_error.value)
    raw_key = bytes(range(200, 232))  # e.g. os.urandom(32): not valid UTF-8
    with pytest.raises(ValidationError) as storage_error:
        StorageConfig(encryption_enabled=True, encryption_key=raw_key)  # type: ignore[arg-type]
    text = str(storage_error.value)
    assert "\\xc8\\xc9\\xca" not in text and "\\xe5\\xe6\\xe7" not in text, text


def test_session_config_and_record_scrub_provider_secrets() -> None:
    config = SessionConfig(provider_config={"name": "openai", "api_key": SECRET, "model": "m"})
    # kept in memory so create_session can use it, never serialised or shown
    assert config.provider_config["api_key"] == SECRET
    assert config.model_dump()["provider_config"] == {"name": "openai", "model": "m"}
    assert SECRET not in config.model_dump_json()
    assert SECRET not in repr(config) and SECRET not in str(config)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("max_tokens", False),
        ("max_completion_tokens", False),
        ("num_predict", False),
        ("api_key", True),
        ("X-Api-Key", True),
        ("access_token", True),
        ("client_secret", True),
        ("Authorization", True),
        ("key", True),
        ("password", True),
        ("monkey", False),
    ],
)
def test_credential_names_are_whole_segments(key: str, secret: bool) -> None:
    from luminora_nb.types._base import is_secret_key

    assert is_secret_key(key) is secret


def test_generation_limits_survive_serialisation_and_urls_lose_credentials() -> None:
    config = ProviderConfig(
        name="openai",
        base_url=f"https://user:{SECRET}@proxy.example/v1?key={SECRET}&region=eu",
        extra={"max_tokens": 7, "temperature": 0.2},
    )
    dumped = config.model_dump()
    assert dumped["extra"] == {"max_tokens": 7, "temperature": 0.2}
    assert dumped["base_url"] == "https://proxy.example/v1?region=eu"
    assert SECRET not in repr(config) and SECRET not in config.model_dump_json()
    assert config.base_url is not None and SECRET in config.base_url  # still usable in memory


def test_storage_config_repr_masks_keyword_dsn_passwords_and_extra() -> None:
    config = StorageConfig(
        storage_type="postgres",
        connection_string="host=db password=hunter2 dbname=x",
        extra={"password": "p2"},
    )
    assert "hunter2" not in repr(config) and "'p2'" not in repr(config)


def test_storage_config_hides_encryption_key() -> None:
    key = "correct-horse-battery-staple-key-0001"
    config = StorageConfig(encryption_enabled=True, encryption_key=key)
    assert config.encryption_key == key
    assert key not in _all_text(config)
    assert "encryption_key" not in config.model_dump()


# --- StorageConfig identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "sessions; DROP TABLE users",
        "x' OR '1'='1",
        'a"b',
        "a-b",
        "1abc",
        "a b",
        "",
        "t" * 64,
        "tab\nle",
        "ü_table",
    ],
)
def test_storage_config_rejects_injection_shaped_table_names(table: str) -> None:
    with pytest.raises(StorageError) as info:
        StorageConfig(storage_type="postgres", table_name=table)
    message = str(info.value)
    assert "is not a valid identifier; use letters, digits and underscores" in message
    assert "table_name" in message


@pytest.mark.parametrize("table", ["sessions", "_private", "Luminora_2026", "t" * 63])
def test_storage_config_accepts_plain_identifiers(table: str) -> None:
    assert StorageConfig(table_name=table).table_name == table


@pytest.mark.parametrize("prefix", ["a b", "x/../y", "", "p" * 65, "key*", "nb:s"])
def test_storage_config_rejects_bad_key_prefixes(prefix: str) -> None:
    with pytest.raises(StorageError, match="key_prefix"):
        StorageConfig(key_prefix=prefix)


# --- ChatResponse, MemoryConfig ------------------------------------------------------------------


def test_chat_response_fills_total_tokens() -> None:
    r = ChatResponse(content="Hi", usage={"prompt_tokens": 10, "completion_tokens": 20})
    assert r.usage == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert ChatResponse(usage={"completion_tokens": 4}).usage["total_tokens"] == 4
    assert (
        ChatResponse(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 9}).usage[
            "total_tokens"
        ]
        == 9
    )
    assert ChatResponse(content="chunk").usage == {}
    assert ChatResponse().role == "assistant"


def test_memory_config_has_the_eight_seed_fields_with_seed_defaults() -> None:
    assert set(MemoryConfig.model_fields) == {
        "enabled",
        "max_entries",
        "decay_factor",
        "importance_threshold",
        "track_topics",
        "track_preferences",
        "track_context",
        "track_emotions",
    }
    config = MemoryConfig()
    assert config.model_dump() == {
        "enabled": True,
        "max_entries": 1000,
        "decay_factor": 0.1,
        "importance_threshold": 0.5,
        "track_topics": True,
        "track_preferences": True,
        "track_context": True,
        "track_emotions": False,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_entries", -1),
        ("decay_factor", -0.01),
        ("decay_factor", 1.5),
        ("importance_threshold", -0.1),
        ("importance_threshold", 2),
    ],
)
def test_memory_config_bounds(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        MemoryConfig(**{field: value})


def test_memory_config_accepts_its_edges() -> None:
    config = MemoryConfig(max_entries=0, decay_factor=1.0, importance_threshold=0.0)
    assert (config.max_entries, config.decay_factor, config.importance_threshold) == (0, 1.0, 0.0)


def test_models_validate_on_assignment() -> None:
    config = MemoryConfig()
    with pytest.raises(ValidationError):
        config.decay_factor = 3.0
    storage = StorageConfig()
    with pytest.raises(StorageError, match="not a valid identifier"):
        storage.table_name = "x; drop table y"


def test_session_config_bounds() -> None:
    # The seed's own SessionConfig example (a chat, 100 messages, 300 s) runs, with the same
    # check, in test_reference_examples.test_session_config_example.
    with pytest.raises(ValidationError):
        SessionConfig(max_history=-1)
    with pytest.raises(ValidationError):
        SessionConfig(timeout=-5)
    # Found by the fuzzer: an idle time beyond any clock raised OverflowError at the next turn.
    assert SessionConfig(timeout=MAX_SESSION_TIMEOUT).timeout == MAX_SESSION_TIMEOUT
    with pytest.raises(ValidationError, match="less than or equal to 1000000000"):
        SessionConfig(timeout=2**80)


def test_seed_conversation_with_naive_timestamp_round_trips() -> None:
    conversation = Conversation(
        session_id="session_123",
        messages=[Message(role=MessageRole.USER, content="Hello!", timestamp=datetime(2026, 5, 1, 12, 0))],
    )
    assert Conversation.model_validate_json(conversation.model_dump_json()) == conversation
    assert conversation.created_at.tzinfo is not None


# -- configs refuse unknown keywords (a typo never silently gives a default) ----------------


@pytest.mark.parametrize(
    ("build", "error", "expected"),
    [
        (lambda: StorageConfig(storage_typ="redis"), StorageError, "did you mean 'storage_type'"),
        (lambda: ProviderConfig(nme="openai"), ProviderError, "did you mean 'name'"),
        (lambda: SessionConfig(max_histry=3), SessionError, "did you mean 'max_history'"),
        (lambda: MemoryConfig(enable=False), SessionError, "did you mean 'enabled'"),
        (
            lambda: ProviderConfig.model_validate({"name": "openai", "zzz": 1}),
            ProviderError,
            "no field 'zzz'",
        ),
    ],
)
def test_configs_refuse_unknown_fields_naming_the_nearest(build: Any, error: type, expected: str) -> None:
    with pytest.raises(error, match=expected):
        build()


def test_stored_records_tolerate_session_settings_of_a_newer_version() -> None:
    from luminora_nb.types.session import Conversation, SessionRecord

    record = SessionRecord.model_validate(
        {
            "session_id": "s1",
            "personality_name": "p",
            "personality": {"name": "p", "system_prompt": "Hi."},
            "provider_config": {"name": "offline"},
            "session_config": {"max_history": 7, "a_setting_from_the_future": True},
            "conversation": Conversation(session_id="s1").model_dump(mode="json"),
        }
    )
    assert record.session_config.max_history == 7


def test_configs_coerce_dicts_and_names_into_the_librarys_errors() -> None:
    assert StorageConfig.coerce("DuckDB").storage_type is StorageType.DUCKDB
    assert StorageConfig.coerce({"storage_type": "file"}).storage_type is StorageType.FILE
    assert MemoryConfig.coerce({"max_entries": 3}).max_entries == 3
    with pytest.raises(
        StorageError, match="invalid storage config: connect_timeout: Input should be greater"
    ):
        StorageConfig.coerce({"connect_timeout": 0})
    with pytest.raises(StorageError, match="not list"):
        StorageConfig.coerce([("storage_type", "memory")])  # type: ignore[arg-type]
    with pytest.raises(SessionError, match="invalid memory_config: decay_factor"):
        MemoryConfig.coerce({"decay_factor": 2})
    with pytest.raises(
        ProviderError, match="invalid provider_config: extra: Input should be a valid dictionary"
    ):
        ProviderConfig.coerce({"name": "offline", "extra": 5})


def test_a_connection_string_holding_nul_is_refused() -> None:
    # Found by the fuzzer: DuckDB and the file store ended the path at NUL ("a\x00b" opened "a").
    with pytest.raises(StorageError, match="NUL"):
        StorageConfig(storage_type="duckdb", connection_string="a\x00b.duckdb")
