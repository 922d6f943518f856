"""An ensemble of small MLPs in numpy, for DoA (pair) and absolute prediction.

All members are trained together as batched matrix products (weights of shape
``(members, fan_in, fan_out)``), with Adam on minibatches drawn with replacement -- so each member
sees its own bootstrap-like stream of rows and starts from its own initialisation, which is where
the ensemble's spread comes from.  Targets are standardised before training and mapped back on
prediction.

Cost is what matters here: a search refits the predictor from scratch before every decision
(the spec's "retrained from scratch after each batch of evaluations"), so training is a fixed
number of minibatch steps (default 100 steps of 128 rows) whatever the dataset size.  On two CPU
cores that is a few tens of milliseconds for 5 members of one hidden layer of 32 units.

``antisymmetric=True`` makes every member an odd function, ``g(x) = (h(x) - h(-x)) / 2``: the
right inductive bias for DoA rows without context, where the reversed pair ``(b, a)`` has row
``-delta`` and target ``-Delta``.  An odd model predicts exactly 0 for "no change" and can
never disagree with itself about a pair's two orders.

Determinism: everything random (initialisation, minibatches) comes from ``seed``; with the same
data and seed the fit is bit-identical on a given machine.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from einnas.predictors import Prediction
from einnas.predictors.encodings import FloatArray

__all__ = ["MLPEnsemble"]


class MLPEnsemble:
    """``members`` MLPs ``d -> hidden... -> 1`` (ReLU), trained with Adam; predicts mean and std.

    Args:
        members: ensemble size (5 by default, as in BANANAS and the Delta-NAS spec).
        hidden: hidden layer widths.
        steps: Adam steps per fit (each member one minibatch per step).
        batch_size: rows per minibatch (drawn with replacement, per member).
        lr: Adam learning rate.
        weight_decay: L2 penalty on the weights (decoupled, AdamW-style).
        loss: ``mse`` or ``mae``.
        antisymmetric: fit odd functions (DoA rows without context; see the module docstring).
        seed: seeds initialisation and minibatches.
    """

    def __init__(
        self,
        members: int = 5,
        hidden: tuple[int, ...] = (32,),
        steps: int = 100,
        batch_size: int = 128,
        lr: float = 0.01,
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
        self._weights: list[FloatArray] = []
        self._biases: list[FloatArray] = []
        self._y_mean = 0.0
        self._y_scale = 1.0
        self._fitted = False

    def __repr__(self) -> str:
        return (
            f"MLPEnsemble(members={self.members}, hidden={self.hidden}, steps={self.steps}, "
            f"antisymmetric={self.antisymmetric}, seed={self.seed})"
        )

    # -- network ----------------------------------------------------------------------------

    def _forward(self, x: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        """Outputs ``(E, n)`` for inputs ``x`` of shape ``(E, n, d)`` or ``(n, d)``; activations."""
        acts = [x]
        a = x
        last = len(self._weights) - 1
        for layer, (w, b) in enumerate(zip(self._weights, self._biases)):
            z = np.matmul(a, w) + b[:, None, :]
            a = z if layer == last else np.maximum(z, 0.0)
            acts.append(a)
        return a[..., 0], acts

    def _odd_forward(self, x: FloatArray) -> FloatArray:
        if not self.antisymmetric:
            return self._forward(x)[0]
        n = x.shape[-2]
        out = self._forward(np.concatenate([x, -x], axis=-2))[0]
        return 0.5 * (out[:, :n] - out[:, n:])

    def _init(self, d: int, rng: np.random.Generator) -> None:
        widths = (d, *self.hidden, 1)
        self._weights, self._biases = [], []
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            bound = np.sqrt(6.0 / max(fan_in, 1))  # He-uniform for ReLU layers
            if i == len(widths) - 2:
                bound = np.sqrt(3.0 / max(fan_in, 1))  # LeCun-uniform for the linear output
            self._weights.append(rng.uniform(-bound, bound, size=(self.members, fan_in, fan_out)))
            self._biases.append(np.zeros((self.members, fan_out)))

    # -- fit / predict ----------------------------------------------------------------------

    def fit(self, x: FloatArray, y: FloatArray) -> MLPEnsemble:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if x.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"expected x of shape (n, d) and y of shape (n,), got {x.shape} and {y.shape}")
        n, d = x.shape
        rng = np.random.default_rng(self.seed)
        self._init(d, rng)
        self._fitted = True
        if n == 0:
            self._y_mean, self._y_scale = 0.0, 1.0
            for w in self._weights[-1:]:
                w[...] = 0.0
            return self
        # Standardise targets (an odd model keeps mean 0: the pairs come in both orders).
        self._y_mean = 0.0 if self.antisymmetric else float(y.mean())
        scale = float(np.sqrt(np.mean((y - self._y_mean) ** 2)))
        self._y_scale = scale if scale > 1e-12 else 1.0
        ys = (y - self._y_mean) / self._y_scale

        params = [*self._weights, *self._biases]
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        n_layers = len(self._weights)
        batch = self.batch_size
        for step in range(1, self.steps + 1):
            idx = rng.integers(0, n, size=(self.members, batch))
            xb = x[idx]  # (E, B, d)
            yb = ys[idx]  # (E, B)
            if self.antisymmetric:
                out, acts = self._forward(np.concatenate([xb, -xb], axis=1))
                pred = 0.5 * (out[:, :batch] - out[:, batch:])
            else:
                out, acts = self._forward(xb)
                pred = out
            err = pred - yb
            g_pred = (2.0 * err if self.loss == "mse" else np.sign(err)) / batch
            g_out = 0.5 * np.concatenate([g_pred, -g_pred], axis=1) if self.antisymmetric else g_pred
            # backward
            grad_a = g_out[..., None]  # (E, n', 1)
            g_w: list[FloatArray] = [np.empty(0)] * n_layers
            g_b: list[FloatArray] = [np.empty(0)] * n_layers
            for layer in range(n_layers - 1, -1, -1):
                if layer != n_layers - 1:
                    grad_a = grad_a * (acts[layer + 1] > 0.0)
                g_w[layer] = np.matmul(acts[layer].transpose(0, 2, 1), grad_a)
                g_b[layer] = grad_a.sum(axis=1)
                if layer > 0:
                    grad_a = np.matmul(grad_a, self._weights[layer].transpose(0, 2, 1))
            grads = [*g_w, *g_b]
            c1 = 1.0 - beta1**step
            c2 = 1.0 - beta2**step
            for i, (p, g) in enumerate(zip(params, grads)):
                m1[i] *= beta1
                m1[i] += (1.0 - beta1) * g
                m2[i] *= beta2
                m2[i] += (1.0 - beta2) * g * g
                if i < n_layers and self.weight_decay:
                    p *= 1.0 - self.lr * self.weight_decay
                p -= self.lr * (m1[i] / c1) / (np.sqrt(m2[i] / c2) + eps)
        return self

    def predict_members(self, x: FloatArray) -> FloatArray:
        """Each member's predictions, shape ``(members, m)``, in target units."""
        if not self._fitted:
            raise RuntimeError("MLPEnsemble.predict called before fit")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        out = self._odd_forward(np.broadcast_to(x, (self.members, *x.shape)))
        return out * self._y_scale + self._y_mean

    def predict(self, x: FloatArray) -> Prediction:
        per_member = self.predict_members(x)
        return Prediction(per_member.mean(axis=0), per_member.std(axis=0))
