"""Compressed inputs: recognised by their first bytes, one-file zips only, clear errors."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import pytest

from brickwork.data import load_data
from brickwork.data.sources import decode_text, plain_suffix, read_input
from brickwork.errors import BrickworkError

TABLE = "x1,x2,label\n" + "".join(f"{i},{i % 5 * 0.5},{'ab'[i % 2]}\n" for i in range(30))


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


@pytest.mark.parametrize(
    "name, pack",
    [
        ("t.csv.gz", lambda b: gzip.compress(b)),
        ("t.csv.bz2", bz2.compress),
        ("t.csv.xz", lzma.compress),
        ("t.csv", gzip.compress),  # misnamed: the magic number decides, not the suffix
    ],
)
def test_compressed_csv_loads_like_the_plain_file(tmp_path, name, pack):
    plain = tmp_path / "plain.csv"
    plain.write_text(TABLE)
    packed = tmp_path / name
    packed.write_bytes(pack(TABLE.encode()))
    a = load_data({"dataset": "csv", "path": str(plain)})
    b = load_data({"dataset": "csv", "path": str(packed)})
    assert a.train.x.tolist() == b.train.x.tolist() and a.class_names == b.class_names


def test_one_file_zip_reads_and_macos_noise_is_ignored(tmp_path):
    path = _zip(tmp_path / "t.zip", {"data/t.csv": TABLE, "__MACOSX/data/._t.csv": "junk"})
    assert read_input(path) == TABLE.encode()


@pytest.mark.parametrize(
    "members, match",
    [
        ({"a.csv": "1", "b.csv": "2"}, r"zip archive with 2 files \(a.csv, b.csv\)"),
        ({"xl/workbook.xml": "<x/>", "xl/sheet1.xml": "<x/>"}, "Excel workbook: save the sheet"),
        ({}, "0 files"),
    ],
)
def test_zip_with_several_or_no_files_names_them(tmp_path, members, match):
    path = _zip(tmp_path / "t.zip", members)
    with pytest.raises(BrickworkError, match=match):
        load_data({"dataset": "csv", "path": str(path)})


@pytest.mark.parametrize(
    "name, data, match",
    [
        ("t.csv.gz", b"x,label\n1,a\n", "named like a gzip file"),
        ("t.csv.gz", gzip.compress(TABLE.encode())[:-12], "not a complete gzip file"),
        ("t.csv.xz", lzma.compress(TABLE.encode())[:20], "not a complete xz file"),
        ("t.zip", b"PK\x03\x04 broken", "not a readable zip"),
    ],
)
def test_broken_or_misnamed_archives_are_clear_errors(tmp_path, name, data, match):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(BrickworkError, match=match):
        read_input(tmp_path / name)


def test_size_cap_stops_a_decompression_bomb(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"0" * 100_000))
    with pytest.raises(BrickworkError, match="decompresses to more than 1,000 bytes"):
        read_input(path, limit=1000)


def test_text_decoding_bom_utf16_latin1_and_binary(tmp_path):
    p = tmp_path / "t.csv"
    assert decode_text(b"\xef\xbb\xbfa,b\n", "utf-8", p) == "a,b\n"
    assert decode_text("a,b\n".encode("utf-16"), "utf-8", p) == "a,b\n"
    with pytest.raises(BrickworkError, match=r"line 2 \(byte offset 7\).*encoding: latin-1"):
        decode_text("a,b\ncaf\xe9,1\n".encode("latin-1"), "utf-8", p)
    assert decode_text("caf\xe9".encode("latin-1"), "latin-1", p) == "caf\xe9"
    with pytest.raises(BrickworkError, match="NUL bytes, so it is binary"):
        decode_text(b"\x00\x01\x02abc", "utf-8", p)


def test_text_corpus_gz_and_predict_rows_gz(tmp_path):
    from brickwork.data.inputs import read_inputs

    corpus = tmp_path / "corpus.txt.gz"
    corpus.write_bytes(gzip.compress(("to be or not to be " * 40).encode()))
    b = load_data({"dataset": "text", "path": str(corpus), "seq_len": 16})
    assert b.task == "language_model" and len(b.train) > 0
    rows = tmp_path / "rows.csv.gz"
    rows.write_bytes(gzip.compress(b"a;b\n1;2\n3;4\n"))
    x, labels = read_inputs([str(rows)], [2])
    assert x.tolist() == [[1, 2], [3, 4]] and labels == ["rows.csv.gz:1", "rows.csv.gz:2"]
    assert plain_suffix(rows) == ".csv"
