#!/usr/bin/env bash
# Creates bench/.venv with the Python peers used by the benchmarks (from PyPI).
# Usage: bench/peers/setup.sh            (idempotent; reinstalls nothing that is there)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
# Sampler peers. (GP peers pull torch, a large download: installed by their own benchmark.)
pip install --quiet "optuna>=4" cmaes hyperopt psycopg2-binary scikit-learn optuna-dashboard
python - <<'PY'
import importlib.metadata as m
print("\n".join(f"{p} {m.version(p)}" for p in ["optuna", "cmaes", "hyperopt", "numpy"]))
PY
