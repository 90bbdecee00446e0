"""The layer catalog: every layer type's summary, aliases and fields, as static JSON.

`brickwork layers` reads src/brickwork/layers/catalog.json instead of importing the layers
(which import torch, about 1.5 s), so it answers in a fraction of a second. The file is
generated from the registry; a test fails when it is stale. After adding or changing a
layer, regenerate it with

    PYTHONPATH=src python3 -m brickwork.cli.catalog
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CATALOG = Path(__file__).resolve().parents[1] / "layers" / "catalog.json"
REGENERATE = "PYTHONPATH=src python3 -m brickwork.cli.catalog"


def build_catalog() -> dict:
    """The catalog from the live registry (imports torch): {type: summary, aliases, fields}."""
    import brickwork.models  # noqa: F401  (registers residual)
    from brickwork.layers import LAYERS
    from brickwork.layers.registry import ALIASES, field_text

    layers = {}
    for name, kind in sorted(LAYERS.items()):
        doc = (kind.build.__doc__ or "").strip().splitlines()
        layers[name] = {
            "summary": doc[0] if doc else "",
            "aliases": sorted(a for a, n in ALIASES.items() if n == name),
            "fields": [
                {
                    "name": field_name,
                    "type": field_text(f),
                    "default": "required" if f.is_required() else repr(f.default),
                }
                for field_name, f in kind.config.model_fields.items()
            ],
        }
    return {"regenerate": REGENERATE, "layers": layers}


def render(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, sort_keys=False) + "\n"


def read_catalog() -> dict:
    """The committed catalog; built live (slow) only when the file is missing from the install."""
    try:
        return json.loads(CATALOG.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return build_catalog()


def write_catalog(path: Path = CATALOG) -> Path:
    from brickwork.files import atomic_write

    return atomic_write(path, render(build_catalog()).encode())


if __name__ == "__main__":
    print(f"wrote {write_catalog()}", file=sys.stderr)
