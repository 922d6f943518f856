"""Ridge regression: exact on additive functions, in both of its fitting paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from einnas.predictors import Predictor, RidgePredictor, make_predictor

CARDS = (4, 3, 5, 2, 4)


def _onehot(arch: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(sum(CARDS))
    offset = 0
    for k, v in zip(CARDS, arch):
        out[offset + v] = 1.0
        offset += k
    return out


def _additive() -> tuple[list[np.ndarray], list[tuple[int, ...]], np.ndarray]:
    rng = np.random.default_rng(3)
    effects = [rng.normal(0, 2, k) for k in CARDS]
    archs = list(itertools.product(*(range(k) for k in CARDS)))
    f = np.array([sum(e[v] for e, v in zip(effects, a)) for a in archs])
    return effects, archs, f


def test_ridge_recovers_slot_effects_from_deltas() -> None:
    effects, archs, f = _additive()
    rng = np.random.default_rng(0)
    idx = rng.choice(len(archs), 40, replace=False)
    rows, ys = [], []
    for i in idx:
        for j in idx:
            a, b = archs[i], archs[j]
            if 0 < sum(u != v for u, v in zip(a, b)) <= 2:
                rows.append(_onehot(b) - _onehot(a))
                ys.append(f[j] - f[i])
    x, y = np.array(rows), np.array(ys)
    model = RidgePredictor(alpha=1e-6)
    assert isinstance(model, Predictor)
    model.fit(x, y)
    # every single-edit effect, including ones never observed as a single edit
    base = archs[0]
    for slot, k in enumerate(CARDS):
        for v in range(1, k):
            b = (*base[:slot], v, *base[slot + 1 :])
            pred = model.predict(_onehot(b) - _onehot(base)).mean[0]
            assert pred == pytest.approx(effects[slot][v] - effects[slot][0], abs=1e-5)
    # the fit is exact, so the posterior spread is ~0
    assert float(model.predict(x[:5]).std.max()) < 1e-4  # type: ignore[union-attr]

    # the sufficient-statistics path gives the same model
    stats = RidgePredictor(alpha=1e-6).fit_statistics(x.T @ x, x.T @ y, float(y @ y), len(y))
    np.testing.assert_allclose(stats.predict(x).mean, model.predict(x).mean, atol=1e-6)


def test_ridge_absolute_with_intercept() -> None:
    _, archs, f = _additive()
    x = np.array([_onehot(a) for a in archs])
    model = RidgePredictor(alpha=1e-6, intercept=True).fit(x[::3], f[::3] + 90.0)
    np.testing.assert_allclose(model.predict(x).mean, f + 90.0, atol=1e-4)


def test_ridge_edge_cases() -> None:
    empty = RidgePredictor().fit(np.zeros((0, 4)), np.zeros(0))
    np.testing.assert_array_equal(empty.predict(np.ones((2, 4))).mean, np.zeros(2))
    with pytest.raises(RuntimeError):
        RidgePredictor().predict(np.ones((1, 3)))
    with pytest.raises(ValueError):
        RidgePredictor(alpha=-1.0)
    with pytest.raises(ValueError):
        RidgePredictor(intercept=True).fit_statistics(np.eye(2), np.zeros(2), 0.0, 1)
    assert isinstance(make_predictor("ridge", antisymmetric=True), RidgePredictor)
    with pytest.raises(ValueError):
        make_predictor("gp")


def test_support_only_is_the_same_model_on_unused_columns() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 12))
    x[:, [2, 7, 8]] = 0.0  # columns no row uses
    y = x @ rng.normal(size=12) + rng.normal(0, 0.1, 40)
    stats = (x.T @ x, x.T @ y, float(y @ y), 40)
    full = RidgePredictor(alpha=0.5).fit_statistics(*stats)
    sparse = RidgePredictor(alpha=0.5).fit_statistics(*stats, support_only=True)
    query = rng.normal(size=(6, 12))  # uses the unseen columns too
    a, b = full.predict(query), sparse.predict(query)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-10, atol=1e-12)
    assert a.std is not None and b.std is not None
    np.testing.assert_allclose(a.std, b.std, rtol=1e-10)
    assert sparse.coef_ is not None and not sparse.coef_[[2, 7, 8]].any()
    with pytest.raises(ValueError, match="alpha"):
        RidgePredictor(alpha=0.0).fit_statistics(*stats, support_only=True)
