"""Ridge regression in closed form: the additive model of Delta-NAS.

On DoA rows ``delta(a, b) = e(b) - e(a)`` (one-hot slot encodings) a linear model without
intercept, ``g(delta) = w . delta``, says that changing slot ``j`` from value ``u`` to ``v``
changes the objective by ``w[j, v] - w[j, u]`` whatever the other slots hold: the model is exact
when slot effects add up, and it is antisymmetric (``g(-delta) = -g(delta)``) by construction.
It is what Theorem 1's linear-complexity argument is about (``sum_j K_j`` weights for a space
of ``prod_j K_j`` members), it fits in microseconds and it needs few pairs, so it is the default
DoA predictor of :class:`~einnas.strategies.delta_nas.DeltaNAS`.

The one-hot deltas of a slot always sum to zero, so the plain least-squares problem is
rank-deficient; the ridge penalty ``alpha`` picks the minimum-norm solution in those directions
(which no delta can see anyway) and shrinks the effects of rarely seen edits towards zero ("no
change") while data are scarce.  ``alpha = 1`` (in units of squared targets; targets are raw
differences of accuracy in percent) was chosen on NB201: 0.1 and 10 gave the same results within
noise, because pair counts grow quickly.

A strategy refitting before every decision should not recompute ``X^T X`` over thousands of
pairs: :meth:`RidgePredictor.fit_statistics` fits from ``X^T X``, ``X^T y`` and ``y^T y``, which
:class:`~einnas.predictors.doa.DoADataset` keeps up to date as pairs arrive, so a refit costs
``O(d^3)`` (microseconds for NB201's 35 features) whatever the number of pairs.

:meth:`RidgePredictor.predict` also returns the Bayesian posterior standard deviation
``sigma * sqrt(x^T (X^T X + alpha I)^{-1} x)`` (``sigma^2`` = the residual variance), which a
strategy may use for exploration.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from einnas.predictors import Prediction
from einnas.predictors.encodings import FloatArray

__all__ = ["RidgePredictor"]


class RidgePredictor:
    """Closed-form ridge regression ``min_w |X w + b - y|^2 + alpha |w|^2``.

    Args:
        alpha: the L2 penalty (>= 0; 0 falls back to a least-squares solve with ``lstsq``).
        intercept: fit an intercept ``b`` (absolute predictors).  Leave it off for DoA rows, so
            that the model stays antisymmetric and predicts 0 for an empty delta.
    """

    def __init__(self, alpha: float = 1.0, intercept: bool = False) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.intercept = intercept
        self.coef_: FloatArray | None = None
        self.intercept_: float = 0.0
        self._x_mean: FloatArray | None = None
        self._cov: FloatArray | None = None  # (X^T X + alpha I)^{-1}
        self._sigma2: float = 0.0
        self._support: npt.NDArray[np.intp] | None = None  # see fit_statistics(support_only=)
        self._reg_gram: FloatArray | None = None  # X^T X + alpha I, inverted on demand

    def __repr__(self) -> str:
        return f"RidgePredictor(alpha={self.alpha}, intercept={self.intercept})"

    def fit(self, x: FloatArray, y: FloatArray) -> RidgePredictor:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"expected x of shape (n, d) and y of shape (n,), got {x.shape} and {y.shape}"
            )
        n, d = x.shape
        self._support = None
        self._reg_gram = None
        if n == 0:
            self.coef_ = np.zeros(d)
            self.intercept_ = 0.0
            self._x_mean = np.zeros(d)
            self._cov = np.eye(d) / max(self.alpha, 1e-12)
            self._sigma2 = 0.0
            return self
        if self.intercept:
            x_mean = x.mean(axis=0)
            y_mean = float(y.mean())
            xc = x - x_mean
            yc = y - y_mean
        else:
            x_mean = np.zeros(d)
            y_mean = 0.0
            xc, yc = x, y
        gram = xc.T @ xc
        if self.alpha > 0:
            gram[np.diag_indices(d)] += self.alpha
            cov = np.linalg.inv(gram)
            coef = cov @ (xc.T @ yc)
        else:
            coef = np.linalg.lstsq(xc, yc, rcond=None)[0]
            cov = np.linalg.pinv(gram)
        resid = yc - xc @ coef
        self.coef_ = coef
        self.intercept_ = y_mean
        self._x_mean = x_mean
        self._cov = cov
        self._sigma2 = float(resid @ resid) / max(n, 1)
        return self

    def fit_statistics(
        self,
        gram: FloatArray,
        xty: FloatArray,
        yty: float,
        n: int,
        *,
        support_only: bool = False,
        inverse: FloatArray | None = None,
    ) -> RidgePredictor:
        """Fit without intercept from ``X^T X``, ``X^T y``, ``y^T y`` and the row count ``n``.

        Equivalent to :meth:`fit` with ``intercept=False`` (up to rounding) but costs
        ``O(d^3)`` whatever ``n``: the DoA dataset keeps these statistics up to date as pairs
        arrive (:meth:`einnas.predictors.doa.DoADataset.sufficient_statistics`).

        ``support_only`` solves on the *used* columns only (non-zero diagonal of ``X^T X``), in
        ``O(s^3)`` for ``s`` used of ``d`` columns: the exact same model, since with ``alpha >
        0`` the matrix ``X^T X + alpha I`` is block diagonal, so an unused column gets weight 0
        and posterior variance ``1 / alpha`` either way -- only the rounding differs.  For wide,
        sparse encodings (einspace trees: ~600-800 columns, a search meets a few hundred).

        ``inverse``: ``(X^T X + alpha I)^{-1}`` when the caller keeps it up to date (the DoA
        dataset's :meth:`~einnas.predictors.doa.DoADataset.regularised_inverse`): the fit is then
        ``O(d^2)``.
        """
        if self.intercept:
            raise ValueError(
                "fit_statistics fits without intercept; build RidgePredictor(intercept=False)"
            )
        gram = np.array(gram, dtype=np.float64)
        xty = np.asarray(xty, dtype=np.float64)
        d = xty.shape[0]
        if gram.shape != (d, d):
            raise ValueError(f"expected X^T X of shape ({d}, {d}), got {gram.shape}")
        if support_only:
            if self.alpha <= 0:
                raise ValueError("support_only needs alpha > 0")
            return self._fit_support(gram, xty, yty, n)
        self._support = None
        gram[np.diag_indices(d)] += self.alpha
        # the inverse, not a solve: its rounding is what the recorded decisions were made with
        # (a solve flips a near-tie on NB201 seed 2); O(d^3) either way
        if inverse is not None:
            if inverse.shape != (d, d) or self.alpha <= 0:
                raise ValueError(f"inverse must be ({d}, {d}) with alpha > 0")
            cov: FloatArray = inverse
        else:
            cov = np.asarray(
                np.linalg.inv(gram) if self.alpha > 0 else np.linalg.pinv(gram), dtype=np.float64
            )
        coef: FloatArray = cov @ xty
        self._cov = cov
        self._reg_gram = None
        gram[np.diag_indices(d)] -= self.alpha
        rss = float(yty - 2.0 * coef @ xty + coef @ gram @ coef)
        self.coef_ = coef
        self.intercept_ = 0.0
        self._x_mean = np.zeros(d)
        self._sigma2 = max(rss, 0.0) / max(n, 1)
        return self

    def _fit_support(self, gram: FloatArray, xty: FloatArray, yty: float, n: int) -> RidgePredictor:
        d = xty.shape[0]
        support = np.flatnonzero(np.diag(gram) > 0)
        sub = gram[np.ix_(support, support)]
        sub[np.diag_indices(len(support))] += self.alpha
        cov: FloatArray = np.asarray(np.linalg.inv(sub), dtype=np.float64)
        coef_s: FloatArray = cov @ xty[support]
        sub[np.diag_indices(len(support))] -= self.alpha
        rss = float(yty - 2.0 * coef_s @ xty[support] + coef_s @ sub @ coef_s)
        coef = np.zeros(d, dtype=np.float64)
        coef[support] = coef_s
        self.coef_ = coef
        self.intercept_ = 0.0
        self._x_mean = np.zeros(d)
        self._cov = cov  # on the support; 1 / alpha on the identity elsewhere
        self._reg_gram = None
        self._support = support
        self._sigma2 = max(rss, 0.0) / max(n, 1)
        return self

    def predict_mean(self, x: FloatArray) -> FloatArray:
        """The mean of :meth:`predict` alone (the same numbers, without the posterior std)."""
        if self.coef_ is None or self._x_mean is None:
            raise RuntimeError("RidgePredictor.predict called before fit")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if self._support is not None:
            out: FloatArray = x[:, self._support] @ self.coef_[self._support]
            return out
        mean: FloatArray = (x - self._x_mean) @ self.coef_ + self.intercept_
        return mean

    def _covariance(self) -> FloatArray | None:
        if self._cov is None and self._reg_gram is not None:
            self._cov = np.asarray(np.linalg.inv(self._reg_gram), dtype=np.float64)
            self._reg_gram = None
        return self._cov

    def predict(self, x: FloatArray) -> Prediction:
        cov = self._covariance()
        if self.coef_ is None or self._x_mean is None or cov is None:
            raise RuntimeError("RidgePredictor.predict called before fit")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if self._support is not None:
            xs = x[:, self._support]
            mean = xs @ self.coef_[self._support]
            seen = np.einsum("ij,jk,ik->i", xs, cov, xs)
            unseen = (np.einsum("ij,ij->i", x, x) - np.einsum("ij,ij->i", xs, xs)) / self.alpha
            std = np.sqrt(self._sigma2 * np.maximum(seen + unseen, 0.0))
            return Prediction(mean, std)
        xc = x - self._x_mean
        mean = xc @ self.coef_ + self.intercept_
        quad = np.einsum("ij,ij->i", xc @ cov, xc)  # x^T C x per row, via one matmul
        std = np.sqrt(self._sigma2 * np.maximum(quad, 0.0))
        return Prediction(mean, std)
