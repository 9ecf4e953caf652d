"""Stand-in training program for the cluster example: prints learning-curve lines and a final
loss as JSON, as any real trial command would."""
import argparse
import json
import math
import time

ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float, required=True)
ap.add_argument("--layers", type=int, required=True)
ap.add_argument("--epochs", type=int, default=5)
a = ap.parse_args()
loss = 1.0
for epoch in range(1, a.epochs + 1):
    time.sleep(0.05)
    loss = (math.log10(a.lr) + 3) ** 2 / 4 + abs(a.layers - 4) / 8 + 1.0 / epoch
    print(json.dumps({"step": epoch, "loss": loss}), flush=True)
print(json.dumps({"loss": loss}))
