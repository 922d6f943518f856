"""Resident memory of the search driver over a long tabular study with simulated workers.

Runs one study of ``--trials`` decisions (default 10,000) on a synthetic slot space (``--slots``
x ``--choices``: large enough that no architecture repeats) through the ordinary asynchronous
search loop, on ``--workers`` simulated workers (each evaluation takes a pseudo-random simulated
duration, so results arrive out of order), logged to an SQLite file, with or without
multi-fidelity (``--fidelity asha``: every candidate is a 3-rung ASHA candidate).  Prints, as the
last line, one JSON object with the driver's peak resident set size (``ru_maxrss``), its
resident size before the search, the trials logged and the wall time.  Target: peak < 1 GiB.

Usage::

    python benchmarks/driver_memory.py                       # 10,000 trials, 4 workers, SQLite
    python benchmarks/driver_memory.py --fidelity asha --trials 5000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Any

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.evaluators.synthetic import SyntheticEvaluator
from einnas.executors.simulated import SimulatedExecutor
from einnas.fidelity import ASHA
from einnas.strategies import make_strategy
from einnas.study.runner import run_search
from einnas.study.sqlite_storage import SQLiteStorage


@dataclass(frozen=True)
class TimedSynthetic(SyntheticEvaluator):
    """The synthetic objective, taking 100-1000 simulated seconds per step (from the text)."""

    instant = False
    max_step: int = 9
    needs_checkpoints = False

    def _seconds(self, arch: str) -> float:
        return 100.0 + zlib.crc32(arch.encode()) % 900

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        r = super().evaluate(arch, seed)
        return EvalResult(r.val, r.test, {}, self._seconds(arch))

    def evaluate_steps(self, task: EvalTask) -> EvalResult:
        assert task.to_step is not None
        r = super().evaluate(task.arch, task.seed)
        assert r.val is not None
        val = r.val - 1.0 / task.to_step
        cost = self._seconds(task.arch) * (task.to_step - task.from_step) / self.max_step
        return EvalResult(val, val, {"curve": {str(task.to_step): val}}, cost)


def rss_mib() -> float:
    """The current resident set size of this process (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--slots", type=int, default=12)
    p.add_argument("--choices", type=int, default=4)
    p.add_argument("--strategy", default="re")
    p.add_argument("--fidelity", choices=("full", "asha"), default="full")
    p.add_argument("--storage", default=None, help="SQLite file (default: a temporary one)")
    args = p.parse_args()
    evaluator = TimedSynthetic((args.choices,) * args.slots, interaction=0.5, seed=0)
    space = evaluator.space
    strategy = make_strategy(args.strategy, tabular=True)
    fidelity = ASHA.over(1, 9, 3) if args.fidelity == "asha" else None
    with tempfile.TemporaryDirectory() as tmp:
        path = args.storage or os.path.join(tmp, "memory.db")
        storage = SQLiteStorage(path, synchronous="NORMAL")
        if storage.get_study("m") is None:
            storage.create_study("m", {"space": space.name})
        before = rss_mib()
        t0 = time.perf_counter()
        outcome = run_search(
            storage,
            "m",
            space,
            strategy,
            SimulatedExecutor(evaluator, args.workers),
            args.trials,
            0,
            args.workers,
            fidelity=fidelity,
        )
        wall = time.perf_counter() - t0
        after = rss_mib()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        out: dict[str, Any] = {
            "trials": outcome.finished,
            "jobs": outcome.evaluated_now,
            "workers": args.workers,
            "fidelity": args.fidelity,
            "strategy": args.strategy,
            "space": f"{args.slots}x{args.choices}",
            "rss_before_mib": round(before, 1),
            "rss_after_mib": round(after, 1),
            "peak_rss_mib": round(peak, 1),
            "under_1_gib": peak < 1024,
            "wall_seconds": round(wall, 1),
            "sim_hours": round((outcome.sim_seconds or 0.0) / 3600, 1),
            "load": round(os.getloadavg()[0], 2),
        }
        storage.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
