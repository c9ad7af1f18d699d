"""The API key never leaks: full sessions through every provider, including every error path.

Each session runs through the public client with a fresh ``sk-test-<random>`` key against
the loopback vendor server, whose error answers echo the key back (as some vendors do).
Afterwards the key must appear in no exception (text, repr, formatted traceback with its
chained causes), no log record of ``luminora_nb``/``httpx``/``httpcore`` at DEBUG, no
event, no ``ProviderConfig`` or conversation dump, no provider repr, and no byte the file
storage wrote to disk.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.errors import (
    LuminoraError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderRateLimitError,
)
from luminora_nb.types import StorageConfig

from .conftest import ALL_CASES, CASES, new_key
from .vendor_server import VendorServer
from .wire import Drop, Fail, Malformed, StreamError


def _exception_texts(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for attr in ("provider", "status", "retryable"):
        texts.append(repr(getattr(exc, attr, None)))
    return texts


async def _fail_turn(client: LuminoraCoreClient, sid: str, *, streamed: bool) -> LuminoraError:
    try:
        if streamed:
            async for _ in client.stream_message(sid, "hi"):
                pass
        else:
            await client.send_message(sid, "hi")
    except LuminoraError as exc:
        return exc
    raise AssertionError("the turn was expected to fail")


@pytest.mark.parametrize("case_id", ALL_CASES)
async def test_the_key_appears_nowhere(case_id: str, vendor_server: VendorServer, tmp_path: Path, caplog):
    for name in ("luminora_nb", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    case = CASES[case_id]
    key = new_key()
    scenario = vendor_server.scenario(case.vendor, key=key, model=case.model)
    config = ProviderConfig(
        name=case.provider,
        api_key=key,
        base_url=scenario.base_url,
        model=case.model,
        extra={**dict(case.extra), "max_retries": 1, "retry_base_delay": 0.001, "retry_max_delay": 0.002},
    )
    echo = f"Incorrect API key provided: {key}"
    seen_events: list[Any] = []
    errors: list[LuminoraError] = []
    storage = StorageConfig(storage_type="file", connection_string=str(tmp_path / "store"))

    async with LuminoraCoreClient(storage_config=storage) as client:
        client.events.subscribe(seen_events.append)
        sid = await client.create_session("aurora", config)

        # Healthy turns, plain and streamed.
        assert (await client.send_message(sid, "hi")).content == "Echo: hi — done."
        chunks = [chunk async for chunk in client.stream_message(sid, "hi")]
        assert "".join(c.content for c in chunks) == "Echo: hi — done."

        # Every error path, each with the key echoed by the "vendor" where it can be.
        faults: list[tuple[Any, bool, type[LuminoraError]]] = [
            ([Fail(401, echo)], False, ProviderAuthenticationError),
            ([Fail(403, echo)], True, ProviderAuthenticationError),
            ([Fail(429, echo, headers={"Retry-After": "0"})] * 2, False, ProviderRateLimitError),
            ([Fail(503, echo)] * 2, True, ProviderError),
            ([Fail(400, echo)], True, ProviderError),
            ([Drop(after=1)], True, ProviderError),
            ([Malformed(after=1)], True, ProviderError),
            ([Malformed()], False, ProviderError),
            ([StreamError(after=1, message=echo)], True, ProviderError),
        ]
        for actions, streamed, expected in faults:
            scenario.push(*actions)
            error = await _fail_turn(client, sid, streamed=streamed)
            assert isinstance(error, expected), (actions, error)
            errors.append(error)

        # A wrong key: the server echoes the key it was sent.
        scenario.key = "sk-the-right-key-is-another-one"
        error = await _fail_turn(client, sid, streamed=False)
        assert isinstance(error, ProviderAuthenticationError)
        errors.append(error)
        scenario.key = key

        conversation = await client.get_conversation(sid)
        assert conversation is not None and len(conversation.messages) >= 4
        record = await client.storage.load_session(sid)
        assert record is not None
        dumps = [
            conversation.model_dump_json(),
            repr(conversation),
            record.model_dump_json(),
            repr(record),
            config.model_dump_json(),
            repr(config),
            str(config.model_dump()),
            repr(client),
            *(repr(p) for p in client._providers.values()),
            *(repr(vars(p)) for p in client._providers.values()),
        ]

    assert len(errors) >= 9
    for error in errors:
        for text in _exception_texts(error):
            assert key not in text, text
    for text in dumps:
        assert key not in text, text

    assert seen_events, "the client published no events"
    for event in seen_events:
        assert key not in repr(event)
        assert key not in str(event.to_record())

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    assert any(r.name.startswith("httpx") for r in caplog.records), "httpx logs were not captured"
    assert any(r.name.startswith("luminora_nb") for r in caplog.records), "no luminora_nb log captured"
    for record in caplog.records:
        assert key not in formatter.format(record), formatter.format(record)
        assert key not in repr(record.args)

    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert stored, "the file storage wrote nothing"
    for path in stored:
        assert key.encode() not in path.read_bytes(), path

    # The key really travelled (so the checks above are not vacuous) and was accepted.
    assert any(key in " ".join(r.headers.values()) for r in scenario.requests)


async def test_missing_key_error_names_the_variable_at_create_session():
    async with LuminoraCoreClient() as client:
        with pytest.raises(ProviderAuthenticationError, match="ANTHROPIC_API_KEY"):
            await client.create_session("aurora", ProviderConfig(name="anthropic"))
        assert await client.list_sessions() == []
