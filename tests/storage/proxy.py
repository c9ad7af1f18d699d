"""A TCP proxy for tests that cuts a connection right after forwarding a write.

:class:`CuttingProxy` sits between a client and a real server on loopback and relays
bytes both ways. Armed with :meth:`CuttingProxy.cut_after` (a byte pattern of the request
to cut, e.g. ``b"EVALSHA"``, ``b"COMMIT"``, ``b"findAndModify"``), it forwards the next
request holding the pattern to the server, waits for the server's reply — so the server
has certainly applied the write — drops that reply and closes both sides of the
connection. The client sees its connection die with the request applied and no answer:
the "applied, but the reply was lost" case, reproduced deterministically.

Every other connection, and every later one, is relayed untouched (one cut per arming).

Example:
    >>> import socket, threading
    >>> server = socket.create_server(("127.0.0.1", 0))
    >>> def echo():
    ...     conn, _ = server.accept()
    ...     with conn:
    ...         while data := conn.recv(1024):
    ...             conn.sendall(data)
    >>> _ = threading.Thread(target=echo, daemon=True).start()
    >>> with CuttingProxy(server.getsockname()[1]) as proxy:
    ...     client = socket.create_connection(("127.0.0.1", proxy.port))
    ...     client.sendall(b"hello")
    ...     reply = client.recv(1024)
    ...     proxy.cut_after(b"write")
    ...     client.sendall(b"write 1")
    ...     cut = proxy.wait_cut(5)
    ...     after = client.recv(1024)  # nothing comes back: closed
    ...     client.close()
    >>> reply, cut, after
    (b'hello', True, b'')
    >>> server.close()
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["CuttingProxy"]

_CHUNK = 65536


@dataclass
class _Pair:
    """One relayed connection: the client's socket and the server's."""

    client: socket.socket
    server: socket.socket
    cutting: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def chunks(self, source: socket.socket) -> Iterator[bytes]:
        """What ``source`` (one of the pair's sockets) sends, chunk by chunk.

        Once ``source`` ends or fails, both sides are closed and the chunks stop.

        Args:
            source: ``client`` or ``server``.

        Yields:
            Each chunk received, never empty.
        """
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            yield data

    def relay(self, sink: socket.socket, data: bytes) -> bool:
        """Send ``data`` whole to ``sink`` (one of the pair's sockets).

        Args:
            sink: ``client`` or ``server``.
            data: The chunk to pass on.

        Returns:
            Whether it was sent; if not, both sides are closed.
        """
        try:
            sink.sendall(data)
        except OSError:
            self.close()
            return False
        return True


class CuttingProxy:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target_port``; can cut right after a write."""

    def __init__(self, target_port: int, *, host: str = "127.0.0.1") -> None:
        self._target = (host, target_port)
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern: bytes | None = None
        self._cut = threading.Event()
        self._pairs: list[_Pair] = []
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, name="cutting-proxy", daemon=True)
        self._accepting.start()

    # -- control -------------------------------------------------------------------------
    def cut_after(self, pattern: bytes) -> None:
        """Cut the connection that next sends ``pattern``, once the server has answered it."""
        with self._lock:
            self._pattern = pattern
            self._cut.clear()

    def wait_cut(self, timeout: float) -> bool:
        """Whether the armed cut happened (waiting up to ``timeout`` seconds)."""
        return self._cut.wait(timeout)

    @property
    def armed(self) -> bool:
        """Whether a cut is armed and has not happened yet."""
        with self._lock:
            return self._pattern is not None

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        for pair in list(self._pairs):
            pair.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relaying ------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            pair = _Pair(client, server)
            self._pairs.append(pair)
            for target in (self._requests, self._replies):
                threading.Thread(target=target, args=(pair,), daemon=True).start()

    def _requests(self, pair: _Pair) -> None:
        """Client -> server; marks the pair to cut when an armed pattern goes by."""
        tail = b""
        for data in pair.chunks(pair.client):
            with self._lock:
                pattern = self._pattern
                if pattern is not None and pattern in tail + data:
                    self._pattern = None
                    pair.cutting.set()  # before forwarding: the reply must not slip through
            tail = (tail + data)[-64:]
            if not pair.relay(pair.server, data):
                return

    def _replies(self, pair: _Pair) -> None:
        """Server -> client; drops the reply to a cut request and closes both sides."""
        for data in pair.chunks(pair.server):
            if pair.cutting.is_set():  # the server answered the write: it is applied
                pair.close()
                self._cut.set()
                return
            if not pair.relay(pair.client, data):
                return
