"""Runs the Python peers on the benchmark problems and writes one JSON line per run, in the format
of tuneforge-bench's RunResult: {problem, sampler, seed, best: [...], sampler_s_per_trial}.
Samplers: optuna-{random,tpe,tpe-mv,cmaes,gp}, hyperopt-tpe, and (after setup-model-based.sh)
skopt-gp, nevergrad-ngopt, hebo, smac. A conditional problem's inactive parameters are dropped
before the objective sees them, for peers whose spaces have no conditions.

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


class Timer:
    """Counts the time spent inside the objective, so that a peer's own overhead is the rest."""

    def __init__(self, problem):
        self.problem, self.inside, self.values = problem, 0.0, []

    def __call__(self, params):
        active = {}
        for p in self.problem.space:  # inactive parameters of a flat space are dropped
            if p["name"] in params and self.problem.active(p, params):
                active[p["name"]] = params[p["name"]]
        t0 = time.perf_counter()
        v = self.problem.fn(active)
        self.inside += time.perf_counter() - t0
        self.values.append(v)
        return v


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
    f = Timer(problem)

    def objective(trial):
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
        return f(params)

    start = time.perf_counter()
    study.optimize(objective, n_trials=budget)
    return f.values, (time.perf_counter() - start - f.inside) / budget


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
    f = Timer(problem)

    def objective(cfg):
        params = {}
        for k, v in cfg.items():
            if isinstance(v, dict):
                params.update(v)
            else:
                params[k] = v
        for p in problem.space:
            if p["type"] == "int" and p["name"] in params:
                params[p["name"]] = int(round(params[p["name"]]))
        return {"loss": f(params), "status": STATUS_OK}

    start = time.perf_counter()
    fmin(objective, space, algo=tpe.suggest, max_evals=budget, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)
    return f.values, (time.perf_counter() - start - f.inside) / budget


def run_skopt(problem, seed, budget):
    """scikit-optimize's GP minimiser (Matérn kernel, gp_hedge acquisition), ask/tell."""
    from skopt import Optimizer
    from skopt.space import Categorical, Integer, Real

    dims = []
    for p in problem.space:
        prior = "log-uniform" if p.get("log") else "uniform"
        if p["type"] == "float":
            dims.append(Real(p["low"], p["high"], prior=prior, name=p["name"]))
        elif p["type"] == "int":
            dims.append(Integer(p["low"], p["high"], prior=prior, name=p["name"]))
        else:
            dims.append(Categorical(p["choices"], name=p["name"]))
    opt = Optimizer(dims, base_estimator="GP", random_state=seed, n_initial_points=10)
    f = Timer(problem)
    start = time.perf_counter()
    for _ in range(budget):
        x = opt.ask()
        params = {p["name"]: (int(v) if p["type"] == "int" else v) for p, v in zip(problem.space, x)}
        opt.tell(x, f(params))
    return f.values, (time.perf_counter() - start - f.inside) / budget


def run_nevergrad(problem, seed, budget):
    """Nevergrad's NGOpt (its algorithm selector), ask/tell."""
    import nevergrad as ng

    kw = {}
    for p in problem.space:
        if p["type"] == "cat":
            kw[p["name"]] = ng.p.Choice(p["choices"])
            continue
        param = ng.p.Log(lower=p["low"], upper=p["high"]) if p.get("log") else ng.p.Scalar(lower=p["low"], upper=p["high"])
        if p["type"] == "int":
            param = param.set_integer_casting()
        kw[p["name"]] = param
    inst = ng.p.Instrumentation(**kw)
    inst.random_state = __import__("numpy").random.RandomState(seed)
    opt = ng.optimizers.NGOpt(parametrization=inst, budget=budget, num_workers=1)
    f = Timer(problem)
    start = time.perf_counter()
    for _ in range(budget):
        cand = opt.ask()
        opt.tell(cand, f(dict(cand.kwargs)))
    return f.values, (time.perf_counter() - start - f.inside) / budget


def run_hebo(problem, seed, budget):
    """HEBO (Huawei's winner of the NeurIPS 2020 black-box challenge), one suggestion at a time."""
    import numpy as np
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    spec, cats = [], {}
    for p in problem.space:
        n = p["name"]
        if p["type"] == "float":
            spec.append({"name": n, "type": "pow" if p.get("log") else "num", "lb": p["low"], "ub": p["high"]})
        elif p["type"] == "int":
            spec.append({"name": n, "type": "pow_int" if p.get("log") else "int", "lb": p["low"], "ub": p["high"]})
        else:
            labels = [str(c) for c in p["choices"]]
            cats[n] = dict(zip(labels, p["choices"]))
            spec.append({"name": n, "type": "cat", "categories": labels})
    opt = HEBO(DesignSpace().parse(spec), rand_sample=10, scramble_seed=seed)
    f = Timer(problem)
    start = time.perf_counter()
    for _ in range(budget):
        rec = opt.suggest(n_suggestions=1)
        row = rec.iloc[0].to_dict()
        params = {}
        for p in problem.space:
            v = row[p["name"]]
            params[p["name"]] = cats[p["name"]][v] if p["name"] in cats else (int(v) if p["type"] == "int" else float(v))
        opt.observe(rec, np.array([[f(params)]]))
    return f.values, (time.perf_counter() - start - f.inside) / budget


def run_smac(problem, seed, budget):
    """SMAC3's hyperparameter-optimisation facade (random forest + local search), ask/tell."""
    import shutil
    import tempfile

    from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.main.exceptions import ConfigurationSpaceExhaustedException
    from smac.runhistory.dataclasses import TrialValue

    cs = ConfigurationSpace(seed=seed)
    hps = {}
    for p in problem.space:
        n = p["name"]
        if p["type"] == "float":
            hps[n] = Float(n, (p["low"], p["high"]), log=p.get("log", False))
        elif p["type"] == "int":
            hps[n] = Integer(n, (p["low"], p["high"]), log=p.get("log", False))
        else:
            hps[n] = Categorical(n, p["choices"])
    cs.add(list(hps.values()))
    cs.add([EqualsCondition(hps[p["name"]], hps[p["cond"][0]], p["cond"][1]) for p in problem.space if "cond" in p])
    out = tempfile.mkdtemp(prefix="smac-")
    try:
        scenario = Scenario(cs, deterministic=True, n_trials=budget, seed=seed, output_directory=out)
        selector = HyperparameterOptimizationFacade.get_config_selector(scenario, retries=200)
        smac = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40,
            config_selector=selector,
        )
        f = Timer(problem)
        start = time.perf_counter()
        for _ in range(budget):
            try:
                info = smac.ask()
            except ConfigurationSpaceExhaustedException:
                break  # SMAC finds no configuration it has not run: the run ends short
            smac.tell(info, TrialValue(cost=f(dict(info.config))))
        return f.values, (time.perf_counter() - start - f.inside) / max(len(f.values), 1)
    finally:
        shutil.rmtree(out, ignore_errors=True)


RUNNERS = {"skopt-gp": run_skopt, "nevergrad-ngopt": run_nevergrad, "hebo": run_hebo, "smac": run_smac}


def one(job):
    pname, sampler, seed, budget, data = job
    if data == HELD_OUT:
        problem = next(p for p in P.held_out_functions() if p.name == pname)
    else:
        problem = next(p for p in PROBLEMS(data) if p.name == pname)
    if sampler.startswith("optuna-"):
        values, overhead = run_optuna(problem, sampler[len("optuna-"):], seed, budget)
    elif sampler in RUNNERS:
        values, overhead = RUNNERS[sampler](problem, seed, budget)
    else:
        values, overhead = run_hyperopt(problem, seed, budget)
    best, b = [], math.inf
    for v in values:
        if v is not None and math.isfinite(v):
            b = min(b, v)
        best.append(b)
    return {"problem": pname, "sampler": sampler, "seed": seed, "best": best, "sampler_s_per_trial": overhead}


_CACHE = {}
HELD_OUT = "<held-out>"


def PROBLEMS(data):
    if data not in _CACHE:
        _CACHE[data] = P.all_problems(data)
    return _CACHE[data]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed+seeds-1")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--samplers", default="optuna-random,optuna-tpe,optuna-tpe-mv,optuna-cmaes,optuna-gp,hyperopt-tpe")
    ap.add_argument("--problems", default="")
    ap.add_argument("--data", default="../shared/data/hpo-tabular")
    ap.add_argument("--out", default="bench/results/peers-samplers.jsonl")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--held-out", action="store_true", help="run the held-out functions instead of the benchmark's problems")
    a = ap.parse_args()
    if a.held_out:
        a.data = HELD_OUT
        names = [p.name for p in P.held_out_functions()]
    else:
        names = [p.name for p in PROBLEMS(a.data)]
    if a.problems:
        names = [n for n in names if any(f in n for f in a.problems.split(","))]
    jobs = [(n, s, seed, a.budget, a.data) for s in a.samplers.split(",") for n in names for seed in range(a.first_seed, a.first_seed + a.seeds)]
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with multiprocessing.Pool(a.processes) as pool, open(a.out, "w") as out:
        for i, r in enumerate(pool.imap_unordered(one, jobs), 1):
            out.write(json.dumps(r) + "\n")
            if i % 25 == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} peer runs", file=sys.stderr, flush=True)
    import importlib.metadata as m
    with open(os.path.splitext(a.out)[0] + ".versions.txt", "w") as f:
        for pkg in ["optuna", "cmaes", "hyperopt", "torch", "scikit-optimize", "nevergrad", "hebo", "smac"]:
            try:
                f.write(f"{pkg} {m.version(pkg)}\n")
            except m.PackageNotFoundError:
                pass


if __name__ == "__main__":
    main()
