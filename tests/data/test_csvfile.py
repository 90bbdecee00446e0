"""A table of stranger's CSV files: each one loads with every row and the right columns, or
stops with an error that names the problem. None loads a row short or a column merged."""

from __future__ import annotations

import pytest

from brickwork.data import load_data
from brickwork.data.csvfile import read_table, sniff_delimiter
from brickwork.errors import BrickworkError

ROWS = [(1.5, 2.0, "a"), (3.0, 4.25, "b"), (5.0, 6.0, "a"), (7.0, 8.0, "b")] * 3


def body(sep=",", rows=ROWS, quote=False):
    q = '"' if quote else ""
    return "".join(f"{q}{a}{q}{sep}{q}{b}{q}{sep}{q}{c}{q}\n" for a, b, c in rows)


GOOD = {
    "comma": ("x,y,label\n" + body(), {}),
    "semicolon quoted": ('"x";"y";"label"\n' + body(";", quote=True), {}),
    "tab": ("x\ty\tlabel\n" + body("\t"), {}),
    "pipe": ("x|y|label\n" + body("|"), {}),
    "whitespace": ("x   y  label\n" + body("   "), {}),
    "bom crlf": ("\ufeffx,y,label\r\n" + body().replace("\n", "\r\n"), {}),
    "trailing blank lines": ("x,y,label\n" + body() + "\n\n   \n", {}),
    "leading blank lines": ("\n\nx,y,label\n" + body(), {}),
    "comments": ("# from the UCI site\nx,y,label\n# mid\n" + body() + "# end\n", {"comment": "#"}),
    "trailing delimiter": ("x,y,label,\n" + body().replace("\n", ",\n"), {}),
    "headerless numeric label": (body().replace("a", "0").replace("b", "1"), {}),
    "headerless text label": (body(), {}),
    "header false": (body(), {"header": False}),
}


@pytest.mark.parametrize("name", GOOD)
def test_messy_files_load_every_row(tmp_path, name):
    text, options = GOOD[name]
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    b = load_data(
        {"dataset": "csv", "path": str(path), "validation_split": 0, "test_split": 0, **options}
    )
    assert len(b.train) == len(ROWS), "a row was lost or taken as the header"
    assert b.input_shape == [2] and b.num_classes == 2
    assert sorted(b.train.x[:, 0].tolist()) == sorted(r[0] for r in ROWS)


def test_latin1_file_with_encoding_and_without(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(("x,y,label\n" + body().replace("a", "caf\xe9")).encode("latin-1"))
    with pytest.raises(BrickworkError, match=r"line 2 .*encoding: latin-1"):
        load_data({"dataset": "csv", "path": str(path)})
    b = load_data({"dataset": "csv", "path": str(path), "encoding": "latin-1"})
    assert b.class_names == ["b", "caf\xe9"]


def test_missing_markers_are_dropped_only_on_request(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y,label\n" + body() + "NA,1,a\n?,2,b\n,3,a\n")
    with pytest.raises(BrickworkError, match=r"line 14, column 'x' holds 'NA' \(a missing value\)"):
        load_data({"dataset": "csv", "path": str(path)})
    b = load_data({"dataset": "csv", "path": str(path), "missing": "drop", "test_split": 0})
    assert len(b.train) + len(b.val) == len(ROWS)


BAD = {
    "duplicate names": ("x,x,label\n" + body(), {}, "names column 'x' twice"),
    "empty name": ("x,,label\n" + body(), {}, "column 2 of the header has no name"),
    "wrong delimiter given": (
        "x;y;label\n" + body(";"),
        {"delimiter": ","},
        "single column 'x;y;label'.*semicolon.*set `delimiter:`",
    ),
    "ambiguous header": ("x,2.5,label\n" + body(), {}, "cannot tell whether line 1 is a header"),
    "comment not declared": (
        "# notes\nx,y,label\n" + body(),
        {},
        'lines starting with "#" are comments, set `comment: "#"`',
    ),
    "thousands separator": (
        'x,y,label\n"1,234",2,a\n' + body(),
        {},
        "'1,234', a number written with a thousands separator",
    ),
    "infinity": ("x,y,label\ninf,2,a\n" + body(), {}, "'inf', which is not a number"),
    "blank line between rows": ("x,y,label\n1,2,a\n\n" + body(), {}, "line 3 is blank"),
    "one class": ("x,y,label\n" + body().replace(",b\n", ",a\n"), {}, "single value \\('a'\\)"),
    "many integer labels": (
        "x,count\n" + "".join(f"{i},{i * 7}\n" for i in range(80)),
        {},
        "80 distinct whole numbers.*task: regression",
    ),
    "ragged": ("x,y,label\n1,2\n" + body(), {}, "line 2 has 2 fields but the header has 3"),
    "delimiter ambiguous": ("a,b;c\n1,2;3\n4,5;6\n", {}, "delimiter is ambiguous"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_files_are_clear_errors(tmp_path, name):
    text, options, match = BAD[name]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(BrickworkError, match=match) as e:
        load_data({"dataset": "csv", "path": str(path), **options})
    assert "bad.csv" in str(e.value) or "label" in str(e.value)
    assert len(str(e.value)) < 600


def test_quoted_fields_keep_delimiters_and_newlines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"good, really\n\ngood",pos\n"bad; sad",neg\nplain,pos\n')
    header, rows = read_table(path)
    assert header == ["text", "label"] and [r.line for r in rows] == [2, 5, 6]
    assert rows[0][0] == "good, really\n\ngood" and rows[1][0] == "bad; sad"


def test_sniffer_prefers_the_delimiter_that_keeps_quotes_intact(tmp_path):
    lines = ["name;score", '"Smith, J";1', '"Doe, A";2']
    assert sniff_delimiter(lines, tmp_path / "x.csv") == ";"
    assert sniff_delimiter(["value", "1.5", "2.5"], tmp_path / "x.csv") == ","
