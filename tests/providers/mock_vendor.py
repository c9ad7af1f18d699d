"""The vendors of :mod:`.wire`, answering in-process through ``httpx.MockTransport``.

No socket, no thread: a request goes from the adapter's ``httpx`` client straight to
the scenario (checked and recorded exactly as the socket server does it) and the answer
comes back as an ``httpx.Response`` — a whole body, or a stream delivered frame by frame
to the adapter's SSE/NDJSON parser. What needs time or a real connection (``Stall``,
``Drop``, ``Reply(gap=...)``) is refused with a pointer to :mod:`.vendor_server`.

Example:
    >>> scenario = MockVendor().scenario("openai", key="sk-test", model="gpt-4o-mini")
    >>> scenario.base_url.startswith("http://openai.vendor.test/s/")
    True
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from .wire import Action, Frame, Scenario, recorded_request, split_path

__all__ = ["MockVendor"]


class _Frames(httpx.AsyncByteStream):
    def __init__(self, frames: list[Frame]) -> None:
        self._frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self._frames:
            yield frame.data


def _answer(scenario: Scenario, request: httpx.Request) -> httpx.Response:
    routed = split_path(request.url.path)
    assert routed is not None and routed[0] == scenario.id, f"request for another scenario: {request.url}"
    req = recorded_request(
        scenario,
        method=request.method,
        path=routed[1],
        query=request.url.query.decode(),
        headers=request.headers.items(),
        raw=request.content,
    )
    answer = scenario.respond(req)
    if answer.needs_socket:
        raise AssertionError(
            "this answer (a stall, a slow stream or a dropped connection) needs a real socket: "
            "use the `make` fixture (vendor_server.py), not `mock`"
        )
    headers = {"Content-Type": answer.content_type, **answer.headers}
    if answer.frames is None:
        return httpx.Response(answer.status, headers=headers, content=answer.body)
    return httpx.Response(answer.status, headers=headers, stream=_Frames(answer.frames))


class MockVendor:
    """Makes scenarios whose ``transport`` is an ``httpx.MockTransport`` answering for them."""

    def scenario(
        self, vendor: str, *, key: str | None, model: str, actions: list[Action] | None = None
    ) -> Scenario:
        scenario = Scenario(
            vendor,
            root=f"http://{vendor.replace('_', '-')}.vendor.test",
            key=key,
            model=model,
            actions=actions,
        )
        scenario.transport = httpx.MockTransport(lambda request: _answer(scenario, request))
        return scenario
