"""Which code a file being loaded may make brickwork import (safe loading).

A spec names code of its own with 'package.module:Name' (custom layers, callbacks, schedule
functions). A spec you train is yours, so that code is imported by design. A spec stored in
a model file, checkpoint or run directory may come from someone else: while such a file is
being loaded (`loading(source)`) nothing it names is imported unless the user opted in,
with `trust_code=True` (any module), a list of module prefixes (`["my_pkg"]` allows
`my_pkg` and `my_pkg.layers`, not `my_pkg_evil`), the CLI's `--trust-code` /
`--trust-module PREFIX`, or `BRICKWORK_TRUST_CODE=my_pkg,other_pkg`. See docs/security.md.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from brickwork.errors import BrickworkError

ENV = "BRICKWORK_TRUST_CODE"
TrustCode = bool | str | Sequence[str] | None
_PREFIX = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_ALLOWED: ContextVar[bool | tuple[str, ...] | None] = ContextVar("brickwork_trust", default=None)
_SOURCE: ContextVar[str | None] = ContextVar("brickwork_loading", default=None)


def allowed(trust_code: TrustCode, where: str = "trust_code") -> bool | tuple[str, ...]:
    """True (any module), False (none) or the module prefixes `trust_code` allows."""
    if isinstance(trust_code, bool) or trust_code is None:
        return bool(trust_code)
    items = trust_code.split(",") if isinstance(trust_code, str) else list(trust_code)
    prefixes = []
    for item in items:
        prefix = str(item).strip().rstrip(".")
        if not _PREFIX.fullmatch(prefix):
            raise BrickworkError(
                f"{where}: {str(item)[:80]!r} is not a module prefix; give importable module "
                "names such as my_pkg or my_pkg.layers (or True / --trust-code for any module)."
            )
        prefixes.append(prefix)
    return tuple(prefixes)


def _effective(explicit: TrustCode) -> bool | tuple[str, ...]:
    """The explicit setting, else the surrounding `trusting(...)`, else the environment."""
    if explicit is not None:
        return allowed(explicit)
    ambient = _ALLOWED.get()
    if ambient is not None:
        return ambient
    env = os.environ.get(ENV, "").strip()
    return allowed(env, ENV) if env else False


@contextmanager
def trusting(trust_code: TrustCode) -> Iterator[None]:
    """Within this block, files being loaded may name the code `trust_code` allows.

    `None` changes nothing. The CLI wraps each command in it for `--trust-code`; from Python,
    wrap calls that load files without a `trust_code=` argument of their own (fine-tuning
    from a base model, resuming a run): `with brickwork.trust.trusting(["my_pkg"]): ...`.
    """
    if trust_code is None:
        yield
        return
    token = _ALLOWED.set(allowed(trust_code))
    try:
        yield
    finally:
        _ALLOWED.reset(token)


@contextmanager
def loading(source, trust_code: TrustCode = None) -> Iterator[None]:
    """Code named within this block comes from the file `source`: import it only if trusted.

    `source=None` means the user's own spec (no check).
    """
    if source is None:
        yield
        return
    tokens = (_SOURCE.set(str(source)), _ALLOWED.set(_effective(trust_code)))
    try:
        yield
    finally:
        _ALLOWED.reset(tokens[1])
        _SOURCE.reset(tokens[0])


def permits(module: str, trust: bool | tuple[str, ...]) -> bool:
    if isinstance(trust, bool):
        return trust
    return any(module == p or module.startswith(p + ".") for p in trust)


def import_named(path: str, what: str):
    """'package.module:attr' -> the object, after checking a file being loaded may name it.

    Raises BrickworkError before anything is imported when it may not; import errors are
    left to the caller, which knows how to phrase them.
    """
    module, _, attr = path.partition(":")
    source = _SOURCE.get()
    trust = _ALLOWED.get()
    if source is not None and not permits(module, trust or False):
        top = module.split(".")[0] or "my_pkg"
        listed = f" (allowed: {', '.join(trust)})" if isinstance(trust, tuple) and trust else ""
        raise BrickworkError(
            f"'{source}' names code to import, {what} {path[:120]!r}, and is not trusted to run "
            f"code{listed}. Loading a model file, checkpoint or run directory never imports code "
            "named inside it unless you opt in, so a file from someone else cannot run code on "
            "your machine. If you trust whoever made it and have module "
            f"'{module[:80]}' installed, allow it: --trust-module {top} (or --trust-code for any "
            f"module) on the command line, trust_code=['{top}'] in Python, or "
            f"{ENV}={top}; see docs/security.md."
        )
    return getattr(importlib.import_module(module), attr)
