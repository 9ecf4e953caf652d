"""Completed trials per second of Optuna's RDB storage with W worker processes sharing one
study, a trivial objective and the random sampler (so the storage is what is measured).
Prints one JSON line.

    bench/.venv/bin/python bench/peers/throughput.py --storage postgresql+psycopg2://... \
        --workers 4 --seconds 5
"""
import argparse
import json
import multiprocessing as mp
import time

import optuna


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", -5.0, 5.0)
    return x * x + y * y


def worker(storage, name, start, seconds, seed):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    time.sleep(max(0.0, start - time.time()))
    study.optimize(objective, timeout=seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--storage", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"throughput-{a.workers}"
    optuna.create_study(study_name=name, storage=a.storage)
    # Workers connect first, then all start at the same moment.
    start = time.time() + 2.0 + 0.3 * a.workers
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=worker, args=(a.storage, name, start, a.seconds, i))
        for i in range(a.workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    study = optuna.load_study(study_name=name, storage=a.storage)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    failed_workers = sum(1 for p in procs if p.exitcode != 0)
    print(json.dumps({
        "system": "optuna",
        "workers": a.workers,
        "seconds": a.seconds,
        "complete": len(done),
        "failed_workers": failed_workers,
        "version": optuna.__version__,
    }))


if __name__ == "__main__":
    main()
