"""Fine-tuning: freeze layers, replace the head, load pretrained weights, unfreeze gradually."""

from brickwork.finetune.freeze import freeze, frozen_layers, layer_names, unfreeze
from brickwork.finetune.head import head_name, replace_head
from brickwork.finetune.pretrained import load_pretrained
from brickwork.finetune.run import finetune, finetune_from_spec, load_base

__all__ = [
    "finetune",
    "finetune_from_spec",
    "freeze",
    "frozen_layers",
    "head_name",
    "layer_names",
    "load_base",
    "load_pretrained",
    "replace_head",
    "unfreeze",
]
