"""Decision overhead of Delta-NAS and BANANAS on einspace trees (no training).

Runs the strategies with their einspace defaults (``make_strategy(..., tabular=False)``) over
einspace1d (input 1 x 40, the default job's budget), seeded with ``cnn1d``, through the real
search loop with 2 workers' decisions, scoring each tree instantly with a deterministic stand-in
for training (log parameters, node count and a hash of the text).  Times every ``propose`` call:
the overhead a search adds on top of its trainings.

Usage::

    python benchmarks/delta_nas_einspace_overhead.py --budget 100 --seeds 3

Human-readable lines first; the last stdout line is one JSON object with, per strategy,
``p50_ms``, ``p90_ms`` and ``max_ms`` of the scored decisions and ``mean_edit_size`` of the
children (productions changed from the parent).  Target (2 cores): p50 < 100 ms, well below one
training (seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from einnas.evaluators.base import EvalResult
from einnas.executors import InlineExecutor
from einnas.grammar import Budget
from einnas.predictors.tree_features import TreeFeatures
from einnas.seeds import seed_text
from einnas.spaces.einspace import EinSpace
from einnas.strategies import Strategy, make_strategy
from einnas.strategies.base import Proposal, ProposalContext
from einnas.study import InMemoryStorage
from einnas.study.runner import run_search

SPACE = EinSpace((1, 40), budget=Budget(max_params=1_000_000, max_macs=3_000_000))


@dataclass(frozen=True)
class StandIn:
    """A deterministic score of the tree text, instantly (no training)."""

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        a = SPACE.analyze(SPACE.from_text(arch))
        noise = int.from_bytes(hashlib.sha256(arch.encode()).digest()[:4], "big") / 2**32
        val = 40.0 + 30.0 * math.tanh(math.log1p(a.params) / 12.0) - 0.1 * a.n_nodes + 4 * noise
        return EvalResult(val, val)

    def describe(self) -> dict[str, Any]:
        return {"kind": "stand-in"}


class Timed(Strategy):
    """Wraps a strategy and records the wall time of every decision."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds: list[tuple[int, float]] = []

    def propose(self, ctx: ProposalContext) -> Proposal:
        start = time.perf_counter()
        out = self.inner.propose(ctx)
        self.seconds.append((ctx.index, time.perf_counter() - start))
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    features = TreeFeatures.for_space(SPACE)
    summary: dict[str, Any] = {"budget": args.budget, "seeds": args.seeds}
    for name in ("delta-nas", "bananas"):
        times: list[float] = []
        sizes: list[int] = []
        for seed in range(args.seeds):
            strategy = Timed(make_strategy(name, tabular=False, seed_archs=[seed_text("cnn1d")]))
            storage = InMemoryStorage()
            storage.create_study("s", {})
            executor = InlineExecutor(StandIn())
            run_search(storage, "s", SPACE, strategy, executor, args.budget, seed, workers=2)
            times += [s for k, s in strategy.seconds if k >= 10]  # the scored decisions
            trials = {t.number: t for t in storage.trials("s")}
            sizes += [
                features.edit_size(SPACE.from_text(trials[t.parent].arch), SPACE.from_text(t.arch))
                for t in trials.values()
                if t.parent is not None
            ]
        ms = 1000 * np.asarray(times)
        row = {
            "p50_ms": round(float(np.median(ms)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1),
            "max_ms": round(float(ms.max()), 1),
            "mean_edit_size": round(float(np.mean(sizes)), 1),
        }
        print(
            f"{name:10s} decision p50 {row['p50_ms']} ms, p90 {row['p90_ms']} ms, "
            f"max {row['max_ms']} ms; children's mean edit size {row['mean_edit_size']}"
        )
        summary[name] = row
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
