"""The provider base: the generation-parameter checks every adapter shares."""

from __future__ import annotations

from typing import Any

import pytest

from luminora_nb.errors import ProviderBadRequestError
from luminora_nb.providers import ChatRequest, Provider
from luminora_nb.providers.base import check_generation_params
from luminora_nb.types import ChatResponse, ProviderConfig


@pytest.mark.parametrize(
    ("params", "checked"),
    [
        ({}, {}),
        ({"temperature": 0, "top_p": 1, "max_tokens": 1}, {"temperature": 0, "top_p": 1, "max_tokens": 1}),
        ({"temperature": 2.0, "top_p": 0.0}, {"temperature": 2.0, "top_p": 0.0}),
        ({"stop": "END"}, {"stop": ["END"]}),
        ({"stop": ("a", "", "b")}, {"stop": ["a", "b"]}),
        ({"stop": ""}, {}),
        ({"stop": []}, {}),
        ({"temperature": None, "max_tokens": None}, {}),
    ],
)
def test_valid_parameters_pass_normalised(params: dict[str, Any], checked: dict[str, Any]):
    assert check_generation_params(params, provider="openai") == checked


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": -0.1}, "temperature must lie between 0 and 2, got -0.1"),
        ({"temperature": 2.5}, "temperature must lie between 0 and 2"),
        ({"temperature": "hot"}, "temperature must be a finite number, got 'hot'"),
        ({"temperature": float("nan")}, "temperature must be a finite number"),
        ({"temperature": True}, "temperature must be a finite number"),
        ({"top_p": 1.5}, "top_p must lie between 0 and 1"),
        ({"top_p": [0.5]}, "top_p must be a finite number"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer, got 0"),
        ({"max_tokens": 10.0}, "max_tokens must be a positive integer"),
        ({"max_tokens": "ten"}, "max_tokens must be a positive integer"),
        ({"max_tokens": False}, "max_tokens must be a positive integer"),
        ({"stop": 5}, "stop must be a string or a list of strings, got 5"),
        ({"stop": ["ok", 3]}, "stop must be a string or a list of strings"),
        ({"seed": 1}, "unknown generation parameter 'seed'"),
    ],
)
def test_bad_parameters_are_bad_requests_naming_the_parameter(params: dict[str, Any], message: str):
    with pytest.raises(ProviderBadRequestError, match=message) as info:
        check_generation_params(params, provider="mistral")
    assert info.value.provider == "mistral" and not info.value.retryable
    assert str(info.value).startswith("mistral: ")


class _Simulator(Provider):
    """A provider without HTTP, calling the shared checks the way the offline simulator should."""

    name = "simulator"

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.config_params()  # a bad ProviderConfig.extra fails here, at session creation

    async def chat(self, request: ChatRequest) -> ChatResponse:
        params = self.generation_params(request)  # config extra + per-call params, checked
        return ChatResponse(content=repr(sorted(params.items())), finish_reason="stop")

    async def stream(self, request: ChatRequest):
        yield await self.chat(request)


async def test_a_provider_gets_merged_checked_parameters():
    provider = _Simulator(
        ProviderConfig(name="simulator", extra={"temperature": 0.5, "stop": "END", "seed": 3})
    )
    reply = await provider.chat(ChatRequest(messages=[], params={"temperature": 0.9, "max_tokens": 7}))
    assert reply.content == "[('max_tokens', 7), ('stop', ['END']), ('temperature', 0.9)]"
    with pytest.raises(ProviderBadRequestError, match="simulator: max_tokens must be a positive integer"):
        await provider.chat(ChatRequest(messages=[], params={"max_tokens": -1}))


def test_a_bad_config_parameter_fails_at_construction():
    with pytest.raises(ProviderBadRequestError, match="temperature must lie between 0 and 2"):
        _Simulator(ProviderConfig(name="simulator", extra={"temperature": 9}))
