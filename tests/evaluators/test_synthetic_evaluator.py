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


def test_validation_noise_is_fixed_per_architecture_and_test_is_noiseless() -> None:
    ev = SyntheticEvaluator((4,) * 6, interaction=0.5, seed=1, noise=0.3)
    a, b = ev.evaluate("0-1-2-3-0-1", seed=0), ev.evaluate("0-1-2-3-0-1", seed=9)
    f = ev.objective.value((0, 1, 2, 3, 0, 1))
    assert a.test == b.test == pytest.approx(f)
    assert a.val == b.val != pytest.approx(f)  # the same noise whatever the search seed
    assert a.val == pytest.approx(f + ev.noise_of("0-1-2-3-0-1"))
    noise = [ev.noise_of(f"{i}-0-0-0-0-{j}") for i in range(4) for j in range(4)]
    assert len(set(noise)) == 16 and 0.1 < max(map(abs, noise)) < 2.0
    assert ev.describe()["noise"] == 0.3
    assert "noise" not in SyntheticEvaluator((3,)).describe()
