"""The multi-fidelity benchmark's peers: Optuna's TPE with its HyperbandPruner and with its
SuccessiveHalvingPruner, DEHB, and SMAC3's Hyperband and multi-fidelity (BOHB-style: random
forest + Hyperband) facades. Same space, same budget accounting (epochs trained) and the same
anytime record as tuneforge-bench's `multifidelity` and `mf-train` commands. One JSON line per run.

The curves come from a bench object: `space` (the parameters), `epochs` (R) and
`learner(task, config, seed)`, whose `acc(epoch)` gives the validation accuracy (percent) after
`epoch` epochs (called with increasing epochs) and `close()` frees it. Here: LCBench through its
surrogate (onnxruntime); bench/peers/mf_train.py: real networks through tuneforge-bench's server.

    bench/.venv/bin/python bench/peers/multifidelity.py --data ../shared/data/lcbench \
        --tasks 3945,7593 --seeds 10 --budget-configs 100 --out bench/results/peers-mf.jsonl
"""
import argparse
import json
import os
import shutil
import sys
import tempfile


class LcBench:
    """The YAHPO Gym LCBench surrogate: 7 parameters, 52 epochs, whole curves at once."""

    epochs = 52
    space = [
        {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
        {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        {"name": "momentum", "type": "float", "low": 0.1, "high": 0.99},
        {"name": "weight_decay", "type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        {"name": "num_layers", "type": "int", "low": 1, "high": 5},
        {"name": "max_units", "type": "int", "low": 64, "high": 1024, "log": True},
        {"name": "max_dropout", "type": "float", "low": 0.0, "high": 1.0},
    ]

    def __init__(self, data):
        import numpy as np
        import onnxruntime as ort
        self.np = np
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(data, "model.onnx"), opts)
        with open(os.path.join(data, "encoding.json")) as f:
            self.enc = json.load(f)["OpenML_task_id"]
        self.names = [i.name for i in self.sess.get_inputs()]

    def curve(self, task, c):
        np = self.np
        cat = np.full((self.epochs, 1), self.enc[task], dtype=np.int32)
        cont = np.array(
            [[e + 1, c["batch_size"], c["learning_rate"], c["momentum"], c["weight_decay"],
              c["num_layers"], c["max_units"], c["max_dropout"]] for e in range(self.epochs)],
            dtype=np.float32,
        )
        out = self.sess.run(None, {self.names[0]: cat, self.names[1]: cont})[0]
        return [float(v) for v in out[:, 1]]

    def learner(self, task, config, seed):
        curve = self.curve(task, config)

        class L:
            def acc(self, epoch):
                return curve[epoch - 1]

            def close(self):
                pass

        return L()


def suggest(t, space):
    out = {}
    for p in space:
        if p["type"] == "int":
            out[p["name"]] = t.suggest_int(p["name"], p["low"], p["high"], log=p.get("log", False))
        else:
            out[p["name"]] = t.suggest_float(p["name"], p["low"], p["high"], log=p.get("log", False))
    return out


def config_space(space, seed):
    from ConfigSpace import ConfigurationSpace, Float, Integer
    cs = ConfigurationSpace(seed=seed)
    cs.add([
        (Integer if p["type"] == "int" else Float)(p["name"], (p["low"], p["high"]), log=p.get("log", False))
        for p in space
    ])
    return cs


def training_seed(seed, trial):
    """As tuneforge's harness: distinct per (run seed, trial number)."""
    return (seed * 1_000_003 + trial) % 2**64


class Record:
    """Epochs spent and the anytime trace of the best full-budget accuracy."""

    def __init__(self, epochs):
        self.epochs = epochs
        self.spent = 0
        self.trace = []
        self.trials = 0

    def full(self, acc):
        if not self.trace or acc > self.trace[-1][1]:
            self.trace.append((self.spent, acc))


def run_optuna(bench, task, method, seed, budget):
    import optuna
    R = bench.epochs
    pruner = {
        "optuna-tpe-hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=R, reduction_factor=3),
        "optuna-tpe-sh": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    }[method]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    rec = Record(R)

    def objective(t):
        rec.trials += 1
        learner = bench.learner(task, suggest(t, bench.space), training_seed(seed, t.number))
        try:
            for e in range(1, R + 1):
                acc = learner.acc(e)
                rec.spent += 1
                if rec.spent >= budget:
                    t.study.stop()
                t.report(acc, e)
                if e < R and t.should_prune():
                    raise optuna.TrialPruned()
        finally:
            learner.close()
        rec.full(acc)
        return acc

    study.optimize(objective)
    return rec


def from_scratch(bench, task, seed, rec, config, epochs):
    """Trains `config` from scratch to `epochs` (DEHB and SMAC restart every fidelity)."""
    rec.trials += 1
    learner = bench.learner(task, config, training_seed(seed, rec.trials - 1))
    try:
        acc = learner.acc(epochs)
    finally:
        learner.close()
    rec.spent += epochs
    if epochs == bench.epochs:
        rec.full(acc)
    return acc


def run_dehb(bench, task, seed, budget):
    from dehb import DEHB
    from loguru import logger
    logger.remove()
    rec = Record(bench.epochs)

    def f(config, fidelity, **kw):
        e = int(round(fidelity))
        acc = from_scratch(bench, task, seed, rec, dict(config), e)
        return {"fitness": -acc, "cost": e}

    out = tempfile.mkdtemp(prefix="dehb-")
    try:
        d = DEHB(f=f, cs=config_space(bench.space, seed), min_fidelity=1, max_fidelity=bench.epochs,
                 eta=3, n_workers=1, seed=seed, output_path=out, save_freq="end")
        while rec.spent < budget:
            job = d.ask()
            d.tell(job, f(job["config"], job["fidelity"]))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return rec


def run_smac(bench, task, method, seed, budget):
    """SMAC3's HyperbandFacade (random configurations, Hyperband) or MultiFidelityFacade (its
    random forest proposing configurations for Hyperband, the BOHB-style facade), ask/tell."""
    from smac import HyperbandFacade, MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue
    facade = {"smac-hyperband": HyperbandFacade, "smac-bohb": MultiFidelityFacade}[method]
    rec = Record(bench.epochs)
    out = tempfile.mkdtemp(prefix="smac-")
    try:
        scenario = Scenario(config_space(bench.space, seed), deterministic=True, n_trials=100000,
                            min_budget=1, max_budget=bench.epochs, seed=seed, output_directory=out)
        smac = facade(scenario, lambda config, seed=0, budget=1: 0.0, overwrite=True, logging_level=40,
                      intensifier=facade.get_intensifier(scenario, eta=3))
        while rec.spent < budget:
            info = smac.ask()
            e = int(round(info.budget))
            acc = from_scratch(bench, task, seed, rec, dict(info.config), e)
            smac.tell(info, TrialValue(cost=-acc))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return rec


def run(bench, task, method, seed, budget):
    if method == "dehb":
        return run_dehb(bench, task, seed, budget)
    if method.startswith("smac-"):
        return run_smac(bench, task, method, seed, budget)
    return run_optuna(bench, task, method, seed, budget)


ALL = "optuna-tpe-hyperband,optuna-tpe-sh,dehb,smac-hyperband,smac-bohb"


def main_loop(bench, tasks, methods, seeds, budget_configs, out_path, first_seed=0):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budget = budget_configs * bench.epochs
    for name, module in [("dehb", "dehb"), ("smac-hyperband", "smac"), ("smac-bohb", "smac")]:
        if name in methods:
            try:
                __import__(module)
            except Exception as e:
                print(f"{name} not available ({e}); skipped", file=sys.stderr)
                methods.remove(name)
    with open(out_path, "a") as out:
        for task in tasks:
            for method in methods:
                for seed in range(first_seed, seeds):
                    rec = run(bench, task, method, seed, budget)
                    out.write(json.dumps({"task": task, "method": method, "seed": seed,
                                          "trace": rec.trace, "trials": rec.trials}) + "\n")
                    out.flush()
                    best = rec.trace[-1][1] if rec.trace else float("nan")
                    print(f"{task} {method} {seed}: {rec.trials} trials, best {best:.2f}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/lcbench")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="run seeds first-seed..seeds-1 (to add seeds to an earlier run)")
    ap.add_argument("--budget-configs", type=int, default=100)
    ap.add_argument("--methods", default="optuna-tpe-hyperband,optuna-tpe-sh,dehb")
    ap.add_argument("--out", default="bench/results/peers-mf.jsonl")
    a = ap.parse_args()
    main_loop(LcBench(a.data), a.tasks.split(","), a.methods.split(","), a.seeds, a.budget_configs, a.out,
              a.first_seed)


if __name__ == "__main__":
    main()
