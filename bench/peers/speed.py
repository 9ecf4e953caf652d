"""Time per suggestion of Optuna's samplers with a long history: N completed trials in a D-dim
space, then ASKS timed ask + D suggestions + tell. One JSON line per (sampler, history).

    bench/.venv/bin/python bench/peers/speed.py --history 1000,10000 --dim 10 --asks 30
"""
import argparse
import json
import random
import statistics
import time

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", default="1000,10000")
    ap.add_argument("--gp-history", default="200")
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--asks", type=int, default=30)
    ap.add_argument("--out", default="bench/results/peers-speed.jsonl")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = {f"x{i}": FloatDistribution(-5.0, 5.0) for i in range(a.dim)}
    runs = [("tpe", int(x)) for x in a.history.split(",")] + [("gp", int(x)) for x in a.gp_history.split(",") if x]
    with open(a.out, "w") as out:
        for kind, n in runs:
            rng = random.Random(0)
            history = []
            for _ in range(n):
                params = {k: rng.uniform(-5, 5) for k in dists}
                history.append(create_trial(params=params, distributions=dists, value=sum(v * v for v in params.values())))
            samplers = [
                ("optuna-tpe-mv", optuna.samplers.TPESampler(seed=0, multivariate=True)),
                ("optuna-tpe", optuna.samplers.TPESampler(seed=0)),
            ] if kind == "tpe" else [("optuna-gp", optuna.samplers.GPSampler(seed=0))]
            for name, sampler in samplers:
                study = optuna.create_study(sampler=sampler)
                study.add_trials(history)
                times = []
                for _ in range(a.asks):
                    t0 = time.perf_counter()
                    t = study.ask()
                    v = sum(t.suggest_float(k, -5.0, 5.0) ** 2 for k in dists)
                    study.tell(t, v)
                    times.append(time.perf_counter() - t0)
                times.sort()
                r = {"sampler": name, "history": n, "dim": a.dim, "asks": a.asks,
                     "median_ms": statistics.median(times) * 1e3, "p90_ms": times[int(0.9 * (len(times) - 1))] * 1e3}
                out.write(json.dumps(r) + "\n")
                out.flush()
                print(r, flush=True)
    with open(a.out.replace(".jsonl", ".versions.txt"), "w") as f:
        f.write(f"optuna {optuna.__version__}\n")
        import torch
        f.write(f"torch {torch.__version__}\n")


if __name__ == "__main__":
    main()
