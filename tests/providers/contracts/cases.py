"""The conversations and generation options every adapter's requests are checked with.

:data:`REQUESTS` covers three conversations (one user message; a system prompt; a
history with an author's name, an assistant turn and an extra ``system`` message), each
with no generation option and with all of them, and the history with each option alone
too, in plain and streamed mode: the parameter ids read ``conversation-options-mode``.

Example:
    >>> len(REQUESTS), REQUESTS[0].id
    (20, 'single-none-plain')
"""

from __future__ import annotations

from typing import Any

import pytest

from luminora_nb.providers import ChatRequest
from luminora_nb.types import ChatMessage

__all__ = ["CONVERSATIONS", "OPTIONS", "REQUESTS", "system_texts", "turns", "with_params"]

CONVERSATIONS: dict[str, ChatRequest] = {
    "single": ChatRequest(messages=[ChatMessage(role="user", content="hello")]),
    "system": ChatRequest(system="You are terse.", messages=[ChatMessage(role="user", content="hi")]),
    "history": ChatRequest(
        system="You are a pirate.",
        messages=[
            ChatMessage(role="user", content="hi", name="ana"),
            ChatMessage(role="assistant", content="Arr, hello."),
            ChatMessage(role="system", content="Stay in character."),
            ChatMessage(role="user", content="Where is the gold? ✨"),
        ],
    ),
}

OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "temperature": {"temperature": 0.3},
    "top_p": {"top_p": 0.9},
    "max_tokens": {"max_tokens": 64},
    "stop": {"stop": ["END", "###"]},
    "all": {"temperature": 0.7, "top_p": 0.5, "max_tokens": 32, "stop": ["END"]},
}

REQUESTS = [
    pytest.param(
        conversation, options, stream, id=f"{conversation}-{options}-{'stream' if stream else 'plain'}"
    )
    for conversation in CONVERSATIONS
    for options in (OPTIONS if conversation == "history" else ("none", "all"))
    for stream in (False, True)
]


def system_texts(request: ChatRequest) -> list[str]:
    """The system prompt, then the conversation's ``system`` messages (for APIs without a
    system role, which take them together)."""
    return ([request.system] if request.system else []) + [
        m.content for m in request.messages if m.role == "system"
    ]


def turns(request: ChatRequest) -> list[ChatMessage]:
    """The conversation without its ``system`` messages."""
    return [m for m in request.messages if m.role != "system"]


def with_params(conversation: str, options: str) -> ChatRequest:
    """The conversation with the options as per-call parameters."""
    return CONVERSATIONS[conversation].model_copy(update={"params": dict(OPTIONS[options])})
