"""EventBus: delivery, filtering, async handlers, failing handlers, unsubscribe."""

from __future__ import annotations

import logging

import pytest

from luminora_nb.events import EventBus, SessionCreated, SessionDeleted, TurnFailed


def created(sid: str = "s1") -> SessionCreated:
    return SessionCreated(session_id=sid, personality_name="aurora", provider="offline")


async def test_sync_and_async_handlers_receive_in_order() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def async_handler(event: object) -> None:
        seen.append(f"async:{event.type}")  # type: ignore[attr-defined]

    bus.subscribe(lambda e: seen.append(f"sync:{e.type}"))
    bus.subscribe(async_handler)
    await bus.publish(created())
    assert seen == ["sync:session_created", "async:session_created"]


async def test_type_filter_and_close() -> None:
    bus = EventBus()
    seen: list[str] = []
    sub = bus.subscribe(lambda e: seen.append(e.type), types=[SessionDeleted])
    await bus.publish(created())
    await bus.publish(SessionDeleted(session_id="s1"))
    assert seen == ["session_deleted"]
    sub.close()
    assert not bus.has_subscribers
    await bus.publish(SessionDeleted(session_id="s2"))
    assert seen == ["session_deleted"]
    sub.close()  # closing twice is harmless


async def test_subscription_as_context_manager() -> None:
    bus = EventBus()
    seen: list[str] = []
    with bus.subscribe(lambda e: seen.append(e.type)):
        await bus.publish(created())
    await bus.publish(created())
    assert seen == ["session_created"]


async def test_failing_handler_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken(event: object) -> None:
        raise RuntimeError("observer bug")

    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append(e.type))
    with caplog.at_level(logging.ERROR, logger="luminora_nb.events"):
        await bus.publish(created())
    assert seen == ["session_created"]
    assert "failed on session_created" in caplog.text


def test_events_serialise_with_their_type() -> None:
    record = TurnFailed(session_id="s", error_type="ProviderError", message="boom").to_record()
    assert record["type"] == "turn_failed" and record["stage"] == "provider"
    assert SessionCreated.model_validate_json(created().model_dump_json()).session_id == "s1"
