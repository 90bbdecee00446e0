"""torchvision's model zoo as a backbone layer, when torchvision is installed (brickwork does not
need it).

    model:
      input_shape: [3, 224, 224]
      layers:
        - {type: "brickwork.finetune.zoo:TorchvisionBackbone", arch: resnet18, name: backbone}
        - {type: dense, units: 10, name: head}

The architecture's classifier is replaced by the identity, so the layer outputs features
(512 for resnet18) for a brickwork head. Weights: `weights: DEFAULT` lets torchvision fetch
and cache its pretrained ones; or load a saved torchvision state dict with
`finetune.pretrained.key_map: {"": "layers.backbone.net."}`.
"""

from __future__ import annotations

from torch import nn

from brickwork.errors import BrickworkError

CLASSIFIERS = ("fc", "classifier", "heads", "head")


class TorchvisionBackbone(nn.Module):
    """`torchvision.models.get_model(arch, weights=weights)` without its classification layer."""

    def __init__(self, arch: str, weights: str | None = None):
        super().__init__()
        try:
            import torchvision
        except ImportError:
            raise BrickworkError(
                f"the torchvision backbone '{arch}' needs torchvision, which is not installed; "
                "install the build matching your torch (pip install torchvision) or use brickwork "
                "layers."
            ) from None
        names = torchvision.models.list_models()
        if arch not in names:
            from brickwork.errors import did_you_mean

            raise BrickworkError(
                f"torchvision has no model '{arch}'{did_you_mean(arch, names)}; "
                "torchvision.models.list_models() lists them."
            )
        self.net = torchvision.models.get_model(arch, weights=weights)
        for attr in CLASSIFIERS:
            if isinstance(getattr(self.net, attr, None), nn.Module):
                setattr(self.net, attr, nn.Identity())
                break

    def forward(self, x):
        return self.net(x)
