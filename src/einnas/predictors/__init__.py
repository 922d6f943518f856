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

Predictors are found by name in :mod:`einnas.registry` (``ridge`` and ``mlp`` are built in;
:func:`register_predictor` or the ``einnas.predictors`` entry-point group add others), which is
where Delta-NAS's ``predictor=`` and ``einnas diagnose-doa --predictor`` look them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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
    "builtin_predictor_entries",
    "make_encoder",
    "make_predictor",
    "predictor_names",
    "register_predictor",
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
"""The built-in predictors (:func:`predictor_names` adds registered ones)."""


def make_predictor(
    name: str, *, seed: int = 0, antisymmetric: bool = False, **options: Any
) -> Predictor:
    """A predictor by name (through the registry) with its default settings.

    Args:
        name: ``ridge``, ``mlp`` (an ensemble of 5 small MLPs) or a registered predictor.
        seed: seeds the MLP ensemble's initialisation and minibatches (ridge ignores it).
        antisymmetric: fit an odd function, ``g(-x) = -g(x)`` -- right for DoA rows without
            context, where the pair ``(b, a)`` has row ``-x`` and target ``-y``.  Ridge is odd
            when fitted without an intercept, which this flag selects.
        options: settings a predictor may read (ridge: ``alpha``, ``intercept``; mlp:
            ``steps``, ``members``, ``hidden``); others are ignored.
    """
    from einnas.registry import make_predictor as _make

    return _make(name, seed=seed, antisymmetric=antisymmetric, **options)


def _ridge(
    *,
    seed: int = 0,
    antisymmetric: bool = False,
    alpha: float = 1.0,
    intercept: bool | None = None,
    **_: Any,
) -> Predictor:
    return RidgePredictor(
        alpha=alpha, intercept=not antisymmetric if intercept is None else intercept
    )


def _mlp(*, seed: int = 0, antisymmetric: bool = False, **options: Any) -> Predictor:
    keys = ("members", "hidden", "steps", "batch_size", "lr", "weight_decay", "loss")
    return MLPEnsemble(
        seed=seed, antisymmetric=antisymmetric, **{k: options[k] for k in keys if k in options}
    )


def builtin_predictor_entries() -> list[Any]:
    """``ridge`` and ``mlp`` as registry entries."""
    from einnas.registry import PredictorEntry

    return [
        PredictorEntry("ridge", _ridge, source="built-in"),
        PredictorEntry("mlp", _mlp, source="built-in"),
    ]


# The implementations import Prediction from this module, so they are imported after it.
from einnas.predictors.doa import DoADataset  # noqa: E402
from einnas.predictors.encodings import Encoder, OneHotEncoder, PathEncoder, make_encoder  # noqa: E402
from einnas.predictors.mlp_ensemble import MLPEnsemble  # noqa: E402
from einnas.predictors.ridge import RidgePredictor  # noqa: E402
from einnas.predictors.tree_features import TreeFeatures  # noqa: E402
from einnas.registry import predictor_names, register_predictor  # noqa: E402
