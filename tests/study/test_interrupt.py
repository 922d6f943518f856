"""Ctrl-C / SIGTERM inside run_search: single-fidelity running trials are recorded interrupted,
multi-fidelity candidates stay running (they resume from checkpoints), the lease is given back."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Collection
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from einnas.evaluators.base import EvalResult
from einnas.evaluators.synthetic import SyntheticEvaluator
from einnas.executors.simulated import SimulatedExecutor
from einnas.fidelity import ASHA
from einnas.strategies import make_strategy
from einnas.study import INTERRUPTED, SQLiteStorage, TrialState
from einnas.study.lease import lease_owner
from einnas.study.runner import run_search

_spec = importlib.util.spec_from_file_location(
    "einnas_test_async_runner", Path(__file__).with_name("test_async_runner.py")
)
assert _spec is not None and _spec.loader is not None
_runner_tests = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _runner_tests  # dataclasses look their module up
_spec.loader.exec_module(_runner_tests)
CurveEvaluator = _runner_tests.CurveEvaluator
CARDS = (4, 4, 4, 4, 4)


class InterruptingExecutor(SimulatedExecutor):
    """Raises KeyboardInterrupt (as a signal handler would) on the n-th wait."""

    def __init__(self, evaluator: Any, workers: int, after: int) -> None:
        super().__init__(evaluator, workers)
        self.after = after

    def wait_first(self, futures: Collection[Future[EvalResult]]) -> set[Future[EvalResult]]:
        self.after -= 1
        if self.after <= 0:
            raise KeyboardInterrupt
        return super().wait_first(futures)


@pytest.mark.parametrize("multi_fidelity", [False, True])
def test_interrupt_records_running_trials(tmp_path: Path, multi_fidelity: bool) -> None:
    st = SQLiteStorage(tmp_path / "log.db")
    st.create_study("s", {})
    ev = SyntheticEvaluator(CARDS, interaction=0.5, seed=3)
    evaluator: Any = CurveEvaluator(ev) if multi_fidelity else ev
    executor = InterruptingExecutor(evaluator, 3, after=6)
    kw: dict[str, Any] = {"fidelity": ASHA.over(1, 9, 3)} if multi_fidelity else {}
    with pytest.raises(KeyboardInterrupt):
        run_search(st, "s", ev.space, make_strategy("rs", tabular=True), executor, 30, 7, 3, **kw)
    trials = st.trials("s")
    running = [t for t in trials if t.state is TrialState.RUNNING]
    interrupted = [t for t in trials if t.error == INTERRUPTED]
    if multi_fidelity:
        assert running and not interrupted  # resumed from their checkpoints
    else:
        assert not running and len(interrupted) == 3
    assert lease_owner(st.study_events("s")) is None  # given back
