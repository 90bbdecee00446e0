"""Read a stranger's CSV file into (column names, rows) without guessing quietly.

    header, rows = read_table(Path("wine.csv.gz"), delimiter=None, header="auto")

* Compression (gz, bz2, xz, one-file zip), a byte-order mark and CRLF line ends are
  handled; bytes that do not decode name the line and suggest an `encoding:`.
* The delimiter is `,` `;` tab or `|`, sniffed from the first lines (the one that splits every
  line into the same number of fields, quotes intact), or whitespace when none of them
  splits; `delimiter:` sets it. Two plausible delimiters are an error, not a coin toss.
* `header: auto` (default) decides whether the first row names the columns: a number above a
  numeric column is data, a word is a name; both at once is an error. `header: false` names
  the columns column_1, column_2, ... Duplicate or empty column names are an error.
* Lines starting with `comment:` (e.g. "#") are skipped; blank lines at the start and end are
  dropped, a blank line between rows is an error; every row must have the header's fields.

Each row is a `Row` (a list of cells) carrying `.line`, its line in the file, for messages.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from pathlib import Path

from brickwork.data.sources import read_text_file
from brickwork.errors import BrickworkError

log = logging.getLogger("brickwork.data")
MISSING = {"", "na", "n/a", "#n/a", "nan", "null", "none", "?"}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
WHITESPACE = "whitespace"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SAMPLE_LINES = 50


class Row(list):
    """The cells of one CSV record and `.line`, the file line it starts on."""

    line: int = 0


def excerpt(value: str, limit: int = 40) -> str:
    """A short quoted excerpt of a cell or line for error messages (inputs can be huge)."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def to_number(value: str) -> float | None:
    """The number a cell holds (plain decimal or exponent notation), else None."""
    value = value.strip()
    if not _NUMBER.fullmatch(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def is_missing(value: str) -> bool:
    return value.strip().lower() in MISSING


def table_options(spec) -> dict:
    """The CSV reading fields of a data spec, as keyword arguments of read_table."""
    return {
        "encoding": spec.encoding,
        "delimiter": spec.delimiter,
        "header": spec.header,
        "comment": spec.comment,
    }


def read_table(
    path: Path,
    encoding: str = "utf-8",
    *,
    delimiter: str | None = None,
    header: bool | str = "auto",
    comment: str | None = None,
) -> tuple[list[str], list[Row]]:
    """(column names, rows) of a CSV file, every row as long as the header (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise BrickworkError(f"CSV file '{path}' does not exist; set `path:` to your file.")
    text = read_text_file(path, encoding)
    lines = re.split(r"\r\n|\r|\n", text)
    kept = [
        i
        for i, line in enumerate(lines)
        if line.strip() and not (comment and line.lstrip().startswith(comment))
    ]
    if not kept:
        raise BrickworkError(f"'{path}' is empty; expected a header row, then one row per sample.")
    if delimiter is None:
        delimiter = sniff_delimiter([lines[i] for i in kept[:_SAMPLE_LINES]], path)
    records = _records(lines, kept, delimiter, comment, path)
    use_header = detect_header(records, path) if header == "auto" else bool(header)
    if use_header:
        names, body = [c.strip() for c in records[0]], records[1:]
    else:
        names, body = [f"column_{j + 1}" for j in range(len(records[0]))], records
    if not body:
        raise BrickworkError(f"'{path}' has a header but no data rows.")
    names, body = _drop_trailing_empty_column(names, body)
    _check_names(names, path, delimiter)
    for row in body:
        if len(row) != len(names):
            raise BrickworkError(_ragged(path, row, names, comment, use_header))
    return names, body


def _records(lines, kept, delimiter, comment, path) -> list[Row]:
    """Rows from the lines between the first and last kept ones; a blank line between rows is
    an error naming it (a quoted field may span lines, blank ones included)."""
    first, last = kept[0], kept[-1]
    if delimiter == WHITESPACE:
        chunks = [(i + 1, [lines[i].strip()]) for i in range(first, last + 1)]
        reader_args = {"delimiter": " ", "skipinitialspace": True}
    else:
        chunks = [(first + 1, lines[first : last + 1])]
        reader_args = {"delimiter": delimiter}
    rows: list[Row] = []
    line = first + 1
    try:
        for start, chunk in chunks:
            reader = csv.reader(io.StringIO("\n".join(chunk)), **reader_args)
            line = start
            if delimiter == WHITESPACE and not chunk[0]:
                raise BrickworkError(
                    f"'{path}' line {start} is blank, between rows of data; remove blank lines."
                )
            for cells in reader:
                row = Row(cells)
                row.line, line = line, start + reader.line_num
                if comment and cells and cells[0].lstrip().startswith(comment):
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    raise BrickworkError(
                        f"'{path}' line {row.line} is blank, between rows of data; remove blank "
                        "lines (a blank line is not a missing value: write NA in each field)."
                    )
                rows.append(row)
    except csv.Error as e:
        raise BrickworkError(f"'{path}' is not a valid CSV file near line {line}: {e}.") from None
    return rows


def sniff_delimiter(sample: list[str], path: Path) -> str:
    """The delimiter that splits every sampled line into the same number (> 1) of fields."""
    fits = {}
    for d in DELIMITERS:
        rows = list(csv.reader(io.StringIO("\n".join(sample)), delimiter=d))
        counts = {len(r) for r in rows[:-1] or rows}
        stray = sum('"' in cell for r in rows for cell in r)
        if len(counts) == 1 and counts.pop() > 1:
            fits[d] = stray
    if fits:
        best = min(fits.values())
        winners = [d for d, stray in fits.items() if stray == best]
        if len(winners) > 1:
            names = " and ".join(DELIMITERS[d] for d in winners)
            raise BrickworkError(
                f"'{path}': both {names} split every line into equal fields, so the delimiter "
                'is ambiguous; set `delimiter:` (e.g. `delimiter: ";"`).'
            )
        return winners[0]
    split = {len(line.split()) for line in sample}
    if len(split) == 1 and split.pop() > 1:
        return WHITESPACE
    return ","  # one column, or ragged lines: read_table reports the line at fault


def detect_header(records: list[Row], path: Path) -> bool:
    """Whether the first row names the columns: above a numeric column a number is data and a
    word is a name; above a text column, a value the column repeats is data."""
    first, body = records[0], records[1 : 1 + 200]
    if not body:
        return not all(to_number(c) is not None for c in first)
    names, data = [], []
    for j, cell in enumerate(first):
        column = [r[j] for r in body if j < len(r)]
        values = [c for c in column if not is_missing(c)]
        if values and all(to_number(c) is not None for c in values):
            if to_number(cell) is not None:
                data.append(j)
            elif not is_missing(cell):
                names.append(j)
        elif cell.strip():
            numeric = to_number(cell) is not None
            (data if numeric or cell in set(column) else names).append(j)
    if names and data:
        raise BrickworkError(
            f"'{path}': cannot tell whether line {first.line} is a header: it looks like column "
            f"names in column(s) {', '.join(excerpt(first[j], 20) for j in names[:4])} but like "
            f"data in {', '.join(excerpt(first[j], 20) for j in data[:4])}. Set `header: true` "
            "(the first row names the columns) or `header: false` (every row is data)."
        )
    if data:
        log.info("'%s': the first row holds data, not column names (header: auto)", path)
    return not data


def _drop_trailing_empty_column(names, body):
    """A last column with no name and no values (every line ends with a delimiter) is dropped."""
    if (
        len(names) > 1
        and not names[-1]
        and all(len(r) == len(names) and not r[-1].strip() for r in body)
    ):
        for row in body:
            del row[-1]
        return names[:-1], body
    return names, body


def _check_names(names: list[str], path: Path, delimiter: str) -> None:
    empty = [j + 1 for j, n in enumerate(names) if not n]
    if empty:
        raise BrickworkError(
            f"'{path}': column {empty[0]} of the header has no name; name every column in the "
            "first row (or set `header: false` if the file has no header row)."
        )
    seen: dict[str, int] = {}
    for j, n in enumerate(names):
        if n in seen:
            raise BrickworkError(
                f"'{path}': the header names column {excerpt(n)} twice (columns {seen[n] + 1} and "
                f"{j + 1}); give every column its own name."
            )
        seen[n] = j
    if len(names) == 1 and delimiter != WHITESPACE:
        others = [DELIMITERS[d] for d in DELIMITERS if d != delimiter and d in names[0]]
        if others:
            raise BrickworkError(
                f"'{path}' reads as a single column {excerpt(names[0])} with delimiter "
                f"{DELIMITERS.get(delimiter, repr(delimiter))}, but its header holds a "
                f"{others[0]}; set `delimiter:` to the file's delimiter."
            )


def _ragged(path: Path, row: Row, names: list[str], comment: str | None, header: bool) -> str:
    hint = "fix the row (a stray delimiter or an unquoted text field?)"
    if not comment and any(c.lstrip().startswith("#") for c in row[:1] + names[:1]):
        hint = 'if lines starting with "#" are comments, set `comment: "#"`'
    elif row.line > 1 and len(names) == 1:
        hint = "if the file starts with a title or notes, delete those lines"
    return (
        f"'{path}' line {row.line} has {len(row)} fields but "
        + (
            f"the header has {len(names)} ({excerpt(', '.join(names), 60)})"
            if header
            else f"the first row has {len(names)}"
        )
        + f"; {hint}."
    )
