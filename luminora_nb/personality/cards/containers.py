"""Bytes in and out of card containers: JSON, PNG ``tEXt`` chunks and CHARX zips.

Everything here is bounded before it is trusted: a source larger than
:data:`MAX_SOURCE_BYTES` is refused before it is read, a CHARX member is read in
slices and abandoned as soon as the archive expands past :data:`MAX_CHARX_BYTES`
(whatever its header claims), so a zip bomb costs at most that much memory.

The PNG reader and writer are our own (``struct`` + ``zlib``, a dozen lines each):
no image library is needed to import or export a card, and the tests read what we
write with Pillow, an independent implementation.

Example:
    >>> png = plain_png(4, 4, (10, 20, 30))
    >>> text_chunks(write_text_chunks(png, {"chara": "e30="}))
    {'chara': 'e30='}
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from ...errors import PersonalityError

__all__ = [
    "MAX_CARD_JSON_BYTES",
    "MAX_CHARX_BYTES",
    "MAX_CHARX_MEMBERS",
    "MAX_SOURCE_BYTES",
    "PNG_SIGNATURE",
    "plain_png",
    "read_charx",
    "read_source_bytes",
    "text_chunks",
    "write_charx",
    "write_text_chunks",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Largest card file accepted (PNG, JSON or CHARX): real cards are a few MB at most.
MAX_SOURCE_BYTES = 32 * 1024 * 1024
#: Largest card JSON once decoded (base64 or a CHARX's card.json).
MAX_CARD_JSON_BYTES = 8 * 1024 * 1024
#: Largest total a CHARX may expand to, and how many members it may hold.
MAX_CHARX_BYTES = 64 * 1024 * 1024
MAX_CHARX_MEMBERS = 2000
_READ_SLICE = 1 << 20


def read_source_bytes(path: Path) -> bytes:
    """The bytes of a card file, refusing a file larger than :data:`MAX_SOURCE_BYTES` unread.

    Raises:
        PersonalityError: the file is missing, unreadable or too large.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PersonalityError(f"cannot read character card {str(path)!r}: {exc.strerror or exc}") from None
    _check_size(size, str(path))
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise PersonalityError(f"cannot read character card {str(path)!r}: {exc.strerror or exc}") from None
    _check_size(len(data), str(path))
    return data


def _check_size(size: int, what: str) -> None:
    if size > MAX_SOURCE_BYTES:
        raise PersonalityError(
            f"character card {what} is {size / 2**20:.1f} MB; cards up to {MAX_SOURCE_BYTES // 2**20} MB "
            "are accepted (shrink the embedded image, or export the card as JSON)"
        )


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, payload)`` of every chunk of a PNG, CRCs checked."""
    if not data.startswith(PNG_SIGNATURE):
        raise PersonalityError("not a PNG file (the PNG signature is missing)")
    out: list[tuple[bytes, bytes]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise PersonalityError(f"PNG is truncated at byte {pos} (an incomplete chunk header)")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise PersonalityError(f"PNG is truncated: chunk {kind!r} at byte {pos} runs past the end")
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + payload) != crc:
            raise PersonalityError(f"PNG chunk {kind.decode('latin-1')!r} at byte {pos} is corrupt (bad CRC)")
        out.append((kind, payload))
        pos = end
        if kind == b"IEND":
            break
    return out


def _inflate(payload: bytes, what: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, MAX_CARD_JSON_BYTES * 2)
    except zlib.error:
        raise PersonalityError(f"PNG {what} chunk holds corrupt compressed text") from None
    if inflater.unconsumed_tail:
        raise PersonalityError(f"PNG {what} chunk expands past {MAX_CARD_JSON_BYTES * 2 // 2**20} MB")
    return out


def text_chunks(data: bytes) -> dict[str, str]:
    """The text chunks (``tEXt``, ``zTXt``, ``iTXt``) of a PNG, keyword -> text; first one wins.

    Raises:
        PersonalityError: not a PNG, or a truncated or corrupt one.
    """
    texts: dict[str, str] = {}
    for kind, payload in _chunks(data):
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword, sep, rest = payload.partition(b"\0")
        if not sep:
            continue
        key = keyword.decode("latin-1")
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = _inflate(rest[1:], key).decode("latin-1")
        else:  # iTXt: flag, method, language\0, translated keyword\0, text (UTF-8)
            compressed = rest[:1] == b"\x01"
            _, _, tail = rest[2:].partition(b"\0")
            _, _, body = tail.partition(b"\0")
            text = (_inflate(body, key) if compressed else body).decode("utf-8", errors="replace")
        texts.setdefault(key, text)
    return texts


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def write_text_chunks(png: bytes, texts: Mapping[str, str], *, drop: tuple[str, ...] = ()) -> bytes:
    """``png`` with a ``tEXt`` chunk per item of ``texts``, inserted just before ``IEND``.

    Existing text chunks whose keyword is in ``texts``, or starts with a prefix in
    ``drop``, are removed first, so re-exporting into a card image replaces its card
    instead of adding a second one. Values must be Latin-1 (base64 always is).

    Raises:
        PersonalityError: ``png`` is not a PNG, or a value is not Latin-1.
    """
    kept: list[bytes] = [PNG_SIGNATURE]
    replaced = {k.lower() for k in texts}
    for kind, payload in _chunks(png):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = payload.partition(b"\0")[0].decode("latin-1").lower()
            if keyword in replaced or any(keyword.startswith(p) for p in drop):
                continue
        if kind == b"IEND":
            for key, value in texts.items():
                try:
                    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
                except UnicodeEncodeError:
                    raise PersonalityError(f"PNG text {key!r} must be Latin-1 (base64 it first)") from None
                kept.append(_chunk(b"tEXt", body))
        kept.append(_chunk(kind, payload))
    return b"".join(kept)


def plain_png(width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (96, 96, 160)) -> bytes:
    """A solid-colour RGB PNG, the image of a card exported without one.

    Example:
        >>> plain_png(2, 2).startswith(PNG_SIGNATURE)
        True
    """
    row = b"\0" + bytes(rgb) * width  # filter byte 0 (None) then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height, 9))
        + _chunk(b"IEND", b"")
    )


def read_charx(data: bytes) -> tuple[bytes, dict[str, bytes]]:
    """``(card.json bytes, {path: bytes} of every other member)`` of a CHARX archive.

    Members are read in 1 MB slices and the total is checked as it grows, so an
    archive whose members expand far beyond their compressed size (a zip bomb), or
    lie about their size, is refused after at most :data:`MAX_CHARX_BYTES`.

    Raises:
        PersonalityError: not a zip, encrypted, no ``card.json`` at the root, too many
            members, or expanding past the limits.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        # a damaged central directory surfaces as any of these from zipfile
        raise PersonalityError("not a CHARX file: the data is not a valid zip archive") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_CHARX_MEMBERS:
            raise PersonalityError(
                f"CHARX holds {len(infos)} files; at most {MAX_CHARX_MEMBERS} are accepted"
            )
        if not any(i.filename == "card.json" for i in infos):
            raise PersonalityError(
                "CHARX has no card.json at the root of the zip; it is not a character card"
            )
        total = 0
        card = b""
        assets: dict[str, bytes] = {}
        for info in infos:
            if info.flag_bits & 0x1:
                raise PersonalityError(f"CHARX member {info.filename!r} is encrypted; export it unencrypted")
            limit = MAX_CARD_JSON_BYTES if info.filename == "card.json" else MAX_CHARX_BYTES
            parts: list[bytes] = []
            size = 0
            try:
                with archive.open(info) as member:
                    while True:
                        piece = member.read(_READ_SLICE)
                        if not piece:
                            break
                        size += len(piece)
                        total += len(piece)
                        if size > limit or total > MAX_CHARX_BYTES:
                            raise PersonalityError(
                                f"CHARX expands past {min(limit, MAX_CHARX_BYTES) // 2**20} MB (at "
                                f"{info.filename!r}); refusing it as a possible zip bomb"
                            )
                        parts.append(piece)
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                NotImplementedError,
                ValueError,
                OSError,
                RuntimeError,
            ) as exc:
                raise PersonalityError(f"CHARX member {info.filename!r} is corrupt: {exc}") from None
            body = b"".join(parts)
            if info.filename == "card.json":
                card = body
            else:
                assets[info.filename] = body
        return card, assets


def write_charx(card_json: bytes, assets: Mapping[str, bytes]) -> bytes:
    """A CHARX archive: ``card.json`` at the root plus ``assets`` under their paths.

    Example:
        >>> read_charx(write_charx(b"{}", {"assets/icon/images/main.png": b"x"}))[1]
        {'assets/icon/images/main.png': b'x'}
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", card_json)
        for path, body in sorted(assets.items()):
            archive.writestr(path, body)
    return buffer.getvalue()
