"""`brickwork serve MODEL`: the HTTP service and its web page (see brickwork.serve)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from brickwork.cli.args import at_least, number
from brickwork.cli.options import add_trust_options
from brickwork.errors import require_extra


def cmd_serve(args) -> int:
    require_extra("fastapi", "uvicorn", "python_multipart")
    from brickwork.serve import ServeConfig, run

    if not _is_loopback(args.host):
        print(
            f"note: serving on {args.host}, reachable from other machines; the service has no "
            "authentication.",
            file=sys.stderr,
        )
    config = ServeConfig(
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        max_batch=args.max_batch,
        max_prompt_chars=args.max_prompt,
        max_generate_length=args.max_length,
        threads=args.threads,
    )
    run(args.model, host=args.host, port=args.port, config=config, log_level=args.log_level)
    return 0


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = at_least(0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value}")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a trained model over HTTP: /predict, /generate, /info and a web page at /",
    )
    p.add_argument("model", help="a model .safetensors file or a run directory")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=port, default=8000)
    p.add_argument(
        "--max-body-mb",
        type=number(0, low_open=True),
        default=5.0,
        help="largest request body accepted, in MB (default 5)",
    )
    p.add_argument(
        "--max-batch",
        type=at_least(1),
        default=32,
        help="requests run together in one forward pass at most (default 32)",
    )
    p.add_argument(
        "--max-prompt",
        type=at_least(1),
        default=2000,
        help="longest /generate prompt, in characters (default 2000)",
    )
    p.add_argument(
        "--max-length",
        type=at_least(1),
        default=2000,
        help="most tokens one /generate call may ask for (default 2000)",
    )
    p.add_argument(
        "--threads",
        type=at_least(1),
        default=None,
        help="PyTorch intra-op threads (default: the CPU cores, at most 4)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    add_trust_options(p)
    p.set_defaults(func=cmd_serve)
