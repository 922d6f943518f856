"""The numpy MLP ensemble: learns a smooth target, deterministic by seed, odd when asked."""

from __future__ import annotations

import numpy as np

from einnas.predictors import MLPEnsemble, Predictor, make_predictor


def _data(n: int, d: int, signed: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, d)) < 0.15).astype(float)
    if signed:
        x -= rng.random((n, d)) < 0.15
    w = rng.normal(size=d)
    return x, x @ w, w


def test_learns_an_additive_target() -> None:
    x, y, w = _data(400, 12, signed=False)
    model = MLPEnsemble(steps=300, seed=1).fit(x, y + 50.0)
    assert isinstance(model, Predictor)
    xt, _, _ = _data(200, 12, signed=False, seed=9)
    pred = model.predict(xt)
    assert np.corrcoef(pred.mean, xt @ w + 50.0)[0, 1] > 0.98
    assert pred.std is not None and pred.std.shape == (200,) and np.all(pred.std >= 0)


def test_antisymmetric_members_are_odd() -> None:
    x, y, w = _data(600, 12, signed=True)
    model = MLPEnsemble(steps=300, antisymmetric=True, seed=2).fit(x, y)
    xt, _, _ = _data(100, 12, signed=True, seed=5)
    np.testing.assert_allclose(model.predict(-xt).mean, -model.predict(xt).mean, atol=1e-5)
    np.testing.assert_array_equal(model.predict(np.zeros((1, 12))).mean, [0.0])
    assert np.corrcoef(model.predict(xt).mean, xt @ w)[0, 1] > 0.97


def test_deterministic_by_seed() -> None:
    x, y, _ = _data(300, 10, signed=False)
    a = MLPEnsemble(seed=7).fit(x, y).predict_members(x)
    b = MLPEnsemble(seed=7).fit(x, y).predict_members(x)
    c = MLPEnsemble(seed=8).fit(x, y).predict_members(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (5, 300)


def test_small_and_empty_data() -> None:
    x, y, _ = _data(6, 5, signed=False)
    pred = MLPEnsemble(seed=0).fit(x, y).predict(x)  # full-batch bootstrap path
    assert np.all(np.isfinite(pred.mean))
    empty = MLPEnsemble().fit(np.zeros((0, 5)), np.zeros(0)).predict(np.ones((3, 5)))
    np.testing.assert_array_equal(empty.mean, np.zeros(3))
    assert isinstance(make_predictor("mlp", seed=3, antisymmetric=True), MLPEnsemble)
