"""Inputs for `brickwork predict`: .npy arrays and CSV rows, and clear errors for bad files."""

import numpy as np
import pytest

from brickwork.data.inputs import read_inputs
from brickwork.errors import BrickworkError


def test_csv_rows_with_or_without_a_header_become_samples(tmp_path):
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    plain, header = tmp_path / "plain.csv", tmp_path / "header.csv"
    np.savetxt(plain, rows, delimiter=",")
    header.write_text("a,b,c,d\n" + plain.read_text() + "\n")
    for path in (plain, header):
        x, labels = read_inputs([str(path)], [1, 2, 2])
        assert x.shape == (3, 1, 2, 2) and np.array_equal(x.reshape(3, 4), rows)
        assert labels == [f"{path.name}:{i}" for i in (1, 2, 3)]


def test_npy_single_sample_or_batch(tmp_path):
    np.save(tmp_path / "one.npy", np.ones((2, 2)))
    np.save(tmp_path / "many.npy", np.zeros((5, 4)))
    x, labels = read_inputs([str(tmp_path / "one.npy"), str(tmp_path / "many.npy")], [1, 2, 2])
    assert x.shape == (6, 1, 2, 2) and labels[0] == "one.npy" and labels[-1] == "many.npy[4]"


def test_free_sequence_length_takes_the_row(tmp_path):
    (tmp_path / "seq.csv").write_text("1,2,3,4,5,6\n")
    x, _ = read_inputs([str(tmp_path / "seq.csv")], [None, 2])
    assert x.shape == (1, 3, 2)


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("wide.csv", "1,2,3,4,5\n", r"5 values per sample .* \[1, 2, 2\] \(4 values\)"),
        ("ragged.csv", "1,2,3,4\n1,2,3\n", "line 2 has 3 fields but the first row has 4"),
        (
            "words.csv",
            "1,2,3,4\n1,x,3,4\n",
            "line 2, column 'column_2' holds 'x', which is not a number",
        ),
        ("empty.csv", "a,b,c,d\n", "no data rows"),
        ("bad.npy", "not an array", "not a readable .npy array"),
    ],
)
def test_bad_inputs_name_the_file_and_the_problem(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(BrickworkError, match=match) as e:
        read_inputs([str(tmp_path / name)], [1, 2, 2])
    assert name in str(e.value)
