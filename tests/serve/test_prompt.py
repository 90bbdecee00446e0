"""The image page is worded for what the model classifies (digits are drawn, clothes are not)."""

from brickwork.models.card import ModelCard
from brickwork.serve.app import image_prompt


def test_image_prompt_fits_the_classes():
    assert "digit" in image_prompt(ModelCard(data={"dataset": "mnist"}))["title"]
    clothes = image_prompt(
        ModelCard(data={"dataset": "fashion_mnist"}, class_names=["T-shirt/top", "Trouser"])
    )
    assert "digit" not in clothes["title"] + clothes["hint"]
    assert "T-shirt/top, Trouser" in clothes["hint"]
