"""Options several commands share: --trust-code / --trust-module and --force."""

from __future__ import annotations

from brickwork.trust import allowed


def add_trust_options(parser) -> None:
    """--trust-code and --trust-module for a command that loads model files or run directories."""
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="let the model file or run import any code it names (custom layers, callbacks); "
        "only for files from people you trust (docs/security.md)",
    )
    parser.add_argument(
        "--trust-module",
        action="append",
        default=[],
        metavar="PREFIX",
        help="let the file import code from module PREFIX (and its submodules) only; repeatable",
    )


def add_force_option(parser, what: str) -> None:
    parser.add_argument(
        "--force", action="store_true", help=f"allow {what} to replace a file this command reads"
    )


def trust_from_args(args):
    """True, the allowed module prefixes, or None (not given: the environment decides)."""
    if getattr(args, "trust_code", False):
        return True
    modules = getattr(args, "trust_module", None)
    return allowed(modules, "--trust-module") if modules else None
