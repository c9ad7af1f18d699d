"""llama adapter: Ollama's native /api/chat (NDJSON) and the OpenAI-compatible mode."""

from __future__ import annotations

import pytest

from luminora_nb.errors import ProviderError
from luminora_nb.providers import create_provider
from luminora_nb.providers.llama import LlamaProvider
from luminora_nb.types import ProviderConfig

from .conftest import MakeHarness, collect, user_request
from .mock_vendor import MockVendor
from .wire import StreamError


async def test_ollama_request_wire_format(mock: MakeHarness):
    h = await mock("llama", temperature=0.0, top_p=0.9, max_tokens=12, stop=["<|eot|>"])
    await h.provider.chat(user_request("hi"))
    await collect(h.provider, user_request("hi"))
    plain, streamed = h.scenario.requests
    assert plain.path == "/api/chat"
    assert "authorization" not in plain.headers
    expected = {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}],
        "stream": False,  # always explicit: Ollama streams by default
        "options": {"temperature": 0.0, "top_p": 0.9, "num_predict": 12, "stop": ["<|eot|>"]},
    }
    assert plain.body == expected
    assert streamed.body == {**expected, "stream": True}
    assert streamed.headers["accept"] == "application/x-ndjson"


async def test_ollama_error_line_in_stream(mock: MakeHarness):
    h = await mock("llama", actions=[StreamError(after=2, message="model runner has unexpectedly stopped")])
    with pytest.raises(ProviderError, match="model runner has unexpectedly stopped"):
        await collect(h.provider, user_request())


async def test_ollama_model_not_found_is_a_bad_request(vendor_mock: MockVendor):
    scenario = vendor_mock.scenario("ollama", key=None, model="llama3.2")
    provider = create_provider(
        ProviderConfig(name="llama", base_url=scenario.base_url, model="llama9"), transport=scenario.transport
    )
    try:
        with pytest.raises(ProviderError, match="model 'llama9' does not exist") as info:
            await provider.chat(user_request())
        assert info.value.status == 400 and not info.value.retryable
    finally:
        await provider.aclose()


async def test_openai_mode_wire_format(mock: MakeHarness):
    h = await mock("llama_openai", max_tokens=8)
    chunks = await collect(h.provider, user_request())
    (sent,) = h.scenario.requests
    assert sent.path == "/v1/chat/completions"
    assert "authorization" not in sent.headers
    assert sent.body["max_tokens"] == 8 and sent.body["model"] == "gemma-3-270m"
    assert sent.body["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage["completion_tokens"] == 5


async def test_openai_mode_sends_a_key_when_one_is_given(vendor_mock: MockVendor):
    scenario = vendor_mock.scenario("openai_compat", key="vllm-key-123456", model="m")
    provider = create_provider(
        ProviderConfig(name="llama", base_url=scenario.base_url, model="m", api_key="vllm-key-123456"),
        transport=scenario.transport,
    )
    try:
        assert (await provider.chat(user_request())).content == "Echo: hello there — done."
        assert scenario.requests[0].headers["authorization"] == "Bearer vllm-key-123456"
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("base_url", "extra", "api", "url"),
    [
        (None, None, "ollama", "http://localhost:11434/api/chat"),
        ("http://gpu-box:11434", None, "ollama", "http://gpu-box:11434/api/chat"),
        ("http://127.0.0.1:8000/v1", None, "openai", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1/", None, "openai", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000", {"api": "openai"}, "openai", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://localhost:11434/v1", {"api": "ollama"}, "ollama", "http://localhost:11434/v1/api/chat"),
    ],
)
def test_api_switch(base_url, extra, api, url):
    provider = LlamaProvider(ProviderConfig(name="llama", base_url=base_url, extra=extra))
    assert provider.api == api
    assert provider.url(provider.endpoint(stream=True)[0]) == url
    assert provider.stream_format() == ("ndjson" if api == "ollama" else "sse")
    assert f"api={api!r}" in repr(provider)


def test_unknown_api_is_rejected():
    with pytest.raises(ProviderError, match="extra\\['api'\\] must be 'ollama'.*or 'openai'"):
        LlamaProvider(ProviderConfig(name="llama", extra={"api": "grpc"}))


async def test_ollama_error_line_before_text_is_not_retried_unless_transient(mock: MakeHarness):
    h = await mock("llama", actions=[StreamError(after=0, message="model requires more system memory")])
    with pytest.raises(ProviderError, match="more system memory") as info:
        await collect(h.provider, user_request())
    assert not info.value.retryable
    assert len(h.scenario.requests) == 1 and h.delays == []


@pytest.mark.parametrize("message", ["server busy, please try again.", "server overloaded, please retry"])
async def test_ollama_server_busy_in_stream_is_retried(mock: MakeHarness, message: str):
    h = await mock("llama", actions=[StreamError(after=0, message=message)])
    chunks = await collect(h.provider, user_request())
    assert "".join(c.content for c in chunks) == "Echo: hello there — done."
    assert len(h.scenario.requests) == 2
