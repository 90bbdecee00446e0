"""Read a spec file (YAML or JSON) and apply `--set a.b=value` overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from brickwork.errors import BrickworkError


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON spec file into a dict, with errors that name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise BrickworkError(
            f"spec file '{path}' does not exist; pass the path to a .yaml or .json file."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BrickworkError(
            f"spec file '{path}' is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
            f"{e.start} cannot be decoded); "
            "a spec is a YAML or JSON text file, so pass the right file or re-save it as UTF-8."
        ) from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except RecursionError:
        raise BrickworkError(
            f"spec file '{path}' nests lists or mappings thousands of levels deep; a spec is a "
            "few levels of sections and fields, so pass the right file."
        ) from None
    except json.JSONDecodeError as e:
        raise BrickworkError(
            f"spec file '{path}' is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}."
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise BrickworkError(f"spec file '{path}' is not valid YAML{where}: {problem}.") from None
    _check_size(data, path)
    if not isinstance(data, dict):
        raise BrickworkError(
            f"spec file '{path}' must hold a mapping with sections such as 'model:', 'data:', "
            f"'train:'; found {type(data).__name__}."
        )
    return data


MAX_SPEC_VALUES = 1_000_000  # values in one spec, YAML aliases counted each time they are used
MAX_SPEC_DEPTH = 100


def _check_size(data: Any, path: Path) -> None:
    """Refuse a spec nested absurdly deep or that expands (YAML aliases of aliases, a 'billion
    laughs' file) to more values than any real spec holds, before anything walks it."""
    count, todo = 0, [(data, 1)]
    while todo:
        value, depth = todo.pop()
        count += 1
        if depth > MAX_SPEC_DEPTH or count > MAX_SPEC_VALUES:
            what = (
                f"nests deeper than {MAX_SPEC_DEPTH} levels"
                if depth > MAX_SPEC_DEPTH
                else (f"expands to more than {MAX_SPEC_VALUES:,} values (YAML aliases included)")
            )
            raise BrickworkError(
                f"spec file '{path}' {what}; a spec is a few levels of sections and fields, so "
                "pass the right file."
            )
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value)


def apply_overrides(spec: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `spec` with each 'dotted.path=value' applied; values parse as YAML."""
    spec = json.loads(json.dumps(spec))
    for item in overrides:
        if "=" not in item:
            raise BrickworkError(
                f"override '{item}' must look like 'section.field=value', e.g. 'train.lr=0.01'."
            )
        path, raw = item.split("=", 1)
        keys = [k for k in path.strip().split(".") if k]
        if not keys:
            raise BrickworkError(f"override '{item}' names no field; write e.g. 'train.epochs=5'.")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = spec
        for i, key in enumerate(keys[:-1]):
            child = node.get(key) if isinstance(node, dict) else None
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise BrickworkError(
                    f"override '{item}': '{'.'.join(keys[: i + 1])}' is a value, not a section, "
                    f"so it has no field '{keys[i + 1]}'."
                )
            node = child
        node[keys[-1]] = value
    return spec
