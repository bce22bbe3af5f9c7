"""Text decoding of CSV/JSON bytes: the declared encoding, or UTF-8 / GB18030 / Big5 detected."""

from __future__ import annotations

import codecs

from transforms.ingest.read.csvfile import _SNIFF_CHARS
from transforms.ingest.read.table import _CONTROL_CHARS, SourceReadError


def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    """Decode text strictly: a wrong guess must fail loudly, never become mojibake in the output."""
    enc = (encoding or "auto").strip().lower()
    if enc == "auto":
        text, used = _detect(data)
        if text is None:
            raise SourceReadError(_damaged_utf8(data) or f"binary data, not text: {_binary_hint(data)}")
    else:
        try:
            name = codecs.lookup(enc).name
        except LookupError:
            raise SourceReadError(f"unknown encoding {encoding!r}") from None
        if name == "utf-8":  # a BOM is not part of the text, whatever was declared
            name = "utf-8-sig"
        try:
            text, used = data.decode(name), enc
        except UnicodeDecodeError as exc:
            other = _detected_name(data)
            hint = f'; it decodes as {other}: set encoding = "{other}" or "auto"' if other else ""
            bad = data[exc.start : exc.start + 1].hex()
            raise SourceReadError(
                f"cannot decode as declared encoding {encoding}: byte 0x{bad} at offset {exc.start}{hint}"
            ) from None
        if not name.startswith(("utf-8", "utf-16", "utf-32", "ascii")) and _is_utf8_text(data):
            raise SourceReadError(
                f"declared encoding {encoding} but the file is UTF-8 text; it would read as mojibake: "
                'set encoding = "utf-8" or "auto"'
            )
    # A NUL or two inside a cell is a damaged row (quarantined by the frame builder); text that is
    # mostly control characters (UTF-16 without a BOM, an image, a database file) is not a list.
    sample = text[:_SNIFF_CHARS]
    if len(_CONTROL_CHARS.findall(sample)) > max(8, len(sample) // 100):
        raise SourceReadError(f"binary data, not text: control characters ({_binary_hint(data)})")
    return text, used


def _detect(data: bytes) -> tuple[str | None, str | None]:
    """The text and its encoding (UTF-16 by its BOM, UTF-8, else GB18030 or Big5), or (None, None) for
    bytes that no candidate decodes (binary). Raises :class:`SourceReadError` when the bytes decode but
    the encoding cannot be told (see ``_legacy_codec``)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
    else:
        return text, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    if not _decodes_as_any(data, ("gb18030", *_BIG5_CODECS)):
        return None, None
    for codec in _legacy_codec(data, offset):
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    return None, None


# GB18030 decodes nearly any byte string, Big5 text included (as mojibake: 權力清單 → ︽現砛ㄆ), so a
# successful decode proves nothing; charset-normalizer's measure of how much the result looks like text
# tells the two apart. Families are compared, not codec names: it calls short GBK text cp949 or gb2312.
_GB_CODECS = frozenset({"gb18030", "gbk", "gb2312", "hz"})
_BIG5_CODECS = ("big5", "cp950", "big5hkscs")
_UTF8_CODECS = frozenset({"utf-8", "ascii"})
_SAMPLE_BYTES = 65536
# Guesses whose chaos is within this of the best one count as equally good.
_TIE = 0.02


def _family(name: str) -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return name
    if codec in _GB_CODECS:
        return "GB18030"
    if codec in _BIG5_CODECS:
        return "Big5"
    if codec in _UTF8_CODECS:
        return "UTF-8"
    return codec


def _decodes_as_any(data: bytes, names: tuple[str, ...]) -> bool:
    for name in names:
        try:
            data.decode(name)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _sample(data: bytes, offset: int) -> bytes:
    """About 64 KiB of whole lines around ``offset`` (the first byte that is not UTF-8): an ASCII header
    would tell nothing, and a character cut at either end makes every guess fail."""
    start = data.rfind(b"\n", 0, max(0, offset - 1024)) + 1
    window = data[start : start + _SAMPLE_BYTES]
    if start + _SAMPLE_BYTES < len(data):
        end = window.rfind(b"\n") + 1
        if end == 0:  # one long line: cut after an ASCII byte that cannot end inside a GB18030 character
            end = len(window)
            while end > len(window) - 64 and (window[end - 1] >= 0x80 or 0x30 <= window[end - 1] <= 0x39):
                end -= 1
        window = window[:end]
    return window


def _legacy_codec(data: bytes, offset: int) -> tuple[str, ...]:
    """The codecs to decode non-UTF-8 text with (GB18030, or the Big5 family), or :class:`SourceReadError`.

    Only a sample is measured, and only here, after UTF-8 failed: the common UTF-8 list never pays for it.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(_sample(data, offset)))
    if not matches:
        if _decodes_as_any(data, ("gb18030",)) and not _decodes_as_any(data, _BIG5_CODECS):
            return ("gb18030",)
        raise SourceReadError(_ask_for_encoding(data, offset, "neither GB18030 nor Big5 reads it as text"))
    best = matches[0].chaos
    close = [m for m in matches if m.chaos <= best + _TIE]
    families = {_family(name) for m in close for name in (m.encoding, *m.could_be_from_charset)}
    if {"GB18030", "Big5"} <= families:
        raise SourceReadError(_ask_for_encoding(data, offset, "it reads as GB18030 and as Big5 alike"))
    if "GB18030" in families:
        return ("gb18030",)
    if "Big5" in families:
        first = next(m.encoding for m in close if _family(m.encoding) == "Big5")
        return (first, *(c for c in _BIG5_CODECS if c != first))
    if "UTF-8" in families:
        raise SourceReadError(
            _damaged_utf8(data) or _ask_for_encoding(data, offset, "it reads as UTF-8 but for this byte")
        )
    raise SourceReadError(
        _ask_for_encoding(data, offset, f"it looks like {matches[0].encoding}, not GB18030, Big5 or UTF-8")
    )


def _damaged_utf8(data: bytes) -> str | None:
    """A message for UTF-8 text with a few bytes that are not (a GBK cell pasted in, a cut character),
    which would otherwise be called binary or decoded as GB18030 mojibake; None if it is not that."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    wide = sum(1 for ch in text[:_SAMPLE_BYTES] if ord(ch) > 0x7F)
    if not bad or bad * 50 > max(wide, 1):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"damaged UTF-8: byte 0x{data[exc.start : exc.start + 1].hex()} at offset {exc.start} (line {line}) is "
            f"not UTF-8 ({bad} such place(s) in all); the file is damaged or mixes encodings: fix those cells, "
            'or set encoding = "…" if the whole file is in another encoding'
        )
    return None


def _ask_for_encoding(data: bytes, offset: int, why: str) -> str:
    return (
        f"cannot tell the encoding: not UTF-8 (byte 0x{data[offset : offset + 1].hex()} at offset {offset}) and "
        f'{why}; set encoding = "gb18030", "big5" or the one the file was saved in'
    )


def _is_utf8_text(data: bytes) -> bool:
    """Valid UTF-8 with a fair number of multi-byte characters: real GBK text is practically never that."""
    if sum(b >= 0x80 for b in data[:_SNIFF_CHARS]) < 8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _binary_hint(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        return 'a zip archive, probably an xlsx workbook: set format = "xlsx"'
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return 'an OLE file, probably an xls workbook: set format = "xls"'
    return f"{len(data)} bytes that decode as neither UTF-8 nor GB18030 nor Big5"


def _detected_name(data: bytes) -> str | None:
    """The encoding detection would use, for a hint; None when it would refuse."""
    try:
        return _detect(data)[1]
    except SourceReadError:
        return None
