"""Peers of the NAS-Bench-201 benchmark: Optuna's TPESampler (independent and multivariate)
and RandomSampler searching the 6 edge choices under the same protocol as tuneforge-bench nas:
each query returns the cell's 12-epoch validation accuracy and charges 12/200 of its 200-epoch
training time; a run stops before the query that would pass the budget. One JSON line per run
with the incumbent's (time, test accuracy, latency) at every change.

    bench/.venv/bin/python bench/peers/nas.py --runs 500 --table ../shared/data/nas-bench-201/cifar10.csv.gz
"""
import argparse
import csv
import gzip
import json
import multiprocessing
import warnings

import optuna

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
TABLE = {}


def load(path):
    with gzip.open(path, "rt", newline="") if path.endswith(".gz") else open(path) as f:
        for r in csv.DictReader(f):
            TABLE[r["arch_str"]] = (float(r["val12"]), float(r["train_time200_s"]),
                                    float(r["test200"]), float(r["latency_s"]))


def cell(ops):
    s = "|"
    for (i, j), op in zip(EDGES, ops):
        if j == 0 and i > 1:
            s += "+|"
        s += f"{op}~{j}|"
    return s


def one(args):
    method, seed, budget = args
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sampler = {
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "optuna-tpe-mv": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True),
        "optuna-random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }[method]()
    study = optuna.create_study(direction="maximize", sampler=sampler)
    spent, best, trace, queries = 0.0, None, [], 0
    while True:
        t = study.ask()
        ops = [t.suggest_categorical(f"edge_{i}_{j}", OPS) for i, j in EDGES]
        val, time200, test, lat = TABLE[cell(ops)]
        cost = time200 * 12.0 / 200.0
        if spent + cost > budget:
            break
        spent += cost
        queries += 1
        if best is None or val > best:
            best = val
            trace.append([spent, test, lat])
        study.tell(t, val)
    return {"method": method, "seed": seed, "trace": trace, "queries": queries, "front": []}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--budget", type=float, default=12000.0)
    ap.add_argument("--table", default="../shared/data/nas-bench-201/cifar10.csv.gz")
    ap.add_argument("--methods", default="optuna-random,optuna-tpe")
    ap.add_argument("--out", default="bench/results/peers-nas.jsonl")
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    load(a.table)
    jobs = [(m, s, a.budget) for m in a.methods.split(",") for s in range(a.runs)]
    with multiprocessing.Pool(a.procs, initializer=load, initargs=(a.table,)) as pool, \
            open(a.out, "w") as out:
        for r in pool.imap_unordered(one, jobs, chunksize=4):
            out.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
