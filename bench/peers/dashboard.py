"""optuna-dashboard under the load of tuneforge's dashboard benchmark: the same kind of study
(8 uniform parameters, 20 intermediate values per trial, one in five pruned) in Optuna's SQLite
storage, served by optuna-dashboard's WSGI app on 127.0.0.1, and the requests its study page
makes when it opens, timed over HTTP: cold, warm, and after 100 more trials (its page then asks
only for the trials after those it has). Writing trials through Optuna's SQLite storage takes
about 20 ms each here, so above 20,000 trials the study is kept in Optuna's in-memory storage
instead (no database read: the peer's best case), and the row says so.

    python bench/peers/dashboard.py N        (prints one JSON line per case)
"""
import json
import os
import random
import sys
import tempfile
import threading
import time
import urllib.request
from importlib import metadata
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from optuna_dashboard import wsgi

DIM, STEPS = 8, 20


def make_trials(rng, start, n):
    dists = {f"x{k}": FloatDistribution(0.0, 1.0) for k in range(DIM)}
    out = []
    for i in range(start, start + n):
        x = [rng.random() for _ in range(DIM)]
        target = sum((v - 0.5) ** 2 * (k + 1) for k, v in enumerate(x))
        pruned = i % 5 == 4
        last = STEPS // 4 if pruned else STEPS
        inter = {s: target + 2.0 / s for s in range(1, last + 1)}
        params = {f"x{k}": v for k, v in enumerate(x)}
        if pruned:
            out.append(create_trial(params=params, distributions=dists, intermediate_values=inter,
                                    state=TrialState.PRUNED))
        else:
            out.append(create_trial(params=params, distributions=dists, intermediate_values=inter,
                                    value=target + 2.0 / STEPS))
    return out


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def load(base, paths):
    started = time.perf_counter()
    slowest, which, size = 0.0, "", 0
    for p in paths:
        t = time.perf_counter()
        with urllib.request.urlopen(base + p, timeout=1800) as r:
            size += len(r.read())
        s = time.perf_counter() - t
        if s > slowest:
            slowest, which = s, p
    return time.perf_counter() - started, slowest, which, size


def main():
    n = int(sys.argv[1])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    in_memory = n > 20000
    if in_memory:
        storage = optuna.storages.InMemoryStorage()
    else:
        d = tempfile.mkdtemp()
        storage = optuna.storages.RDBStorage(f"sqlite:///{os.path.join(d, 'optuna.db')}")
    study = optuna.create_study(study_name="bench", storage=storage)
    rng = random.Random(1)
    t = time.perf_counter()
    study.add_trials(make_trials(rng, 0, n))
    print(f"{n} trials written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    server = make_server("127.0.0.1", 0, wsgi(storage), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    sid = study._study_id
    page = ["/api/studies", f"/api/studies/{sid}?after=0"]
    rows = []
    for case in ["cold", "warm"]:
        rows.append((case, load(base, page)))
    study.add_trials(make_trials(rng, n, 100))
    rows.append(("+100 trials", load(base, ["/api/studies", f"/api/studies/{sid}?after={n}"])))
    for case, (page_s, slowest_s, which, size) in rows:
        print(json.dumps({"tool": "optuna-dashboard" + (" (in-memory storage)" if in_memory else ""), "trials": n, "case": case, "page_s": page_s,
                          "slowest_s": slowest_s, "slowest": which.replace(f"/api/studies/{sid}", "/api/studies/ID"),
                          "bytes": size}))
    print("versions: optuna-dashboard {} (optuna {})".format(
        metadata.version("optuna-dashboard"), metadata.version("optuna")))
    server.shutdown()


if __name__ == "__main__":
    main()
