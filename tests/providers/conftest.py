"""Fixtures of the provider tests: the vendors (in-process or on a socket) and adapter factories.

``mock`` builds adapters whose requests go through ``httpx.MockTransport`` to a
:class:`~.wire.Scenario` (fast: most tests); ``make`` builds them against the loopback
:class:`~.vendor_server.VendorServer` (what needs a socket: drops, stalls, slow streams,
connection reuse, end-to-end turns). Both return the same :class:`Harness`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from luminora_nb.providers import ChatRequest, Provider, create_provider
from luminora_nb.providers._http import HTTPProvider
from luminora_nb.types import ChatMessage, ChatResponse, ProviderConfig

from .mock_vendor import MockVendor
from .vendor_server import VendorServer
from .wire import Action, Reply, Scenario


@dataclass(frozen=True)
class Case:
    """One adapter under test and the vendor format the server must speak to it."""

    id: str
    provider: str
    vendor: str
    model: str
    needs_key: bool = True
    extra: tuple[tuple[str, Any], ...] = ()


CASES: dict[str, Case] = {
    "openai": Case("openai", "openai", "openai", "gpt-4o-mini"),
    "anthropic": Case("anthropic", "anthropic", "anthropic", "claude-haiku-4-5"),
    "mistral": Case("mistral", "mistral", "mistral", "mistral-small-latest"),
    "cohere": Case("cohere", "cohere", "cohere", "command-a-03-2025"),
    "google": Case("google", "google", "google", "gemini-2.5-flash"),
    "llama": Case("llama", "llama", "ollama", "llama3.2", needs_key=False),
    "llama_openai": Case(
        "llama_openai", "llama", "openai_compat", "gemma-3-270m", needs_key=False, extra=(("api", "openai"),)
    ),
}
ALL_CASES = list(CASES)
#: Every adapter that needs an API key.
KEYED_CASES = [c for c in ALL_CASES if CASES[c].needs_key]

#: Fast, deterministic retry timing for tests (real defaults are 0.5 s .. 8 s).
FAST_RETRY = {"retry_base_delay": 0.001, "retry_max_delay": 0.005}


def new_key() -> str:
    return f"sk-test-{secrets.token_hex(12)}"


def user_request(text: str = "hello there", *, system: str | None = "You are terse.") -> ChatRequest:
    return ChatRequest(system=system, messages=[ChatMessage(role="user", content=text)])


async def collect(provider: Provider, request: ChatRequest) -> list[ChatResponse]:
    return [chunk async for chunk in provider.stream(request)]


async def turn(provider: Provider, request: ChatRequest, *, streamed: bool) -> tuple[str, ChatResponse]:
    """One turn, plain or streamed: the reply text and the response that ends the turn.

    Args:
        provider: The adapter under test.
        request: The conversation to send.
        streamed: Stream the reply (else one plain call).

    Returns:
        The whole reply text, and the plain reply or the stream's last chunk (the one that
        carries the finish reason, usage and metadata).
    """
    if streamed:
        chunks = await collect(provider, request)
        return "".join(c.content for c in chunks), chunks[-1]
    reply = await provider.chat(request)
    return reply.content, reply


async def one_turn(provider: Provider, request: ChatRequest, *, streamed: bool) -> str:
    """One turn, plain or streamed; the reply text."""
    text, _ = await turn(provider, request, streamed=streamed)
    return text


async def stream_into(provider: Provider, request: ChatRequest, *, into: list[str]) -> None:
    """Stream ``request``, appending each chunk's text to ``into`` as it arrives."""
    async for chunk in provider.stream(request):
        into.append(chunk.content)


@pytest.fixture(scope="session")
def vendor_server() -> Iterator[VendorServer]:
    with VendorServer() as server:
        yield server


@dataclass
class Harness:
    """A scenario of a vendor plus the adapter configured against it."""

    case: Case
    scenario: Scenario
    provider: HTTPProvider
    key: str | None
    delays: list[float]


MakeHarness = Callable[..., Awaitable[Harness]]
#: Makes a scenario: ``(vendor, *, key, model, actions) -> Scenario``.
Vendor = VendorServer | MockVendor


@pytest.fixture(scope="session")
def vendor_mock() -> MockVendor:
    return MockVendor()


async def _harnesses(vendor: Vendor) -> AsyncIterator[MakeHarness]:
    made: list[Provider] = []

    async def factory(
        case_id: str,
        *,
        actions: list[Action] | None = None,
        real_sleep: bool = False,
        model: str | None = None,
        **extra: Any,
    ) -> Harness:
        case = CASES[case_id]
        key = new_key() if case.needs_key else None
        scenario = vendor.scenario(case.vendor, key=key, model=model or case.model, actions=actions)
        config = ProviderConfig(
            name=case.provider,
            api_key=key,
            base_url=scenario.base_url,
            model=model or (case.model if case.provider == "llama" and case.vendor != "ollama" else None),
            extra={**dict(case.extra), **FAST_RETRY, **extra},
        )
        provider = create_provider(config, transport=scenario.transport)
        assert isinstance(provider, HTTPProvider)
        made.append(provider)
        delays: list[float] = []
        if not real_sleep:

            async def record(seconds: float) -> None:
                delays.append(seconds)

            provider.retry.sleep = record
        return Harness(case=case, scenario=scenario, provider=provider, key=key, delays=delays)

    yield factory
    for provider in made:
        await provider.aclose()


@pytest.fixture
async def make(vendor_server: VendorServer) -> AsyncIterator[MakeHarness]:
    """``await make(case_id, actions=[...], **extra)`` -> Harness against the socket server.

    Retry sleeps are recorded in ``harness.delays`` and not actually waited, so retry tests
    are instant while still proving which delay the policy chose; adapters are closed at
    teardown.
    """
    async for factory in _harnesses(vendor_server):
        yield factory


@pytest.fixture
async def mock(vendor_mock: MockVendor) -> AsyncIterator[MakeHarness]:
    """Like :func:`make`, with the vendor answering through ``httpx.MockTransport``."""
    async for factory in _harnesses(vendor_mock):
        yield factory


async def replies_finishing_with(
    mock: MakeHarness, case_id: str, finish: str
) -> tuple[ChatResponse, ChatResponse]:
    """What an adapter makes of the vendor finish reason ``finish``, plain and streamed.

    Args:
        mock: The :func:`mock` fixture.
        case_id: The adapter under test (a key of :data:`CASES`).
        finish: The finish reason as the vendor spells it.

    Returns:
        The reply of a plain turn, then the last chunk of a streamed one: the vendor
        answers both normally, finishing with ``finish``.
    """
    h = await mock(case_id, actions=[Reply(finish=finish), Reply(finish=finish)])
    plain = await h.provider.chat(user_request())
    streamed = (await collect(h.provider, user_request()))[-1]
    return plain, streamed
