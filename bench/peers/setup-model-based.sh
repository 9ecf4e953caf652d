#!/usr/bin/env bash
# Adds the model-based sampler peers to bench/.venv (made by setup.sh): SMAC3, HEBO,
# scikit-optimize and Nevergrad. HEBO pins an old numpy, scipy and pandas; the current ones are
# versions the venv had are put back afterwards (the other peers need them; HEBO runs with them).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || peers/setup.sh
keep=$(.venv/bin/python -c 'import importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in ["numpy", "scipy", "pandas"]))' 2>/dev/null || true)
.venv/bin/pip install --quiet nevergrad scikit-optimize smac hebo
[ -n "$keep" ] && .venv/bin/pip install --quiet $keep
.venv/bin/python - <<'PY'
import importlib.metadata as m
print("\n".join(f"{p} {m.version(p)}" for p in ["smac", "hebo", "scikit-optimize", "nevergrad", "numpy", "scipy"]))
PY
