"""Drive widgets without a browser: record what they send, deliver what a browser would.

ipywidgets opens a comm per widget through :func:`comm.create_comm`. Inside
:func:`record_comms` that function returns a :class:`RecordingComm`, which keeps every
message a widget sends (state updates and custom messages) and counts its bytes as
JSON, the way they would cross the wire. :meth:`CommRecorder.custom` and
:meth:`CommRecorder.update` deliver messages as the browser would, through the widget's
own message handler.

Example:
    >>> import ipywidgets
    >>> with record_comms() as wire:
    ...     slider = ipywidgets.IntSlider(value=1)
    ...     wire.update(slider, value=5)
    ...     slider.value
    5
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import comm
from comm.base_comm import BaseComm

__all__ = ["CommRecorder", "RecordingComm", "SentMessage", "record_comms"]


@dataclass
class SentMessage:
    """One message a widget sent to the front end."""

    comm_id: str
    msg_type: str
    data: dict[str, Any]
    size: int


@dataclass
class CommRecorder:
    """Every message sent by widgets created inside :func:`record_comms`."""

    messages: list[SentMessage] = field(default_factory=list)

    @property
    def bytes_sent(self) -> int:
        """Total size of the messages' data as JSON."""
        return sum(m.size for m in self.messages)

    def custom_messages(self, widget: Any = None) -> list[dict[str, Any]]:
        """Contents of the custom messages sent (by ``widget`` only, if given)."""
        wanted = None if widget is None else widget.comm.comm_id
        return [
            m.data["content"]
            for m in self.messages
            if m.data.get("method") == "custom" and (wanted is None or m.comm_id == wanted)
        ]

    def clear(self) -> None:
        """Forget the messages recorded so far."""
        self.messages.clear()

    @staticmethod
    def custom(widget: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Deliver a custom message from the browser to ``widget``."""
        widget.comm.handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
        )

    @staticmethod
    def update(widget: Any, **state: Any) -> None:
        """Deliver a state change from the browser (a moved slider, typed text)."""
        widget.comm.handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


class RecordingComm(BaseComm):
    """A comm that records instead of talking to a kernel's front end."""

    recorder: CommRecorder | None = None

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
        **keys: Any,
    ) -> None:
        if self.recorder is None:
            return
        payload = data or {}
        size = len(json.dumps(payload, default=str, separators=(",", ":")).encode())
        size += sum(len(b) for b in buffers or [])
        self.recorder.messages.append(SentMessage(self.comm_id, msg_type, payload, size))


@contextlib.contextmanager
def record_comms() -> Iterator[CommRecorder]:
    """Record the messages of every widget created inside the block."""
    recorder = CommRecorder()
    previous = comm.create_comm

    def create(*args: Any, **kwargs: Any) -> BaseComm:
        created = RecordingComm(*args, **kwargs)
        created.recorder = recorder
        return created

    comm.create_comm = create
    try:
        yield recorder
    finally:
        comm.create_comm = previous
