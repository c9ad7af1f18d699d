"""Shared ``httpx.AsyncClient`` instances: connection reuse across adapters, turns and sessions.

One client per event loop and *client key*, reference counted: every adapter built from
an equal configuration (same origin, same :class:`~._settings.HTTPSettings`) on the same
loop shares it, so connections are kept alive across turns and sessions, and it is
closed when the last of those adapters is closed. Connections belong to the loop that
opened them: an adapter used from another loop gives its share back (closing the client
over there, on its own loop, if it was the last user) and takes one on the new loop.

The clients keep no cookies (:class:`_NoCookies`): one client serves every API key of an
equal configuration, and a cookie jar would carry one key's session into another key's
requests. The CA bundle is loaded once per process.

**Injected transports.** An adapter given an ``httpx`` transport (``transport=`` on the
provider, e.g. ``httpx.MockTransport`` in tests) gets a client of its own around it,
shared only with adapters given the *same* transport object, on the same loop. Such a
client reads no proxy settings from the environment (the transport decides where bytes
go), and closing it closes the transport, as ``httpx`` does: a transport belongs to the
adapters it was given to.

Example:
    >>> key = ClientKey.for_base_url("https://api.openai.com/v1", HTTPSettings())
    >>> key.origin
    'https://api.openai.com/'
"""

from __future__ import annotations

import asyncio
import functools
import http.cookiejar
import ssl
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from ._settings import HTTPSettings

__all__ = ["ClientKey", "LoopClient"]


@dataclass(frozen=True, slots=True)
class ClientKey:
    """What makes two adapters able to share one client."""

    origin: str
    settings: HTTPSettings
    transport: httpx.AsyncBaseTransport | None = None

    @classmethod
    def for_base_url(
        cls, base_url: str, settings: HTTPSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> ClientKey:
        """The key of an adapter talking to ``base_url`` (clients are per origin)."""
        if transport is not None:
            # The transport decides everything a client would: share by transport alone.
            return cls(origin="", settings=HTTPSettings(), transport=transport)
        return cls(origin=str(httpx.URL(base_url).copy_with(path="/", query=None)), settings=settings)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1-0.3 s; do it once per process, not per client.
    return httpx.create_ssl_context(trust_env=True)


class _NoCookies(http.cookiejar.CookiePolicy):
    """Refuse to store or send any cookie.

    One client is shared by every adapter with an equal configuration, whatever its API
    key; a cookie jar would carry one key's session (load-balancer affinity, auth cookies)
    into another key's requests. LLM APIs need no cookies.
    """

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def _new_client(key: ClientKey) -> httpx.AsyncClient:
    jar = http.cookiejar.CookieJar(policy=_NoCookies())
    if key.transport is not None:
        return httpx.AsyncClient(transport=key.transport, trust_env=False, cookies=jar)
    limits = httpx.Limits(
        max_connections=key.settings.max_connections,
        max_keepalive_connections=key.settings.max_connections,
        keepalive_expiry=30.0,
    )
    return httpx.AsyncClient(
        timeout=key.settings.httpx_timeout(),
        limits=limits,
        verify=_ssl_context(),
        trust_env=True,
        cookies=jar,
    )


class _SharedClient:
    __slots__ = ("client", "refs")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.refs = 0


class _ClientCache:
    """One AsyncClient per (event loop, client key), reference counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[ClientKey, _SharedClient]
        ] = weakref.WeakKeyDictionary()

    def acquire(self, loop: asyncio.AbstractEventLoop, key: ClientKey) -> httpx.AsyncClient:
        with self._lock:
            clients = self._by_loop.setdefault(loop, {})
            shared = clients.get(key)
            if shared is None or shared.client.is_closed:
                shared = _SharedClient(_new_client(key))
                clients[key] = shared
            shared.refs += 1
            return shared.client

    def release(self, loop: asyncio.AbstractEventLoop, key: ClientKey, client: httpx.AsyncClient) -> bool:
        """Drop one reference; True when the caller must close ``client`` (last user)."""
        with self._lock:
            clients = self._by_loop.get(loop)
            shared = clients.get(key) if clients is not None else None
            if clients is None or shared is None or shared.client is not client:
                return not client.is_closed
            shared.refs -= 1
            if shared.refs > 0:
                return False
            del clients[key]
            return True


_CLIENTS = _ClientCache()


def _close_on_loop(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
    """Close ``client`` on the loop that owns its connections, if that loop still runs."""
    if loop.is_running() and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(client.aclose(), loop)
    # A stopped loop took its sockets with it; nothing is left to close cleanly.


class LoopClient:
    """One adapter's share of the shared clients: the client for the running loop.

    Example:
        >>> async def demo():
        ...     handle = LoopClient(ClientKey.for_base_url("http://127.0.0.1:9", HTTPSettings()))
        ...     first = handle.get()
        ...     same = handle.get() is first
        ...     await handle.aclose()
        ...     return same, first.is_closed
        >>> asyncio.run(demo())
        (True, True)
    """

    __slots__ = ("_client", "_key", "_loop")

    def __init__(self, key: ClientKey) -> None:
        self._key = key
        self._client: httpx.AsyncClient | None = None
        self._loop: weakref.ReferenceType[asyncio.AbstractEventLoop] | None = None

    @property
    def client(self) -> httpx.AsyncClient | None:
        """The client currently held (None before the first call and after :meth:`aclose`)."""
        return self._client

    def get(self) -> httpx.AsyncClient:
        """The client to use on the running event loop."""
        loop = asyncio.get_running_loop()
        current = self._loop() if self._loop is not None else None
        if self._client is not None and current is loop:
            return self._client
        # Used from another event loop (connections belong to the loop that opened them):
        # give the old share back and close it over there if it was the last.
        if (
            self._client is not None
            and current is not None
            and _CLIENTS.release(current, self._key, self._client)
        ):
            _close_on_loop(self._client, current)
        self._client = _CLIENTS.acquire(loop, self._key)
        self._loop = weakref.ref(loop)
        return self._client

    async def aclose(self) -> None:
        """Give this share back; the last one closes the client. Safe to call twice."""
        client, loop_ref = self._client, self._loop
        self._client, self._loop = None, None
        if client is None or loop_ref is None:
            return
        loop = loop_ref()
        if loop is None or not _CLIENTS.release(loop, self._key, client):
            return
        if loop is asyncio.get_running_loop():
            await client.aclose()
        else:
            _close_on_loop(client, loop)
