"""User-facing errors: one paragraph that says what happened, what was expected, how to fix.

Anything raised as `BrickworkError` is the user's to fix (a spec field, a file, a shape);
the CLI prints it without a traceback and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BrickworkError(Exception):
    """A problem with the user's input: a spec, a data file, a shape, a model file."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def pydantic_message(exc, where: str, fields: Iterable[str] = ()) -> str:
    """Turn a pydantic ValidationError into 'where: problem; problem' with the fields named.

    A mistyped field shows once (as unknown, with the closest valid name), not also as a
    missing required field; a value that fits none of a field's forms shows the clearest one.
    """
    fields = list(fields)
    by_field: dict[str, list[dict]] = {}
    for err in exc.errors():
        names = [str(p) for p in err["loc"] if not _is_union_tag(p)]
        by_field.setdefault(".".join(names), []).append(err)
    by_field = {f: errs for f, errs in by_field.items() if not _other_branch(f, errs, by_field)}
    suggested = set()
    problems = []
    for field, errs in by_field.items():
        err = _best(errs)
        if err["type"] == "extra_forbidden":
            top = "." not in field
            close = difflib.get_close_matches(field, fields, n=1, cutoff=0.6) if top else []
            suggested.update(close)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            valid = f"; valid fields: {', '.join(fields)}" if top and fields and not close else ""
            problems.append(f"unknown field '{field}'{hint}{valid}")
    for field, errs in by_field.items():
        err = _best(errs)
        if err["type"] == "extra_forbidden":
            continue
        if err["type"] == "missing":
            if field not in suggested:
                problems.append(f"required field '{field}' is missing")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        text = repr(got)
        text = text if len(text) <= 60 else text[:57] + "..."
        shown = (
            f" (got {text})"
            if got is not None and not isinstance(got, dict) and repr(got) not in msg
            else ""
        )
        problems.append(f"field '{field}': {msg}{shown}" if field else f"{msg}{shown}")
    return f"{where}: {'; '.join(problems)}" if where else "; ".join(problems)


def _best(errs: list[dict]) -> dict:
    """Of one field's errors (one per union branch), the branch that fits the input's type.

    A type mismatch ('int_type', 'list_type') belongs to a branch the value was never meant
    for; "must be 'same' or 'valid'" is the clearest only when the value is a string.
    """
    fitting = [e for e in errs if not _mismatch(e)] or errs
    return next((e for e in fitting if e["type"] == "literal_error"), fitting[0])


def _other_branch(field: str, errs: list[dict], by_field: dict) -> bool:
    """True for type mismatches at `field` when a nested error shows which branch the value took
    (`kernel_size: [3, -1]` is a list with a bad item, not a wrong int)."""
    nested = bool(field) and any(f.startswith(f"{field}.") for f in by_field)
    return nested and all(_mismatch(e) for e in errs)


def _mismatch(err: dict) -> bool:
    """An error saying the value has the wrong type for this branch (a list is not an int,
    a number is none of the words 'same', 'valid')."""
    return err["type"].endswith("_type") or (
        err["type"] == "literal_error" and not isinstance(err.get("input"), str)
    )


def _is_union_tag(part) -> bool:
    """pydantic names the branch of a union it tried ('int', "literal['same','valid']",
    'constrained-int', or a model class such as 'Initializer')."""
    return isinstance(part, str) and (
        part in {"int", "float", "str", "bool", "list[int]", "dict[str,any]"}
        or "[" in part
        or part.startswith(("function-", "literal", "constrained-"))
        or part in _model_class_names()
    )


def _model_class_names() -> set[str]:
    """Names of every pydantic model class loaded so far (they tag union branches in error
    paths).
    """
    from pydantic import BaseModel

    names, todo = set(), [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            names.add(sub.__name__)
            todo.append(sub)
    return names


# Optional parts of brickwork: the import name of each package and the extra that installs it.
EXTRAS = {
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
    "executorch": "mobile",
    "mlflow": "tracking",
    "psycopg": "postgres",
}


def missing_extra(exc: ImportError) -> BrickworkError | None:
    """The user's error for an optional package that is not installed (`pip install
    "brickwork[serve]"`), or None when `exc` is about some other module (a real bug)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(name)
    if extra is None:
        return None
    return BrickworkError(
        f"this command needs the optional package '{name}', which is not installed; install "
        f'brickwork\'s {extra} extra with: pip install "brickwork[{extra}]"'
    )


def require_extra(*modules: str) -> None:
    """Import `modules` up front, so a missing optional package is a clear error that names
    the pip command before any model is loaded."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise missing_extra(e) or e from None
