"""The multi-fidelity benchmark's peers on LCBench (the YAHPO surrogate, run with onnxruntime):
Optuna's TPE with its HyperbandPruner and with its SuccessiveHalvingPruner, and DEHB when it is
installed. Same space, same budget accounting (epochs trained) and the same anytime record as
tuneforge-bench's `multifidelity` command. One JSON line per run.

    bench/.venv/bin/python bench/peers/multifidelity.py --data ../shared/data/lcbench \
        --tasks 3945,7593 --seeds 10 --budget-configs 100 --out bench/results/peers-mf.jsonl
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import onnxruntime as ort
import optuna

EPOCHS = 52


class Surrogate:
    def __init__(self, data):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(data, "model.onnx"), opts)
        with open(os.path.join(data, "encoding.json")) as f:
            self.enc = json.load(f)["OpenML_task_id"]
        self.names = [i.name for i in self.sess.get_inputs()]

    def curve(self, task, c):
        cat = np.full((EPOCHS, 1), self.enc[task], dtype=np.int32)
        cont = np.array(
            [[e + 1, c["batch_size"], c["learning_rate"], c["momentum"], c["weight_decay"],
              c["num_layers"], c["max_units"], c["max_dropout"]] for e in range(EPOCHS)],
            dtype=np.float32,
        )
        out = self.sess.run(None, {self.names[0]: cat, self.names[1]: cont})[0]
        return [float(v) for v in out[:, 1]]


def suggest(t):
    return {
        "batch_size": t.suggest_int("batch_size", 16, 512, log=True),
        "learning_rate": t.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
        "momentum": t.suggest_float("momentum", 0.1, 0.99),
        "weight_decay": t.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
        "num_layers": t.suggest_int("num_layers", 1, 5),
        "max_units": t.suggest_int("max_units", 64, 1024, log=True),
        "max_dropout": t.suggest_float("max_dropout", 0.0, 1.0),
    }


class Budget(Exception):
    pass


def run_optuna(s, task, method, seed, budget):
    pruner = {
        "optuna-tpe-hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3),
        "optuna-tpe-sh": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    }[method]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    state = {"spent": 0, "trace": [], "trials": 0}

    def objective(t):
        state["trials"] += 1
        curve = s.curve(task, suggest(t))
        for e, acc in enumerate(curve):
            state["spent"] += 1
            if state["spent"] >= budget:
                t.study.stop()
            t.report(acc, e + 1)
            if e + 1 < EPOCHS and t.should_prune():
                raise optuna.TrialPruned()
        acc = curve[-1]
        if not state["trace"] or acc > state["trace"][-1][1]:
            state["trace"].append((state["spent"], acc))
        return acc

    study.optimize(objective)
    return state


def run_dehb(s, task, seed, budget):
    from ConfigSpace import ConfigurationSpace, Float, Integer
    from dehb import DEHB
    from loguru import logger
    logger.remove()
    cs = ConfigurationSpace(seed=seed)
    cs.add([
        Integer("batch_size", (16, 512), log=True), Float("learning_rate", (1e-4, 1e-1), log=True),
        Float("momentum", (0.1, 0.99)), Float("weight_decay", (1e-5, 1e-1), log=True),
        Integer("num_layers", (1, 5)), Integer("max_units", (64, 1024), log=True),
        Float("max_dropout", (0.0, 1.0)),
    ])
    state = {"spent": 0, "trace": [], "trials": 0}

    def f(config, fidelity, **kw):
        state["trials"] += 1
        e = int(round(fidelity))
        curve = s.curve(task, dict(config))
        state["spent"] += e
        acc = curve[e - 1]
        if e == EPOCHS and (not state["trace"] or acc > state["trace"][-1][1]):
            state["trace"].append((state["spent"], acc))
        return {"fitness": -acc, "cost": e}

    d = DEHB(f=f, cs=cs, min_fidelity=1, max_fidelity=EPOCHS, eta=3, n_workers=1, seed=seed,
             output_path=f"/tmp/dehb-{os.getpid()}")
    while state["spent"] < budget:
        job = d.ask()
        res = f(job["config"], job["fidelity"])
        d.tell(job, res)
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/lcbench")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget-configs", type=int, default=100)
    ap.add_argument("--methods", default="optuna-tpe-hyperband,optuna-tpe-sh,dehb")
    ap.add_argument("--out", default="bench/results/peers-mf.jsonl")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    s = Surrogate(a.data)
    budget = a.budget_configs * EPOCHS
    methods = a.methods.split(",")
    if "dehb" in methods:
        try:
            import dehb  # noqa: F401
        except Exception as e:
            print(f"dehb not available ({e}); skipped", file=sys.stderr)
            methods.remove("dehb")
    with open(a.out, "a") as out:
        for task in a.tasks.split(","):
            for method in methods:
                for seed in range(a.seeds):
                    if method == "dehb":
                        st = run_dehb(s, task, seed, budget)
                    else:
                        st = run_optuna(s, task, method, seed, budget)
                    out.write(json.dumps({"task": task, "method": method, "seed": seed,
                                          "trace": st["trace"], "trials": st["trials"]}) + "\n")
                    out.flush()
                    print(f"{task} {method} {seed}: {st['trials']} trials, best {st['trace'][-1][1] if st['trace'] else float('nan'):.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
