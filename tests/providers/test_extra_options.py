"""``send_message(..., seed=7)``: options we do not model reach HTTP providers as given.

Each adapter puts them where its API takes them (top level; Gemini's ``generationConfig``;
Ollama's ``options``), never over a field the adapter sets; the offline simulator refuses
them with the accepted list; credentials and values JSON cannot hold are refused at the call.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx
import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.errors import ProviderBadRequestError, SessionError
from luminora_nb.providers import ChatRequest, create_provider, register_provider
from luminora_nb.providers.openai import OpenAIProvider
from luminora_nb.types import ChatMessage, ProviderConfig

REPLIES: dict[str, dict[str, Any]] = {
    "openai": {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]},
    "mistral": {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]},
    "anthropic": {
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
    "cohere": {"message": {"content": [{"type": "text", "text": "ok"}]}, "finish_reason": "COMPLETE"},
    "google": {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]},
    "llama": {"message": {"role": "assistant", "content": "ok"}, "done": True, "done_reason": "stop"},
}


class Vendor:
    """A mock transport answering every call with the vendor's reply, keeping the bodies."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.transport = httpx.MockTransport(self._answer)
        self.reply = reply

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, json=self.reply)


def ask(**extra: Any) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage(role="user", content="hi")], extra=extra)


async def sent(name: str, request: ChatRequest) -> dict[str, Any]:
    vendor = Vendor(REPLIES[name])
    key = None if name == "llama" else "sk-test-123456"
    provider = create_provider(ProviderConfig(name=name, api_key=key), transport=vendor.transport)
    reply = await provider.chat(request)
    assert reply.content == "ok"
    return vendor.bodies[0]


@pytest.mark.parametrize("name", ["openai", "mistral", "anthropic", "cohere"])
async def test_top_level_vendors_get_the_options_beside_their_own_fields(name: str) -> None:
    body = await sent(name, ask(seed=7, presence_penalty=0.5, response_format={"type": "json_object"}))
    assert body["seed"] == 7 and body["presence_penalty"] == 0.5
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"]  # the adapter's own fields are untouched


async def test_gemini_options_go_into_generation_config_except_its_top_level_fields() -> None:
    body = await sent("google", ask(seed=3, responseMimeType="application/json", safetySettings=[]))
    assert body["generationConfig"]["seed"] == 3
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["safetySettings"] == [] and "seed" not in body


async def test_ollama_options_go_into_options_except_format_and_keep_alive() -> None:
    body = await sent("llama", ask(seed=3, num_ctx=4096, format="json", keep_alive="5m"))
    assert body["options"] == {"seed": 3, "num_ctx": 4096}
    assert body["format"] == "json" and body["keep_alive"] == "5m"


@pytest.mark.parametrize("field", ["messages", "model", "stream"])
async def test_an_option_never_replaces_a_field_the_adapter_sets(field: str) -> None:
    with pytest.raises(ProviderBadRequestError, match=f"'{field}'.*would replace"):
        await sent("openai", ask(**{field: "x"}))


async def test_through_the_client_for_this_turn_only() -> None:
    vendor = Vendor(REPLIES["openai"])
    register_provider("openai", functools.partial(OpenAIProvider, transport=vendor.transport), replace=True)
    try:
        async with LuminoraCoreClient() as client:
            sid = await client.create_session("aurora", {"name": "openai", "api_key": "sk-test-123456"})
            await client.send_message(sid, "Hello!", seed=42, logit_bias={"50256": -100})
            await client.send_message(sid, "Again")
            first, second = vendor.bodies
            assert first["seed"] == 42 and first["logit_bias"] == {"50256": -100}
            assert "seed" not in second  # per turn, never remembered
            stored = await client.get_conversation(sid)
            assert stored is not None and "seed" not in json.dumps(stored.model_dump(mode="json"))
    finally:
        register_provider("openai", OpenAIProvider, replace=True)


async def test_the_offline_provider_refuses_them_with_the_accepted_list() -> None:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora")
        with pytest.raises(
            SessionError, match=r"\['seed'\] for the offline provider; accepted: .*temperature"
        ):
            await client.send_message(sid, "hi", seed=1)
        conversation = await client.get_conversation(sid)
        assert conversation is not None and conversation.messages == []  # nothing stored


@pytest.mark.parametrize(
    ("options", "message"),
    [({"api_key": "sk-x"}, "looks like a credential"), ({"seed": float("nan")}, "cannot be sent as JSON")],
)
async def test_credentials_and_non_json_values_are_refused_at_the_call(
    options: dict[str, Any], message: str
) -> None:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora")
        with pytest.raises(SessionError, match=message):
            await client.send_message(sid, "hi", **options)
