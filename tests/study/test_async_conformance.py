"""Conformance of every single-objective strategy under the asynchronous, multi-fidelity loop.

The same checks for each registered strategy, with no fidelity (full training), ASHA and
Hyperband, on three simulated workers whose candidates finish out of order:

* determinism: the same seed gives the same log (architectures, states, completion order);
* budget: exactly ``budget`` candidates, every one finished;
* no duplicates: no architecture is trained twice;
* resume in the middle of a rung: a loop killed while candidates wait at rungs or run mid-rung,
  resumed by a fresh loop on the same log, ends with the budget, no duplicates, nothing running
  and no checkpoint left behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_async_runner import CurveEvaluator, _make, _run, _space_eval

from einnas.fidelity import ASHA, FidelityPolicy, Hyperband
from einnas.registry import strategy_names
from einnas.study import InMemoryStorage, SQLiteStorage, Storage, TrialState

STRATEGIES = [s for s in strategy_names() if not s.startswith("mo-")]
BUDGET = 24


def _fidelity(policy: str) -> FidelityPolicy | None:
    if policy == "asha":
        return ASHA.over(1, 9, 3)
    if policy == "hyperband":
        return Hyperband.over(1, 9, 3)
    return None


def _log(storage: Storage) -> list[tuple[str, TrialState, int | None]]:
    return [(t.arch, t.state, t.finish_order) for t in storage.trials("s")]


def _search(storage: Storage, strategy: str, policy: str, **kw: Any) -> Any:
    return _run(
        storage,
        strategy,
        BUDGET,
        3,
        evaluator=CurveEvaluator(_space_eval()[1]),
        fidelity=_fidelity(policy),
        **kw,
    )


@pytest.mark.parametrize("policy", ["full", "asha", "hyperband"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deterministic_budgeted_and_unique(strategy: str, policy: str) -> None:
    a, b = InMemoryStorage(), InMemoryStorage()
    _make(a)
    _make(b)
    out = _search(a, strategy, policy)
    _search(b, strategy, policy)
    assert _log(a) == _log(b)
    trials = a.trials("s")
    assert out.finished == BUDGET and len(trials) == BUDGET
    assert all(t.is_finished for t in trials)
    assert len({t.arch_hash for t in trials}) == BUDGET
    if policy != "full":
        assert TrialState.PRUNED in {t.state for t in trials}
    assert out.best is not None and out.best.state is TrialState.COMPLETE


class _Stop(Exception):
    pass


@pytest.mark.parametrize("policy", ["asha", "hyperband"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_resume_in_the_middle_of_a_rung(strategy: str, policy: str, tmp_path: Path) -> None:
    path = str(tmp_path / "runs.db")
    first = SQLiteStorage(path)
    _make(first)
    seen = 0

    def hook(trial: Any, best: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == 11:
            raise _Stop

    with pytest.raises(_Stop):
        _search(first, strategy, policy, on_trial=hook)
    assert first.trials("s", TrialState.RUNNING)
    resumed = SQLiteStorage(path)
    out = _search(resumed, strategy, policy)
    trials = resumed.trials("s")
    assert out.finished == BUDGET and len(trials) == BUDGET
    assert len({t.arch_hash for t in trials}) == BUDGET
    assert not resumed.trials("s", TrialState.RUNNING)
    assert not any((tmp_path / "runs.db.checkpoints" / "s").iterdir())
