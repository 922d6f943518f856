"""Generate ``src/einnas_mlp1d/mlp1d_mnist1d.csv``: 81 small networks trained on MNIST-1D.

The space has 4 slots x 3 choices (see ``einnas_mlp1d.SLOTS``):

* ``stem``: ``flat`` (no convolution), ``conv3`` or ``conv5`` (a 1D convolution, 16 channels,
  stride 2, kernel 3 or 5, followed by the activation, before the MLP);
* ``depth``: 1, 2 or 3 hidden layers (``d1`` / ``d2`` / ``d3``);
* ``width``: 32, 64 or 128 units per hidden layer (``w32`` / ``w64`` / ``w128``);
* ``act``: ``relu``, ``tanh`` or ``gelu``.

Every network is trained once with plain PyTorch on einnas's MNIST-1D split (3,200 train, 800
validation, 1,000 test examples; ``einnas.data.load_mnist1d()``): Adam (lr 3e-3), batch 128,
``EPOCHS`` epochs, one CPU thread, weights and batch order seeded by the architecture's index.
The CSV records validation and test accuracy (percent) after the last epoch and the training
time in seconds.  Run from this folder::

    python generate_table.py            # about 2-4 CPU-minutes
"""

from __future__ import annotations

import csv
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from einnas.data import load_mnist1d

SLOTS: dict[str, tuple[str, ...]] = {
    "stem": ("flat", "conv3", "conv5"),
    "depth": ("d1", "d2", "d3"),
    "width": ("w32", "w64", "w128"),
    "act": ("relu", "tanh", "gelu"),
}
EPOCHS = 12
BATCH = 128
LR = 3e-3
OUT = Path(__file__).parent / "src" / "einnas_mlp1d" / "mlp1d_mnist1d.csv"


def build(stem: str, depth: int, width: int, act: str) -> nn.Module:
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[act]
    layers: list[nn.Module] = []
    features = 40
    if stem != "flat":
        k = int(stem[-1])
        layers += [nn.Conv1d(1, 16, k, stride=2, padding=k // 2), activation()]
        features = 16 * 20
    layers.append(nn.Flatten())
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return 100.0 * float((model(x).argmax(1) == y).float().mean())


def main() -> int:
    torch.set_num_threads(1)
    data = load_mnist1d()
    tx, ty = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    vx, vy = torch.from_numpy(data.val_x), torch.from_numpy(data.val_y)
    sx, sy = torch.from_numpy(data.test_x), torch.from_numpy(data.test_y)
    rows = []
    cpu0 = time.process_time()
    choices = list(itertools.product(*SLOTS.values()))
    for index, (stem, depth, width, act) in enumerate(choices):
        torch.manual_seed(index)
        rng = np.random.default_rng(index)
        model = build(stem, int(depth[1:]), int(width[1:]), act)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        t0 = time.perf_counter()
        for _ in range(EPOCHS):
            model.train()
            order = torch.from_numpy(rng.permutation(len(ty)))
            for start in range(0, len(ty), BATCH):
                idx = order[start : start + BATCH]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(tx[idx]), ty[idx])
                loss.backward()
                opt.step()
        seconds = time.perf_counter() - t0
        arch = "-".join((stem, depth, width, act))
        val, test = accuracy(model, vx, vy), accuracy(model, sx, sy)
        rows.append((arch, f"{val:.2f}", f"{test:.2f}", f"{seconds:.3f}"))
        print(f"{index + 1:>2}/{len(choices)} {arch:<22} val {val:6.2f} test {test:6.2f}",
              file=sys.stderr)
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("arch", "val", "test", "train_seconds"))
        writer.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} rows) in {time.process_time() - cpu0:.1f} CPU-seconds",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
