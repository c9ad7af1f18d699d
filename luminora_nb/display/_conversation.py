"""HTML and text forms of a conversation, a provider reply and a session listing row.

* **Chat bubbles.** User messages sit on the right, assistant messages on the left with
  an accent border, system messages centred; each bubble names its role in words and its
  time (the full timestamp on hover); the day is repeated only when it changes.
* **Badges.** An assistant message or a reply carries one badge line: model, finish
  reason, tokens in/out, latency, and the relationship level, mood and affinity points
  when the turn recorded them; absent values are left out.
* **Fits the cell.** Long transcripts scroll inside a capped height; a conversation
  shows at most its last ``limit`` messages (:data:`DEFAULT_LIMIT`) with a line saying
  how many were left out.

Example:
    >>> from luminora_nb.types import ChatResponse
    >>> print(chat_response_text(ChatResponse(content="ok", model="m", usage={"total_tokens": 9})))
    ok
    [model m · tokens 9 total]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._style import SEP, esc, finite_number, role_of, time_tag, when, wrap

if TYPE_CHECKING:
    from ..types.provider import ChatResponse
    from ..types.session import Conversation, Message, SessionSummary

__all__ = [
    "DEFAULT_LIMIT",
    "chat_response_html",
    "chat_response_text",
    "conversation_html",
    "conversation_text",
    "session_summary_html",
    "session_summary_text",
]

#: Most messages a conversation renders; older ones are counted, not shown.
DEFAULT_LIMIT = 200


def _badges(
    model: Any, finish_reason: Any, usage: Any, latency_ms: Any, extra: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """``(label, value)`` pairs of a reply's badge line; absent values are left out."""
    out: list[tuple[str, str]] = []
    if model:
        out.append(("model", str(model)))
    if finish_reason:
        out.append(("finish", str(finish_reason)))
    if isinstance(usage, Mapping):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if prompt is not None or completion is not None:
            out.append(
                (
                    "tokens",
                    f"{prompt if prompt is not None else '?'} in / "
                    f"{completion if completion is not None else '?'} out",
                )
            )
        elif usage.get("total_tokens") is not None:
            out.append(("tokens", f"{usage['total_tokens']} total"))
    latency = finite_number(latency_ms)
    if latency is not None:
        if latency >= 1000:
            out.append(("latency", f"{latency / 1000:.2f} s"))
        else:
            out.append(("latency", f"{latency:.1f} ms" if latency < 10 else f"{latency:.0f} ms"))
    for key in ("relationship_level", "mood", "affinity_points"):
        value = (extra or {}).get(key)
        if value not in (None, ""):
            out.append((key.replace("_", " "), str(value)))
    return out


def _message_badges(message: Any) -> list[tuple[str, str]]:
    meta = getattr(message, "metadata", None)
    if role_of(message) != "assistant" or not isinstance(meta, Mapping):
        return []
    return _badges(
        meta.get("model"), meta.get("finish_reason"), meta.get("usage"), meta.get("latency_ms"), meta
    )


def _response_badges(response: Any) -> list[tuple[str, str]]:
    meta = getattr(response, "metadata", None)
    meta = meta if isinstance(meta, Mapping) else {}
    return _badges(
        getattr(response, "model", None),
        getattr(response, "finish_reason", None),
        getattr(response, "usage", None),
        meta.get("latency_ms"),
        meta,
    )


def _badges_html(badges: list[tuple[str, str]]) -> str:
    if not badges:
        return ""
    items = "".join(
        f'<span class="lnbr-badge" title="{esc(label)}">{esc(label)} {esc(value)}</span>'
        for label, value in badges
    )
    return f'<div class="lnbr-badges">{items}</div>'


def _badges_text(badges: list[tuple[str, str]]) -> str:
    return "[" + SEP.join(f"{label} {value}" for label, value in badges) + "]" if badges else ""


def _message_html(message: Message, short_time: str | None) -> str:
    role = role_of(message)
    kind = role if role in ("user", "assistant", "system") else "system"
    head = f'<span class="lnbr-role">{esc(role)}</span>{time_tag(message.timestamp, short_time)}'
    return (
        f'<div class="lnbr-msg lnbr-msg-{kind}"><div class="lnbr-msg-head">{head}</div>'
        f'<div class="lnbr-text">{esc(message.content)}</div>'
        f"{_badges_html(_message_badges(message))}</div>"
    )


def _hidden_line(hidden: int) -> str:
    return f"… {hidden} earlier message{'s' if hidden != 1 else ''} not shown"


def conversation_html(c: Conversation, *, limit: int = DEFAULT_LIMIT) -> str:
    """HTML transcript of a conversation as chat bubbles.

    User messages sit on the right, assistant messages on the left with an accent
    border, system messages centred; each bubble names its role and time (the full
    timestamp on hover), and assistant bubbles carry a badge line (model, finish
    reason, tokens in/out, latency). Only the last ``limit`` messages are rendered.

    Args:
        c: The conversation.
        limit: Most messages to render.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import Conversation, Message
        >>> msgs = [Message(role="user", content=str(i)) for i in range(3)]
        >>> conv = Conversation(session_id="s", messages=msgs)
        >>> "… 1 earlier message not shown" in conversation_html(conv, limit=2)
        True
    """
    messages = list(c.messages)
    shown = messages[max(0, len(messages) - max(0, limit)) :] if limit > 0 else []
    hidden = len(messages) - len(shown)
    count = f"{len(messages)} message{'s' if len(messages) != 1 else ''}"
    head = (
        f'<div class="lnbr-head"><span class="lnbr-title">Conversation</span>'
        f'<span class="lnbr-code lnbr-muted">{esc(c.session_id)}</span>'
        f'<span class="lnbr-muted">{count}</span></div>'
    )
    if not messages:
        return wrap(head + '<p class="lnbr-p lnbr-muted">No messages yet.</p>', "conversation")
    bubbles: list[str] = []
    if hidden:
        bubbles.append(f'<div class="lnbr-muted">{esc(_hidden_line(hidden))}</div>')
    previous_day = None
    for message in shown:
        moment = message.timestamp
        short = None
        if isinstance(moment, datetime):
            day = moment.date()
            short = moment.strftime("%H:%M") if day == previous_day else moment.strftime("%Y-%m-%d %H:%M")
            previous_day = day
        bubbles.append(_message_html(message, short))
    chat = f'<div class="lnbr-chat"><div class="lnbr-msgs" role="log">{"".join(bubbles)}</div></div>'
    return wrap(head + chat, "conversation")


def conversation_text(c: Conversation, *, limit: int = DEFAULT_LIMIT) -> str:
    """Plain-text transcript: ``role: text`` lines, assistant badges in brackets.

    Args:
        c: The conversation.
        limit: Most messages to include.

    Returns:
        A header line, then the messages.

    Example:
        >>> from luminora_nb.types import Conversation, Message
        >>> conv = Conversation(session_id="s1", messages=[
        ...     Message(role="user", content="Hi"),
        ...     Message(role="assistant", content="Hello!\\nHow are you?", metadata={"model": "m"})])
        >>> print(conversation_text(conv))
        conversation s1 · 2 messages
        user: Hi
        assistant: Hello!
                   How are you?
          [model m]
    """
    messages = list(c.messages)
    shown = messages[max(0, len(messages) - max(0, limit)) :] if limit > 0 else []
    hidden = len(messages) - len(shown)
    lines = [f"conversation {c.session_id} · {len(messages)} message{'s' if len(messages) != 1 else ''}"]
    if hidden:
        lines.append(_hidden_line(hidden))
    for message in shown:
        prefix = f"{role_of(message)}: "
        lines.append(prefix + str(message.content).replace("\n", "\n" + " " * len(prefix)))
        badges = _badges_text(_message_badges(message))
        if badges:
            lines.append("  " + badges)
    return "\n".join(lines)


# --------------------------------------------------------------------------- replies, sessions


def chat_response_html(r: ChatResponse) -> str:
    """HTML of a provider reply: its text, then a badge line.

    The badge line shows model, finish reason, tokens in/out and the latency from
    ``metadata["latency_ms"]`` when present.

    Args:
        r: The reply.

    Returns:
        A self-contained HTML fragment.

    Example:
        >>> from luminora_nb.types import ChatResponse
        >>> usage = {"prompt_tokens": 3, "completion_tokens": 4}
        >>> out = chat_response_html(ChatResponse(content="ok", usage=usage))
        >>> "tokens 3 in / 4 out" in out
        True
    """
    text = (
        f'<div class="lnbr-text">{esc(r.content)}</div>'
        if r.content
        else '<div class="lnbr-muted">(empty reply)</div>'
    )
    head = f'<div class="lnbr-msg-head"><span class="lnbr-role">{esc(r.role)}</span></div>'
    return wrap(head + text + _badges_html(_response_badges(r)), "reply")


def chat_response_text(r: ChatResponse) -> str:
    """Plain-text form of a provider reply: the text, then the badges in brackets.

    Args:
        r: The reply.

    Returns:
        The reply text and, when there is metadata, one more line.

    Example:
        >>> from luminora_nb.types import ChatResponse
        >>> print(chat_response_text(ChatResponse(content="ok", metadata={"latency_ms": 1234})))
        ok
        [latency 1.23 s]
    """
    badges = _badges_text(_response_badges(r))
    return "\n".join(part for part in (r.content, badges) if part) or "(empty reply)"


def _summary_rows(s: SessionSummary) -> list[tuple[str, str]]:
    return [
        ("personality", s.personality_name),
        ("provider", s.provider or "—"),
        ("user", s.user_id or "—"),
        ("messages", str(s.message_count)),
        ("created", when(s.created_at)),
        ("last active", when(s.last_active)),
    ]


def session_summary_html(s: SessionSummary) -> str:
    """HTML card of a session listing row.

    Args:
        s: The summary.

    Returns:
        A self-contained HTML fragment: session id, personality, provider, user,
        message count, created and last active.

    Example:
        >>> from datetime import datetime, timezone
        >>> from luminora_nb.types import SessionSummary
        >>> t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        >>> out = session_summary_html(SessionSummary(session_id="s1", personality_name="aurora",
        ...                                           provider="offline", created_at=t, last_active=t))
        >>> "2024-05-01 12:00:00 UTC" in out
        True
    """
    rows = []
    for label, value in _summary_rows(s):
        moment = s.created_at if label == "created" else s.last_active if label == "last active" else None
        cell = time_tag(moment) if moment is not None else esc(value)
        rows.append(f"<dt>{label}</dt><dd>{cell}</dd>")
    body = (
        f'<div class="lnbr-head"><span class="lnbr-title">Session</span>'
        f'<span class="lnbr-code">{esc(s.session_id)}</span></div>'
        f'<dl class="lnbr-kv">{"".join(rows)}</dl>'
    )
    return wrap(body, "session")


def session_summary_text(s: SessionSummary) -> str:
    """Plain-text form of a session listing row.

    Args:
        s: The summary.

    Returns:
        ``session <id>`` and one ``label: value`` line per field.

    Example:
        >>> from datetime import datetime, timezone
        >>> from luminora_nb.types import SessionSummary
        >>> t = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
        >>> print(session_summary_text(SessionSummary(session_id="s1", personality_name="aurora",
        ...                                           provider="offline", created_at=t, last_active=t)))
        session s1
          personality  aurora
          provider     offline
          user         —
          messages     0
          created      2024-05-01 12:00:00 UTC
          last active  2024-05-01 12:00:00 UTC
    """
    return "\n".join([f"session {s.session_id}", *(f"  {k:<12} {v}" for k, v in _summary_rows(s))])
