"""One conformance suite that every search strategy passes, on NAS-Bench-201 and on einspace.

Each strategy (random search, regularised evolution, local search, regularised evolution
seeded with known architectures, Delta-NAS and BANANAS) runs through the real search loop
(``run_search``, inline executor) and must be

* deterministic by seed: two fresh runs propose the same architectures; another seed differs;
* exact about the budget: ``budget`` finished trials, one per decision, nothing more;
* free of duplicate evaluations: no two trials share the space's identity;
* resumable: 40 then extended to 80 equals a straight run to 80, and a run interrupted at a
  chosen trial (``KeyboardInterrupt`` from the evaluator, or a log left with unfinished start
  events, as a killed process leaves it) and resumed by a fresh runner finishes the same
  decisions as the uninterrupted run;
* honest about parents: a child's parent is an earlier, successful trial that the decision
  could see (proposal ``<= k - workers``).

NAS-Bench-201 needs the benchmark folder (skips cleanly without it); einspace uses
:class:`SyntheticEinspaceEvaluator`, a test double defined below.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from einnas.benchmark_data import benchmark_dir_or_none
from einnas.evaluators.base import EvalResult, Evaluator
from einnas.executors import InlineExecutor
from einnas.spaces.base import SearchSpace
from einnas.spaces.einspace import EinSpace
from einnas.strategies import Bananas, DeltaNAS, Strategy, make_strategy
from einnas.study import (
    InMemoryStorage,
    SQLiteStorage,
    Storage,
    Trial,
    TrialOutcome,
    TrialStart,
    TrialState,
)
from einnas.study.runner import run_search, trial_seed

SEED = 11
WORKERS = 2
HALF, FULL = 40, 80
INPUT_SHAPE = (3, 28, 28)

NB201_SEEDS = (
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",  # ResNet-like
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
)
STRATEGIES = ("rs", "re", "ls", "re-seeded", "delta-nas", "bananas")
SPACES = ("nb201", "einspace")


# --------------------------------------------------------------------------- the test double


@cache
def _einspace(input_shape: tuple[int, ...]) -> EinSpace:
    return EinSpace(input_shape)


@dataclass(frozen=True)
class SyntheticEinspaceEvaluator:
    """Test double for training: a deterministic score of an einspace tree, instantly.

    The score mixes a few ``analyze()`` features (log parameters, depth, node count) with a
    pseudo-random part drawn from the SHA-256 of the canonical text, so that mutations change
    it and the landscape has structure.  About 1 in 16 architectures "diverges" (NaN), so every
    strategy also sees failed trials.  ``seed`` is ignored: the score depends only on the arch.
    """

    input_shape: tuple[int, ...] = INPUT_SHAPE

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        space = _einspace(self.input_shape)
        a = space.analyze(space.from_text(arch))
        digest = hashlib.sha256(arch.encode()).digest()
        if digest[0] % 16 == 0:
            return EvalResult(math.nan)
        noise = int.from_bytes(digest[1:5], "big") / 2**32
        score = (
            40.0
            + 20.0 * math.tanh(math.log1p(a.params) / 12.0)
            + 10.0 * math.tanh(a.depth / 8.0)
            - 0.05 * a.n_nodes
            + 15.0 * noise
        )
        return EvalResult(score, score - 1.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "synthetic-einspace", "input_shape": list(self.input_shape)}


@dataclass(frozen=True)
class InterruptAt:
    """Test double: the wrapped evaluator, but Ctrl-C arrives while evaluating one decision."""

    inner: Evaluator
    seed: int

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        if seed == self.seed:
            raise KeyboardInterrupt
        return self.inner.evaluate(arch, seed)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


# --------------------------------------------------------------------------- setups


@dataclass(frozen=True)
class Setup:
    """A space, its evaluator, and a factory of fresh strategy objects."""

    space: SearchSpace[Any]
    evaluator: Evaluator
    make_strategy: Callable[[], Strategy]
    finite: bool  # every neighbour enumerable (local search then never uses mutation)


@cache
def _nb201_evaluator(benchmark_dir: str) -> Evaluator:
    from einnas.evaluators.tabular import TabularEvaluator

    return TabularEvaluator("nb201", "cifar10", benchmark_dir)


@cache
def _einspace_seed_texts() -> tuple[str, ...]:
    from einnas.seeds import seed_text

    space = _einspace(INPUT_SHAPE)
    rng = np.random.default_rng(2024)
    small = [space.to_text(space.sample(rng)) for _ in range(2)]
    return (seed_text("wrn16_4"), *small)


def _setup(space_name: str, strategy: str) -> Setup:
    name, seeded = ("re", True) if strategy == "re-seeded" else (strategy, False)
    if space_name == "nb201":
        folder = benchmark_dir_or_none()
        if folder is None or not (folder / "nb201" / "nb201_cifar10.json").is_file():
            pytest.skip(
                "benchmark data folder not found (set EINNAS_BENCHMARK_DIR or provide ../shared/data)"
            )
        evaluator = _nb201_evaluator(str(folder))
        space = evaluator.table.space  # type: ignore[attr-defined]
        seeds = NB201_SEEDS if seeded else ()
        return Setup(
            space,
            evaluator,
            lambda: make_strategy(name, tabular=True, seed_archs=seeds),
            finite=True,
        )
    seeds = _einspace_seed_texts() if seeded else ()
    return Setup(
        _einspace(INPUT_SHAPE),
        SyntheticEinspaceEvaluator(),
        lambda: _einspace_strategy(name, seeds),
        finite=False,
    )


def _einspace_strategy(name: str, seeds: tuple[str, ...]) -> Strategy:
    strategy = make_strategy(name, tabular=False, population=10, tournament=3, seed_archs=seeds)
    if isinstance(strategy, (DeltaNAS, Bananas)):
        # the suite checks contracts, not search quality, and each mutation of a 2D tree costs
        # milliseconds: 2 sampled mutations per parent instead of the default 16
        strategy.mutations = 2
    return strategy


@pytest.fixture(params=SPACES)
def space_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=STRATEGIES)
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def setup(space_name: str, strategy: str) -> Setup:
    return _setup(space_name, strategy)


# --------------------------------------------------------------------------- helpers


Row = tuple[int, str, int | None]  # proposal, arch, proposal of the parent


def _run(
    setup: Setup,
    storage: Storage,
    budget: int,
    seed: int = SEED,
    workers: int = WORKERS,
    evaluator: Evaluator | None = None,
) -> None:
    if storage.get_study("s") is None:
        storage.create_study("s", {})
    executor = InlineExecutor(evaluator or setup.evaluator)
    run_search(storage, "s", setup.space, setup.make_strategy(), executor, budget, seed, workers)


def _finished(trials: Storage | list[Trial]) -> list[Trial]:
    if isinstance(trials, Storage):
        trials = trials.trials("s")
    return sorted(
        (t for t in trials if t.is_finished and not t.interrupted), key=lambda t: t.proposal
    )


def _rows(trials: Storage | list[Trial]) -> list[Row]:
    """The finished decisions in order, with parents named by proposal (trial numbers shift
    when a resumed run re-proposes interrupted decisions; proposals do not)."""
    if isinstance(trials, Storage):
        trials = trials.trials("s")
    by_number = {t.number: t for t in trials}
    return [
        (t.proposal, t.arch, None if t.parent is None else by_number[t.parent].proposal)
        for t in _finished(trials)
    ]


_REFERENCE: dict[tuple[str, str, int], list[Trial]] = {}


def _reference_trials(
    setup: Setup, space_name: str, strategy: str, workers: int = WORKERS
) -> list[Trial]:
    """The log of an uninterrupted run straight to ``FULL`` (computed once per module)."""
    key = (space_name, strategy, workers)
    if key not in _REFERENCE:
        storage = InMemoryStorage()
        _run(setup, storage, FULL, SEED, workers)
        _check_uninterrupted_log(storage, FULL)
        _REFERENCE[key] = storage.trials("s")
    return _REFERENCE[key]


def _reference(setup: Setup, space_name: str, strategy: str, workers: int = WORKERS) -> list[Row]:
    return _rows(_reference_trials(setup, space_name, strategy, workers))


def _check_uninterrupted_log(storage: Storage, budget: int) -> None:
    trials = storage.trials("s")
    assert len(trials) == budget  # nothing started beyond the budget
    assert [t.number for t in trials] == list(range(budget))
    assert sorted(t.proposal for t in trials) == list(range(budget))
    assert all(t.is_finished and not t.interrupted for t in trials)


# --------------------------------------------------------------------------- the suite


def test_deterministic_by_seed(setup: Setup, space_name: str, strategy: str) -> None:
    ref = _reference(setup, space_name, strategy)
    again = InMemoryStorage()
    _run(setup, again, FULL)
    assert _rows(again) == ref
    other = InMemoryStorage()
    _run(setup, other, HALF, seed=SEED + 1)
    assert [r[1] for r in _rows(other)] != [r[1] for r in ref[:HALF]]


def test_budget_respected(setup: Setup, space_name: str, strategy: str) -> None:
    ref = _reference(setup, space_name, strategy)
    assert [r[0] for r in ref] == list(range(FULL))
    storage = InMemoryStorage()
    _run(setup, storage, 7)
    _check_uninterrupted_log(storage, 7)
    _run(setup, storage, 7)  # a finished study stays finished
    _check_uninterrupted_log(storage, 7)


def test_no_duplicate_evaluations(setup: Setup, space_name: str, strategy: str) -> None:
    ref = _reference(setup, space_name, strategy)
    identities = [setup.space.identity(setup.space.from_text(arch)) for _, arch, _ in ref]
    assert len(set(identities)) == len(identities)


def test_parents_are_earlier_visible_successes(
    setup: Setup, space_name: str, strategy: str
) -> None:
    trials = _reference_trials(setup, space_name, strategy)
    by_number = {t.number: t for t in trials}
    # a decision sees the first ``history`` results in the order they arrived
    arrived = sorted(
        (t for t in trials if t.is_finished and not t.interrupted),
        key=lambda t: t.finish_order if t.finish_order is not None else -1,
    )
    position = {t.number: i for i, t in enumerate(arrived)}
    children = [t for t in trials if t.parent is not None]
    for child in children:
        parent = by_number[child.parent]  # type: ignore[index]
        assert parent.number < child.number
        assert child.history is not None
        assert position[parent.number] < child.history  # only results it could see
        assert parent.state is TrialState.COMPLETE
        if not setup.finite:  # einspace records what the mutation did
            assert child.mutation is not None
    if strategy == "rs":
        assert not children
    else:
        assert len(children) >= 10  # the strategy did build on its history


def test_extend_budget_equals_straight_run(setup: Setup, space_name: str, strategy: str) -> None:
    ref = _reference(setup, space_name, strategy)
    storage = InMemoryStorage()
    _run(setup, storage, HALF)
    assert _rows(storage) == ref[:HALF]
    _run(setup, storage, FULL)
    _check_uninterrupted_log(storage, FULL)
    assert _rows(storage) == ref


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_run_resumes_to_the_same_decisions(
    setup: Setup, space_name: str, strategy: str, workers: int, tmp_path: Path
) -> None:
    ref = _reference(setup, space_name, strategy, workers=workers)
    stop_at = 23
    db = tmp_path / "log.sqlite"
    first = SQLiteStorage(db, synchronous="OFF")
    ctrl_c = InterruptAt(setup.evaluator, trial_seed(SEED, stop_at))
    with pytest.raises(KeyboardInterrupt):
        _run(setup, first, FULL, workers=workers, evaluator=ctrl_c)
    left = first.trials("s")
    # the Ctrl-C'd evaluation is recorded interrupted on the way out (the search owns its lease)
    assert [t for t in left if t.state is TrialState.RUNNING] == []
    assert [t.proposal for t in left if t.interrupted] == [stop_at]
    assert len(_finished(first)) == stop_at
    first.close()

    resumed = SQLiteStorage(db, synchronous="OFF")  # a fresh process, as it were
    _run(setup, resumed, FULL, workers=workers)
    assert _rows(resumed) == ref
    interrupted = [t for t in resumed.trials("s") if t.interrupted]
    assert [t.proposal for t in interrupted] == [stop_at]
    resumed.close()


def test_abandoned_start_events_resume_to_the_same_decisions(
    setup: Setup, space_name: str, strategy: str
) -> None:
    """A log as a SIGKILL leaves it: 30 finished decisions and two started, never finished."""
    ref = _reference(setup, space_name, strategy)
    storage = InMemoryStorage()
    storage.create_study("s", {})
    cut = 30
    # the reference run was not interrupted: its trial numbers equal its proposals
    for t in _reference_trials(setup, space_name, strategy):
        if t.proposal >= cut + WORKERS:
            break
        start = TrialStart(t.arch, t.arch_hash, t.parent, t.mutation, t.seed, t.proposal)
        storage.start_trial("s", start)
        if t.proposal < cut:
            outcome = TrialOutcome(t.state, t.val, t.test, dict(t.metrics), t.duration, t.error)
            storage.finish_trial("s", t.number, outcome)
    _run(setup, storage, FULL)
    assert _rows(storage) == ref
    assert sorted(t.proposal for t in storage.trials("s") if t.interrupted) == [cut, cut + 1]


def test_seeded_evolution_evaluates_its_seeds_first(space_name: str) -> None:
    setup = _setup(space_name, "re-seeded")
    ref = _reference(setup, space_name, "re-seeded")
    seeds = NB201_SEEDS if space_name == "nb201" else _einspace_seed_texts()
    space = setup.space
    want = [space.to_text(space.from_text(text)) for text in seeds]
    assert [arch for _, arch, _ in ref[: len(seeds)]] == want
