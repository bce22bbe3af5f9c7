"""Text decoding of CSV/JSON bytes: the declared encoding, or UTF-8 / GB18030 detected."""

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
            raise SourceReadError(f"binary data, not text: {_binary_hint(data)}")
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
            _, other = _detect(data)
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
    candidates = ["utf-8-sig", "gb18030"]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.insert(0, "utf-16")
    for enc in candidates:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            enc = "utf-8"
        return text, enc
    return None, None


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
    return f"{len(data)} bytes that decode as neither UTF-8 nor GB18030"
