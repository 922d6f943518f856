"""The probabilistic grammar: rule probabilities, valid options per context, log-probability and
the consistency (sub-criticality) check.

Probabilities (einspace.md §1.4, DECISIONS.md §1): at ``S`` the three module rules are uniform;
at ``M``, ``p(M -> C) = computation_prob`` (0.32) and the rest is shared equally among the other
available rules; every terminal level is uniform over the options that are valid in the current
context (mode, shape, branching factor).  A module at depth >= ``max_depth`` must be a
computation.

``log_prob(tree)`` is the log-probability of the derivation under this parameterised PCFG: the
product of the chosen rule's probability at every node, each conditioned on its context.  It does
not renormalise for the rejection of samples that exceed a budget (the sampler's restarts), so it
is the PCFG's own probability, the natural quantity for comparing trees.  Trees using the
extension terminals that seeds need (``linear_x4``, ``im2col(7,2,3)``, ...) have probability 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from einnas.grammar.features import Feature, ShapeError
from einnas.grammar.inference import ROLE_ROOT, analyze
from einnas.grammar.terminals import (
    Terminal,
    aggregate_options,
    apply_aggregate,
    apply_branch,
    apply_compute,
    apply_post,
    apply_pre,
    branch_options,
    compute_options,
    post_options,
    pre_options,
)
from einnas.grammar.tree import Module, module_type

DEFAULT_COMPUTATION_PROB = 0.32
DEFAULT_MAX_DEPTH = 100

ROOT_TYPES = ("sequential", "branching", "routing")
MODULE_TYPES = ("sequential", "branching", "routing", "computation")


@dataclass(eq=False)
class Grammar:
    """einspace's PCFG for inputs with ``dims`` spatial dimensions (2: images, 1: sequences)."""

    dims: int = 2
    computation_prob: float = DEFAULT_COMPUTATION_PROB
    max_depth: int = DEFAULT_MAX_DEPTH
    branch: tuple[Terminal, ...] = field(init=False)
    aggregate: tuple[Terminal, ...] = field(init=False)
    pre: tuple[Terminal, ...] = field(init=False)
    post: tuple[Terminal, ...] = field(init=False)
    compute: tuple[Terminal, ...] = field(init=False)
    _cache: dict[tuple[object, ...], tuple[object, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {self.dims}")
        if not 0.0 < self.computation_prob < 1.0:
            raise ValueError(f"computation_prob must lie in (0, 1), got {self.computation_prob}")
        self.branch = branch_options(self.dims)
        self.aggregate = aggregate_options(self.dims)
        self.pre = pre_options(self.dims)
        self.post = post_options(self.dims)
        self.compute = compute_options(self.dims)
        self._cache = {}
        rho = self.spectral_radius()
        if rho >= 1.0:
            warnings.warn(
                f"einspace PCFG with p(M->C) = {self.computation_prob} is not sub-critical "
                f"(spectral radius {rho:.3f} >= 1): expected tree size is infinite; "
                f"use p(M->C) > {self.critical_computation_prob():.4f}",
                stacklevel=2,
            )

    @classmethod
    def for_input(cls, shape: tuple[int, ...], **kwargs: float | int) -> Grammar:
        """The grammar for an input ``(C, H, W)`` (2D space) or ``(C, L)`` (1D space)."""
        return cls(dims=len(shape) - 1, **kwargs)  # type: ignore[arg-type]

    # -- module rules -----------------------------------------------------------------------
    def module_options(self, depth: int, root: bool) -> tuple[str, ...]:
        if root:
            return ROOT_TYPES
        if depth >= self.max_depth:
            return ("computation",)
        return MODULE_TYPES

    def module_weights(self, options: tuple[str, ...] | list[str]) -> list[float]:
        """Relative weights: computation keeps p, the others share (1 - p) equally."""
        n = len(options)
        if "computation" not in options:
            return [1.0 / n] * n
        if n == 1:
            return [1.0]
        other = (1.0 - self.computation_prob) / (n - 1)
        return [self.computation_prob if o == "computation" else other for o in options]

    # -- valid terminal options (cached per context) ------------------------------------------
    def valid_branch(self, x: Feature) -> tuple[tuple[Terminal, int, Feature], ...]:
        key = ("B", x)
        hit = self._cache.get(key)
        if hit is None:
            found = []
            for t in self.branch:
                try:
                    b, y = apply_branch(t, x)
                except ShapeError:
                    continue
                found.append((t, b, y))
            hit = self._cache[key] = tuple(found)
        return hit  # type: ignore[return-value]

    def valid_aggregate(
        self, b: int, outs: tuple[Feature, ...]
    ) -> tuple[tuple[Terminal, Feature], ...]:
        key = ("A", b, outs[0], outs[-1])  # b = 4/8 branches are copies of one structure
        hit = self._cache.get(key)
        if hit is None:
            found = []
            for t in self.aggregate:
                try:
                    found.append((t, apply_aggregate(t, b, outs)))
                except ShapeError:
                    continue
            hit = self._cache[key] = tuple(found)
        return hit  # type: ignore[return-value]

    def valid_pre(self, x: Feature) -> tuple[tuple[Terminal, Feature, tuple[int, ...] | None], ...]:
        key = ("P", x)
        hit = self._cache.get(key)
        if hit is None:
            found = []
            for t in self.pre:
                # the sampled grammar offers im2col(k, ...) only when every spatial size is >= k
                # (einspace.md §2.3); parsed trees may use padding to go below that
                if t.family == "im2col" and any(n < t.args[0] for n in x.shape[1:]):
                    continue
                try:
                    y, fold = apply_pre(t, x)
                except ShapeError:
                    continue
                found.append((t, y, fold))
            hit = self._cache[key] = tuple(found)
        return hit  # type: ignore[return-value]

    def valid_post(
        self, x: Feature, fold: tuple[int, ...] | None
    ) -> tuple[tuple[Terminal, Feature], ...]:
        key = ("R", x, fold)
        hit = self._cache.get(key)
        if hit is None:
            found = []
            for t in self.post:
                try:
                    found.append((t, apply_post(t, x, fold)))
                except ShapeError:
                    continue
            hit = self._cache[key] = tuple(found)
        return hit  # type: ignore[return-value]

    def valid_compute(self, x: Feature) -> tuple[tuple[Terminal, Feature], ...]:
        key = ("C", x)
        hit = self._cache.get(key)
        if hit is None:
            found = []
            for t in self.compute:
                try:
                    found.append((t, apply_compute(t, x)))
                except ShapeError:
                    continue
            hit = self._cache[key] = tuple(found)
        return hit  # type: ignore[return-value]

    # -- consistency ------------------------------------------------------------------------
    def expected_inner_modules(self) -> float:
        """Expected number of distinct inner modules of a branching module under the B prior."""
        p2 = sum(1 for t in self.branch if t.args[0] == 2) / len(self.branch)
        return 2.0 * p2 + 1.0 * (1.0 - p2)

    def expectation_matrix(self, computation_prob: float | None = None) -> np.ndarray:
        """Expected number of (S, M) children of an (S, M) node; index 0 = S, 1 = M."""
        p = self.computation_prob if computation_prob is None else computation_prob
        inner = self.expected_inner_modules()
        m_children_of = {"sequential": 2.0, "branching": inner, "routing": 1.0, "computation": 0.0}
        q = (1.0 - p) / 3.0
        e_mm = sum(q * m_children_of[t] for t in ROOT_TYPES)  # computation has no M children
        e_sm = sum(m_children_of[t] / 3.0 for t in ROOT_TYPES)
        return np.array([[0.0, e_sm], [0.0, e_mm]])

    def spectral_radius(self, computation_prob: float | None = None) -> float:
        eig = np.linalg.eigvals(self.expectation_matrix(computation_prob))
        return float(np.max(np.abs(eig)))

    def critical_computation_prob(self) -> float:
        """Smallest p(M -> C) for which the PCFG is sub-critical (spectral radius < 1)."""
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.spectral_radius(mid) >= 1.0:
                lo = mid
            else:
                hi = mid
        return hi

    # -- probability of a tree --------------------------------------------------------------
    def log_prob(self, tree: Module, input_shape: tuple[int, ...] | Feature) -> float:
        """Log-probability of ``tree``'s derivation (``-inf`` if it uses non-grammar symbols)."""
        total = 0.0
        for info in analyze(tree, input_shape).nodes:
            node = info.node
            if info.role in (ROLE_ROOT, "M"):
                assert not isinstance(node, Terminal)
                options = self.module_options(info.depth, info.role == ROLE_ROOT)
                kind = module_type(node)
                if kind not in options:
                    return -math.inf
                weights = self.module_weights(options)
                total += math.log(weights[options.index(kind)] / sum(weights))
                continue
            assert isinstance(node, Terminal)
            valid: tuple[Terminal, ...]
            if info.role == "B":
                valid = tuple(t for t, _, _ in self.valid_branch(info.input))
            elif info.role == "A":
                valid = tuple(t for t, _ in self.valid_aggregate(info.factor, info.branch_outputs))
            elif info.role == "P":
                valid = tuple(t for t, _, _ in self.valid_pre(info.input))
            elif info.role == "R":
                valid = tuple(t for t, _ in self.valid_post(info.input, info.fold))
            else:
                valid = tuple(t for t, _ in self.valid_compute(info.input))
            if node not in valid:
                return -math.inf
            total -= math.log(len(valid))
        return total
