"""Peers of the multi-objective benchmark: Optuna's NSGAIISampler and TPESampler on ZDT1-3
(6 variables). Writes the objective values of every trial in order; tuneforge-bench computes
the hypervolumes with the same code for every system. One JSON line per run.

    bench/.venv/bin/python bench/peers/multiobjective.py --seeds 10 --budget 400
"""
import argparse
import json
import math

import optuna

DIM = 6


def zdt(problem, x):
    f1 = x[0]
    g = 1.0 + 9.0 * sum(x[1:]) / (len(x) - 1)
    r = f1 / g
    if problem == "zdt1":
        h = 1.0 - math.sqrt(r)
    elif problem == "zdt2":
        h = 1.0 - r * r
    else:
        h = 1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * f1)
    return f1, g * h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--out", default="bench/results/peers-mo.jsonl")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with open(a.out, "w") as out:
        for problem in ["zdt1", "zdt2", "zdt3"]:
            for name in ["optuna-nsga2", "optuna-tpe"]:
                for seed in range(a.seeds):
                    sampler = (optuna.samplers.NSGAIISampler(seed=seed) if name == "optuna-nsga2"
                               else optuna.samplers.TPESampler(seed=seed))
                    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
                    study.optimize(lambda t: zdt(problem, [t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(DIM)]),
                                   n_trials=a.budget)
                    values = [list(t.values) for t in study.trials if t.values is not None]
                    out.write(json.dumps({"problem": problem, "sampler": name, "seed": seed, "values": values}) + "\n")
                    out.flush()


if __name__ == "__main__":
    main()
