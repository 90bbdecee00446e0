"""The `brickwork` command: subcommands come from small modules, each with `register`.

User errors (BrickworkError) print as one paragraph with exit code 2, never a traceback;
any other exception is a bug and prints one paragraph with exit code 1 (BRICKWORK_DEBUG=1
shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from brickwork.cli.options import trust_from_args
from brickwork.errors import BrickworkError, missing_extra
from brickwork.trust import trusting
from brickwork.version import __version__

COMMAND_MODULES = [
    "brickwork.cli.model_cmds",
    "brickwork.cli.layers_cmds",
    "brickwork.cli.data_cmds",
    "brickwork.cli.train_cmds",
    "brickwork.cli.sequence_cmds",
    "brickwork.cli.finetune_cmds",
    "brickwork.cli.tune_cmds",
    "brickwork.cli.runs_cmds",
    "brickwork.cli.export_cmds",
    "brickwork.cli.serve_cmds",
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brickwork",
        description="Build, train, tune and ship neural networks from one spec file.",
    )
    parser.add_argument("--version", action="version", version=f"brickwork {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command: exit 2 for a user error, 1 for a bug (one paragraph, no traceback), 130 on
    Ctrl-C.
    """
    try:
        args = make_parser().parse_args(argv)
        with trusting(trust_from_args(args)):  # --trust-code: see brickwork.trust
            return int(args.func(args) or 0)
    except BrickworkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (
        KeyboardInterrupt
    ):  # a training run keeps its last checkpoint: `brickwork train --resume`
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # last resort: a bug should still read as one paragraph
        extra = missing_extra(e) if isinstance(e, ImportError) else None
        if extra is not None:  # an optional part (serve, export) that is not installed
            print(f"error: {extra}", file=sys.stderr)
            return 2
        if os.environ.get("BRICKWORK_DEBUG", "") not in ("", "0"):
            raise
        print(
            f"error: internal error {type(e).__name__}: {e}; this is a bug in brickwork — "
            "rerun with BRICKWORK_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
