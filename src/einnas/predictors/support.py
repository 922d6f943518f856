"""Fit a predictor on the used columns of a wide, sparse encoding only.

einspace's tree feature map has ~600-800 columns, of which a search meets a few hundred; an MLP
fitted on all of them pays for the unused ones (its first layer is dense) and, worse, keeps their
random initial weights, so a candidate with a feature no training row has gets a random score.
:class:`OnSupport` fits the wrapped predictor on the columns that some training row uses and
predicts from those columns alone: an unseen feature contributes nothing ("no evidence, no
change"), which is what ridge regression does by construction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from einnas.predictors import Prediction, Predictor
from einnas.predictors.encodings import FloatArray

__all__ = ["OnSupport"]


class OnSupport:
    """``inner`` fitted and queried on the columns used by the training rows."""

    def __init__(self, inner: Predictor) -> None:
        self.inner = inner
        self.columns: npt.NDArray[np.intp] | None = None

    def __repr__(self) -> str:
        return f"OnSupport({self.inner!r})"

    def fit(self, x: FloatArray, y: FloatArray) -> OnSupport:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"expected x of shape (n, d), got {x.shape}")
        self.columns = np.flatnonzero(np.any(x != 0.0, axis=0))
        self.inner.fit(x[:, self.columns], y)
        return self

    def predict(self, x: FloatArray) -> Prediction:
        if self.columns is None:
            raise RuntimeError("OnSupport.predict called before fit")
        x = np.asarray(x, dtype=np.float64)
        return self.inner.predict((x[None, :] if x.ndim == 1 else x)[:, self.columns])
