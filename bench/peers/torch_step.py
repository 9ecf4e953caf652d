"""Times PyTorch training steps of a network exported by `tuneforge nas search` (its generated
model.py): median seconds per step (forward, backward, AdamW) on random 28x28 batches of 64,
after warm-up, on the CPU. Prints JSON. Usage: torch_step.py EXPORT_DIR STEPS"""
import json
import sys
import time

import torch

sys.path.insert(0, sys.argv[1])
from model import Net, IN_CHANNELS, CLASSES  # noqa: E402

steps = int(sys.argv[2])
torch.manual_seed(0)
net = Net().train()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
x = torch.randn(64, IN_CHANNELS, 28, 28)
y = torch.randint(0, CLASSES, (64,))
times = []
for s in range(5 + steps):
    start = time.perf_counter()
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    if s >= 5:
        times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"seconds_per_step": times[len(times) // 2], "threads": torch.get_num_threads()}))
