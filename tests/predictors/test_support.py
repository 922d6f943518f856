"""OnSupport: a predictor fitted and queried on the used columns only."""

from __future__ import annotations

import numpy as np
import pytest

from einnas.predictors import Predictor, RidgePredictor
from einnas.predictors.support import OnSupport


def test_fits_on_the_used_columns_and_ignores_the_others() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((30, 10))
    x[:, [1, 4, 6]] = rng.normal(size=(30, 3))
    y = x[:, 1] - 2 * x[:, 4]
    model = OnSupport(RidgePredictor(alpha=1e-6))
    assert isinstance(model, Predictor)
    model.fit(x, y)
    assert model.columns is not None and model.columns.tolist() == [1, 4, 6]
    query = rng.normal(size=(5, 10))
    masked = np.zeros_like(query)
    masked[:, [1, 4, 6]] = query[:, [1, 4, 6]]
    np.testing.assert_allclose(model.predict(query).mean, model.predict(masked).mean)
    np.testing.assert_allclose(model.predict(query[0]).mean, model.predict(query[:1]).mean)
    with pytest.raises(RuntimeError):
        OnSupport(RidgePredictor()).predict(query)
