"""Peer of the importance benchmark: Optuna's FanovaImportanceEvaluator and
PedAnovaImportanceEvaluator on the datasets tuneforge-bench writes (x0..x9 in [0, 1], y to
minimise). One JSON line per (method, size) with the seconds, the ranking and the share of the
seven idle parameters.

    bench/.venv/bin/python bench/peers/importance.py [--timeout S] data-1000.csv data-10000.csv

An evaluation still running after --timeout seconds (default 600) is stopped and reported as
timed out.
"""
import argparse
import csv
import json
import multiprocessing
import time

import optuna

IDLE = {f"x{i}" for i in range(3, 10)}


def evaluate(path, name, queue):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    names = [k for k in rows[0] if k != "y"]
    dist = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in names}
    study = optuna.create_study()
    study.add_trials([
        optuna.trial.create_trial(params={k: float(r[k]) for k in names},
                                  distributions=dist, value=float(r["y"]))
        for r in rows
    ])
    ev = (optuna.importance.FanovaImportanceEvaluator(seed=0) if name == "optuna-fanova"
          else optuna.importance.PedAnovaImportanceEvaluator())
    t = time.perf_counter()
    imp = optuna.importance.get_param_importances(study, evaluator=ev, normalize=True)
    seconds = time.perf_counter() - t
    queue.put({"method": name, "trials": len(rows), "seconds": seconds, "ranking": list(imp),
               "idle_share": sum(v for k, v in imp.items() if k in IDLE)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    for path in a.files:
        with open(path) as f:
            n = sum(1 for _ in f) - 1
        for name in ["optuna-fanova", "optuna-ped-anova"]:
            queue = multiprocessing.Queue()
            p = multiprocessing.Process(target=evaluate, args=(path, name, queue))
            p.start()
            p.join(a.timeout)
            if p.is_alive():
                p.terminate()
                p.join()
                row = {"method": name, "trials": n, "seconds": a.timeout, "ranking": [],
                       "idle_share": None, "timed_out": True}
            else:
                row = queue.get()
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
