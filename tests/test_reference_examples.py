"""Every code example of the API reference (../shared/seed/API_REFERENCE.md), run as written.

Top-level ``await`` examples are wrapped in coroutines; the provider is the offline
simulator wherever the example sends a message. The v1.1 examples whose features exist
already (v1.1 storage, affinity, facts, episodes, the typed dicts) run too.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest


async def test_client_construction_example() -> None:
    from luminoracore import LuminoraCoreClient
    from luminoracore.types.session import MemoryConfig, StorageConfig

    client = LuminoraCoreClient(
        storage_config=StorageConfig(storage_type="memory"),
        memory_config=MemoryConfig(),
    )
    await client.initialize()
    assert client.storage.backend_name == "memory"
    await client.cleanup()


async def test_client_methods_as_documented() -> None:
    from luminoracore import LuminoraCoreClient
    from luminoracore.types.provider import ChatResponse, ProviderConfig
    from luminoracore.types.session import Conversation

    client = LuminoraCoreClient()
    await client.initialize()
    await client.load_personality(
        "helpful_assistant",
        {
            "name": "helpful_assistant",
            "description": "A helpful AI assistant",
            "system_prompt": "You are a helpful AI assistant.",
        },
    )
    personality = await client.get_personality("helpful_assistant")
    assert personality is not None and personality.system_prompt == "You are a helpful AI assistant."
    assert await client.get_personality("nobody") is None

    blended = await client.blend_personalities(["aurora", "helpful_assistant"], [0.6, 0.4], "aurora_helper")
    assert blended.name == "aurora_helper"
    assert await client.get_personality("aurora_helper") is not None

    session_id = await client.create_session("aurora_helper", ProviderConfig(name="offline"))
    assert isinstance(session_id, str)
    response = await client.send_message(session_id, "Hello!")
    assert isinstance(response, ChatResponse) and response.content

    chunks = [chunk async for chunk in client.stream_message(session_id, "What is a black hole?")]
    assert all(isinstance(c, ChatResponse) for c in chunks) and len(chunks) > 1

    conversation = await client.get_conversation(session_id)
    assert isinstance(conversation, Conversation)
    assert [m.content for m in conversation.messages][1] == response.content
    assert conversation.messages[-1].content == "".join(c.content for c in chunks)
    assert await client.get_conversation("no_such_session") is None

    await client.store_memory(session_id, "favourite_colour", "teal")
    assert await client.get_memory(session_id, "favourite_colour") == "teal"
    assert await client.get_memory(session_id, "never_set") is None
    await client.cleanup()


def test_personality_data_example() -> None:
    from luminoracore.types.personality import PersonalityData

    personality = PersonalityData(
        name="helpful_assistant",
        description="A helpful AI assistant",
        system_prompt="You are a helpful AI assistant.",
        metadata={},
    )
    assert personality.name_override is None and personality.description_override is None
    assert PersonalityData.model_validate_json(personality.model_dump_json()) == personality


def test_personality_blend_example() -> None:
    from luminoracore.types.personality import PersonalityBlend, PersonalityData

    personality1 = PersonalityData(name="one", description="first", system_prompt="You are one.")
    personality2 = PersonalityData(name="two", description="second", system_prompt="You are two.")
    blend = PersonalityBlend(
        personalities=[personality1, personality2], weights=[0.6, 0.4], blend_type="weighted"
    )
    assert blend.custom_rules is None
    assert blend.normalised_weights == [0.6, 0.4]


def test_session_config_example() -> None:
    from luminoracore.types.session import SessionConfig, SessionType

    config = SessionConfig(
        session_id="session_123",
        personality={"name": "helpful_assistant"},
        provider_config={"name": "openai"},
        session_type=SessionType.CHAT,
        max_history=100,
        timeout=300,
    )
    assert config.session_type is SessionType.CHAT and config.timeout == 300


def test_conversation_example() -> None:
    from luminoracore.types.session import Conversation, Message, MessageRole

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # utcnow() is deprecated in 3.12+
        conversation = Conversation(
            session_id="session_123",
            messages=[Message(role=MessageRole.USER, content="Hello!", timestamp=datetime.utcnow())],
        )
    assert conversation.messages[0].role is MessageRole.USER
    assert isinstance(conversation.created_at, datetime) and isinstance(conversation.updated_at, datetime)
    assert conversation.metadata == {}


def test_provider_config_example() -> None:
    from luminoracore.types.provider import ProviderConfig

    config = ProviderConfig(
        name="openai",
        api_key="your-api-key",
        model="gpt-3.5-turbo",
        base_url="https://api.openai.com/v1",
        extra={"timeout": 30, "max_retries": 3},
    )
    assert config.api_key == "your-api-key"
    assert "your-api-key" not in repr(config) and "your-api-key" not in config.model_dump_json()


def test_supported_provider_names() -> None:
    from luminora_nb.providers import available_providers

    assert {"openai", "anthropic", "mistral", "cohere", "google", "llama"} <= set(available_providers())


def test_storage_config_examples() -> None:
    from luminoracore.types.session import StorageConfig, StorageType

    config = StorageConfig(storage_type=StorageType.MEMORY)
    assert config.storage_type is StorageType.MEMORY
    config = StorageConfig(storage_type=StorageType.REDIS, connection_string="redis://localhost:6379")
    assert config.connection_string == "redis://localhost:6379"
    config = StorageConfig(
        storage_type=StorageType.POSTGRES, connection_string="postgresql://user:password@localhost/db"
    )
    assert config.storage_type is StorageType.POSTGRES
    config = StorageConfig(storage_type=StorageType.MONGODB, connection_string="mongodb://localhost:27017/db")
    assert config.storage_type is StorageType.MONGODB
    assert {"table_name", "auto_create_tables", "encryption_enabled", "compression_enabled"} <= set(
        StorageConfig.model_fields
    )


def test_memory_config_example() -> None:
    from luminoracore.types.session import MemoryConfig

    config = MemoryConfig(
        enabled=True,
        max_entries=1000,
        decay_factor=0.1,
        importance_threshold=0.5,
        track_topics=True,
        track_preferences=True,
        track_context=True,
        track_emotions=False,
    )
    assert config.track_emotions is False and config.max_entries == 1000


def test_enums_as_documented() -> None:
    from luminoracore.types.session import MessageRole, SessionType, StorageType

    assert {m.name for m in SessionType} == {"STATEFUL", "STATELESS", "CHAT"}
    assert {m.name for m in MessageRole} == {"USER", "ASSISTANT", "SYSTEM"}
    assert {"MEMORY", "REDIS", "POSTGRES", "MONGODB", "FILE"} <= {m.name for m in StorageType}


def test_chat_message_and_response_examples() -> None:
    from luminoracore.types.provider import ChatMessage, ChatResponse

    message = ChatMessage(role="user", content="Hello!")
    assert message.role == "user"
    response = ChatResponse(
        content="Hello! How can I help you?",
        role="assistant",
        finish_reason="stop",
        usage={"prompt_tokens": 10, "completion_tokens": 20},
        model="gpt-3.5-turbo",
    )
    assert response.usage["total_tokens"] == 30


async def test_error_handling_example(capsys: pytest.CaptureFixture[str]) -> None:
    from luminoracore import LuminoraCoreClient
    from luminoracore.utils.exceptions import PersonalityError, SessionError

    client = LuminoraCoreClient()
    try:
        await client.load_personality("invalid", {})
    except PersonalityError as e:
        print(f"Personality error: {e}")
    try:
        await client.send_message("invalid_session", "Hello")
    except SessionError as e:
        print(f"Session error: {e}")
    out = capsys.readouterr().out
    assert "Personality error: personality 'invalid': data is empty" in out
    assert "Session error: unknown session 'invalid_session'" in out
    await client.cleanup()


async def test_migration_v10_example() -> None:
    from luminoracore import LuminoraCoreClient
    from luminoracore.types.provider import ProviderConfig

    client = LuminoraCoreClient()
    session_id = await client.create_session("aurora", ProviderConfig(name="offline"))
    response = await client.send_message(session_id, "Hello")
    assert response.finish_reason == "stop" and response.content
    await client.cleanup()


# -- v1.1 examples that already run --------------------------------------------------
async def test_v11_client_and_storage_construction() -> None:
    from luminoracore_sdk import LuminoraCoreClient
    from luminoracore_sdk.client_v1_1 import LuminoraCoreClientV11
    from luminoracore_sdk.session.storage_v1_1 import InMemoryStorageV11

    base_client = LuminoraCoreClient()
    storage_v11 = InMemoryStorageV11()
    client_v11 = LuminoraCoreClientV11(base_client, storage_v11=storage_v11)
    assert client_v11.storage is storage_v11


async def test_in_memory_storage_v11_example() -> None:
    from luminoracore_sdk.session.storage_v1_1 import InMemoryStorageV11

    storage = InMemoryStorageV11()
    assert await storage.save_affinity("user1", "alicia", 50, "friend") is True
    affinity = await storage.get_affinity("user1", "alicia")
    assert affinity is not None
    assert (affinity["affinity_points"], affinity["current_level"]) == (50, "friend")


def test_v11_typed_dict_examples() -> None:
    from luminoracore_sdk.types.memory import EpisodeDict, FactDict
    from luminoracore_sdk.types.relationship import AffinityDict

    fact: FactDict = {
        "user_id": "user123",
        "category": "personal_info",
        "key": "name",
        "value": "Diego",
        "confidence": 0.99,
    }
    episode: EpisodeDict = {
        "user_id": "user123",
        "episode_type": "emotional_moment",
        "title": "Loss of pet",
        "summary": "User's dog passed away",
        "importance": 9.5,
        "sentiment": "very_negative",
    }
    affinity: AffinityDict = {
        "user_id": "user123",
        "personality_name": "alicia",
        "affinity_points": 50,
        "current_level": "friend",
    }
    from luminora_nb.types import Affinity, Episode, Fact

    assert Fact.model_validate(fact).value == "Diego"
    assert Episode.model_validate(episode).importance == 9.5
    assert Affinity.model_validate(affinity).current_level == "friend"


# The API reference's "Complete Example" (v1.1), exactly as written there; test_kernel pastes
# it into a real kernel cell too.
V11_COMPLETE_EXAMPLE = """\
import asyncio
from luminoracore_sdk import LuminoraCoreClient
from luminoracore_sdk.client_v1_1 import LuminoraCoreClientV11
from luminoracore_sdk.session.storage_v1_1 import InMemoryStorageV11

async def example():
    # Initialize
    base_client = LuminoraCoreClient()
    await base_client.initialize()

    storage_v11 = InMemoryStorageV11()
    client_v11 = LuminoraCoreClientV11(base_client, storage_v11=storage_v11)

    # Use v1.1 features
    affinity = await client_v11.update_affinity(
        "user123", "alicia", points_delta=5, interaction_type="positive"
    )

    facts = await client_v11.get_facts("user123")
    episodes = await client_v11.get_episodes("user123", min_importance=7.0)

    print(f"Affinity: {affinity['affinity_points']} points")
    print(f"Facts: {len(facts)}")
    print(f"Episodes: {len(episodes)}")

    await base_client.cleanup()

asyncio.run(example())
"""


def test_v11_complete_example(capsys: pytest.CaptureFixture[str]) -> None:
    # the text itself is run, comments and all, as a script would run it
    exec(compile(V11_COMPLETE_EXAMPLE, "<API reference: Complete Example>", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.splitlines() == ["Affinity: 5 points", "Facts: 0", "Episodes: 0"]


async def test_v11_memory_and_affinity_methods() -> None:
    from luminoracore_sdk import LuminoraCoreClient
    from luminoracore_sdk.client_v1_1 import LuminoraCoreClientV11
    from luminoracore_sdk.session.storage_v1_1 import InMemoryStorageV11

    storage = InMemoryStorageV11()
    client_v11 = LuminoraCoreClientV11(LuminoraCoreClient(), storage_v11=storage)
    await storage.save_fact("user123", "personal_info", "name", "Diego", confidence=0.99)
    await storage.save_fact("user123", "preferences", "pet", "dog", confidence=0.8)
    facts = await client_v11.get_facts(user_id="user123")
    personal_facts = await client_v11.get_facts("user123", category="personal_info")
    assert len(facts) == 2 and [f["value"] for f in personal_facts] == ["Diego"]

    for importance in (3.0, 9.5, 7.5):
        await storage.save_episode("user123", "moment", f"t{importance}", "s", importance, "neutral")
    episodes = await client_v11.get_episodes(user_id="user123")
    important = await client_v11.get_episodes("user123", min_importance=7.0, max_results=10)
    assert len(episodes) == 3 and [e["importance"] for e in important] == [9.5, 7.5]

    # A relationship that has not started has a state (#13): the starting one, not saved.
    affinity = await client_v11.get_affinity("user123", "alicia")
    assert affinity is not None and affinity["affinity_points"] == 0
    assert affinity["total_interactions"] == 0 and affinity["current_level"] == "stranger"
    assert await storage.get_affinity("user123", "alicia") is None
    updated = await client_v11.update_affinity(
        user_id="user123", personality_name="alicia", points_delta=5, interaction_type="positive"
    )
    assert updated is not None and updated["affinity_points"] == 5
    affinity = await client_v11.get_affinity("user123", "alicia")
    assert affinity is not None
    print(f"Points: {affinity['affinity_points']}")
    print(f"Level: {affinity['current_level']}")
