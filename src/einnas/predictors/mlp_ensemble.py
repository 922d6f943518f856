"""An ensemble of small MLPs in numpy, for DoA (pair) and absolute prediction.

All members are trained together as batched matrix products (weights of shape
``(members, fan_in, fan_out)``, ``float32``) with Adam.  Each member gets its own initialisation
and its own bootstrap of the rows, which is where the ensemble's spread comes from:

* ``n <= batch_size`` rows (e.g. an absolute predictor on a few dozen evaluations): full-batch
  steps on a per-member bootstrap, i.e. each row weighted by how often the member's resample
  drew it;
* more rows (a DoA dataset): minibatches of ``batch_size`` rows drawn with replacement per
  member and step.

Targets are standardised before training and mapped back on prediction.

Cost is what matters here: a search refits the predictor from scratch before every decision
(the spec's "retrained from scratch after each batch of evaluations"), so training is a fixed,
small number of steps (default 60 minibatches of 128) whatever the dataset size.  On NB201 a
Delta-NAS decision (fit + scoring) then takes a median ~21 ms (~25 ms between queries 100 and
150) on two CPU cores; a BANANAS decision (155 path features) ~47 ms.

``antisymmetric=True`` makes every member an odd function, ``g(-x) = -g(x)``: the right inductive
bias for DoA rows without context, where the reversed pair ``(b, a)`` has row ``-delta`` and
target ``-Delta``.  It is built in, not learned: the members have no biases and an odd activation
(``tanh``), so an odd model predicts exactly 0 for "no change" and never disagrees with itself
about the two orders of a pair.  Otherwise members are ReLU MLPs with biases.

Determinism: everything random (initialisation, bootstraps, minibatches) comes from ``seed``;
with the same data and seed the fit is bit-identical on a given machine.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
import numpy.typing as npt

from einnas.predictors import Prediction
from einnas.predictors.encodings import FloatArray

__all__ = ["MLPEnsemble"]

_F32 = npt.NDArray[np.float32]


class MLPEnsemble:
    """``members`` MLPs ``d -> hidden... -> 1``, trained with Adam; predicts mean and std.

    Args:
        members: ensemble size (5 by default, as in BANANAS and the Delta-NAS spec).
        hidden: hidden layer widths.
        steps: Adam steps per fit.
        batch_size: rows per minibatch; datasets no larger than this train full-batch.
        lr: Adam learning rate.
        weight_decay: decoupled (AdamW-style) L2 penalty on the weights.
        loss: ``mse`` or ``mae``.
        antisymmetric: odd members (``tanh``, no biases); see the module docstring.
        seed: seeds initialisation, bootstraps and minibatches.
    """

    def __init__(
        self,
        members: int = 5,
        hidden: tuple[int, ...] = (32,),
        steps: int = 60,
        batch_size: int = 128,
        lr: float = 0.02,
        weight_decay: float = 1e-4,
        loss: Literal["mse", "mae"] = "mse",
        antisymmetric: bool = False,
        seed: int = 0,
    ) -> None:
        if members < 1 or steps < 0 or batch_size < 1 or any(h < 1 for h in hidden):
            raise ValueError("members, batch_size and hidden widths must be >= 1 and steps >= 0")
        if loss not in ("mse", "mae"):
            raise ValueError(f"loss must be 'mse' or 'mae', got {loss!r}")
        self.members = members
        self.hidden = tuple(hidden)
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.antisymmetric = antisymmetric
        self.seed = seed
        self._weights: list[_F32] = []
        self._biases: list[_F32] = []
        self._y_mean = 0.0
        self._y_scale = 1.0
        self._fitted = False

    def __repr__(self) -> str:
        return (
            f"MLPEnsemble(members={self.members}, hidden={self.hidden}, steps={self.steps}, "
            f"antisymmetric={self.antisymmetric}, seed={self.seed})"
        )

    # -- network ----------------------------------------------------------------------------

    def _act(self, z: _F32) -> _F32:
        return np.tanh(z) if self.antisymmetric else np.maximum(z, np.float32(0.0))

    def _forward(self, x: _F32) -> tuple[_F32, list[_F32]]:
        """Outputs ``(E, n)`` for inputs of shape ``(E, n, d)`` or ``(n, d)``, and activations."""
        acts = [x]
        a = x
        last = len(self._weights) - 1
        for layer, w in enumerate(self._weights):
            z = np.matmul(a, w)
            if not self.antisymmetric:
                z += self._biases[layer][:, None, :]
            a = z if layer == last else self._act(z)
            acts.append(a)
        return a[..., 0], acts

    def _init(self, d: int, rng: np.random.Generator) -> None:
        widths = (d, *self.hidden, 1)
        self._weights, self._biases = [], []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            gain = 3.0 if (i == len(widths) - 2 or self.antisymmetric) else 6.0
            bound = np.sqrt(gain / max(fan_in, 1))  # LeCun- (linear, tanh) or He-uniform (ReLU)
            w = rng.uniform(-bound, bound, size=(self.members, fan_in, fan_out))
            self._weights.append(w.astype(np.float32))
            self._biases.append(np.zeros((self.members, fan_out), dtype=np.float32))

    # -- fit / predict ----------------------------------------------------------------------

    def fit(self, x: FloatArray, y: FloatArray) -> MLPEnsemble:
        x64 = np.asarray(x, dtype=np.float64)
        y64 = np.asarray(y, dtype=np.float64).reshape(-1)
        if x64.ndim != 2 or x64.shape[0] != y64.shape[0]:
            raise ValueError(
                f"expected x of shape (n, d) and y of shape (n,), got {x64.shape} and {y64.shape}"
            )
        n, d = x64.shape
        rng = np.random.default_rng(self.seed)
        self._init(d, rng)
        self._fitted = True
        if n == 0:
            self._y_mean, self._y_scale = 0.0, 1.0
            self._weights[-1][...] = 0.0
            return self
        # Standardise targets (an odd model keeps mean 0: the pairs come in both orders).
        self._y_mean = 0.0 if self.antisymmetric else float(y64.mean())
        scale = float(np.sqrt(np.mean((y64 - self._y_mean) ** 2)))
        self._y_scale = scale if scale > 1e-12 else 1.0
        xs = x64.astype(np.float32)
        ys = ((y64 - self._y_mean) / self._y_scale).astype(np.float32)

        full_batch = n <= self.batch_size
        if full_batch:  # per-member bootstrap as row weights; inputs shared by all members
            counts = np.stack(
                [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(self.members)]
            )
            row_w = (counts / n).astype(np.float32)  # (E, n), rows sum to 1
            xb_full = xs
            yb_full = np.broadcast_to(ys, (self.members, n))

        use_bias = not self.antisymmetric
        params = [*self._weights, *(self._biases if use_bias else [])]
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        n_layers = len(self._weights)
        decay = np.float32(1.0 - self.lr * self.weight_decay)
        for step in range(1, self.steps + 1):
            if full_batch:
                xb, yb, wb = xb_full, yb_full, row_w
            else:
                idx = rng.integers(0, n, size=(self.members, self.batch_size))
                xb, yb = xs[idx], ys[idx]
                wb = np.full(idx.shape, 1.0 / self.batch_size, dtype=np.float32)
            pred, acts = self._forward(xb)
            err = pred - yb
            g_out = (2.0 * err if self.loss == "mse" else np.sign(err)) * wb
            grad_a = g_out[..., None].astype(np.float32)  # (E, n', 1)
            g_w: list[_F32] = [np.empty(0, np.float32)] * n_layers
            g_b: list[_F32] = [np.empty(0, np.float32)] * n_layers
            for layer in range(n_layers - 1, -1, -1):
                if layer != n_layers - 1:
                    a = acts[layer + 1]
                    grad_a = grad_a * ((1.0 - a * a) if self.antisymmetric else (a > 0.0))
                a_in = acts[layer]
                if a_in.ndim == 2:  # shared inputs (full batch, first layer)
                    g_w[layer] = np.matmul(a_in.T, grad_a)
                else:
                    g_w[layer] = np.matmul(a_in.transpose(0, 2, 1), grad_a)
                if use_bias:
                    g_b[layer] = grad_a.sum(axis=1)
                if layer > 0:
                    grad_a = np.matmul(grad_a, self._weights[layer].transpose(0, 2, 1))
            grads = [*g_w, *(g_b if use_bias else [])]
            step_size = self.lr * np.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
            for i, (p, g) in enumerate(zip(params, grads)):
                m1[i] *= beta1
                m1[i] += (1.0 - beta1) * g
                m2[i] *= beta2
                m2[i] += (1.0 - beta2) * (g * g)
                if i < n_layers and self.weight_decay:
                    p *= decay
                p -= (step_size * m1[i] / (np.sqrt(m2[i]) + eps)).astype(np.float32)
        return self

    def predict_members(self, x: FloatArray) -> FloatArray:
        """Each member's predictions, shape ``(members, m)``, in target units."""
        if not self._fitted:
            raise RuntimeError("MLPEnsemble.predict called before fit")
        xs = np.asarray(x, dtype=np.float32)
        if xs.ndim == 1:
            xs = xs[None, :]
        out = self._forward(xs)[0].astype(np.float64)
        return out * self._y_scale + self._y_mean

    def predict(self, x: FloatArray) -> Prediction:
        per_member = self.predict_members(x)
        return Prediction(per_member.mean(axis=0), per_member.std(axis=0))
