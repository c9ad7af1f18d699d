"""``ChatWidget``: chat with a personality in a notebook, replies streamed as they are written.

Design
------
The widget is a small :class:`~luminora_nb.widgets._base.LuminoraWidget` (anywidget)
whose browser side is ``widgets/chat.js`` + ``widgets/chat.css``. Python owns the
transcript: every message the widget knows (the stored history plus the turns made
here or elsewhere on the same session) lives in a list on the Python side, and the
browser only shows a *window* of it: the last ``page_size`` messages at first, one more
page in front for each "Load earlier". So a 500-message session costs one page of DOM
nodes and one page of bytes, never the whole history.

A turn runs as a coroutine on the facade's loop thread (``_background``): it iterates
``lum.client.stream_message`` and hands every chunk to a
:class:`~luminora_nb.widgets._base.DeltaBatcher`, which coalesces them into a few
``delta`` messages (a 5,000-chunk reply crosses the wire in about its own size). Nothing
ever resends the transcript per chunk or per turn. Turns sent while one is running queue
up and run in order. **Stop** calls ``client.stop_stream`` on the loop thread; the
client then stores the partial reply as a turn with ``finish_reason="stopped"``, which
the widget keeps and marks. A failed turn (nothing of it stored) disappears from the
transcript, its text goes back into the empty input box, and the error shows in place.

The widget subscribes to the client's :class:`~luminora_nb.events.TurnCompleted`
events: its own turns get their relationship level and mood (v1.1) from them, and turns
made on the same session elsewhere (another cell, another widget) are appended as they
complete. One lock orders every change of the transcript with the message telling the
browser about it, so the kernel thread (browser messages, Python calls) and the loop
thread (streaming) never show a view a state it did not get.

Protocol
--------
Synced state (small, per change): ``persona`` (shown name), ``initial`` (avatar
letter), ``provider_label``, ``streaming`` (a reply streams; Stop is enabled),
``can_send`` (false after a setup error), ``has_earlier`` and ``earlier`` (how many
messages sit before the window), ``notice`` (a hint such as "type a message first"),
plus the base's ``error`` and ``busy``.

Browser -> Python, JSON custom messages:

* ``{"type": "sync"}``: a view was (re)rendered; answered with ``reset``.
* ``{"type": "send", "text": str}``: same path as :meth:`ChatWidget.send`.
* ``{"type": "stop"}``: :meth:`ChatWidget.stop`.
* ``{"type": "load_earlier"}``: :meth:`ChatWidget.load_earlier`.

Python -> browser, JSON custom messages (a *message* is a dict with ``id``, ``role``,
``content``, ``timestamp`` (ISO 8601) and, on assistant turns, whichever of
``finish_reason``, ``usage``, ``latency_ms``, ``model``, ``provider``,
``relationship_level``, ``mood``, ``stopped``, ``streaming`` apply):

* ``{"type": "reset", "messages": [...]}``: the whole visible window, in order. A view
  ignores everything until its first ``reset``, so a view rendered mid-stream gets the
  partial reply here and the rest as deltas.
* ``{"type": "append", "message": {...}, "before": id?}``: a new message at the end
  (or in front of message ``before``: a turn made elsewhere that completed while this
  widget's own turn waited for the session).
* ``{"type": "prepend", "messages": [...]}``: the previous page, for "Load earlier".
* ``{"type": "delta", "id": str, "text": str}``: more streamed text of a message; the
  last one has ``"final": true`` and ``"message": {...}`` with the finished fields.
* ``{"type": "failed", "ids": [...], "text": str}``: a turn failed and was not stored;
  its messages go away and ``text`` (what the user typed) may go back into the input.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     chat = ChatWidget(lum, personality="aurora")
    ...     chat.send("Hello! My name is Sam.")
    ...     chat.wait()
    ...     [m["role"] for m in chat.messages], chat.messages[-1]["finish_reason"]
    ...     list(chat.to_dataframe()["role"])
    (['user', 'assistant'], 'stop')
    ['user', 'assistant']
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import LuminoraError, SessionError, StorageError
from ..events import Event, TurnCompleted
from ..types._base import utcnow
from ..types.personality import PersonalityData
from ..types.provider import ChatResponse, ProviderConfig
from ._base import DeltaBatcher, LuminoraWidget, widget_css, widget_module

if TYPE_CHECKING:
    import pandas as pd

    from ..client import LuminoraCoreClient
    from ..events import Subscription
    from ..sync import Luminora
    from ..types.session import Conversation, SessionRecord

__all__ = ["ChatWidget"]

logger = logging.getLogger("luminora_nb.widgets.chat")

#: Columns of :meth:`ChatWidget.to_dataframe`, in order.
COLUMNS = (
    "role",
    "content",
    "timestamp",
    "finish_reason",
    "stopped",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_ms",
    "model",
    "provider",
    "relationship_level",
    "mood",
)

_TEXT_TURNS = 6  # messages shown by the plain-text form
_TEXT_WIDTH = 200  # characters of each message in the plain-text form
_STOP_RETRY_S = 0.02  # how often Stop retries while the stream has not begun


@dataclass(slots=True, eq=False)
class _Msg:
    """One message as the widget knows it (user, assistant or system)."""

    id: str
    role: str
    content: str
    timestamp: datetime
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float | None = None
    model: str | None = None
    provider: str | None = None
    relationship_level: str | None = None
    mood: str | None = None
    streaming: bool = False

    @property
    def stopped(self) -> bool:
        return self.finish_reason == "stopped"

    def public(self) -> dict[str, Any]:
        """The form of :attr:`ChatWidget.messages`."""
        return {
            "role": self.role,
            "content": self.content,
            "timestamp": self.timestamp,
            "finish_reason": self.finish_reason,
            "usage": dict(self.usage),
            "latency_ms": self.latency_ms,
            "model": self.model,
            "provider": self.provider,
            "stopped": self.stopped,
            "relationship_level": self.relationship_level,
            "mood": self.mood,
        }

    def fields(self) -> dict[str, Any]:
        """The finished fields sent to the browser (absent ones left out)."""
        out: dict[str, Any] = {"timestamp": self.timestamp.isoformat()}
        if self.role == "assistant":
            for key in ("finish_reason", "latency_ms", "model", "provider", "relationship_level", "mood"):
                value = getattr(self, key)
                if value is not None:
                    out[key] = value
            if self.usage:
                out["usage"] = dict(self.usage)
            if self.stopped:
                out["stopped"] = True
        if self.streaming:
            out["streaming"] = True
        return out

    def wire(self) -> dict[str, Any]:
        """The message as the browser receives it."""
        return {"id": self.id, "role": self.role, "content": self.content, **self.fields()}


@dataclass(slots=True, eq=False)
class _Turn:
    """A turn sent from this widget: queued, then streaming, then settled."""

    text: str
    user: _Msg | None = None
    reply: _Msg | None = None
    event: TurnCompleted | None = None
    stop_wanted: bool = False
    stop_sent: bool = False
    done: bool = False
    settled: bool = False


def _shown_name(personality: PersonalityData | None, fallback: str) -> str:
    """The name a person reads: ``name_override``, else the persona's own name, else the key."""
    if personality is None:
        return fallback
    if personality.name_override:
        return personality.name_override
    if personality.definition is not None:
        return personality.definition.persona.name
    return personality.name


def _initial(name: str) -> str:
    return next((c.upper() for c in name if c.isalnum()), "?")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _usage(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def _open_session(
    client: LuminoraCoreClient, session_id: str, provider: ProviderConfig | None
) -> tuple[Conversation, SessionRecord | None, LuminoraError | None]:
    """The stored conversation and record of ``session_id``, then resume it for new turns.

    A session whose resume fails (expired, provider without its key) still shows its
    history: the failure comes back as the third item instead of being raised.
    """
    conversation = await client.get_conversation(session_id)
    if conversation is None:
        raise SessionError(
            f"unknown session {session_id!r}; list stored sessions with lum.list_sessions(), "
            "or start one with ChatWidget(lum, personality=...)"
        )
    record = await client.storage.load_session(session_id)
    problem: LuminoraError | None = None
    try:
        await client.resume_session(session_id, provider)
    except LuminoraError as exc:
        problem = exc
    return conversation, record, problem


class ChatWidget(LuminoraWidget):
    """Chat with a personality: streamed replies, Stop, badges, "Load earlier".

    Give either ``session_id`` (continue a stored session) or ``personality`` (a name or
    a :class:`~luminora_nb.types.PersonalityData`; a new session is created). Problems
    (an unknown persona or session, a provider without its API key) never raise: the
    widget shows a short message in place (``error``), keeps the exception in
    ``last_error`` and disables sending.

    Args:
        lum: The facade whose client and loop the widget uses.
        session_id: A stored session to continue.
        personality: The personality of a new session.
        provider: The provider (a :class:`ProviderConfig`, a name or a dict): of the new
            session, or the one a stored session continues with.
        user_id: The user of a new session (default: the facade's).
        page_size: Messages shown at first, and added by each "Load earlier".

    Example:
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=None) as lum:
        ...     bad = ChatWidget(lum, personality="nobody")
        ...     bad.error.startswith("unknown personality 'nobody'"), bad.can_send
        (True, False)
    """

    _esm = widget_module("chat")
    _css = widget_css("chat")

    persona = traitlets.Unicode("").tag(sync=True)
    initial = traitlets.Unicode("?").tag(sync=True)
    provider_label = traitlets.Unicode("").tag(sync=True)
    streaming = traitlets.Bool(False).tag(sync=True)
    can_send = traitlets.Bool(False).tag(sync=True)
    has_earlier = traitlets.Bool(False).tag(sync=True)
    earlier = traitlets.Int(0).tag(sync=True)
    notice = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        lum: Luminora,
        session_id: str | None = None,
        *,
        personality: str | PersonalityData | None = None,
        provider: ProviderConfig | Mapping[str, Any] | str | None = None,
        user_id: str | None = None,
        page_size: int = 50,
    ) -> None:
        super().__init__(lum)
        self._lock = threading.RLock()
        self._records: list[_Msg] = []
        self._by_id: dict[str, _Msg] = {}
        self._ids = itertools.count(1)
        self._start = 0  # index of the first message in the browser's window
        self._page_size = 50
        self._session_id: str | None = None
        self._provider_name = ""
        self._current: _Turn | None = None
        self._turns: list[_Turn] = []  # sent from here and not settled yet, oldest first
        self._turn_lock = asyncio.Lock()  # binds to the facade's loop on first use
        self._subscription: Subscription | None = None
        self.on_msg(self._on_action)
        with self.hold_sync():
            try:
                self._open(session_id, personality, provider, user_id, page_size)
            except Exception as exc:  # shown in place, never a traceback flood
                self._fail(exc)

    # -- opening --------------------------------------------------------------------
    def _open(
        self,
        session_id: str | None,
        personality: str | PersonalityData | None,
        provider: ProviderConfig | Mapping[str, Any] | str | None,
        user_id: str | None,
        page_size: int,
    ) -> None:
        if isinstance(personality, PersonalityData):
            name = personality.name
        elif personality is not None:
            name = str(personality)
        else:
            name = ""
        self.persona = _shown_name(personality if isinstance(personality, PersonalityData) else None, name)
        self.initial = _initial(self.persona)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise LuminoraError(f"page_size must be a whole number of at least 1, got {page_size!r}")
        self._page_size = page_size
        if (session_id is None) == (personality is None):
            which = "both" if session_id is not None else "neither"
            raise LuminoraError(
                f"ChatWidget needs exactly one of session_id (continue a stored session) or "
                f"personality=... (start a new one); got {which}"
            )
        config = None if provider is None else ProviderConfig.coerce(provider)
        if session_id is not None:
            self._open_stored(session_id, config)
            return
        if isinstance(personality, PersonalityData):
            self.lum.load_personality(personality.name, personality, replace=True)  # chat with this one
        self._provider_name = (config or self.lum.client.default_provider).name
        self.provider_label = self._provider_name
        sid = self.lum.create_session(name, config, user_id=user_id)
        self._session_id = sid
        self.persona = _shown_name(self.lum.get_personality(name), name)
        self.initial = _initial(self.persona)
        self._subscribe()
        self.can_send = True

    def _open_stored(self, session_id: str, config: ProviderConfig | None) -> None:
        conversation, record, problem = self.lum.run(_open_session(self.lum.client, session_id, config))
        self._session_id = session_id
        if record is not None:
            self.persona = _shown_name(record.personality, record.personality_name)
            stored_provider = str(record.provider_config.get("name") or "")
        else:
            self.persona, stored_provider = "assistant", ""
        self.initial = _initial(self.persona)
        self._provider_name = config.name if config is not None else stored_provider
        self.provider_label = self._provider_name
        records = []
        for message in conversation.messages:
            meta = message.metadata if isinstance(message.metadata, Mapping) else {}
            role = str(getattr(message.role, "value", message.role))
            records.append(
                _Msg(
                    id=self._next_id(),
                    role=role,
                    content=message.content,
                    timestamp=message.timestamp,
                    finish_reason=_text_or_none(meta.get("finish_reason")),
                    usage=_usage(meta.get("usage")),
                    latency_ms=_number(meta.get("latency_ms")),
                    model=_text_or_none(meta.get("model")),
                    provider=(stored_provider or None) if role == "assistant" else None,
                    relationship_level=_text_or_none(meta.get("relationship_level")),
                    mood=_text_or_none(meta.get("mood")),
                )
            )
        with self._lock:
            self._records = records
            self._by_id = {m.id: m for m in records}
            self._start = max(0, len(records) - self._page_size)
            self._set_earlier()
        self._subscribe()
        if problem is not None:
            self._fail(problem)
            return
        self.can_send = True

    def _subscribe(self) -> None:
        ref = weakref.ref(self)

        def on_event(event: Event) -> None:
            widget = ref()
            if widget is not None and isinstance(event, TurnCompleted):
                widget._on_turn_completed(event)

        self._subscription = self.lum.subscribe(on_event, types=[TurnCompleted])

    # -- small helpers (callers hold the lock where it matters) -----------------------
    def _next_id(self) -> str:
        return f"m{next(self._ids)}"

    def _post(self, content: dict[str, Any]) -> None:
        """Send a custom message to the browser (ipywidgets' ``Widget.send``)."""
        super().send(content)

    def _set_earlier(self) -> None:
        self.earlier = self._start
        self.has_earlier = self._start > 0

    def _insert(self, messages: list[_Msg], before: _Msg | None) -> None:
        index = self._records.index(before) if before is not None else len(self._records)
        self._records[index:index] = messages
        for message in messages:
            self._by_id[message.id] = message
            content: dict[str, Any] = {"type": "append", "message": message.wire()}
            if before is not None:
                content["before"] = before.id
            self._post(content)

    def _remove(self, messages: list[_Msg]) -> None:
        for message in messages:
            if self._by_id.pop(message.id, None) is not None:
                index = self._records.index(message)
                del self._records[index]
                if index < self._start:
                    self._start -= 1
        self._set_earlier()

    # -- data out ---------------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        """The session this widget chats in (``None`` when it could not be created)."""
        return self._session_id

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole conversation as the widget knows it, oldest first.

        Each message is a dict with ``role``, ``content``, ``timestamp``,
        ``finish_reason``, ``usage``, ``latency_ms``, ``model``, ``provider``,
        ``stopped``, ``relationship_level`` and ``mood`` (``None`` or empty where they
        do not apply). A reply still streaming is included with what has arrived.
        """
        with self._lock:
            return [m.public() for m in self._records]

    def to_dataframe(self) -> pd.DataFrame:
        """The conversation as a pandas DataFrame, one row per message.

        Columns: ``role``, ``content``, ``timestamp`` (UTC), ``finish_reason``,
        ``stopped``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens``,
        ``latency_ms``, ``model``, ``provider``, ``relationship_level``, ``mood``.

        The module's example shows one.
        """
        import pandas as pd  # lazy: pandas is heavy and only needed here

        rows = []
        for message in self.messages:
            usage = message["usage"]
            rows.append(
                {
                    **{k: message[k] for k in COLUMNS if k in message},
                    "prompt_tokens": usage.get("prompt_tokens"),
                    "completion_tokens": usage.get("completion_tokens"),
                    "total_tokens": usage.get("total_tokens"),
                }
            )
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        for column in ("prompt_tokens", "completion_tokens", "total_tokens"):
            frame[column] = frame[column].astype("Int64")
        frame["latency_ms"] = frame["latency_ms"].astype("float64")
        frame["stopped"] = frame["stopped"].astype(bool)
        return frame

    def _text(self) -> str:
        """The last few messages as ``you: …`` / ``Persona: …`` lines."""
        with self._lock:
            records = list(self._records)
        name = self.persona or "assistant"
        head = f"ChatWidget · {name}"
        if self.provider_label:
            head += f" · {self.provider_label}"
        head += f" · {len(records)} message{'s' if len(records) != 1 else ''}"
        lines = [head]
        if self.error:
            lines.append(f"error: {self.error}")
        hidden = len(records) - _TEXT_TURNS
        if hidden > 0:
            lines.append(f"… {hidden} earlier message{'s' if hidden != 1 else ''}")
        for message in records[-_TEXT_TURNS:]:
            who = "you" if message.role == "user" else name if message.role == "assistant" else message.role
            text = " ".join(message.content.split())
            if len(text) > _TEXT_WIDTH:
                text = text[: _TEXT_WIDTH - 1] + "…"
            mark = " [stopped]" if message.stopped else " [streaming]" if message.streaming else ""
            lines.append(f"{who}: {text}{mark}")
        return "\n".join(lines)

    # -- browser messages -------------------------------------------------------------
    def _actions(self) -> dict[str, Callable[[Mapping[str, Any]], object]]:
        return {
            "sync": lambda _: self._sync(),
            "send": lambda m: self.send(m.get("text", "")),
            "stop": lambda _: self.stop(),
            "load_earlier": lambda _: self.load_earlier(),
        }

    def _sync(self) -> None:
        with self._lock:
            window = [m.wire() for m in self._records[self._start :]]
            self._post({"type": "reset", "messages": window})

    # -- actions ----------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Send ``text`` as the user; the reply streams in on the facade's loop.

        The same path as the browser's Send button and Enter key. An empty message is
        ignored with a hint (``notice``); a message sent while a reply streams waits for
        it. Returns at once: call :meth:`wait` to block until the reply is done.

        Note:
            This replaces ipywidgets' ``Widget.send`` (custom messages to the browser),
            which the widget uses internally under another name; ``focus()`` and
            ``blur()``, which call it in ipywidgets, are overridden to match.
        """
        if not isinstance(text, str) or not text.strip():
            self.notice = "Type a message first (Enter sends, Shift+Enter adds a line)."
            return
        if not self.can_send or self._session_id is None:
            self.notice = "Sending is off: fix the problem shown above, then create the chat again."
            return
        self.notice = ""
        turn = _Turn(text)
        with self._lock:
            self._turns.append(turn)
        self.busy = True
        try:
            future = self._background(self._run_turn(turn), busy=False)
        except Exception as exc:  # a closed facade: say so in place
            self._settle(turn)
            self._fail(exc)
            return

        def gone(done: concurrent.futures.Future[None]) -> None:
            if done.cancelled():  # cancelled before it could run: settle it here
                self._settle(turn)

        future.add_done_callback(gone)

    def stop(self) -> bool:
        """Stop the reply that is streaming, keeping what has arrived (``"stopped"``).

        Returns ``False`` when no reply is streaming. Thread-safe.
        """
        with self._lock:
            turn = next((t for t in self._turns if not t.done), None)
            if turn is None:
                return False
            turn.stop_wanted = True
            running = turn is self._current
        if running:  # a turn still queued stops as soon as its stream begins
            self.lum.call_soon(self._stop_on_loop, turn)
        return True

    def load_earlier(self) -> int:
        """Show the previous page of the conversation; returns how many messages were added.

        Example:
            >>> from luminora_nb import Luminora
            >>> with Luminora(log=None) as lum:
            ...     chat = ChatWidget(lum, personality="vex")
            ...     chat.load_earlier()
            0
        """
        with self._lock:
            if self._start == 0:
                return 0
            start = max(0, self._start - self._page_size)
            page = self._records[start : self._start]
            self._start = start
            self._post({"type": "prepend", "messages": [m.wire() for m in page]})
            self._set_earlier()
            return len(page)

    def focus(self) -> None:
        """Put the keyboard focus in the message box (ipywidgets' ``DOMWidget.focus``)."""
        self._post({"do": "focus"})

    def blur(self) -> None:
        """Take the keyboard focus out of the widget (ipywidgets' ``DOMWidget.blur``)."""
        self._post({"do": "blur"})

    def close(self) -> None:
        """Stop a streaming reply (it is kept), stop listening to the client, close the widget."""
        self._unsubscribe()
        if getattr(self, "_lock", None) is not None:
            self.stop()
        super().close()

    # -- a turn, on the facade's loop -------------------------------------------------
    def _stop_on_loop(self, turn: _Turn) -> None:
        if turn.done or turn.stop_sent or self._session_id is None:
            return
        turn.stop_sent = self.lum.client.stop_stream(self._session_id)
        if not turn.stop_sent:  # the stream has not begun yet: try again shortly
            asyncio.get_running_loop().call_later(_STOP_RETRY_S, self._stop_on_loop, turn)

    def _settle(self, turn: _Turn) -> None:
        with self._lock:
            if turn.settled:
                return
            turn.settled = True
            turn.done = True
            self._turns.remove(turn)
            idle = not self._turns
        if idle:
            self.busy = False

    def _emit(self, content: dict[str, Any]) -> None:
        """DeltaBatcher's sink: grow the message by what the browser is told, atomically."""
        with self._lock:
            message = self._by_id.get(str(content.get("id")))
            if message is None:
                return
            message.content += content.get("text", "")
            self._post(content)

    async def _run_turn(self, turn: _Turn) -> None:
        try:
            async with self._turn_lock:
                await self._stream_turn(turn)
        finally:
            self._settle(turn)

    async def _stream_turn(self, turn: _Turn) -> None:
        sid = self._session_id
        assert sid is not None
        client = self.lum.client
        now = utcnow()
        with self._lock:
            user = turn.user = _Msg(self._next_id(), "user", turn.text, now)
            reply = turn.reply = _Msg(
                self._next_id(), "assistant", "", now, provider=self._provider_name or None, streaming=True
            )
            self._insert([user, reply], None)
            self._current = turn
        self.streaming = True
        if turn.stop_wanted:  # Stop came while the turn waited for its turn
            self._stop_on_loop(turn)
        batcher = DeltaBatcher(self._emit, kind="delta", message_id=reply.id)
        final: ChatResponse | None = None
        try:
            stream = client.stream_message(sid, turn.text)
            try:
                async for chunk in stream:
                    if turn.stop_wanted and not turn.stop_sent:  # Stop came before the stream began
                        turn.stop_sent = client.stop_stream(sid)
                    batcher.add(chunk.content)
                    if chunk.finish_reason is not None:
                        final = chunk
            finally:
                await stream.aclose()
        except BaseException as exc:
            self._end_turn(turn)
            if isinstance(exc, StorageError):  # produced but not written: the client keeps it
                self._complete(turn, batcher, None)
            else:
                self._abort(turn, batcher)
            if isinstance(exc, Exception):
                self._fail(exc)
                return
            raise
        self._end_turn(turn)
        self._complete(turn, batcher, final)

    def _end_turn(self, turn: _Turn) -> None:
        with self._lock:
            turn.done = True
            if self._current is turn:
                self._current = None
        self.streaming = False

    def _complete(self, turn: _Turn, batcher: DeltaBatcher, final: ChatResponse | None) -> None:
        user, reply, event = turn.user, turn.reply, turn.event
        assert user is not None and reply is not None
        with self._lock:
            if final is not None:
                reply.finish_reason = final.finish_reason
                reply.usage = _usage(final.usage)
                reply.model = final.model or reply.model
                reply.latency_ms = _number(final.metadata.get("latency_ms"))
            if event is not None:
                user.timestamp = event.user_timestamp or user.timestamp
                reply.timestamp = event.timestamp
                reply.provider = event.provider or reply.provider
                reply.relationship_level = event.relationship_level
                reply.mood = event.mood
                if reply.latency_ms is None:
                    reply.latency_ms = round(event.latency_ms, 3)
                if event.finish_reason and reply.finish_reason is None:
                    reply.finish_reason = event.finish_reason
            reply.streaming = False
            batcher.finish(message=reply.fields())

    def _abort(self, turn: _Turn, batcher: DeltaBatcher) -> None:
        with self._lock:
            gone = [m for m in (turn.user, turn.reply) if m is not None]
            self._remove(gone)
            batcher.flush()  # cancels its timer; the text is dropped (the message is gone)
            self._post({"type": "failed", "ids": [m.id for m in gone], "text": turn.text})

    # -- turns made elsewhere ---------------------------------------------------------
    def _on_turn_completed(self, event: TurnCompleted) -> None:
        """Runs on the loop thread for every completed turn of the client."""
        if event.session_id != self._session_id:
            return
        with self._lock:
            turn = self._current
            if turn is not None and turn.event is None and event.streamed and event.user_message == turn.text:
                turn.event = event  # this widget's own turn: its final chunk follows
                return
            user = _Msg(self._next_id(), "user", event.user_message, event.user_timestamp or event.timestamp)
            reply = _Msg(
                self._next_id(),
                "assistant",
                event.reply,
                event.timestamp,
                finish_reason=event.finish_reason,
                usage=_usage(event.usage),
                latency_ms=round(event.latency_ms, 3),
                model=event.model,
                provider=event.provider,
                relationship_level=event.relationship_level,
                mood=event.mood,
            )
            # A turn that took the session while ours waited for it is stored before ours.
            before = turn.user if turn is not None and turn.user in self._records else None
            self._insert([user, reply], before)
