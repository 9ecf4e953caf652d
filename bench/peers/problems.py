"""The benchmark problems of crates/tuneforge-bench/src/problems.rs and tabular.rs, for the Python
peers: same parameter names, ranges, scales, conditions and values.

Each problem is declared as a space (a list of parameters, some conditional) and a function of
the parameter dict, so every peer library can build its own space from the same declaration.
"""
import csv
import gzip
import math
import os

PI = math.pi


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * PI * PI), 5.0 / PI
    r, s, t = 6.0, 10.0, 1.0 / (8 * PI)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


def _hartmann(x, A, P):
    alpha = [1.0, 1.2, 3.0, 3.2]
    return -sum(alpha[i] * math.exp(-sum(A[i][j] * (xj - P[i][j]) ** 2 for j, xj in enumerate(x))) for i in range(4))


def hartmann3(x):
    A = [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]
    P = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]]
    return _hartmann(x, A, P)


def hartmann6(x):
    A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
    P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
         [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
    return _hartmann(x, A, P)


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(x):
    d = len(x)
    s1 = sum(v * v for v in x) / d
    s2 = sum(math.cos(2 * PI * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(s1)) - math.exp(s2) + 20 + math.e


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    s = math.sin(PI * w[0]) ** 2
    for wi in w[:-1]:
        s += (wi - 1) ** 2 * (1 + 10 * math.sin(PI * wi + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * PI * w[-1]) ** 2)


def styblinski_tang(x):
    return sum(v ** 4 - 16 * v * v + 5 * v for v in x) / 2


class Problem:
    """space: list of dicts {name, type: float|int|cat, low, high, log, choices, cond: (parent, value)}"""

    def __init__(self, name, f_star, space, fn):
        self.name, self.f_star, self.space, self.fn = name, f_star, space, fn

    def active(self, p, params):
        c = p.get("cond")
        return c is None or params.get(c[0]) == c[1]


def rastrigin(x):
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * PI * v) for v in x)


def griewank(x):
    p = 1.0
    for i, v in enumerate(x):
        p *= math.cos(v / math.sqrt(i + 1))
    return 1 + sum(v * v for v in x) / 4000 - p


def _function(name, dim, low, high, f_star, f):
    bounds = [(-5.0, 10.0), (0.0, 15.0)] if name == "branin" else [(low, high)] * dim
    space = [{"name": f"x{i}", "type": "float", "low": lo, "high": hi, "log": False} for i, (lo, hi) in enumerate(bounds)]
    return Problem(name, f_star, space, lambda p: f([p[f"x{i}"] for i in range(dim)]))


def functions():
    return [
        _function("branin", 2, -5.0, 10.0, 0.397887357729738, branin),
        _function("hartmann3", 3, 0.0, 1.0, -3.86278214782076, hartmann3),
        _function("hartmann6", 6, 0.0, 1.0, -3.32236801141551, hartmann6),
        _function("rosenbrock5", 5, -5.0, 10.0, 0.0, rosenbrock),
        _function("ackley10", 10, -32.768, 32.768, 0.0, ackley),
        _function("levy10", 10, -10.0, 10.0, 0.0, levy),
        _function("styblinski8", 8, -5.0, 5.0, -39.1661657037714 * 8, styblinski_tang),
    ]


def held_out_functions():
    """Kept out of the tables: checks that a default chosen on functions() carries over."""
    st = -39.1661657037714
    return [
        _function("ackley5", 5, -32.768, 32.768, 0.0, ackley),
        _function("ackley20", 20, -32.768, 32.768, 0.0, ackley),
        _function("levy5", 5, -10.0, 10.0, 0.0, levy),
        _function("levy20", 20, -10.0, 10.0, 0.0, levy),
        _function("rosenbrock3", 3, -5.0, 10.0, 0.0, rosenbrock),
        _function("rosenbrock10", 10, -5.0, 10.0, 0.0, rosenbrock),
        _function("styblinski4", 4, -5.0, 5.0, st * 4, styblinski_tang),
        _function("styblinski16", 16, -5.0, 5.0, st * 16, styblinski_tang),
        _function("rastrigin6", 6, -5.12, 5.12, 0.0, rastrigin),
        _function("griewank8", 8, -600.0, 600.0, 0.0, griewank),
    ]


def mixed():
    space = [
        {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
        {"name": "layers", "type": "int", "low": 1, "high": 8, "log": False},
        {"name": "optimizer", "type": "cat", "choices": ["sgd", "adam", "rmsprop"]},
        {"name": "dropout", "type": "float", "low": 0.0, "high": 0.9, "log": False},
    ]

    def fn(p):
        opt = {"adam": 0.0, "sgd": 0.5}.get(p["optimizer"], 1.0)
        return (math.log10(p["lr"]) + 2.5) ** 2 + 0.3 * abs(p["layers"] - 3) + opt + 2 * (p["dropout"] - 0.2) ** 2

    return Problem("mixed", 0.0, space, fn)


def conditional():
    space = [
        {"name": "kind", "type": "cat", "choices": ["quad", "abs", "flat"]},
        {"name": "qx", "type": "float", "low": -3.0, "high": 3.0, "log": False, "cond": ("kind", "quad")},
        {"name": "qy", "type": "float", "low": -3.0, "high": 3.0, "log": False, "cond": ("kind", "quad")},
        {"name": "az", "type": "int", "low": 0, "high": 10, "log": False, "cond": ("kind", "abs")},
    ]

    def fn(p):
        if p["kind"] == "quad":
            return (p["qx"] - 1) ** 2 + (p["qy"] + 0.5) ** 2
        if p["kind"] == "abs":
            return 0.2 * abs(p["az"] - 7) + 0.5
        return 1.0

    return Problem("conditional", 0.0, space, fn)


FCNET_PARAMS = ["activation_fn_1", "activation_fn_2", "batch_size", "dropout_1", "dropout_2", "init_lr",
                "lr_schedule", "n_units_1", "n_units_2"]
HPOBENCH_PARAMS = ["alpha", "batch_size", "depth", "learning_rate_init", "width"]


def _is_num(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_table(path, params, prefixes):
    """A tabular benchmark's grid: the columns (numeric ones as their sorted values, text ones
    in first-seen order), the search space over them (numeric as the index into the values, as
    tuneforge-bench does), and per configuration key the mean over seeds of each `prefixes`
    metric (columns named prefix + seed)."""
    with gzip.open(path, "rt") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    pcols = [header.index(p) for p in params]
    mcols = [[i for i, h in enumerate(header) if h.startswith(m)] for m in prefixes]
    columns = []
    for c in pcols:
        vals = [r[c] for r in rows]
        if all(_is_num(v) for v in vals):
            columns.append(("num", sorted(set(float(v) for v in vals))))
        else:
            seen = []
            for v in vals:
                if v not in seen:
                    seen.append(v)
            columns.append(("text", seen))
    table = {}
    for r in rows:
        key = tuple(col.index(float(r[c])) if kind == "num" else col.index(r[c]) for c, (kind, col) in zip(pcols, columns))
        table[key] = [sum(float(r[c]) for c in cs) / len(cs) for cs in mcols]
    space = []
    for p, (kind, col) in zip(params, columns):
        if kind == "num":
            space.append({"name": p, "type": "int", "low": 0, "high": len(col) - 1, "log": False})
        else:
            space.append({"name": p, "type": "cat", "choices": col})
    return columns, space, table


def config_key(space, pv):
    """The table key of the configuration `pv` (a dict of the space's parameters)."""
    return tuple(pv[s["name"]] if s["type"] == "int" else s["choices"].index(pv[s["name"]]) for s in space)


def tabular(name, path, params, metric):
    _, space, means = read_table(path, params, [metric])
    acc = "acc" in metric
    table = {k: 1 - m[0] if acc else m[0] for k, m in means.items()}

    def fn(pv):
        return table[config_key(space, pv)]

    return Problem(name, min(table.values()), space, fn)


def tabular_all(data_dir):
    out = []
    for name, file in [("fcnet-protein", "fcnet_protein_structure.csv.gz"), ("fcnet-naval", "fcnet_naval_propulsion.csv.gz")]:
        p = os.path.join(data_dir, file)
        if os.path.exists(p):
            out.append(tabular(name, p, FCNET_PARAMS, "val_loss_s"))
    for task in ["australian", "credit_g", "kc1", "segment"]:
        p = os.path.join(data_dir, f"hpobench_mlp_{task}.csv.gz")
        if os.path.exists(p):
            out.append(tabular(f"mlp-{task}", p, HPOBENCH_PARAMS, "val_acc_s"))
    return out


def all_problems(data_dir):
    return functions() + [mixed(), conditional()] + (tabular_all(data_dir) if os.path.isdir(data_dir) else [])
