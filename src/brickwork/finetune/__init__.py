"""Fine-tuning: freeze layers, replace the head, load pretrained weights, unfreeze gradually."""

from brickwork.finetune.freeze import freeze, frozen_layers, layer_names, unfreeze
from brickwork.finetune.head import head_name, replace_head
from brickwork.finetune.pretrained import load_pretrained

__all__ = ["freeze", "frozen_layers", "head_name", "layer_names", "load_pretrained", "replace_head", "unfreeze"]
