"""Google Gemini API adapter (Gemini Developer API, AI Studio keys).

**API version.** Gemini serves the same request shape under a stable ``v1`` and a beta
``v1beta`` (and ``v1alpha``). This adapter speaks ``v1``, the version Google's current
SDK uses by default; ``extra={"api_version": "v1beta"}`` selects another (the model
aliases ``gemini-flash-latest`` / ``gemini-pro-latest`` exist only on ``v1beta``). A
``base_url`` that already ends in a version segment (``.../v1beta``) speaks that
version, and an ``api_version`` that contradicts it is refused.

Wire format (header ``x-goog-api-key: <key>``):

* ``POST {base_url}/{version}/models/{model}:generateContent``, streamed
  ``POST .../models/{model}:streamGenerateContent?alt=sse``;
* request: ``contents`` (``role`` ``user`` or ``model``, text ``parts``), the system
  prompt as ``systemInstruction.parts``, and ``generationConfig`` with ``temperature``,
  ``topP``, ``maxOutputTokens`` and ``stopSequences``;
* reply: ``candidates[0].content.parts[].text`` (thought parts are not reply text: they
  go to ``metadata["thinking"]``), ``candidates[0].finishReason``, ``usageMetadata``
  (``promptTokenCount``; ``candidatesTokenCount`` + ``thoughtsTokenCount`` as completion
  tokens; ``totalTokenCount``) and ``modelVersion``; a blocked prompt has no candidates
  and a ``promptFeedback.blockReason`` (-> ``content_filter``, empty reply);
* finish reasons (:data:`GEMINI_FINISH_REASONS`, matched case-insensitively):
  ``STOP``, ``OTHER``, ``NO_IMAGE``, ``FINISH_REASON_UNSPECIFIED`` -> ``stop``;
  ``MAX_TOKENS``, ``CONTINUATION`` -> ``length`` (a ``continuationToken`` is kept in
  metadata); ``SAFETY``, ``RECITATION``, ``LANGUAGE``, ``BLOCKLIST``,
  ``PROHIBITED_CONTENT``, ``SPII``, ``ESCALATION``, ``PUP_LIMITED_DISABLED``,
  ``MODEL_ARMOR`` and every ``IMAGE_*`` -> ``content_filter``;
  ``MALFORMED_FUNCTION_CALL``, ``UNEXPECTED_TOOL_CALL``, ``TOO_MANY_TOOL_CALLS``,
  ``MISSING_THOUGHT_SIGNATURE``, ``MALFORMED_RESPONSE`` -> ``error`` (raised, with the
  candidate's ``finishMessage``). A value Google adds later means ``stop``, and the reply
  keeps it in ``metadata["raw_finish_reason"]`` with ``metadata["unknown_finish_reason"]``;
* stream: SSE ``data:`` events, each a complete ``GenerateContentResponse`` holding the
  new text; the last one carries ``finishReason``;
* errors: ``{"error": {"code", "message", "status", "details"}}``; a ``RetryInfo``
  detail's ``retryDelay`` is honoured like ``Retry-After``, and an HTTP 400 whose
  ``ErrorInfo`` reason is ``API_KEY_INVALID``/``API_KEY_EXPIRED`` (how Gemini reports a
  bad key) is a :class:`~luminora_nb.errors.ProviderAuthenticationError`.

Defaults: base URL ``https://generativelanguage.googleapis.com`` (+ ``/v1``), model
``gemini-2.5-flash``, key from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``.

Example:
    >>> from luminora_nb.providers import ChatRequest
    >>> from luminora_nb.types import ProviderConfig
    >>> p = GoogleProvider(ProviderConfig(name="google", api_key="demo", extra={"max_tokens": 50}))
    >>> p.url(p.endpoint(stream=True)[0])
    'https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:streamGenerateContent'
    >>> p.build_body(ChatRequest(messages=[]), stream=True)["generationConfig"]
    {'maxOutputTokens': 50}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from ..errors import ProviderError
from ..types.provider import ChatResponse, ProviderConfig
from ._http import HTTPProvider, StreamState, merge_split_options
from ._normalise import FinishReasons, merge_usage, vendor_params
from .base import ChatRequest

__all__ = ["DEFAULT_API_VERSION", "GEMINI_FINISH_REASONS", "GoogleProvider"]

#: The Gemini API version spoken unless ``extra["api_version"]`` or the base URL says otherwise.
DEFAULT_API_VERSION = "v1"
_VERSION = re.compile(r"v\d+(?:alpha|beta)?\d*")

#: Gemini's ``finishReason`` values (every value of the SDK's ``FinishReason`` enum).
GEMINI_FINISH_REASONS = FinishReasons(
    stop="STOP OTHER NO_IMAGE FINISH_REASON_UNSPECIFIED",
    length="MAX_TOKENS CONTINUATION",
    content_filter=(
        "SAFETY RECITATION LANGUAGE BLOCKLIST PROHIBITED_CONTENT SPII ESCALATION PUP_LIMITED_DISABLED "
        "MODEL_ARMOR IMAGE_SAFETY IMAGE_PROHIBITED_CONTENT IMAGE_OTHER IMAGE_RECITATION"
    ),
    error=(
        "MALFORMED_FUNCTION_CALL UNEXPECTED_TOOL_CALL TOO_MANY_TOOL_CALLS MISSING_THOUGHT_SIGNATURE "
        "MALFORMED_RESPONSE"
    ),
    fold_case=True,
)

# ErrorInfo reasons of a bad or unusable key, sent with HTTP 400 INVALID_ARGUMENT.
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
# Request fields that sit beside generationConfig (unmodelled options go inside it otherwise).
_TOP_LEVEL = frozenset({"safetySettings", "tools", "toolConfig", "cachedContent", "labels"})


def _usage(raw: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
    """Usage from ``usageMetadata``; counts a chunk leaves out (or sends as null) keep
    their ``previous`` values."""
    if not isinstance(raw, dict):
        return dict(previous or {})
    candidates, thoughts = raw.get("candidatesTokenCount"), raw.get("thoughtsTokenCount")
    completion: int | None = None
    if isinstance(candidates, int) or isinstance(thoughts, int):
        completion = int(candidates or 0) + int(thoughts or 0)
    return merge_usage(previous or {}, raw.get("promptTokenCount"), completion, raw.get("totalTokenCount"))


def _candidate_text(candidate: Any) -> tuple[str, str]:
    """``(text, thoughts)`` of a candidate: its text parts, and its thought parts' text."""
    content = candidate.get("content") or {}
    text: list[str] = []
    thoughts: list[str] = []
    for part in content.get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    return "".join(text), "".join(thoughts)


def _candidate_metadata(candidate: dict[str, Any], metadata: dict[str, Any]) -> None:
    """The candidate's ``finishMessage`` and ``continuationToken``, if any."""
    if candidate.get("finishMessage"):
        metadata["finish_message"] = str(candidate["finishMessage"])
    if candidate.get("continuationToken"):
        metadata["continuation_token"] = candidate["continuationToken"]


class GoogleProvider(HTTPProvider):
    """Gemini models through the Gemini API (Google AI Studio keys).

    Thought parts are not reply text (their tokens count as completion tokens); a
    blocked prompt is an empty reply with finish reason ``content_filter``; Gemini's
    ``RetryInfo`` delay and its 400 for a bad key are understood (see the module notes).
    """

    name: ClassVar[str] = "google"
    default_model: ClassVar[str] = "gemini-2.5-flash"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    finish_reasons = GEMINI_FINISH_REASONS

    def __init__(self, config: ProviderConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config, transport=transport)
        asked = (config.extra or {}).get("api_version")
        if asked is not None and (not isinstance(asked, str) or not _VERSION.fullmatch(asked)):
            raise ProviderError(
                f"google: extra['api_version'] must be an API version such as 'v1' or 'v1beta', "
                f"got {asked!r}",
                provider=self.name,
            )
        last = httpx.URL(self.base_url).path.rstrip("/").rsplit("/", 1)[-1]
        if _VERSION.fullmatch(last):
            if asked is not None and asked != last:
                raise ProviderError(
                    f"google: base_url {self.base_url!r} speaks API version {last!r}, but "
                    f"extra['api_version'] asks for {asked!r}; drop one of them",
                    provider=self.name,
                )
            self.api_version: str = last
        else:
            self.api_version = asked or DEFAULT_API_VERSION
            self.base_url = f"{self.base_url}/{self.api_version}"

    def auth_headers(self) -> dict[str, str]:
        key = self.api_key
        return {"x-goog-api-key": key} if key else {}

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        model = quote(self.model.removeprefix("models/"), safe="-._~@")
        if stream:
            return f"/models/{model}:streamGenerateContent", {"alt": "sse"}
        return f"/models/{model}:generateContent", {}

    def message_wire(self, role: str, content: str, name: str | None) -> dict[str, Any]:
        return {"role": "model" if role == "assistant" else "user", "parts": [{"text": content}]}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system, contents = self.system_apart(request)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
        names = {
            "temperature": "temperature",
            "top_p": "topP",
            "max_tokens": "maxOutputTokens",
            "stop": "stopSequences",
        }
        config = vendor_params(self.generation_params(request), names)
        if config:
            body["generationConfig"] = config
        return body

    def with_extra(self, body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        """Unmodelled options go into ``generationConfig`` (``seed``, ``presencePenalty``,
        ``responseMimeType``, ...), except the request's own top-level fields
        (``safetySettings``, ``tools``, ``toolConfig``, ``cachedContent``, ``labels``)."""
        return merge_split_options(self, body, extra, top_level=_TOP_LEVEL, nested="generationConfig")

    def classify_status(self, status: int, body: Any) -> int:
        """Gemini answers an invalid key with 400 INVALID_ARGUMENT; treat it as a 401."""
        error = body.get("error") if isinstance(body, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, dict) and detail.get("reason") in _AUTH_REASONS:
                return 401
        return status

    def retry_after_from_body(self, body: Any) -> float | None:
        error = body.get("error") if isinstance(body, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith("RetryInfo"):
                continue
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
        return None

    def _blocked(self, data: dict[str, Any]) -> str | None:
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            return str(feedback["blockReason"])
        return None

    def parse_reply(self, data: Any) -> ChatResponse:
        if "error" in data and "candidates" not in data:
            raise self.stream_error(data, status=int(data["error"].get("code") or 500))
        candidates = data.get("candidates") or []
        metadata: dict[str, Any] = {}
        if data.get("responseId"):
            metadata["id"] = data["responseId"]
        if not candidates:
            block = self._blocked(data)
            if block is None:
                raise KeyError("candidates")
            metadata["raw_finish_reason"] = block
            return self.response(
                "",
                finish_reason="content_filter",
                usage=_usage(data.get("usageMetadata")),
                model=data.get("modelVersion"),
                metadata=metadata,
            )
        candidate = candidates[0]
        raw_finish = candidate.get("finishReason")
        metadata["raw_finish_reason"] = raw_finish
        _candidate_metadata(candidate, metadata)
        finish = self.finish_reasons(raw_finish) or "stop"
        if finish == "error" and "finish_message" in metadata:
            metadata["error"] = metadata["finish_message"]  # raised with the reply's error
        text, thoughts = _candidate_text(candidate)
        if thoughts:
            metadata["thinking"] = thoughts
        return self.response(
            text,
            finish_reason=finish,
            usage=_usage(data.get("usageMetadata")),
            model=data.get("modelVersion"),
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        chunk = self.event_json(item, "stream chunk")
        if "error" in chunk and "candidates" not in chunk:
            error = chunk["error"]
            code = error.get("code") if isinstance(error, dict) else None
            raise self.stream_error(chunk, status=int(code) if isinstance(code, int) else 500)
        if chunk.get("modelVersion"):
            state.model = chunk["modelVersion"]
        if chunk.get("responseId"):
            state.response_id = chunk["responseId"]
        if isinstance(chunk.get("usageMetadata"), dict):
            state.usage = _usage(chunk["usageMetadata"], state.usage)
        candidates = chunk.get("candidates") or []
        if not isinstance(candidates, list):
            raise self.malformed("stream chunk", chunk)
        if not candidates:
            block = self._blocked(chunk)
            if block is not None:
                state.raw_finish_reason = block
                state.finish_reason = "content_filter"
            return None
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise self.malformed("stream chunk", chunk)
        if candidate.get("finishReason") is not None:
            self.set_finish(state, candidate["finishReason"])
            _candidate_metadata(candidate, state.extra)
            if state.finish_reason == "error":
                state.error = state.extra.get("finish_message")
        text, thoughts = _candidate_text(candidate)
        if thoughts:
            state.thinking.append(thoughts)
        return text or None
