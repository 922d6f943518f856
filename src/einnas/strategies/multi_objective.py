"""Multi-objective strategies: Pareto fronts of accuracy against size, compute and latency.

Each strategy reads its objectives from the ``objectives`` option (``"val:max,latency:min"``
or :class:`~einnas.objectives.Objective` objects; see :mod:`einnas.objectives`) and each
trial's values from the history: ``val`` plus the trial's metrics
(:attr:`~einnas.strategies.base.Observation.metrics`).  A trial lacking one of the objectives
(a failed evaluation, or an evaluator that does not record it) takes no part in the ranking.
Like every strategy they are functions of the history (module :mod:`einnas.strategies.base`).

* ``mo-rs``: random search (the front of random samples: the baseline).
* ``mo-re``: NSGA-II-style selection with aging: the population is the ``population`` most
  recent trials with all objective values; a tournament of ``tournament`` members is won by
  the lowest non-domination rank (within the population), then the largest crowding distance,
  then the earliest proposal; the child is a new mutation of the winner.  The first
  ``population`` decisions are random.
* ``mo-delta-nas``: Delta-NAS with one difference predictor per objective.  After ``n_init``
  random decisions, each decision fits, for every objective, a ridge regression of the value
  *difference* between two evaluated architectures on the difference of their encodings (pairs
  within ``radius`` edits, plus every parent-child pair; values standardised per objective).
  Candidates are the unseen single-edit neighbours (slot spaces) or ``mutations`` sampled
  mutations (trees) of up to ``parents`` members of the current Pareto front; a candidate's
  predicted vector is its parent's values plus the predicted differences, and the candidate with
  the largest predicted hypervolume improvement over the current front wins (when no candidate
  improves it, the one closest to the front by the additive epsilon indicator).  With
  probability ``eps`` a random mutation of a random front member is proposed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.objectives import Objective, objective_values, parse_objectives, to_minimisation
from einnas.pareto import (
    crowding_distance,
    hypervolume,
    non_dominated_sort,
    pareto_front,
    reference_point,
)
from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy

__all__ = [
    "DEFAULT_OBJECTIVES",
    "MODeltaNAS",
    "MORandomSearch",
    "MORegularisedEvolution",
    "MOStrategy",
    "scored_history",
]

DEFAULT_OBJECTIVES = "val:max,params:min"
"""The objectives when none are given: validation accuracy against parameter count."""

FloatArray = npt.NDArray[np.float64]


def scored_history(
    history: Sequence[Observation], objectives: Sequence[Objective]
) -> tuple[list[Observation], FloatArray]:
    """The trials with every objective value, and their values as minimised rows."""
    kept: list[Observation] = []
    rows: list[tuple[float, ...]] = []
    for o in history:
        if not o.ok:
            continue
        v = objective_values(objectives, o.val, o.metrics)
        if v is not None:
            kept.append(o)
            rows.append(v)
    values = to_minimisation(np.asarray(rows, dtype=np.float64), objectives)
    return kept, values.reshape(len(kept), len(objectives))


class MOStrategy(Strategy):
    """Base of the multi-objective strategies: holds the objectives."""

    name = "mo"

    def __init__(self, objectives: str | Sequence[str | Objective] | None = None) -> None:
        self.objectives = parse_objectives(objectives or DEFAULT_OBJECTIVES)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "objectives": [str(o) for o in self.objectives]}

    def scored(self, ctx: ProposalContext) -> tuple[list[Observation], FloatArray]:
        obs, values = scored_history(ctx.history, self.objectives)
        if not obs and sum(1 for o in ctx.history if o.ok) >= 5:
            names = ", ".join(o.name for o in self.objectives)
            raise ValueError(
                f"{self.name}: no finished trial records all of the objectives ({names}); "
                "the evaluator's metrics must hold them (see einnas.objectives)"
            )
        return obs, values


class MORandomSearch(MOStrategy):
    """Random samples (the multi-objective baseline; the objectives are only recorded)."""

    name = "mo-rs"

    def propose(self, ctx: ProposalContext) -> Proposal:
        return ctx.fresh_sample()


class MORegularisedEvolution(MOStrategy):
    """NSGA-II ranking and crowding with aging (see the module docstring)."""

    name = "mo-re"

    def __init__(
        self,
        objectives: str | Sequence[str | Objective] | None = None,
        population: int = 30,
        tournament: int = 10,
    ) -> None:
        super().__init__(objectives)
        if population < 1 or tournament < 1:
            raise ValueError(
                f"population ({population}) and tournament ({tournament}) must be >= 1"
            )
        self.population = population
        self.tournament = tournament

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "population": self.population, "tournament": self.tournament}

    def propose(self, ctx: ProposalContext) -> Proposal:
        if ctx.index < self.population:
            return ctx.fresh_sample()
        obs, values = self.scored(ctx)
        obs, values = obs[-self.population :], values[-self.population :]
        if not obs:
            return ctx.fresh_sample()
        rank = np.zeros(len(obs), dtype=np.int64)
        crowd = np.zeros(len(obs))
        for r, front in enumerate(non_dominated_sort(values)):
            rank[front] = r
            crowd[front] = crowding_distance(values[front])
        size = min(self.tournament, len(obs))
        picks = ctx.rng.choice(len(obs), size=size, replace=False)
        winner = min((int(i) for i in picks), key=lambda i: (rank[i], -crowd[i], obs[i].proposal))
        child = ctx.fresh_mutation(obs[winner])
        return child if child is not None else ctx.fresh_sample()


class MODeltaNAS(MOStrategy):
    """Per-objective difference predictors choosing by predicted hypervolume improvement."""

    name = "mo-delta-nas"

    def __init__(
        self,
        objectives: str | Sequence[str | Objective] | None = None,
        n_init: int = 10,
        radius: int = 2,
        parents: int = 5,
        mutations: int = 20,
        eps: float = 0.1,
        alpha: float = 1.0,
        encoding: str = "default",
    ) -> None:
        super().__init__(objectives)
        if n_init < 1 or parents < 1 or mutations < 1 or radius < 1:
            raise ValueError("n_init, parents, mutations and radius must be >= 1")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must be in [0, 1], got {eps}")
        self.n_init = n_init
        self.radius = radius
        self.parents = parents
        self.mutations = mutations
        self.eps = eps
        self.alpha = alpha
        self.encoding = encoding
        self._encoder: Any = None
        self._encoder_space: Any = None

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "n_init": self.n_init,
            "radius": self.radius,
            "parents": self.parents,
            "mutations": self.mutations,
            "eps": self.eps,
            "alpha": self.alpha,
            "encoding": self.encoding,
        }

    def _encoder_of(self, space: Any) -> Any:
        if self._encoder is None or self._encoder_space is not space:
            from einnas.strategies.delta_nas import doa_encoder

            self._encoder = doa_encoder(space, self.encoding)
            self._encoder_space = space
        return self._encoder

    def _pairs(self, ctx: ProposalContext, obs: Sequence[Observation]) -> list[tuple[int, int]]:
        n = len(obs)
        pairs: set[tuple[int, int]] = set()
        by_trial = {o.trial: i for i, o in enumerate(obs)}
        for j, o in enumerate(obs):
            if o.parent is not None and o.parent in by_trial:
                pairs.add((by_trial[o.parent], j))
        archs = [o.arch for o in obs]
        if n > 1 and all(isinstance(a, tuple) for a in archs):
            a = np.asarray(archs)
            dist = (a[:, None, :] != a[None, :, :]).sum(axis=2)
            ii, jj = np.nonzero(np.triu(dist <= self.radius, k=1))
            pairs.update(zip(ii.tolist(), jj.tolist()))
        elif n > 1:  # trees: every pair among the most recent 40
            start = max(0, n - 40)
            pairs.update((i, j) for i in range(start, n) for j in range(i + 1, n))
        return sorted(pairs)

    def propose(self, ctx: ProposalContext) -> Proposal:
        if ctx.index < self.n_init:
            return ctx.fresh_sample()
        obs, values = self.scored(ctx)
        if len(obs) < 2:
            return ctx.fresh_sample()
        front = pareto_front(values)
        explore = ctx.rng.random() < self.eps
        if explore:
            parent = obs[front[int(ctx.rng.integers(len(front)))]]
            child = ctx.fresh_mutation(parent)
            return child if child is not None else ctx.fresh_sample()
        from einnas.predictors.encodings import encode_many
        from einnas.predictors.ridge import RidgePredictor

        encoder = self._encoder_of(ctx.space)
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = (values - mean) / scale
        enc = encode_many(encoder, [o.arch for o in obs])
        pairs = self._pairs(ctx, obs)
        ia = np.asarray([p[0] for p in pairs], dtype=np.intp)
        ib = np.asarray([p[1] for p in pairs], dtype=np.intp)
        x = np.concatenate([enc[ib] - enc[ia], enc[ia] - enc[ib]]) if pairs else enc[:0]
        models = []
        for j in range(z.shape[1]):
            y = np.concatenate([z[ib, j] - z[ia, j], z[ia, j] - z[ib, j]]) if pairs else z[:0, j]
            models.append(RidgePredictor(alpha=self.alpha).fit(x, y))
        # parents: front members, extremes and sparse regions first (crowding), then by order
        crowd = crowding_distance(z[front])
        order = sorted(range(len(front)), key=lambda i: (-crowd[i], obs[front[i]].proposal))
        chosen = [front[i] for i in order[: self.parents]]
        cand_archs: list[Any] = []
        cand_parent: list[int] = []
        cand_ids: set[str] = set()
        neighbours = getattr(ctx.space, "neighbours", None)
        for p in chosen:
            if neighbours is not None:
                options = list(neighbours(obs[p].arch))
            else:
                options = []
                for _ in range(self.mutations):
                    got = ctx.fresh_mutation(obs[p])
                    if got is not None:
                        options.append(got.arch)
            for arch in options:
                ident = ctx.space.identity(arch)
                if ident in ctx.seen or ident in cand_ids:
                    continue
                cand_ids.add(ident)
                cand_archs.append(arch)
                cand_parent.append(p)
        if not cand_archs:
            child = ctx.fresh_mutation(obs[front[0]])
            return child if child is not None else ctx.fresh_sample()
        cand_enc = encode_many(encoder, cand_archs)
        parent_idx = np.asarray(cand_parent, dtype=np.intp)
        d = cand_enc - enc[parent_idx]
        pred = z[parent_idx].copy()
        for j, model in enumerate(models):
            pred[:, j] += model.predict(d).mean.reshape(-1)
        ref = reference_point(z, 0.1)
        fz = z[front]
        base = hypervolume(fz, ref)
        scores = np.empty(len(cand_archs))
        for c in range(len(cand_archs)):
            gain = hypervolume(np.vstack([fz, pred[c]]), ref) - base
            if gain > 1e-12:
                scores[c] = gain
            else:  # additive epsilon: how far the candidate is from being non-dominated
                scores[c] = -float(np.min(np.max(pred[c][None, :] - fz, axis=1)))
        best = int(np.argmax(scores))
        p = cand_parent[best]
        return Proposal(cand_archs[best], parent=obs[p].trial, note="mo-delta")
