"""Load benchmark for `brickwork serve`: N concurrent clients on loopback for a bounded time.

    flock /tmp/brickwork-cpu.lock python3 bench/bench_serve.py --clients 8 --seconds 20

The model is MNIST CNN B (examples/mnist_cnn_b.yaml) trained for a short while on the real
MNIST in ../shared/data/mnist (or `--model FILE` for your own); without MNIST it falls back to
the digits CNN on scikit-learn's digits and says so. Each client posts one real test image
per request (JSON raw pixels) as fast as it gets answers. Reported: requests/s, p50/p99
latency, errors, and the server's RSS before and after the load (a second identical round
shows whether memory keeps growing). Baseline measured in the same run: the same model
called directly in this process, one image per call, so the ratio says what HTTP, JSON and
validation cost and what micro-batching wins back; a second server with --max-batch 1 shows
the batching gain alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serve.conftest import digits_model, start_server, stop_server  # noqa: E402


def mnist_model(path: Path, train_rows: int) -> tuple[Path, np.ndarray, str]:
    """MNIST CNN B fitted for one pass over `train_rows` images; (file, raw test images, what)."""
    from brickwork.data import load_data
    from brickwork.models.io import save_model
    from brickwork.spec.run import load_run_spec
    from brickwork.train import evaluate, fit
    from brickwork.train.runner import load_run

    spec = load_run_spec(
        str(ROOT / "examples" / "mnist_cnn_b.yaml"),
        [f"data.data_dir={ROOT.parent / 'shared' / 'data' / 'mnist'}"],
    )
    model, bundle = load_run(spec)
    fit(
        model,
        bundle.train.x[:train_rows],
        bundle.train.y[:train_rows],
        epochs=1,
        batch_size=64,
        lr=1e-3,
        verbose=0,
    )
    metrics = evaluate(model, bundle.test)
    save_model(model, path, test_metrics={k: v for k, v in metrics.items() if isinstance(v, float)})
    raw = (
        load_data({**spec.data.model_dump(), "normalize": False}, seed=0).test.x[:512].numpy()
        * 255.0
    )
    return (
        path,
        raw.round(),
        f"MNIST CNN B, 1 pass over {train_rows} training images, test accuracy "
        f"{metrics['accuracy']:.4f}",
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(url: str, samples: np.ndarray, clients: int, seconds: float) -> dict:
    """`clients` threads posting one sample each per request for `seconds`."""
    bodies = [json.dumps({"inputs": s.tolist()}).encode() for s in samples]
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        with httpx.Client(
            base_url=url, timeout=30, headers={"Content-Type": "application/json"}
        ) as c:
            i = k
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = c.post("/predict", content=bodies[i % len(bodies)])
                latencies.append(time.perf_counter() - t)
                errors[0] += r.status_code != 200
                i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(ms),
        "req_per_s": len(ms) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": errors[0],
    }


def direct(model_file: Path, samples: np.ndarray, seconds: float) -> float:
    """Images per second calling the model in-process, one image per call (the baseline)."""
    import brickwork
    from brickwork.data import apply_preprocessing

    model = brickwork.load(model_file)
    x = apply_preprocessing(model.card.preprocessing, torch.from_numpy(samples.astype(np.float32)))
    n, stop = 0, time.monotonic() + seconds
    start = time.monotonic()
    with torch.inference_mode():
        while time.monotonic() < stop:
            model(x[n % len(x)][None])
            n += 1
    return n / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--train-rows", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2, help="the server's PyTorch threads")
    parser.add_argument("--model", type=Path, help="serve this model file instead of training one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path("/tmp/brickwork-bench-serve")
    work.mkdir(exist_ok=True)
    if args.model:
        import brickwork

        model_file, shape, what = (
            args.model,
            brickwork.load(args.model).input_shape,
            str(args.model),
        )
        samples = np.random.default_rng(0).uniform(0, 255, (512, *shape)).round()
    elif (ROOT.parent / "shared" / "data" / "mnist").is_dir():
        model_file, samples, what = mnist_model(work / "mnist_cnn_b.safetensors", args.train_rows)
    else:
        from sklearn.datasets import load_digits

        model_file, what = (
            digits_model(work / "digits.safetensors"),
            "digits CNN (../shared/data/mnist absent)",
        )
        samples = load_digits().images[:512, None].astype(np.float32)
    print(
        f"model: {what}; {args.clients} clients x {args.seconds:g} s on loopback, server threads "
        f"{args.threads}"
    )
    baseline = direct(model_file, samples, min(args.seconds, 10))
    print(f"baseline, direct model call (1 image per call, in process): {baseline:.0f} images/s")
    for max_batch in (32, 1):
        proc, url = start_server(
            model_file, "--threads", str(args.threads), "--max-batch", str(max_batch)
        )
        load(url, samples[:16], 2, 1.0)  # warm-up
        before = rss_mb(proc.pid)
        first = load(url, samples, args.clients, args.seconds)
        middle = rss_mb(proc.pid)
        second = load(url, samples, args.clients, args.seconds) if max_batch == 32 else None
        after = rss_mb(proc.pid)
        stop_server(proc)
        for label, r in (("round 1", first), ("round 2", second)):
            if r:
                print(
                    f"--max-batch {max_batch:>2} {label}: {r['req_per_s']:.0f} req/s "
                    f"({r['req_per_s'] / baseline:.2f}x baseline), "
                    f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['requests']} "
                    f"requests, {r['errors']} errors"
                )
        print(
            f"--max-batch {max_batch:>2} server RSS: {before:.0f} MB before, {middle:.0f} MB "
            "after round 1" + (f", {after:.0f} MB after round 2" if second else "")
        )


if __name__ == "__main__":
    main()
