"""The peers of tuneforge-bench's `mf-train` (multi-fidelity with real training): the same
methods as bench/peers/multifidelity.py, training the very same networks as tuneforge's runs
through one `tuneforge-bench mf-train-serve` process (JSON lines on its stdin/stdout), so only
the methods differ. One JSON line per run.

    bench/.venv/bin/python bench/peers/mf_train.py --server target/release/tuneforge-bench \
        --tasks fashion-mnist --seeds 10 --budget-configs 30 --out bench/results/peers-mf-train.jsonl \
        -- --epochs 27 --train-images 3000
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import multifidelity  # noqa: E402


class Server:
    """Real networks, trained by tuneforge-bench's learner server."""

    space = [
        {"name": "learning_rate", "type": "float", "low": 1e-3, "high": 0.5, "log": True},
        {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99},
        {"name": "weight_decay", "type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        {"name": "units", "type": "int", "low": 16, "high": 256, "log": True},
        {"name": "layers", "type": "int", "low": 1, "high": 3},
        {"name": "dropout", "type": "float", "low": 0.0, "high": 0.8},
    ]

    def __init__(self, binary, args, epochs):
        self.epochs = epochs
        self.proc = subprocess.Popen([binary, "mf-train-serve", "--epochs", str(epochs), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ids = itertools.count()

    def ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the learner server exited")
        ans = json.loads(line)
        if "error" in ans:
            raise RuntimeError(ans["error"])
        return ans

    def learner(self, task, config, seed):
        server, lid = self, next(self.ids)
        config = {**config, "units": int(config["units"]), "layers": int(config["layers"])}

        class L:
            started = False
            accs = []

            def acc(self, epoch):
                req = {"id": lid, "epochs": epoch}
                if not self.started:
                    req.update(task=task, config=config, seed=seed)
                    self.started = True
                self.accs = self.accs + server.ask(req)["acc"]
                return self.accs[epoch - 1]

            def close(self):
                server.ask({"id": lid, "drop": True})

        return L()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="target/release/tuneforge-bench")
    ap.add_argument("--tasks", default="fashion-mnist")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget-configs", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--methods", default=multifidelity.ALL)
    ap.add_argument("--out", default="bench/results/peers-mf-train.jsonl")
    ap.add_argument("server_args", nargs="*", help="passed to mf-train-serve (after --)")
    a = ap.parse_args()
    bench = Server(a.server, ["--datasets", a.tasks, *a.server_args], a.epochs)
    multifidelity.main_loop(bench, a.tasks.split(","), a.methods.split(","), a.seeds, a.budget_configs, a.out)


if __name__ == "__main__":
    main()
