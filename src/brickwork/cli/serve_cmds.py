"""`brickwork serve MODEL`: the HTTP service and its web page (see brickwork.serve)."""

from __future__ import annotations

import ipaddress
import sys

from brickwork.cli.options import add_trust_options
from brickwork.errors import BrickworkError


def cmd_serve(args) -> int:
    from brickwork.serve import ServeConfig, run

    if args.port < 0 or args.port > 65535:
        raise BrickworkError(f"--port must be 0-65535, got {args.port}.")
    if args.max_body_mb <= 0:
        raise BrickworkError(f"--max-body-mb must be positive, got {args.max_body_mb}.")
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
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=5.0,
        help="largest request body accepted, in MB (default 5)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=32,
        help="requests run together in one forward pass at most (default 32)",
    )
    p.add_argument(
        "--max-prompt",
        type=int,
        default=2000,
        help="longest /generate prompt, in characters (default 2000)",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=2000,
        help="most tokens one /generate call may ask for (default 2000)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="PyTorch intra-op threads (default: the CPU cores, at most 4)",
    )
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    add_trust_options(p)
    p.set_defaults(func=cmd_serve)
