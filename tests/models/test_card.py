"""The model card: typed, stored in the safetensors header, and files of earlier versions load."""

import json

import pytest
import safetensors.torch
import torch

import brickwork
from brickwork.errors import BrickworkError
from brickwork.models import Sequential
from brickwork.models.card import ModelCard, Task
from brickwork.models.io import load, save_model

SPEC = {"input_shape": [4], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]}


def tiny():
    torch.manual_seed(0)
    return Sequential(SPEC["layers"], input_shape=SPEC["input_shape"])


def write_old_format(path, model, meta: dict) -> None:
    """A model file exactly as brickwork wrote it before the card: a flat JSON dict."""
    header = {"format": "brickwork.model/1", "brickwork": json.dumps(meta)}
    path.write_bytes(safetensors.torch.save(model.state_dict(), metadata=header))


OLD_META = {
    "model_spec": {"input_shape": [4], "layers": SPEC["layers"]},
    "input_shape": [4],
    "task": "classification",
    "preprocessing": {"steps": [{"op": "scale", "factor": 0.5}]},
    "class_names": ["cat", "dog", "eel"],
    "num_classes": 3,
    "vocab": None,
    "data": {"dataset": "csv", "path": "pets.csv"},
    "seed": 7,
    "name": "pets",
    "loss": {"type": "cross_entropy"},
    "metrics": [{"type": "accuracy"}],
    "train_metrics": {"loss": 0.5, "accuracy": 0.75},
    "test_metrics": {"accuracy": 0.7},
    "versions": {"brickwork": "0.1.0", "torch": "2.0", "python": "3.11"},
    "owner": "me",  # a user's own key, from save_model(..., owner="me")
}


def test_a_file_written_before_the_card_loads_into_a_typed_card(tmp_path):
    model = tiny()
    write_old_format(tmp_path / "old.safetensors", model, OLD_META)
    loaded = load(tmp_path / "old.safetensors")
    card = loaded.card
    assert isinstance(card, ModelCard) and card.task is Task.classification
    assert card.class_names == ["cat", "dog", "eel"] and card.seed == 7
    assert card.preprocessing["steps"][0]["factor"] == 0.5
    assert card.data["path"] == "pets.csv" and card.test_metrics == {"accuracy": 0.7}
    assert card.extra == {"owner": "me"}
    x = torch.randn(2, 4)
    assert torch.equal(loaded(x), model.eval()(x))
    # saved again, the user's key survives and the layout stays flat for older readers
    save_model(loaded, tmp_path / "again.safetensors")
    header = safetensors.safe_open(str(tmp_path / "again.safetensors"), "pt").metadata()
    doc = json.loads(header["brickwork"])
    assert doc["owner"] == "me" and doc["task"] == "classification" and "extra" not in doc
    assert load(tmp_path / "again.safetensors").card == card.updated(
        versions=doc["versions"], output_shape=[3], model_spec=loaded.spec
    )


def test_save_model_keywords_set_fields_and_keep_unknown_names(tmp_path):
    model = tiny()
    path = save_model(model, tmp_path / "m.safetensors", class_names=["a", "b", "c"], run=12)
    card = load(path).card
    assert card.class_names == ["a", "b", "c"] and card.extra == {"run": 12}
    assert card.input_shape == [4] and card.output_shape == [3]
    assert card.model_spec["layers"][0]["units"] == 3
    assert card.versions["torch"] == torch.__version__
    assert card.versions["brickwork"] == brickwork.__version__


def test_a_bad_card_in_a_file_names_the_file_and_field_briefly(tmp_path):
    model = tiny()
    write_old_format(tmp_path / "bad.safetensors", model, {**OLD_META, "task": "x" * 5000})
    with pytest.raises(BrickworkError) as e:
        load(tmp_path / "bad.safetensors")
    message = str(e.value)
    assert "bad.safetensors" in message and "'task'" in message and "language_model" in message
    assert len(message) < 600
    write_old_format(tmp_path / "list.safetensors", model, ["not", "a", "dict"])
    with pytest.raises(BrickworkError, match="JSON object"):
        load(tmp_path / "list.safetensors")


def test_values_a_file_cannot_hold_are_refused_before_writing(tmp_path):
    model = tiny()
    with pytest.raises(BrickworkError, match="extra field 'when'"):
        save_model(model, tmp_path / "m.safetensors", when=object())
    with pytest.raises(BrickworkError, match="field 'num_classes'"):
        save_model(model, tmp_path / "m.safetensors", num_classes="three")
    assert list(tmp_path.iterdir()) == []


def test_task_is_an_enum_that_reads_as_its_name():
    card = ModelCard(task="regression")
    assert card.task is Task.regression and card.task == "regression"
    assert str(card.task) == "regression" and f"{card.task}" == "regression"
    assert json.dumps(card.to_header()) == '{"task": "regression"}'
    with pytest.raises(BrickworkError, match="classification, binary, regression"):
        card.updated(task="banana")


def test_a_new_model_describes_itself_and_refuses_the_old_metadata_dict():
    model = tiny()
    assert model.card.input_shape == [4] and model.card.output_shape == [3]
    assert model.card.model_spec["layers"][0]["type"] == "dense"
    with pytest.raises(TypeError, match="model.card"):
        model.metadata = {"task": "classification"}


def test_a_plain_module_keeps_the_card_of_its_file(tmp_path):
    plain = torch.nn.Linear(4, 2)
    path = save_model(plain, tmp_path / "plain.safetensors", task="regression", input_shape=[4])
    other = load(path, model=torch.nn.Linear(4, 2))
    assert other.card.task is Task.regression and other.card.model_spec is None
    assert other.card.input_shape == [4]


def test_loose_values_earlier_versions_accepted_still_load(tmp_path):
    loose = {**OLD_META, "class_names": [0, 1, 2], "loss": "mse", "metrics": ["mae"]}
    loose["test_metrics"] = {"accuracy": 0.7, "per_class": [[1, 0], [0, 1]]}
    write_old_format(tmp_path / "loose.safetensors", tiny(), loose)
    card = load(tmp_path / "loose.safetensors").card
    assert card.class_names == ["0", "1", "2"] and card.loss == "mse"
    assert card.metrics == ["mae"] and card.test_metrics["per_class"] == [[1, 0], [0, 1]]
