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
    """Turn a pydantic ValidationError into one line per problem, prefixed with `where`."""
    parts = []
    fields = list(fields)
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        field = f"{where}.{loc}" if where and loc else (where or loc)
        if err["type"] == "extra_forbidden":
            name = str(err["loc"][-1])
            hint = did_you_mean(name, fields)
            valid = f"; valid fields: {', '.join(sorted(fields))}" if fields and not hint else ""
            parts.append(f"{field}: unknown field '{name}'{hint}{valid}")
        elif err["type"] == "missing":
            parts.append(f"{field}: required field is missing")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
            parts.append(f"{field}: {err['msg']}{shown}")
    return "; ".join(parts)
