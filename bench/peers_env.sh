#!/usr/bin/env bash
# The benchmark environment for bench/bench_peers.py: Lightning and Keras 3 (torch backend)
# in a venv of their own, bench/.venv-peers (git-ignored), on top of the system's torch, so
# every tool runs the very same torch build as brickwork.
#
#   bash bench/peers_env.sh            # create or update it (needs the network, once)
#   python3 bench/bench_peers.py       # finds it by itself; --peers-python PATH for another
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$here/.venv-peers}"
python3 -m venv --system-site-packages "$venv"
torch_version="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
# pin torch to the version already there, so pip never swaps it for another build
"$venv/bin/python" -m pip install --quiet "lightning>=2.4" "keras>=3.5" \
    "torch==$torch_version"
"$venv/bin/python" - <<'PY'
import os
os.environ["KERAS_BACKEND"] = "torch"
import keras, lightning, torch
print(f"peers venv ready: torch {torch.__version__}, lightning {lightning.__version__}, "
      f"keras {keras.__version__} (backend {keras.backend.backend()})")
PY
