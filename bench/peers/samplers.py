"""Runs the Python peers on the benchmark problems and writes one JSON line per run, in the format
of tuneforge-bench's RunResult: {problem, sampler, seed, best: [...], sampler_s_per_trial}.

    bench/.venv/bin/python bench/peers/samplers.py --seeds 10 --budget 200 --out bench/results/peers-samplers.jsonl
"""
import argparse
import json
import math
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import problems as P  # noqa: E402


def run_optuna(problem, kind, seed, budget):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if kind == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif kind == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    elif kind == "tpe-mv":
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    elif kind == "cmaes":
        sampler = optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    elif kind == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        raise ValueError(kind)
    study = optuna.create_study(sampler=sampler)
    in_objective = 0.0

    def objective(trial):
        nonlocal in_objective
        params = {}
        for p in problem.space:
            if not problem.active(p, params):
                continue
            if p["type"] == "float":
                params[p["name"]] = trial.suggest_float(p["name"], p["low"], p["high"], log=p["log"])
            elif p["type"] == "int":
                params[p["name"]] = trial.suggest_int(p["name"], p["low"], p["high"], log=p["log"])
            else:
                params[p["name"]] = trial.suggest_categorical(p["name"], p["choices"])
        t0 = time.perf_counter()
        v = problem.fn(params)
        in_objective += time.perf_counter() - t0
        return v

    start = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    total = time.perf_counter() - start
    values = [t.value for t in study.trials]
    return values, (total - in_objective) / budget


def run_hyperopt(problem, seed, budget):
    import numpy as np
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    def dim(p):
        n = p["name"]
        if p["type"] == "float":
            return hp.loguniform(n, math.log(p["low"]), math.log(p["high"])) if p["log"] else hp.uniform(n, p["low"], p["high"])
        if p["type"] == "int":
            return hp.uniformint(n, p["low"], p["high"])
        return hp.choice(n, p["choices"])

    roots = [p for p in problem.space if "cond" not in p]
    children = [p for p in problem.space if "cond" in p]
    space = {}
    for p in roots:
        kids = [c for c in children if c["cond"][0] == p["name"]]
        if kids and p["type"] == "cat":
            branches = []
            for choice in p["choices"]:
                b = {p["name"]: choice}
                for c in kids:
                    if c["cond"][1] == choice:
                        b[c["name"]] = dim(c)
                branches.append(b)
            space[p["name"] + "__branch"] = hp.choice(p["name"] + "__branch", branches)
        else:
            space[p["name"]] = dim(p)
    in_objective = 0.0

    def objective(cfg):
        nonlocal in_objective
        params = {}
        for k, v in cfg.items():
            if isinstance(v, dict):
                params.update(v)
            else:
                params[k] = v
        for p in problem.space:
            if p["type"] == "int" and p["name"] in params:
                params[p["name"]] = int(round(params[p["name"]]))
        t0 = time.perf_counter()
        v = problem.fn(params)
        in_objective += time.perf_counter() - t0
        return {"loss": v, "status": STATUS_OK}

    trials = Trials()
    start = time.perf_counter()
    fmin(objective, space, algo=tpe.suggest, max_evals=budget, trials=trials,
         rstate=np.random.default_rng(seed), show_progressbar=False)
    total = time.perf_counter() - start
    return [t["result"]["loss"] for t in trials.trials], (total - in_objective) / budget


def one(job):
    pname, sampler, seed, budget, data = job
    problem = next(p for p in PROBLEMS(data) if p.name == pname)
    if sampler.startswith("optuna-"):
        values, overhead = run_optuna(problem, sampler[len("optuna-"):], seed, budget)
    else:
        values, overhead = run_hyperopt(problem, seed, budget)
    best, b = [], math.inf
    for v in values:
        if v is not None and math.isfinite(v):
            b = min(b, v)
        best.append(b)
    return {"problem": pname, "sampler": sampler, "seed": seed, "best": best, "sampler_s_per_trial": overhead}


_CACHE = {}


def PROBLEMS(data):
    if data not in _CACHE:
        _CACHE[data] = P.all_problems(data)
    return _CACHE[data]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--samplers", default="optuna-random,optuna-tpe,optuna-tpe-mv,optuna-cmaes,optuna-gp,hyperopt-tpe")
    ap.add_argument("--problems", default="")
    ap.add_argument("--data", default="../shared/data/hpo-tabular")
    ap.add_argument("--out", default="bench/results/peers-samplers.jsonl")
    ap.add_argument("--processes", type=int, default=2)
    a = ap.parse_args()
    names = [p.name for p in PROBLEMS(a.data)]
    if a.problems:
        names = [n for n in names if any(f in n for f in a.problems.split(","))]
    jobs = [(n, s, seed, a.budget, a.data) for s in a.samplers.split(",") for n in names for seed in range(a.seeds)]
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with multiprocessing.Pool(a.processes) as pool, open(a.out, "w") as out:
        for i, r in enumerate(pool.imap_unordered(one, jobs), 1):
            out.write(json.dumps(r) + "\n")
            if i % 25 == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} peer runs", file=sys.stderr, flush=True)
    import importlib.metadata as m
    with open(os.path.splitext(a.out)[0] + ".versions.txt", "w") as f:
        for pkg in ["optuna", "cmaes", "hyperopt", "torch"]:
            f.write(f"{pkg} {m.version(pkg)}\n")


if __name__ == "__main__":
    main()
