"""Resume across processes: a session created by one client process is listed, read and
continued by a new process on the same file / DuckDB storage; its provider config comes
back without the API key."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from luminora_nb.storage import create_storage
from luminora_nb.types import StorageConfig

from .conftest import new_key

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, json, os, sys
from luminora_nb import LuminoraCoreClient, ProviderConfig, StorageConfig

ARGS = json.loads(sys.argv[1])

def storage_config():
    return StorageConfig(**ARGS["storage"])
"""

CREATE = """
async def main():
    client = LuminoraCoreClient(storage_config=storage_config())
    await client.initialize()
    sid = await client.create_session(
        "aurora", ProviderConfig(name="offline", api_key=ARGS["api_key"], model="sim-1"), user_id="u1"
    )
    replies = []
    for text in ("Hello there!", "What can you do?"):
        replies.append((await client.send_message(sid, text)).content)
    await client.store_memory(sid, "favourite", {"colour": "teal"})
    await client.cleanup()
    print(json.dumps({"sid": sid, "replies": replies}))

asyncio.run(main())
"""

CONTINUE = """
async def main():
    client = LuminoraCoreClient(storage_config=storage_config())
    await client.initialize()
    sid = ARGS["sid"]
    listed = await client.list_sessions()
    mine = [s.session_id for s in await client.session_summaries(user_id="u1")]
    before = await client.get_conversation(sid)
    stored = await client.storage.load_session(sid)
    if ARGS["explicit_key"]:
        keyed = ProviderConfig(name="offline", api_key=ARGS["api_key"], model="sim-1")
        await client.resume_session(sid, keyed)
    reply = await client.send_message(sid, "Tell me about the stars.")
    memory = await client.get_memory(sid, "favourite")
    after = await client.get_conversation(sid)
    await client.cleanup()
    print(json.dumps({
        "listed": listed,
        "mine": mine,
        "before": [[m.role.value, m.content] for m in before.messages],
        "provider_config": stored.provider_config,
        "reply": reply.content,
        "memory": memory,
        "after": [[m.role.value, m.content] for m in after.messages],
    }))

asyncio.run(main())
"""


def run_process(body: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PRELUDE + body), json.dumps(args)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"child process failed:\n{result.stderr}"
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output


CASES = {
    "file-plain": ("file", {}, False),
    "file-encrypted-env-key": ("file", {"compression_enabled": True, "encryption_enabled": True}, True),
    "duckdb-plain": ("duckdb", {}, True),
    "duckdb-encrypted": ("duckdb", {"encryption_enabled": True, "encryption_key": "<key>"}, False),
}


@pytest.mark.integration  # other processes
@pytest.mark.parametrize("case", list(CASES))
async def test_a_new_process_lists_reads_and_continues_the_session(tmp_path: Path, case: str) -> None:
    backend, options, explicit_key = CASES[case]
    key = new_key()
    env: dict[str, str] = {}
    storage: dict[str, Any] = {
        "storage_type": backend,
        "connection_string": str(tmp_path / ("data" if backend == "file" else "chat.duckdb")),
        **options,
    }
    if storage.get("encryption_key") == "<key>":
        storage["encryption_key"] = key
    elif storage.get("encryption_enabled"):
        env["LUMINORA_ENCRYPTION_KEY"] = key  # the key comes from the environment in both processes
    first_key, second_key = f"sk-test-{secrets.token_hex(12)}", f"sk-test-{secrets.token_hex(12)}"

    created = run_process(CREATE, {"storage": storage, "api_key": first_key}, env)
    sid = created["sid"]
    assert len(created["replies"]) == 2 and all(created["replies"])

    resumed = run_process(
        CONTINUE, {"storage": storage, "api_key": second_key, "sid": sid, "explicit_key": explicit_key}, env
    )
    assert resumed["listed"] == [sid] and resumed["mine"] == [sid]
    assert resumed["before"] == [
        ["user", "Hello there!"],
        ["assistant", created["replies"][0]],
        ["user", "What can you do?"],
        ["assistant", created["replies"][1]],
    ]
    provider_config = resumed["provider_config"]
    assert provider_config["name"] == "offline" and provider_config["model"] == "sim-1"
    assert "api_key" not in provider_config and first_key not in json.dumps(provider_config)
    assert resumed["reply"]
    assert resumed["after"] == [
        *resumed["before"],
        ["user", "Tell me about the stars."],
        ["assistant", resumed["reply"]],
    ]
    assert resumed["memory"] == {"colour": "teal"}

    # this process sees the continued conversation too, and no stored byte holds either key
    config = StorageConfig(
        **{**storage, "encryption_key": key if storage.get("encryption_enabled") else None}
    )
    store = create_storage(config)
    await store.initialize()
    record = await store.load_session(sid)
    await store.close()
    assert record is not None and len(record.conversation.messages) == 6
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert raw
    for secret in (first_key, second_key, key):
        assert secret.encode() not in raw
    if not storage.get("encryption_enabled"):
        assert b"Tell me about the stars." in raw  # the raw bytes really are what was stored
