"""DocumentCodec: JSON, compression, AES-GCM encryption, key forms, tampering, old data."""

from __future__ import annotations

import base64
import json
import os
import zlib
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luminora_nb.errors import StorageError
from luminora_nb.storage._documents import select_episodes, session_documents, session_from_documents
from luminora_nb.storage.codec import MAGIC, DocumentCodec
from luminora_nb.types import (
    Conversation,
    Message,
    PersonalityData,
    SessionConfig,
    SessionRecord,
    StorageConfig,
)

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
DOC = {"text": "héllo 你好 👋", "n": [1, 2.5, None, True], "nested": {"a": {"b": "c"}}}


def codec(*, compressed: bool = False, key: str | None = None, **extra: Any) -> DocumentCodec:
    return DocumentCodec.from_config(
        StorageConfig(
            compression_enabled=compressed,
            encryption_enabled=key is not None,
            encryption_key=key,
            extra=extra,
        )
    )


MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "compressed": {"compressed": True},
    "encrypted": {"key": KEY},
    "compressed+encrypted": {"compressed": True, "key": KEY},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_round_trip_in_every_mode(mode: str) -> None:
    c = codec(**MODES[mode])
    data = c.encode(DOC)
    assert c.decode(data, what="doc") == DOC
    assert c.decode(c.encode_text(DOC), what="doc") == DOC
    assert c.is_plain is (mode == "plain")
    assert c.compressed is ("compressed" in mode)
    assert c.encrypted is ("encrypted" in mode)


def test_plain_form_is_the_json_text() -> None:
    c = codec()
    data = c.encode(DOC)
    assert data.startswith(b"{")
    assert json.loads(data) == DOC
    assert "héllo" in data.decode("utf-8")  # not ASCII-escaped
    assert c.encode_text(DOC) == data.decode("utf-8")


def test_compressed_form_has_a_header_and_is_smaller() -> None:
    c = codec(compressed=True)
    doc = {"text": "the same sentence again " * 500}
    data = c.encode(doc)
    assert data[:3] == MAGIC and data[3] == 1 and data[4] == 0x01
    assert zlib.decompress(data[5:]) == json.dumps(doc, separators=(",", ":")).encode()
    assert len(data) < len(json.dumps(doc)) / 10


def test_encrypted_form_hides_the_text_and_uses_a_fresh_nonce() -> None:
    c = codec(key=KEY)
    first, second = c.encode(DOC), c.encode(DOC)
    assert first[:3] == MAGIC and first[4] == 0x02
    assert first != second and first[5:17] != second[5:17]  # random 96-bit nonce per document
    for blob in (first, second):
        assert "héllo".encode() not in blob and b"nested" not in blob
    assert (
        len(first) == 5 + 12 + len(json.dumps(DOC, ensure_ascii=False, separators=(",", ":")).encode()) + 16
    )


def test_older_plain_data_reads_with_compression_on() -> None:
    old = codec().encode(DOC)
    assert codec(compressed=True).decode(old, what="old doc") == DOC
    assert codec(compressed=True).decode(old.decode(), what="old doc") == DOC
    # and compressed data reads back when compression is later switched off
    assert codec().decode(codec(compressed=True).encode(DOC), what="doc") == DOC


# -- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        KEY,
        KEY.rstrip("="),
        base64.b64encode(bytes(range(200, 232))).decode(),  # standard alphabet with + and /
        bytes(range(32)).hex(),
        Fernet.generate_key().decode(),
        "correct horse battery staple",
        "ü-passphrase with spaces and symbols !@#",
    ],
    ids=["urlsafe-b64", "unpadded", "std-b64", "hex", "fernet", "passphrase", "unicode-passphrase"],
)
def test_every_documented_key_form_works_and_is_stable(key: str) -> None:
    data = codec(key=key).encode(DOC)
    assert codec(key=key).decode(data, what="doc") == DOC  # a second codec derives the same key
    with pytest.raises(StorageError, match="could not be decrypted"):
        codec(key=base64.urlsafe_b64encode(os.urandom(32)).decode()).decode(data, what="doc")


def test_hex_and_base64_spellings_of_one_key_are_the_same_key() -> None:
    raw = os.urandom(32)
    data = codec(key=raw.hex()).encode(DOC)
    assert codec(key=base64.urlsafe_b64encode(raw).decode()).decode(data, what="doc") == DOC


def test_passphrase_salt_makes_keys_store_specific() -> None:
    data = codec(key="my passphrase", encryption_salt="store-a").encode(DOC)
    assert codec(key="my passphrase", encryption_salt="store-a").decode(data, what="doc") == DOC
    with pytest.raises(StorageError, match="could not be decrypted"):
        codec(key="my passphrase", encryption_salt="store-b").decode(data, what="doc")
    with pytest.raises(StorageError, match="could not be decrypted"):
        codec(key="my passphrase").decode(data, what="doc")
    with pytest.raises(StorageError, match="encryption_salt"):
        codec(key="my passphrase", encryption_salt=12)


def test_missing_key_is_an_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMINORA_ENCRYPTION_KEY", raising=False)
    with pytest.raises(StorageError, match="LUMINORA_ENCRYPTION_KEY") as caught:
        DocumentCodec.from_config(StorageConfig(storage_type="file", encryption_enabled=True))
    assert "file storage" in str(caught.value)
    with pytest.raises(StorageError):
        DocumentCodec.from_config(StorageConfig(encryption_enabled=True, encryption_key=""))


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMINORA_ENCRYPTION_KEY", KEY)
    from_env = DocumentCodec.from_config(StorageConfig(encryption_enabled=True))
    assert codec(key=KEY).decode(from_env.encode(DOC), what="doc") == DOC
    # an explicit key wins over the environment
    explicit = DocumentCodec.from_config(StorageConfig(encryption_enabled=True, encryption_key="other"))
    with pytest.raises(StorageError, match="could not be decrypted"):
        from_env.decode(explicit.encode(DOC), what="doc")


def test_key_never_appears_in_repr_errors_or_bytes() -> None:
    secret = "sk-like-passphrase-" + os.urandom(8).hex()
    c = codec(key=secret, compressed=True)
    assert secret not in repr(c) and "passphrase" not in repr(c)
    data = c.encode({"x": 1})
    assert secret.encode() not in data
    for key in (secret, KEY):
        wrong = codec(key=key + "x" if key == secret else "whatever")
        with pytest.raises(StorageError) as caught:
            wrong.decode(data, what="session 's1'")
        assert secret not in str(caught.value) and KEY not in str(caught.value)
        assert secret not in repr(caught.value)
    assert not hasattr(c, "__dict__")  # slots only: no stray attribute can hold the key


# -- tampering and corruption -----------------------------------------------------------------------
def test_every_single_byte_flip_is_detected() -> None:
    c = codec(key=KEY, compressed=True)
    data = c.encode({"msg": "short"})
    for position in range(len(data)):
        for bit in (0x01, 0x80):
            damaged = bytearray(data)
            damaged[position] ^= bit
            with pytest.raises(StorageError) as caught:
                c.decode(bytes(damaged), what="session 'victim'")
            assert "victim" in str(caught.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_random_tampering_never_yields_garbage(position: int, value: int) -> None:
    c = codec(key=KEY)
    data = bytearray(c.encode(DOC))
    position %= len(data)
    if data[position] == value:
        value ^= 0xFF
    data[position] = value
    with pytest.raises(StorageError):
        c.decode(bytes(data), what="doc")


def test_truncated_and_extended_ciphertext_fail() -> None:
    c = codec(key=KEY)
    data = c.encode(DOC)
    for cut in (3, 5, 10, 17, len(data) - 1):
        with pytest.raises(StorageError):
            c.decode(data[:cut], what="doc")
    with pytest.raises(StorageError, match="could not be decrypted"):
        c.decode(data + b"\x00", what="doc")


def test_removing_the_encryption_flag_is_detected() -> None:
    c = codec(key=KEY, compressed=True)
    data = bytearray(c.encode(DOC))
    data[4] = 0x01  # pretend "compressed only"
    with pytest.raises(StorageError, match="unencrypted"):
        c.decode(bytes(data), what="doc")
    with pytest.raises(StorageError, match="compressed data is damaged"):
        codec(compressed=True).decode(bytes(data), what="doc")


def test_newer_format_version_and_unknown_flags() -> None:
    with pytest.raises(StorageError, match="newer storage codec"):
        codec().decode(MAGIC + bytes([3, 0]) + b"{}", what="doc")
    with pytest.raises(StorageError, match="unknown flags"):
        codec().decode(MAGIC + bytes([1, 0x80]) + b"{}", what="doc")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "neither JSON"),
        (b"\x00\x01\x02", "neither JSON"),
        (b"{not json", "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"[1, 2]", "neither JSON"),
        (b"{\xff\xfe}", "not valid JSON"),
        ("{'single': 'quotes'}", "not valid JSON"),
        ("!!! not base64 !!!", "neither JSON"),
    ],
)
def test_corrupt_data_names_the_document(data: bytes | str, reason: str) -> None:
    with pytest.raises(StorageError, match=reason) as caught:
        codec().decode(data, what="session 'broken'")
    assert "session 'broken'" in str(caught.value)


def test_json_that_is_not_an_object_is_corrupt() -> None:
    with pytest.raises(StorageError, match="JSON list, not an object"):
        codec(compressed=True).decode(MAGIC + bytes([1, 1]) + zlib.compress(b"[1]"), what="doc")


def test_encrypted_store_refuses_plain_documents_unless_migrating() -> None:
    plain = codec().encode(DOC)
    compressed = codec(compressed=True).encode(DOC)
    for data in (plain, compressed):
        with pytest.raises(StorageError, match="stored unencrypted"):
            codec(key=KEY).decode(data, what="doc")
        assert codec(key=KEY, allow_unencrypted_reads=True).decode(data, what="doc") == DOC


def test_encrypted_document_without_a_key_is_an_error() -> None:
    with pytest.raises(StorageError, match="is encrypted but this storage has no encryption"):
        codec().decode(codec(key=KEY).encode(DOC), what="doc")


# -- encoding values ----------------------------------------------------------------------------------
def test_json_conversions_and_refusals() -> None:
    class Colour(Enum):
        RED = "red"

    c = codec()
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert c.decode(c.encode({"at": at, "c": Colour.RED, "t": (1, 2)}), what="d") == {
        "at": "2024-05-01T12:00:00+00:00",
        "c": "red",
        "t": [1, 2],
    }
    with pytest.raises(StorageError, match="not JSON-serialisable"):
        c.encode({"x": object()}, what="memory value")
    with pytest.raises(StorageError, match="memory value"):
        c.encode({"x": float("nan")}, what="memory value")
    with pytest.raises(StorageError, match="must be a JSON object"):
        c.encode([1, 2])  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None)
@given(doc=st.dictionaries(st.text(), json_values, max_size=6))
def test_any_json_document_round_trips_in_every_mode(doc: dict[str, Any]) -> None:
    for mode in MODES.values():
        c = codec(**mode)
        assert c.decode(c.encode(doc), what="doc") == doc
        assert c.decode(c.encode_text(doc), what="doc") == doc


# -- shared document builders ---------------------------------------------------------------------------
def make_record() -> SessionRecord:
    return SessionRecord(
        session_id="s1",
        personality_name="aurora",
        personality=PersonalityData(name="aurora", system_prompt="Be kind."),
        provider_config={"name": "openai", "model": "m", "api_key": "sk-never"},
        session_config=SessionConfig(session_id="s1"),
        user_id="u1",
        conversation=Conversation(session_id="s1", messages=[Message(role="user", content="hi ✓")]),
        memory={"kept": "apart"},
    )


def test_session_documents_split_and_rebuild() -> None:
    record = make_record()
    doc, messages = session_documents(record)
    assert "messages" not in doc["conversation"] and "memory" not in doc
    assert messages == [record.conversation.messages[0].model_dump(mode="json")]
    assert "sk-never" not in json.dumps(doc)
    rebuilt = session_from_documents(doc, messages, memory={"kept": "apart"}, what="session 's1'")
    assert rebuilt.model_dump(mode="json") == record.model_dump(mode="json")


def test_session_from_invalid_documents_names_the_session() -> None:
    doc, messages = session_documents(make_record())
    del doc["personality"]
    with pytest.raises(StorageError, match="session 's1' is corrupt"):
        session_from_documents(doc, messages, what="session 's1'")
    with pytest.raises(StorageError, match="not a valid session"):
        session_from_documents({"conversation": 3}, [], what="session 's1'")


def test_select_episodes_orders_by_importance_then_newest() -> None:
    rows = [
        {"id": 1, "importance": 5.0, "timestamp": "2024-01-01"},
        {"id": 2, "importance": 9.0, "timestamp": "2024-01-01"},
        {"id": 3, "importance": 5.0, "timestamp": "2024-02-01"},
        {"id": 4, "importance": 5.0, "timestamp": "2024-02-01"},
    ]
    assert [e["id"] for e in select_episodes(rows, None, None)] == [2, 3, 4, 1]
    assert [e["id"] for e in select_episodes(rows, 6, None)] == [2]
    assert [e["id"] for e in select_episodes(rows, None, 2)] == [2, 3]


# -- text UTF-8 cannot hold, pre-serialised JSON ------------------------------------------------------
ODD = {"text": "half a pair: \ud83d then \udc00, NUL \x00, é 你好", "\ud800key": ["\udfff"]}


def test_unpaired_surrogates_round_trip_in_plain_mode_as_ascii_escaped_json() -> None:
    c = codec()
    data = c.encode(ODD, what="session 'odd'")
    assert data.isascii() and b"\\ud83d" in data  # escaped, so the bytes are valid UTF-8
    assert c.decode(data, what="session 'odd'") == ODD
    text = c.encode_text(ODD, what="session 'odd'")
    assert text.isascii() and text.encode("utf-8") == data
    assert c.decode(text, what="session 'odd'") == ODD
    # valid text is still stored unescaped
    assert "é".encode() in c.encode({"t": "é"})


@pytest.mark.parametrize("mode", ["compressed", "encrypted", "compressed+encrypted"])
def test_unpaired_surrogates_are_a_storage_error_naming_the_document_when_sealed(mode: str) -> None:
    c = codec(**MODES[mode])
    for encode in (c.encode, c.encode_text):
        with pytest.raises(StorageError, match=r"session 'odd' holds text with an unpaired surrogate"):
            encode(ODD, what="session 'odd'")


@pytest.mark.parametrize("mode", list(MODES))
def test_pre_serialised_json_encodes_and_decodes_in_every_mode(mode: str) -> None:
    c = codec(**MODES[mode])
    raw = json.dumps(DOC, ensure_ascii=False, separators=(",", ":")).encode()
    data = c.encode_json(raw, what="doc")
    assert (data == raw) is (mode == "plain")
    assert c.decode(data, what="doc") == DOC
    assert c.decode_json(data, what="doc") == raw
    assert c.decode_json(c.encode(DOC), what="doc") == raw
    with pytest.raises(StorageError, match="message 'm' must be serialised as a JSON object"):
        c.encode_json(b"[1, 2]", what="message 'm'")


def test_decode_json_checks_like_decode_but_does_not_parse() -> None:
    sealed = codec(key=KEY, compressed=True)
    data = bytearray(sealed.encode(DOC))
    data[-1] ^= 0x01
    with pytest.raises(StorageError, match=r"session 'x' could not be decrypted"):
        sealed.decode_json(bytes(data), what="session 'x'")
    with pytest.raises(StorageError, match="stored unencrypted"):
        sealed.decode_json(b'{"a": 1}', what="doc")
    with pytest.raises(StorageError, match="neither JSON"):
        codec().decode_json(b"\x00garbage", what="doc")
    assert codec().decode_json(b'{"not": valid json', what="doc") == b'{"not": valid json'
