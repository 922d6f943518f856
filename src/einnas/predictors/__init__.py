"""Performance predictors for predictor-guided search (Delta-NAS, BANANAS).

Layout:

* :mod:`einnas.predictors.encodings` -- architecture encoders (one-hot slots, NB201 paths) and
  the DoA vector ``delta(a, b) = e(b) - e(a)``.
* :mod:`einnas.predictors.tree_features` -- ``phi(tree)``, the einspace tree feature map (counts
  of productions and parent -> child pairs; sparse deltas under subtree mutation).
* :mod:`einnas.predictors.doa` -- the difference-of-architecture dataset, built incrementally
  from the trial history.
* :mod:`einnas.predictors.ridge` -- closed-form ridge regression (the additive DoA model).
* :mod:`einnas.predictors.mlp_ensemble` -- an ensemble of small numpy MLPs (DoA or absolute).
* :mod:`einnas.predictors.support` -- any predictor fitted on the used columns of a wide, sparse
  encoding.

Every predictor has the same small interface (:class:`Predictor`): ``fit(x, y)`` on a float
matrix and a target vector, then ``predict(x)`` returning a :class:`Prediction` (the mean, and
for ensembles the spread).  A *pair-aware* (DoA) predictor is simply fitted on rows
``delta(a, b)`` (optionally followed by the context ``e(a)``) with targets ``f(b) - f(a)``; an
*absolute* predictor on rows ``e(a)`` with targets ``f(a)``.  Predictors are deterministic:
whatever randomness they use comes from the ``seed`` they are built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from einnas.predictors.encodings import FloatArray

__all__ = [
    "DoADataset",
    "Encoder",
    "FloatArray",
    "MLPEnsemble",
    "OneHotEncoder",
    "PathEncoder",
    "Prediction",
    "Predictor",
    "RidgePredictor",
    "TreeFeatures",
    "make_encoder",
    "make_predictor",
]


@dataclass(frozen=True)
class Prediction:
    """Predicted values (``mean``) and, for ensembles, their spread (``std``, same shape)."""

    mean: FloatArray
    std: FloatArray | None = None


@runtime_checkable
class Predictor(Protocol):
    """``fit(x, y)`` then ``predict(x)``; rows of ``x`` are feature vectors (DoA or absolute)."""

    def fit(self, x: FloatArray, y: FloatArray) -> Predictor:
        """Fit on ``x`` (shape ``(n, d)``) and targets ``y`` (shape ``(n,)``); returns ``self``."""
        ...

    def predict(self, x: FloatArray) -> Prediction:
        """Predictions for the rows of ``x`` (shape ``(m, d)``)."""
        ...


PREDICTOR_NAMES = ("ridge", "mlp")


def make_predictor(name: str, *, seed: int = 0, antisymmetric: bool = False) -> Predictor:
    """A predictor by name with its default settings.

    Args:
        name: ``ridge`` or ``mlp`` (an ensemble of 5 small MLPs).
        seed: seeds the MLP ensemble's initialisation and minibatches (ridge ignores it).
        antisymmetric: fit an odd function, ``g(-x) = -g(x)`` -- right for DoA rows without
            context, where the pair ``(b, a)`` has row ``-x`` and target ``-y``.  Ridge is odd
            when fitted without an intercept, which this flag selects.
    """
    key = name.strip().lower()
    if key == "ridge":
        return RidgePredictor(intercept=not antisymmetric)
    if key == "mlp":
        return MLPEnsemble(seed=seed, antisymmetric=antisymmetric)
    raise ValueError(f"unknown predictor {name!r}: choose one of {', '.join(PREDICTOR_NAMES)}")


# The implementations import Prediction from this module, so they are imported after it.
from einnas.predictors.doa import DoADataset  # noqa: E402
from einnas.predictors.encodings import Encoder, OneHotEncoder, PathEncoder, make_encoder  # noqa: E402
from einnas.predictors.mlp_ensemble import MLPEnsemble  # noqa: E402
from einnas.predictors.ridge import RidgePredictor  # noqa: E402
from einnas.predictors.tree_features import TreeFeatures  # noqa: E402
