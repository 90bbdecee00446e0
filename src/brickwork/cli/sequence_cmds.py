"""`brickwork generate` (text from a language model) and `brickwork forecast` (a series model)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from brickwork.cli.args import at_least, number
from brickwork.cli.options import add_force_option, add_trust_options
from brickwork.errors import BrickworkError


def register(subparsers) -> None:
    g = subparsers.add_parser(
        "generate",
        help="stream text from a trained language model",
        description="Stream text from a language model trained on a `text` dataset, carrying the "
        "recurrent state forward (the prompt runs once, then one step per token).",
    )
    g.add_argument("model", help="model file or run directory (runs/NAME)")
    g.add_argument("--prompt", default="\n", help="text to start from (default: a newline)")
    g.add_argument(
        "--length",
        type=at_least(0),
        default=500,
        help="tokens (characters or words) to generate (default 500)",
    )
    g.add_argument(
        "--temperature",
        type=number(0),
        default=1.0,
        help="below 1 is more conservative, 0 is greedy (default 1)",
    )
    g.add_argument(
        "--top-k", type=at_least(1), default=None, help="sample only among the k most likely tokens"
    )
    g.add_argument(
        "--top-p",
        type=number(0, 1, low_open=True),
        default=None,
        help="sample only from the smallest set with this much probability",
    )
    g.add_argument(
        "--beam",
        type=at_least(1),
        default=1,
        help="beam search width; the text then comes out at the end",
    )
    g.add_argument(
        "--seed", type=at_least(0), default=None, help="random seed, for repeatable samples"
    )
    g.add_argument(
        "--unknown",
        choices=["error", "skip", "unk"],
        default="error",
        help="prompt tokens missing from the vocabulary: error (default), skip them, or map to "
        "<unk>",
    )
    g.add_argument(
        "--no-echo", action="store_true", help="do not print the prompt before the generated text"
    )
    g.add_argument(
        "--stats", action="store_true", help="print tokens per second on stderr at the end"
    )
    add_trust_options(g)
    g.set_defaults(func=cmd_generate)

    f = subparsers.add_parser(
        "forecast",
        help="continue a series, or score a series model against baselines",
        description="With --steps: continue the series the model was trained on (or --history) N "
        "steps past its end. With --evaluate: MAE/RMSE of the model on the held-out "
        "period next to the naive and seasonal-naive baselines, and a PNG of forecast "
        "versus actual.",
    )
    f.add_argument("model", help="model file or run directory (runs/NAME)")
    f.add_argument(
        "--steps",
        type=at_least(1),
        default=None,
        help="how many steps past the end of the series to forecast",
    )
    f.add_argument(
        "--history",
        default=None,
        help="CSV with the same columns as the training file to continue instead",
    )
    f.add_argument(
        "--evaluate", action="store_true", help="score the model on --split against the baselines"
    )
    f.add_argument(
        "--split",
        choices=["val", "test"],
        default="test",
        help="held-out part to evaluate on (default test)",
    )
    f.add_argument(
        "--season",
        type=at_least(1),
        default=None,
        help="seasonal period in steps (default: estimated from the training part)",
    )
    f.add_argument(
        "--plot",
        default=None,
        help="PNG to write (default with --evaluate: RUN/plots/forecast_SPLIT.png)",
    )
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    add_trust_options(f)
    add_force_option(f, "--plot")
    f.set_defaults(func=cmd_forecast)


def _load(target: str):
    from brickwork.models.io import load
    from brickwork.train.runner import model_path

    path = model_path(target)
    if not path.is_file():
        raise BrickworkError(
            f"no model at '{path}'; pass a model file or a run directory that holds "
            "model.safetensors."
        )
    return load(path), path


def cmd_generate(args) -> int:
    from brickwork.data import Vocab
    from brickwork.generate import generate

    model, path = _load(args.model)
    if not model.card.vocab:
        raise BrickworkError(
            f"'{path}' has no vocabulary in its metadata, so it is not a language model trained "
            "on a `text` dataset."
        )
    vocab = Vocab.from_json(model.card.vocab)
    pieces = generate(
        model,
        vocab,
        args.prompt,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        beam=args.beam,
        seed=args.seed,
        unknown=args.unknown,
    )
    out = sys.stdout
    start = time.perf_counter()
    first = next(pieces, None)  # the prompt has been read and checked once this returns
    if not args.no_echo:
        out.write(args.prompt)
    count = 0
    for piece in _chain(first, pieces):
        out.write(piece)
        out.flush()
        count += 1
    out.write("\n")
    if args.stats:
        took = time.perf_counter() - start
        print(
            f"{count} {vocab.tokenizer}s in {took:.2f} s ({count / max(took, 1e-9):.0f} per "
            "second)",
            file=sys.stderr,
        )
    return 0


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


def cmd_forecast(args) -> int:
    if (args.steps is None) == (not args.evaluate):
        raise BrickworkError(
            "say what to do: --steps N to continue the series, or --evaluate to score the model "
            "on held-out data."
        )
    model, path = _load(args.model)
    if args.plot:
        from brickwork.files import refuse_to_overwrite
        from brickwork.train.rundir import run_inputs

        inputs = [
            *run_inputs(path, model.card.to_header()),
            *([args.history] if args.history else []),
        ]
        refuse_to_overwrite(args.plot, inputs, "--plot", args.force)
    try:
        return _forecast(args, model, path)
    except BrickworkError as e:  # name the file the problem is in: the history, else the model
        where = args.history if args.history else str(path)
        raise BrickworkError(str(e) if where in str(e) else f"{where}: {e}") from None


def _forecast(args, model, path: Path) -> int:
    from brickwork.forecast import (
        evaluate_forecast,
        forecast,
        plot_continuation,
        plot_evaluation,
        read_history,
    )

    if args.evaluate:
        result = evaluate_forecast(model, split=args.split, season=args.season)
        plot = (
            Path(args.plot) if args.plot else path.parent / "plots" / f"forecast_{args.split}.png"
        )
        plot_evaluation(result, plot)
        if args.json:
            print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
        else:
            _print_evaluation(result)
        print(f"plot: {plot}", file=sys.stderr if args.json else sys.stdout)
        return 0
    history = read_history(model, args.history) if args.history else None
    result = forecast(model, args.steps, history)
    if args.plot:
        plot_continuation(result, Path(args.plot))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
        return 0
    columns = result["columns"]
    print("step  " + "  ".join(f"{c:>12}" for c in columns))
    for i, row in enumerate(result["forecast"], 1):
        values = row if isinstance(row, list) else [row]
        print(f"{i:>4}  " + "  ".join(f"{v:>12.4f}" for v in values))
    return 0


def _print_evaluation(result: dict) -> None:
    print(
        f"{result['split']}: {result['windows']} windows, horizon {result['horizon']}, season "
        f"{result['season']} ({result['season_source']})"
    )
    print(f"MAE and RMSE in {result['units']}")
    print(f"{'':<16}{'MAE':>10}{'RMSE':>10}")
    for name in ("model", "naive", "mean", "seasonal_naive", "climatology"):
        if result.get(name):
            print(f"{name:<16}{result[name]['mae']:>10.4f}{result[name]['rmse']:>10.4f}")
    per = result["model"]["rmse_per_step"]
    print("model RMSE by step ahead: " + "  ".join(f"{i + 1}:{v:.3f}" for i, v in enumerate(per)))
