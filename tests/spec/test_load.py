"""Spec files and --set overrides."""

import pytest

from brickwork.errors import BrickworkError
from brickwork.spec.load import apply_overrides, read_spec_file


def test_yaml_and_json_read_the_same(tmp_path):
    (tmp_path / "a.yaml").write_text("train: {lr: 0.01, epochs: 3}\n")
    (tmp_path / "a.json").write_text('{"train": {"lr": 0.01, "epochs": 3}}')
    assert read_spec_file(tmp_path / "a.yaml") == read_spec_file(tmp_path / "a.json")


def test_invalid_json_names_line(tmp_path):
    (tmp_path / "a.json").write_text('{"train": {"lr": }}')
    with pytest.raises(BrickworkError, match="not valid JSON.*line 1"):
        read_spec_file(tmp_path / "a.json")


def test_non_mapping(tmp_path):
    (tmp_path / "a.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(BrickworkError, match="must hold a mapping"):
        read_spec_file(tmp_path / "a.yaml")


def test_overrides_parse_values_and_create_sections():
    spec = {"train": {"lr": 0.1, "optimizer": "adam"}}
    out = apply_overrides(
        spec,
        [
            "train.lr=0.01",
            "train.epochs=5",
            "data.augment.hflip=true",
            "train.metrics=[accuracy, top5]",
        ],
    )
    assert out["train"] == {
        "lr": 0.01,
        "optimizer": "adam",
        "epochs": 5,
        "metrics": ["accuracy", "top5"],
    }
    assert out["data"] == {"augment": {"hflip": True}}
    assert spec["train"]["lr"] == 0.1  # the original is untouched


@pytest.mark.parametrize(
    "bad,needle",
    [
        ("train.lr", "must look like"),
        ("=3", "names no field"),
        ("train.lr.x=1", "'train.lr' is a value"),
    ],
)
def test_bad_overrides(bad, needle):
    with pytest.raises(BrickworkError, match=needle):
        apply_overrides({"train": {"lr": 0.1}}, [bad])


def test_file_that_is_not_utf8_names_file_and_byte(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        BrickworkError, match=r"spec file '.*latin1.yaml' is not UTF-8 text \(byte 0xe9 at offset 9"
    ):
        read_spec_file(path)
