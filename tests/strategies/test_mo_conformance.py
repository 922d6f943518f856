"""The conformance expectations for the multi-objective strategies (mo-rs, mo-re, mo-delta-nas).

Same contracts as ``test_conformance.py`` (determinism by seed, exact budget, no duplicate
evaluations, resume after extension and after Ctrl-C), on NAS-Bench-201 CIFAR-10 with
``val:max,latency:min`` (skips without the benchmark folder) and on einspace with a synthetic
evaluator that records ``params`` (objectives ``val:max,params:min``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from einnas.benchmark_data import benchmark_dir_or_none
from einnas.evaluators.base import EvalResult, Evaluator
from einnas.executors import InlineExecutor
from einnas.objectives import parse_objectives
from einnas.spaces.base import SearchSpace
from einnas.spaces.einspace import EinSpace
from einnas.strategies import MO_STRATEGY_NAMES, Observation, Strategy, make_strategy
from einnas.strategies.multi_objective import MODeltaNAS, scored_history
from einnas.study import InMemoryStorage, SQLiteStorage, Storage, TrialState
from einnas.study.runner import run_search, trial_seed

SEED = 5
WORKERS = 2
HALF, FULL = 30, 60


@cache
def _einspace() -> EinSpace:
    return EinSpace((3, 28, 28))


@dataclass(frozen=True)
class SyntheticWithParams:
    """A deterministic einspace score plus the tree's exact parameter count (1 in 16 fail)."""

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        space = _einspace()
        a = space.analyze(space.from_text(arch))
        digest = hashlib.sha256(arch.encode()).digest()
        if digest[0] % 16 == 0:
            return EvalResult(math.nan)
        noise = int.from_bytes(digest[1:5], "big") / 2**32
        score = 40.0 + 20.0 * math.tanh(math.log1p(a.params) / 12.0) + 15.0 * noise
        return EvalResult(score, score - 1.0, {"params": int(a.params)})

    def describe(self) -> dict[str, Any]:
        return {"kind": "synthetic-einspace-params"}


@dataclass(frozen=True)
class InterruptAt:
    inner: Evaluator
    seed: int

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        if seed == self.seed:
            raise KeyboardInterrupt
        return self.inner.evaluate(arch, seed)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


@dataclass(frozen=True)
class Setup:
    space: SearchSpace[Any]
    evaluator: Evaluator
    objectives: str
    tabular: bool

    def strategy(self, name: str) -> Strategy:
        if self.tabular:
            return make_strategy(name, tabular=True, objectives=self.objectives)
        s = make_strategy(
            name, tabular=False, objectives=self.objectives, population=10, tournament=3
        )
        if isinstance(s, MODeltaNAS):
            s.mutations = 2  # contracts, not quality: mutations of trees cost milliseconds
            s.parents = 2
        return s


@cache
def _nb201() -> Evaluator:
    from einnas.evaluators.tabular import TabularEvaluator

    folder = benchmark_dir_or_none()
    return TabularEvaluator("nb201", "cifar10", str(folder))


def _setup(space: str) -> Setup:
    if space == "nb201":
        folder = benchmark_dir_or_none()
        if folder is None or not (folder / "nb201" / "nb201_cifar10_costs.csv").is_file():
            pytest.skip("benchmark data folder (with the NB201 cost table) not found")
        ev = _nb201()
        return Setup(ev.table.space, ev, "val:max,latency:min", True)  # type: ignore[attr-defined]
    return Setup(_einspace(), SyntheticWithParams(), "val:max,params:min", False)


@pytest.fixture(params=["nb201", "einspace"])
def setup(request: pytest.FixtureRequest) -> Setup:
    return _setup(str(request.param))


@pytest.fixture(params=list(MO_STRATEGY_NAMES))
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _run(
    setup: Setup,
    name: str,
    storage: Storage,
    budget: int,
    seed: int = SEED,
    evaluator: Evaluator | None = None,
) -> None:
    if storage.get_study("s") is None:
        storage.create_study("s", {})
    executor = InlineExecutor(evaluator or setup.evaluator)
    run_search(storage, "s", setup.space, setup.strategy(name), executor, budget, seed, WORKERS)


def _rows(storage: Storage) -> list[tuple[int, str]]:
    trials = storage.trials("s")
    done = sorted(
        (t for t in trials if t.is_finished and not t.interrupted), key=lambda t: t.proposal
    )
    return [(t.proposal, t.arch) for t in done]


_REF: dict[tuple[str, str], list[tuple[int, str]]] = {}


def _reference(setup: Setup, name: str) -> list[tuple[int, str]]:
    key = (type(setup.evaluator).__name__, name)
    if key not in _REF:
        storage = InMemoryStorage()
        _run(setup, name, storage, FULL)
        trials = storage.trials("s")
        assert len(trials) == FULL
        assert sorted(t.proposal for t in trials) == list(range(FULL))
        assert all(t.is_finished for t in trials)
        _REF[key] = _rows(storage)
    return _REF[key]


def test_deterministic_budget_no_duplicates(setup: Setup, strategy: str) -> None:
    ref = _reference(setup, strategy)
    again = InMemoryStorage()
    _run(setup, strategy, again, FULL)
    assert _rows(again) == ref
    other = InMemoryStorage()
    _run(setup, strategy, other, HALF, seed=SEED + 1)
    assert [r[1] for r in _rows(other)] != [r[1] for r in ref[:HALF]]
    ids = [setup.space.identity(setup.space.from_text(a)) for _, a in ref]
    assert len(set(ids)) == len(ids) == FULL


def test_extend_and_interrupt_resume(setup: Setup, strategy: str, tmp_path: Path) -> None:
    ref = _reference(setup, strategy)
    storage = InMemoryStorage()
    _run(setup, strategy, storage, HALF)
    assert _rows(storage) == ref[:HALF]
    _run(setup, strategy, storage, FULL)
    assert _rows(storage) == ref

    stop_at = 17
    db = tmp_path / "log.sqlite"
    first = SQLiteStorage(db, synchronous="OFF")
    with pytest.raises(KeyboardInterrupt):
        _run(
            setup,
            strategy,
            first,
            FULL,
            evaluator=InterruptAt(setup.evaluator, trial_seed(SEED, stop_at)),
        )
    left = first.trials("s")
    stopped = [t for t in left if t.state is TrialState.RUNNING or t.interrupted]
    assert [t.proposal for t in stopped] == [stop_at]  # the Ctrl-C'd one, closed as interrupted
    first.close()
    resumed = SQLiteStorage(db, synchronous="OFF")
    _run(setup, strategy, resumed, FULL)
    assert _rows(resumed) == ref
    resumed.close()


def test_observations_carry_the_trial_metrics() -> None:
    setup = _setup("nb201")
    objs = parse_objectives(setup.objectives)
    storage = InMemoryStorage()
    _run(setup, "mo-re", storage, 10)
    trials = storage.trials("s")
    assert all("latency" in t.metrics for t in trials)
    obs = [
        Observation(t.proposal, t.number, None, t.arch_hash, t.val, t.parent, t.metrics)
        for t in trials
    ]
    kept, values = scored_history(obs, objs)
    assert len(kept) == 10 and values.shape == (10, 2)
    assert np.all(values[:, 0] < 0)  # val is maximised: negated


def test_missing_objective_is_reported() -> None:
    setup = Setup(_einspace(), SyntheticWithParams(), "val:max,latency:min", False)
    storage = InMemoryStorage()
    with pytest.raises(ValueError, match="latency"):
        _run(setup, "mo-re", storage, 20)
