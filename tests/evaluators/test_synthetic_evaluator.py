"""The synthetic evaluator: an instant lookup of a synthetic objective."""

from __future__ import annotations

import pickle

import pytest

from einnas.evaluators.synthetic import SyntheticEvaluator


def test_evaluator() -> None:
    ev = SyntheticEvaluator((3, 3, 3), interaction=0.5, seed=2)
    res = ev.evaluate("0-1-2", seed=0)
    assert res.ok and res.val == res.test == pytest.approx(ev.objective.value((0, 1, 2)))
    assert ev.describe()["slots"] == 3 and ev.instant
    copy = pickle.loads(pickle.dumps(ev))
    assert copy.evaluate("0-1-2", seed=0).val == res.val
    with pytest.raises(ValueError):
        ev.evaluate("0-1-3", seed=0)
