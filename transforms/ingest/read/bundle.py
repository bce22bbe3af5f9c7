"""ZIP bundles: several list files in one archive (a county's lists, one per department), each read by its
extension. Also the zip-bomb rule shared with xlsx workbooks (``check_unpacked_size``).

A member that cannot be read fails the whole source, naming the member: a bundle is one publication, and
half of it loaded would look like a shorter list. Members no reader knows (a 说明.pdf beside the lists, a
Thumbs.db) are skipped and named in the read warnings; directories, ``__MACOSX/`` and hidden files
(``.DS_Store``, AppleDouble ``._*``) are skipped silently, as every unzip tool leaves them out.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import PurePosixPath

from transforms.ingest.read import limits
from transforms.ingest.read.table import SourceReadError

_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class Member:
    name: str
    fmt: str
    data: bytes


def open_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """The archive of a ZIP-based file (a bundle, an xlsx workbook, a .docx), or the refusal naming
    what the file should have been."""
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SourceReadError(f"not {what}: broken zip archive ({exc})") from exc


def check_unpacked_size(total: int, packed: int, what: str) -> None:
    """Refuse an archive whose directory declares more than the unzipped cap, or too high a ratio.

    The directory's sizes can be trusted as a bound: ``zipfile`` stops inflating a member at its declared
    size and then fails the CRC check, so a member that lies about its size cannot expand past it.
    """
    if total > limits.MAX_UNZIPPED_BYTES:
        raise SourceReadError(
            f"refused: the {what} unpacks to {total:,} bytes (limit {limits.MAX_UNZIPPED_BYTES:,}); possible zip bomb"
        )
    if total > limits._RATIO_FLOOR_BYTES and total > limits.MAX_ZIP_RATIO * packed:
        raise SourceReadError(
            f"refused: the {what} unpacks to {total / packed:.0f} times its size (limit {limits.MAX_ZIP_RATIO}); "
            "possible zip bomb"
        )


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author wrote it.

    Without the UTF-8 flag the ZIP format says cp437, but Chinese Windows writes the local code page
    (GBK), so ``zipfile``'s cp437 text is turned back into the bytes and read as UTF-8 (tools that forget
    the flag) or else GB18030.
    """
    if info.flag_bits & _UTF8_NAME_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename


def _ignored(name: str) -> bool:
    path = PurePosixPath(name)
    return name.endswith("/") or "__MACOSX" in path.parts or any(part.startswith(".") for part in path.parts)


def zip_members(
    data: bytes, format_of: Callable[[str], str | None], known: Collection[str], old_binary: Callable[[str], str | None]
) -> tuple[list[Member], list[str]]:
    """The list files of a bundle (in archive order) and a warning per member skipped as not a list.

    ``format_of`` gives a name's format from its extension, ``known`` the formats a reader exists for,
    ``old_binary`` the refusal for an old binary Office/WPS name (or None). Raises :class:`SourceReadError`
    for a broken, encrypted, nested or oversized bundle, naming the member.
    """
    with open_zip(data, "a zip bundle") as archive:
        entries = archive.infolist()
        if len(entries) > limits.MAX_ZIP_MEMBERS:
            raise SourceReadError(
                f"refused: the zip has {len(entries):,} members (limit {limits.MAX_ZIP_MEMBERS:,}); split it"
            )
        wanted: list[tuple[zipfile.ZipInfo, str, str]] = []
        skipped: list[str] = []
        seen: set[str] = set()
        for info in entries:
            name = member_name(info)
            if info.is_dir() or _ignored(name):
                continue
            if name in seen:
                raise SourceReadError(f"zip member {name!r} appears twice in the archive")
            seen.add(name)
            if (refusal := old_binary(name)) is not None:
                raise SourceReadError(f"zip member {name!r}: {refusal}")
            fmt = format_of(name)
            if fmt == "zip":
                raise SourceReadError(f"zip member {name!r} is itself a zip; unpack it and bundle its files instead")
            if fmt not in known:
                skipped.append(f"zip member {name!r} skipped: no reader for {PurePosixPath(name).suffix or 'it'}")
                continue
            if info.flag_bits & _ENCRYPTED_FLAG:
                raise SourceReadError(f"zip member {name!r} is encrypted; bundle the lists without a password")
            wanted.append((info, name, fmt))
        check_unpacked_size(sum(info.file_size for info, _, _ in wanted), len(data), "zip bundle")
        members = []
        for info, name, fmt in wanted:
            try:
                body = archive.read(info)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
                raise SourceReadError(f"zip member {name!r}: damaged or unsupported ({exc})") from exc
            if fmt != "xlsx" and body.startswith(b"PK\x03\x04"):
                raise SourceReadError(f"zip member {name!r} is itself a zip; unpack it and bundle its files instead")
            members.append(Member(name, fmt, body))
    return members, skipped
