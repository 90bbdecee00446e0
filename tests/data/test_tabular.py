"""The csv dataset: features + label, strict parsing with file and line in every error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brickwork.data import apply_preprocessing, load_data
from brickwork.errors import BrickworkError


def table(tmp_path, n=60, name="t.csv", labels=("a", "b", "c")):
    rng = np.random.default_rng(0)
    lines = ["x1,x2,species"] + [
        f"{rng.normal():.4f},{10 + rng.normal():.4f},{labels[i % len(labels)]}" for i in range(n)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n\n")
    return path


def test_csv_classification_with_normalize(tmp_path):
    b = load_data(
        {
            "dataset": "csv",
            "path": str(table(tmp_path)),
            "label_column": "species",
            "normalize": True,
        }
    )
    assert b.task == "classification" and b.class_names == ["a", "b", "c"] and b.input_shape == [2]
    assert len(b.train) + len(b.val) + len(b.test) == 60 and b.train.y.dtype == torch.int64
    assert abs(float(b.train.x.mean(0)[1])) < 1e-5
    raw = np.array([[0.0, 10.0]])
    step = b.preprocessing["steps"][0]
    assert apply_preprocessing(b.preprocessing, raw)[0, 1].item() == pytest.approx(
        (10 - step["offset"][1]) * step["factor"][1], rel=1e-5
    )


def test_csv_scale_to_unit_range_and_test_file(tmp_path):
    b = load_data(
        {
            "dataset": "csv",
            "path": str(table(tmp_path)),
            "test_path": str(table(tmp_path, 9, "test.csv")),
            "scale": True,
            "validation_split": 0,
        }
    )
    assert float(b.train.x.min()) == 0 and float(b.train.x.max()) == pytest.approx(1, abs=1e-6)
    assert len(b.test) == 9 and b.val is None and len(b.train) == 60


def test_regression_guess_and_binary(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("a,y\n" + "".join(f"{i},{i * 0.5 + 0.25}\n" for i in range(20)))
    b = load_data({"dataset": "csv", "path": str(p)})
    assert b.task == "regression" and b.train.y.dtype == torch.float32 and b.num_classes is None
    b = load_data(
        {"dataset": "csv", "path": str(table(tmp_path, labels=("no", "yes"))), "task": "binary"}
    )
    assert b.task == "binary" and set(b.train.y.tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    "body, match",
    [
        ("x,label\n1,a\n2\n", "line 3 has 1 fields but the header has 2"),
        ("x,label\n1,a\n\n2,b\n", "line 3 is blank"),
        ("x,label\n1,a\nfoo,b\n", "line 3, column 'x' holds 'foo'"),
        ("x,label\n1,a\n,b\n", "line 3, column 'x' is empty"),
        ("", "is empty"),
        ("x,label\n", "no data rows"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, body, match):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(BrickworkError, match=match) as e:
        load_data({"dataset": "csv", "path": str(p), "validation_split": 0, "test_split": 0})
    assert "bad.csv" in str(e.value)


def test_unknown_labels_and_columns(tmp_path):
    p = table(tmp_path)
    with pytest.raises(BrickworkError, match="line 4 has label 'c'.*not one of the classes a, b"):
        load_data({"dataset": "csv", "path": str(p), "class_names": ["a", "b"]})
    test = tmp_path / "test.csv"
    test.write_text("x1,x2,species\n1,2,a\n1,2,zebra\n")
    with pytest.raises(BrickworkError, match="test.csv' line 3 has label 'zebra'"):
        load_data({"dataset": "csv", "path": str(p), "test_path": str(test)})
    with pytest.raises(BrickworkError, match="no column 'specie'.*did you mean 'species'"):
        load_data({"dataset": "csv", "path": str(p), "label_column": "specie"})
    with pytest.raises(BrickworkError, match="exactly 2 label values"):
        load_data({"dataset": "csv", "path": str(p), "task": "binary"})


def test_missing_drop_is_explicit(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("x,label\n" + "".join(f"{'' if i == 3 else i},{i % 2}\n" for i in range(20)))
    with pytest.raises(BrickworkError, match="missing"):
        load_data({"dataset": "csv", "path": str(p)})
    b = load_data(
        {
            "dataset": "csv",
            "path": str(p),
            "missing": "drop",
            "test_split": 0,
            "validation_split": 0,
        }
    )
    assert len(b.train) == 19 and 3.0 not in b.train.x[:, 0].tolist()


@pytest.mark.parametrize("task", [None, "regression"])
def test_blank_label_names_file_and_line(tmp_path, task):
    p = tmp_path / "labels.csv"
    p.write_text("x,label\n1,0\n2,1\n3, \n4,1\n")
    with pytest.raises(
        BrickworkError, match=r"labels.csv' line 4 has an empty label \(column 'label'\)"
    ):
        load_data({"dataset": "csv", "path": str(p), "task": task, "missing": "drop"})
    test = tmp_path / "test.csv"
    test.write_text("x,label\n1,0\n2,\n")
    p.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    with pytest.raises(BrickworkError, match="test.csv' line 3 has an empty label"):
        load_data({"dataset": "csv", "path": str(p), "test_path": str(test)})


def test_unknown_encoding_is_a_clear_error(tmp_path):
    with pytest.raises(BrickworkError, match=r"t.csv'.*`encoding: nope` is not a text encoding"):
        load_data({"dataset": "csv", "path": str(table(tmp_path)), "encoding": "nope"})


def pixels(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("label,p1,p2,p3\n" + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]}\n" for r in rows))
    return path


def test_pixel_columns_fixed_scale_and_constant_columns_cannot_blow_up(tmp_path):
    rng = np.random.default_rng(0)
    train = [(i % 2, int(rng.integers(0, 256)), int(rng.integers(0, 256)), 0) for i in range(40)]
    test = [(0, 10, 20, 254), (1, 255, 0, 254)]  # p3 is constant (0) in training, not in test
    base = {
        "dataset": "csv",
        "path": str(pixels(tmp_path, "train.csv", train)),
        "test_path": str(pixels(tmp_path, "test.csv", test)),
        "label_column": "label",
        "validation_split": 0,
    }
    fixed = load_data({**base, "scale": 255})
    assert fixed.preprocessing["steps"] == [{"op": "scale", "factor": 1 / 255}]
    assert fixed.test.x[0].tolist() == pytest.approx([10 / 255, 20 / 255, 254 / 255])
    for options in ({"scale": True}, {"normalize": True}, {"scale": True, "normalize": True}):
        b = load_data({**base, **options})
        assert b.test.x[:, 2].tolist() == [0.0, 0.0], options  # constant in training -> 0
        assert float(b.train.x[:, :2].abs().max()) <= 2.0
        again = apply_preprocessing(b.preprocessing, np.array([[10.0, 20.0, 254.0]]))
        assert again[0].tolist() == pytest.approx(b.test.x[0].tolist(), abs=1e-6)


def test_scale_number_is_for_csv_only():
    with pytest.raises(BrickworkError, match="scale: 255.0 .*dataset csv"):
        load_data({"dataset": "digits", "scale": 255})
    with pytest.raises(BrickworkError, match="positive number"):
        load_data({"dataset": "csv", "path": "x.csv", "scale": -1})
