"""Read a user's input file as bytes or text, whatever compression it arrived in.

Every loader of a user's own file (CSV tables, text corpora, series, predict-time CSV rows)
goes through `read_input` / `read_text_file`, so a `.csv.gz` works wherever a `.csv` does.
The compression is recognised by the file's first bytes (its magic number), not its name:
gzip (1f 8b), bzip2 ('BZh'), xz (fd 37 7a 58 5a 00) and zip ('PK\\x03\\x04', exactly one
file inside). A name that promises compression the bytes do not have is an error, and so is
a zip with several files (the error lists them). Decompressed data is capped at
`MAX_INPUT_BYTES` so a small hostile archive cannot fill memory.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import zipfile
import zlib
from pathlib import Path

from brickwork.errors import BrickworkError

MAX_INPUT_BYTES = 2 * 1024**3  # decompressed size limit (2 GiB)
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
)
_STREAMS = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f),
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}
# Members a zip tool adds beside the real file (macOS resource forks, folder entries).
_ZIP_NOISE = ("__MACOSX/", ".DS_Store")


def compression_of(data: bytes) -> str | None:
    """'gzip', 'bzip2', 'xz' or 'zip' from a file's first bytes; None for anything else."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def plain_suffix(path: Path) -> str:
    """The suffix that says what the data is, under any compression suffix: data.csv.gz -> .csv."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    while suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def read_input(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a user's file, decompressed when its magic number says it is compressed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BrickworkError(
            f"cannot read '{path}': {e.strerror or e}; check that the file exists and is readable."
        ) from None
    kind = compression_of(raw)
    named = COMPRESSED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        if named is not None:
            raise BrickworkError(
                f"'{path}' is named like a {named} file but its first bytes "
                f"({raw[:6].hex(' ') or 'none: it is empty'}) are not {named}'s; the file is "
                f"corrupt or misnamed. Rename it without '{path.suffix}' if it is plain text."
            )
        return raw
    if kind == "zip":
        return _unzip(raw, path, limit)
    try:
        with _STREAMS[kind](io.BytesIO(raw)) as stream:
            data = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise BrickworkError(
            f"'{path}' is not a complete {kind} file ({e}); it is truncated or corrupt. "
            "Download or compress it again."
        ) from None
    return _capped(data, path, limit)


def _unzip(raw: bytes, path: Path, limit: int) -> bytes:
    """The one file inside a zip archive; several files are an error that names them."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir() and not any(n in m.filename for n in _ZIP_NOISE)
            ]
            if len(members) != 1:
                names = ", ".join(m.filename[:60] for m in members[:10]) or "none"
                more = f" and {len(members) - 10} more" if len(members) > 10 else ""
                hint = (
                    " It looks like an Excel workbook: save the sheet as CSV."
                    if any(m.filename.startswith("xl/") for m in members)
                    else " Extract the one you mean and set `path:` to it."
                )
                raise BrickworkError(
                    f"'{path}' is a zip archive with {len(members)} files ({names}{more}); "
                    f"brickwork reads a zip only when it holds exactly one file.{hint}"
                )
            with archive.open(members[0]) as member:
                data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
        raise BrickworkError(
            f"'{path}' is not a readable zip archive ({e}); it is truncated, corrupt or uses "
            "an unsupported compression. Extract it and set `path:` to the file inside."
        ) from None
    return _capped(data, path, limit)


def _capped(data: bytes, path: Path, limit: int) -> bytes:
    if len(data) > limit:
        raise BrickworkError(
            f"'{path}' decompresses to more than {limit:,} bytes, the most brickwork reads from "
            "one input file; split it, or decompress it yourself if it is genuine."
        )
    return data


def decode_text(data: bytes, encoding: str, path: Path) -> str:
    """Bytes -> text. A UTF-8 or UTF-16 byte-order mark is honoured and dropped; bytes that do
    not decode raise an error naming the line and byte offset and suggesting an encoding."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise BrickworkError(
            f"cannot read '{path}': `encoding: {str(encoding)[:40]}` is not a text encoding "
            "Python knows; set `encoding:` to the file's encoding, e.g. utf-8, latin-1 or cp1252."
        ) from None
    normal, named = codecs.lookup(encoding).name, encoding
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and normal == "utf-8":
        encoding = "utf-16"
    elif normal == "utf-8":
        encoding = "utf-8-sig"
    if b"\x00" in data[:4096] and not encoding.startswith("utf-16"):
        raise BrickworkError(
            f"'{path}' holds NUL bytes, so it is binary (a spreadsheet, an archive brickwork "
            "does not open, or UTF-16 text without a byte-order mark), not a text file. Save "
            "it as CSV or plain text (for UTF-16, set `encoding: utf-16`)."
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        bad = data[e.start : e.start + 4].hex(" ")
        raise BrickworkError(
            f"'{path}' is not valid {named}: line {line} (byte offset {e.start}) holds bytes "
            f"{bad} that do not decode. Set `encoding:` to the file's encoding; files from "
            "older Windows or European tools are often `encoding: latin-1` or `cp1252`."
        ) from None


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """A user's text file (compressed or not) decoded with `encoding` (see decode_text)."""
    return decode_text(read_input(path), encoding, Path(path))
