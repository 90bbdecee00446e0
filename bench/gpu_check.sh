#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): at most 8 minutes on one H100/H200, no network.
#
#   bash bench/gpu_check.sh [OUT_DIR] [extra gpu_check.py options]
#
# MNIST comes from ../shared/data/mnist (or --data-dir DIR). Figures: OUT_DIR/gpu_check.json
# and OUT_DIR/gpu_check.md (default OUT_DIR: gpu_check_out).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-gpu_check_out}"
shift || true
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible to torch; on CPU run: python3 bench/gpu_check.py --device cpu --quick")'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" timeout 480 \
    python3 "$root/bench/gpu_check.py" --device cuda --out "$out" "$@"
