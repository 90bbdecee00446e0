"""Small synthetic problems that train in well under a second."""

import torch
from torch import nn


def blobs(n: int = 600, features: int = 10, classes: int = 3, seed: int = 0):
    """Gaussian clusters: easy to learn, so a few epochs reach high accuracy."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * 3
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + torch.randn(n, features, generator=g), y


def mlp(features: int = 10, classes: int = 3, dropout: float = 0.0, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(features, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, classes)
    )
