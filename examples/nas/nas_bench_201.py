"""A NAS-Bench-201 cell "trained" by table lookup: prints the cell's 12-epoch validation
accuracy and its inference latency as a JSON line, as a real training script would print its
metrics. The table (CSV, optionally gzipped) has one row per cell with the columns arch_str,
val12 and latency_s; pass its path with --table."""
import argparse
import csv
import gzip
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--arch", required=True, help="canonical cell string, |op~0|+|op~0|op~1|+|...|")
ap.add_argument("--table", required=True, help="NAS-Bench-201 table (CSV or CSV.gz)")
a = ap.parse_args()
opener = gzip.open if a.table.endswith(".gz") else open
with opener(a.table, "rt", newline="") as f:
    for row in csv.DictReader(f):
        if row["arch_str"] == a.arch:
            print(json.dumps({
                "val_acc": float(row["val12"]),
                "latency_ms": 1000.0 * float(row["latency_s"]),
            }))
            sys.exit(0)
sys.exit(f"cell {a.arch} is not in {a.table}")
