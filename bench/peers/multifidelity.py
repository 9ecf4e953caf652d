"""The multi-fidelity benchmark's peers: Optuna's TPE with its HyperbandPruner and with its
SuccessiveHalvingPruner, DEHB, and SMAC3's Hyperband and multi-fidelity (BOHB-style: random
forest + Hyperband) facades. Same space, same budget accounting (epochs trained) and the same
anytime record as tuneforge-bench's `multifidelity` and `mf-train` commands. One JSON line per run.

The curves come from a bench object: `space` (the parameters), `epochs` (R) and
`learner(task, config, seed)`, whose `acc(epoch)` gives the validation accuracy (percent) after
`epoch` epochs (called with increasing epochs) and `close()` frees it. Optionally the bench
sets `eta` (default 3), `steps` (the budgets a pruned trial reports at; default every epoch),
`budget(task, configs)` and `trace_cost(task, spent)` (the cost unit; default epochs), and its
learners `cost(budget, previous)` (default: the epochs in between). Here: LCBench through its
surrogate (onnxruntime) and FCNet's tables (`--fcnet`: a smaller model as the fidelity, training
time as the cost); bench/peers/mf_train.py: real networks through tuneforge-bench's server.

    bench/.venv/bin/python bench/peers/multifidelity.py --data ../shared/data/lcbench \
        --tasks 3945,7593 --seeds 10 --budget-configs 100 --out bench/results/peers-mf.jsonl
    bench/.venv/bin/python bench/peers/multifidelity.py --fcnet --data ../shared/data/hpo-tabular \
        --tasks protein_structure,naval_propulsion --methods optuna-tpe-hyperband,dehb \
        --out bench/results/peers-mf-fcnet.jsonl
"""
import argparse
import json
import math
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


class Fcnet:
    """FCNet's tables with a smaller model as the cheap fidelity and training time as the cost,
    as tuneforge-bench's `mf-fcnet`: at budget b of R = 8 both hidden layers get the units
    divided by R/b (at least 16); an evaluation costs that network's training time (ms, mean
    over the 4 seeds) and gives its negative mean validation MSE. The anytime trace counts
    thousandths of the table's mean training time."""

    epochs = 8
    eta = 2
    steps = [1, 2, 4, 8]

    def __init__(self, data, tasks):
        from problems import FCNET_PARAMS, read_table
        self.tables = {}
        for task in tasks:
            path = os.path.join(data, f"fcnet_{task}.csv.gz")
            _, self.space, means = read_table(path, FCNET_PARAMS, ["val_loss_s", "train_time_s"])
            table = {k: (-mse, secs) for k, (mse, secs) in means.items()}
            mean_ms = math.floor(1000 * sum(v[1] for v in table.values()) / len(table) + 0.5)
            self.tables[task] = (table, max(mean_ms, 1))
        self.units = [FCNET_PARAMS.index("n_units_1"), FCNET_PARAMS.index("n_units_2")]

    def budget(self, task, configs):
        return configs * self.tables[task][1]

    def trace_cost(self, task, spent):
        return spent * 1000 // self.tables[task][1]

    def learner(self, task, config, seed):
        from problems import config_key
        table, _ = self.tables[task]
        key = config_key(self.space, config)
        units = self.units
        R = self.epochs

        def at(b):
            halvings = round(math.log2(R / b))
            k = list(key)
            for u in units:
                k[u] = max(0, k[u] - halvings)
            v, secs = table[tuple(k)]
            return v, math.floor(secs * 1000 + 0.5)

        class L:
            def acc(self, b):
                return at(b)[0]

            def cost(self, b, previous):
                return at(b)[1]

            def close(self):
                pass

        return L()


def cost(learner, e, previous):
    """What training to `e` costs after `previous` (0: from scratch): the epochs in between,
    unless the learner says otherwise."""
    f = getattr(learner, "cost", None)
    return f(e, previous) if f else e - previous


def suggest(t, space):
    out = {}
    for p in space:
        if p["type"] == "cat":
            out[p["name"]] = t.suggest_categorical(p["name"], p["choices"])
        elif p["type"] == "int":
            out[p["name"]] = t.suggest_int(p["name"], p["low"], p["high"], log=p.get("log", False))
        else:
            out[p["name"]] = t.suggest_float(p["name"], p["low"], p["high"], log=p.get("log", False))
    return out


def config_space(space, seed):
    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    cs = ConfigurationSpace(seed=seed)
    cs.add([
        Categorical(p["name"], p["choices"]) if p["type"] == "cat"
        else (Integer if p["type"] == "int" else Float)(p["name"], (p["low"], p["high"]), log=p.get("log", False))
        for p in space
    ])
    return cs


def training_seed(seed, trial):
    """As tuneforge's harness: distinct per (run seed, trial number)."""
    return (seed * 1_000_003 + trial) % 2**64


class Record:
    """The cost spent (epochs, or the bench's own unit) and the anytime trace of the best
    full-budget value."""

    def __init__(self, bench, task):
        self.epochs = bench.epochs
        self.spent = 0
        self.trace = []
        self.trials = 0
        self.scale = lambda spent: bench.trace_cost(task, spent) if hasattr(bench, "trace_cost") else spent

    def full(self, acc):
        if not self.trace or acc > self.trace[-1][1]:
            self.trace.append((self.scale(self.spent), acc))


def run_optuna(bench, task, method, seed, budget):
    import optuna
    R = bench.epochs
    eta = getattr(bench, "eta", 3)
    pruner = {
        "optuna-tpe-hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=R, reduction_factor=eta),
        "optuna-tpe-sh": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=eta),
    }[method]
    # Optuna's HyperbandPruner deals trials to brackets by a hash of the study's name and the
    # trial number; a fixed name (not Optuna's random default) makes a run repeat exactly.
    study = optuna.create_study(study_name=f"{task}-{method}-{seed}", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    rec = Record(bench, task)

    def objective(t):
        rec.trials += 1
        learner = bench.learner(task, suggest(t, bench.space), training_seed(seed, t.number))
        try:
            previous = 0
            for e in getattr(bench, "steps", range(1, R + 1)):
                acc = learner.acc(e)
                rec.spent += cost(learner, e, previous)
                previous = e
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
        rec.spent += cost(learner, epochs, 0)
    finally:
        learner.close()
    if epochs == bench.epochs:
        rec.full(acc)
    return acc


def run_dehb(bench, task, seed, budget):
    from dehb import DEHB
    from loguru import logger
    logger.remove()
    rec = Record(bench, task)

    def f(config, fidelity, **kw):
        e = int(round(fidelity))
        before = rec.spent
        acc = from_scratch(bench, task, seed, rec, dict(config), e)
        return {"fitness": -acc, "cost": rec.spent - before}

    out = tempfile.mkdtemp(prefix="dehb-")
    try:
        d = DEHB(f=f, cs=config_space(bench.space, seed), min_fidelity=1, max_fidelity=bench.epochs,
                 eta=getattr(bench, "eta", 3), n_workers=1, seed=seed, output_path=out, save_freq="end")
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
    rec = Record(bench, task)
    out = tempfile.mkdtemp(prefix="smac-")
    try:
        scenario = Scenario(config_space(bench.space, seed), deterministic=True, n_trials=100000,
                            min_budget=1, max_budget=bench.epochs, seed=seed, output_directory=out)
        smac = facade(scenario, lambda config, seed=0, budget=1: 0.0, overwrite=True, logging_level=40,
                      intensifier=facade.get_intensifier(scenario, eta=getattr(bench, "eta", 3)))
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
                    budget = (bench.budget(task, budget_configs) if hasattr(bench, "budget")
                              else budget_configs * bench.epochs)
                    rec = run(bench, task, method, seed, budget)
                    # "budget": the cost the run could spend, in the trace's unit; its trace
                    # holds for every checkpoint up to it (a run cut short by --budget-configs
                    # adds seeds at the early checkpoints only).
                    out.write(json.dumps({"task": task, "method": method, "seed": seed,
                                          "trace": rec.trace, "trials": rec.trials,
                                          "budget": rec.scale(budget)}) + "\n")
                    out.flush()
                    best = rec.trace[-1][1] if rec.trace else float("nan")
                    print(f"{task} {method} {seed}: {rec.trials} trials, best {best:.4g}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/lcbench")
    ap.add_argument("--fcnet", action="store_true",
                    help="FCNet from --data (hpo-tabular/) with a smaller model as the fidelity and "
                         "training time as the cost; --tasks name the datasets")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="run seeds first-seed..seeds-1 (to add seeds to an earlier run)")
    ap.add_argument("--budget-configs", type=int, default=100)
    ap.add_argument("--methods", default="optuna-tpe-hyperband,optuna-tpe-sh,dehb")
    ap.add_argument("--out", default="bench/results/peers-mf.jsonl")
    a = ap.parse_args()
    tasks = a.tasks.split(",")
    bench = Fcnet(a.data, tasks) if a.fcnet else LcBench(a.data)
    main_loop(bench, tasks, a.methods.split(","), a.seeds, a.budget_configs, a.out,
              a.first_seed)


if __name__ == "__main__":
    main()
