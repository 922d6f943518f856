"""The asynchronous, multi-fidelity search loop: determinism given the completion order, budget,
no duplicates, pruning, checkpoints and resume in the middle of a rung."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from einnas.evaluators.base import EvalResult, EvalTask
from einnas.evaluators.synthetic import SyntheticEvaluator
from einnas.executors import InlineExecutor
from einnas.executors.simulated import SimulatedExecutor
from einnas.fidelity import ASHA, Hyperband, geometric_rungs, make_fidelity
from einnas.strategies import make_strategy
from einnas.study import InMemoryStorage, SQLiteStorage, Storage, TrialState
from einnas.study.runner import replay_decisions, run_search

CARDS = (4, 4, 4, 4, 4)


@dataclass(frozen=True)
class CurveEvaluator:
    """A synthetic objective trained in steps: value ``f(arch) - 20 / step``, cost ``step``.

    Durations depend on the architecture, so simulated workers finish out of order.  Writes and
    reads a checkpoint file like a real trainer (its content: the step reached).
    """

    inner: SyntheticEvaluator
    max_step: int = 9
    instant = False
    fail_on: str | None = None

    def _cost(self, arch: str) -> float:
        return 1.0 + (sum(map(ord, arch)) % 7) / 3.0

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        return self.evaluate_steps(EvalTask(0, arch, seed, 0, self.max_step))

    def evaluate_steps(self, task: EvalTask) -> EvalResult:
        assert task.to_step is not None
        if self.fail_on is not None and task.arch == self.fail_on:
            raise RuntimeError("boom")
        if task.from_step and task.checkpoint is not None:
            assert Path(task.checkpoint).read_text() == str(task.from_step), "wrong checkpoint"
        base = self.inner.evaluate(task.arch, task.seed).val
        assert base is not None
        curve = {str(s): base - 20.0 / s for s in range(task.from_step + 1, task.to_step + 1)}
        if task.checkpoint is not None and task.to_step < self.max_step:
            Path(task.checkpoint).write_text(str(task.to_step))
        val = base - 20.0 / task.to_step
        cost = self._cost(task.arch) * (task.to_step - task.from_step)
        return EvalResult(val, val, {"curve": curve}, cost)

    def describe(self) -> dict[str, Any]:
        return {"kind": "curve"}


def _space_eval() -> tuple[Any, SyntheticEvaluator]:
    ev = SyntheticEvaluator(CARDS, interaction=0.5, seed=3)
    return ev.space, ev


def _run(storage: Storage, strategy: str, budget: int, workers: int, **kw: Any) -> Any:
    space, ev = _space_eval()
    executor = SimulatedExecutor(kw.pop("evaluator", ev), workers)
    return run_search(
        storage,
        "s",
        space,
        make_strategy(strategy, tabular=True),
        executor,
        budget,
        7,
        workers,
        **kw,
    )


def _make(storage: Storage) -> None:
    storage.create_study("s", {"space": "synthetic"})


@pytest.mark.parametrize("strategy", ["rs", "re", "ls", "delta-nas", "bananas"])
def test_async_log_replays_exactly(strategy: str) -> None:
    space, _ev = _space_eval()
    st = InMemoryStorage()
    _make(st)

    @dataclass(frozen=True)
    class Timed(SyntheticEvaluator):
        instant = False

        def evaluate(self, arch: str, seed: int) -> EvalResult:
            r = super().evaluate(arch, seed)
            return EvalResult(r.val, r.test, {}, 1.0 + (sum(map(ord, arch)) % 5))

    out = _run(st, strategy, 40, 3, evaluator=Timed(CARDS, 0.5, 3))
    trials = st.trials("s")
    assert out.finished == 40 and len(trials) == 40
    assert len({t.arch_hash for t in trials}) == 40
    # out-of-order completion: some decision saw fewer results than decisions before it
    assert any(t.history is not None and t.history < t.proposal for t in trials)
    assert replay_decisions(st, "s", space, make_strategy(strategy, tabular=True), 7) == []


def test_one_worker_async_equals_inline() -> None:
    a, b = InMemoryStorage(), InMemoryStorage()
    _make(a)
    _make(b)
    space, ev = _space_eval()
    run_search(a, "s", space, make_strategy("re", tabular=True), InlineExecutor(ev), 30, 7, 1)
    _run(b, "re", 30, 1)
    assert [t.arch for t in a.trials("s")] == [t.arch for t in b.trials("s")]


def test_simulated_workers_overlap_in_time() -> None:
    st = InMemoryStorage()
    _make(st)
    out = _run(st, "rs", 20, 4, evaluator=CurveEvaluator(_space_eval()[1]))
    ends = [t.metrics["sim_end"] for t in st.trials("s")]
    assert out.sim_seconds == pytest.approx(max(ends))
    assert out.busy_seconds > 3 * out.sim_seconds  # four workers were busy at once


def test_geometric_rungs() -> None:
    assert geometric_rungs(1, 9, 3) == (1, 3, 9)
    assert geometric_rungs(1, 8, 2) == (1, 2, 4, 8)
    assert geometric_rungs(1, 10, 3) == (1, 3, 9, 10)
    assert make_fidelity("full", min_step=1, max_step=8) is None
    with pytest.raises(ValueError, match="unknown fidelity"):
        make_fidelity("sh2", min_step=1, max_step=8)


@pytest.mark.parametrize("policy", ["asha", "hyperband"])
@pytest.mark.parametrize("workers", [1, 3])
def test_multi_fidelity_prunes_and_completes(policy: str, workers: int, tmp_path: Path) -> None:
    st = SQLiteStorage(str(tmp_path / "runs.db"))
    _make(st)
    fid = ASHA.over(1, 9, 3) if policy == "asha" else Hyperband.over(1, 9, 3)
    ev = CurveEvaluator(_space_eval()[1])
    out = _run(st, "re", 40, workers, evaluator=ev, fidelity=fid)
    trials = st.trials("s")
    assert len(trials) == 40 and out.finished == 40
    assert len({t.arch_hash for t in trials}) == 40
    states = {t.state for t in trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED}
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert all(9 in t.intermediate for t in complete)
    assert all(9 not in t.intermediate for t in trials if t.state is TrialState.PRUNED)
    # the learning curve is stored: every step trained, in order
    for t in complete:
        assert list(t.intermediate) == list(range(1, 10)) or policy == "hyperband"
    assert out.best is not None and out.best.state is TrialState.COMPLETE
    assert out.best.val == max(t.val for t in complete if t.val is not None)
    assert len(complete) < 20  # most candidates were stopped early
    # checkpoints are gone once every candidate has finished
    folder = tmp_path / "runs.db.checkpoints" / "s"
    assert not any(folder.iterdir())


def test_multi_fidelity_is_cheaper_than_full() -> None:
    ev = CurveEvaluator(_space_eval()[1])
    full, mf = InMemoryStorage(), InMemoryStorage()
    _make(full)
    _make(mf)
    a = _run(full, "rs", 40, 1, evaluator=ev, fidelity=ASHA(rungs=(9,), reduction=3))
    b = _run(mf, "rs", 40, 1, evaluator=ev, fidelity=ASHA.over(1, 9, 3))
    assert b.busy_seconds < 0.5 * a.busy_seconds


def test_failed_candidate_fails_only_itself() -> None:
    space, inner = _space_eval()
    first = space.to_text(space.sample(__import__("numpy").random.default_rng([7, 0])))
    st = InMemoryStorage()
    _make(st)
    ev = CurveEvaluator(inner, fail_on=first)
    out = _run(st, "rs", 15, 2, evaluator=ev, fidelity=ASHA.over(1, 9, 3))
    failed = st.trials("s", TrialState.FAILED)
    assert [t.arch for t in failed] == [first] and "boom" in (failed[0].error or "")
    assert out.finished == 15


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stop_after", [5, 17])
def test_resume_in_the_middle_of_a_rung(stop_after: int, tmp_path: Path) -> None:
    """Kill the loop while candidates wait at rungs and run mid-rung; a fresh loop finishes."""
    path = str(tmp_path / "runs.db")
    st = SQLiteStorage(path)
    _make(st)
    ev = CurveEvaluator(_space_eval()[1])
    seen = 0

    def hook(trial: Any, best: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == stop_after:
            raise _Stop

    with pytest.raises(_Stop):
        _run(st, "re", 30, 3, evaluator=ev, fidelity=ASHA.over(1, 9, 3), on_trial=hook)
    running = st.trials("s", TrialState.RUNNING)
    assert running  # candidates were left mid-search
    st2 = SQLiteStorage(path)
    out = _run(st2, "re", 30, 3, evaluator=ev, fidelity=ASHA.over(1, 9, 3))
    trials = st2.trials("s")
    assert out.finished == 30 and len(trials) == 30  # no candidate lost or duplicated
    assert len({t.arch_hash for t in trials}) == 30
    assert not st2.trials("s", TrialState.RUNNING)
    assert not any((tmp_path / "runs.db.checkpoints" / "s").iterdir())


def test_small_budget_still_trains_one_candidate_fully() -> None:
    """eta larger than the number of candidates: no rung quota is ever reached, yet the search
    ends with its best candidate trained to the last rung (and the rest pruned)."""
    st = InMemoryStorage()
    _make(st)
    ev = CurveEvaluator(_space_eval()[1])
    out = _run(st, "rs", 5, 2, evaluator=ev, fidelity=ASHA.over(1, 9, 10))
    complete = st.trials("s", TrialState.COMPLETE)
    assert len(complete) == 1 and out.best is not None and out.best.number == complete[0].number
    assert len(st.trials("s", TrialState.PRUNED)) == 4
    first_rung = {t.number: t.intermediate[1] for t in st.trials("s")}
    assert first_rung[complete[0].number] == max(first_rung.values())
