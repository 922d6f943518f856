"""BANANAS-style baseline: an absolute accuracy predictor with mutation-based acquisition.

White, Neiswanger & Savani (AAAI 2021): an ensemble of MLPs predicts the accuracy of an
architecture from its *path encoding*; candidates are mutations of the best architectures so far;
the next architecture maximises an acquisition function (independent Thompson sampling by
default).  Our version, the absolute-predictor baseline of the Delta-NAS comparison
(``spec/delta-nas.md``, "How we measure it"):

.. code-block:: text

    evaluate n_init random architectures                                   (default 10)
    each decision:
        fit an ensemble of 5 MLPs on (encoding(a), f(a)) for every evaluated a
        cands = unevaluated single-edit neighbours of the top `parents` architectures
                (spaces without neighbours: `mutations` sampled mutations per parent)
        acquisition: its  -- a draw from N(mean, std) per candidate (independent Thompson
                             sampling, the BANANAS default),
                     mean -- the ensemble mean,
                     ucb  -- mean + beta * std
        propose the candidate with the highest acquisition value

Encoding: the NB201 path encoding (155 features) where the space has one, else the one-hot slot
encoding (``encoding="auto"``).  Predictor and candidate code are shared with Delta-NAS (the
:class:`~einnas.predictors.mlp_ensemble.MLPEnsemble` in absolute mode;
:func:`~einnas.strategies.delta_nas.parent_candidates`); the only difference between the two
strategies' model-based steps is *what* is predicted: ``f(cand)`` here, ``f(parent) +
g(delta(parent, cand))`` there.  Queries are proposed one at a time (NASLib's BANANAS evaluates
10 per fit; here each decision refits, which can only help the baseline).

Results on NB201 (100 seeds, against Delta-NAS, RE and LS) are in the docstring of
:mod:`einnas.strategies.delta_nas`; BANANAS is the strongest of the baselines at 100 queries.

Determinism: the MLP seed is drawn from ``(seed, decision)``; Thompson draws come from the
decision's RNG; the strategy keeps no state except an encoding/identity cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from einnas.predictors import Predictor, make_predictor
from einnas.predictors.encodings import Encoder, make_encoder
from einnas.predictors.support import OnSupport
from einnas.predictors.tree_features import TreeFeatures
from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy
from einnas.strategies.delta_nas import (
    IdentityCache,
    is_tree_space,
    mutation_candidates,
    parent_candidates,
)
from einnas.strategies.seeding import seed_phase_length, seeded_start

__all__ = ["Bananas"]

Acquisition = Literal["its", "mean", "ucb"]


class Bananas(Strategy):
    """Ensemble-MLP absolute predictor + mutation-based acquisition (see the module docstring).

    Args:
        n_init: random architectures evaluated first.
        parents: number of top architectures whose neighbours (or mutations) are candidates
            (2, as NASLib's ``num_arches_to_mutate``; on NB201 CIFAR-10, 30 seeds, 2 beat 5 and
            10 at 50 and 100 queries: 94.15 / 94.25 vs 94.03 / 94.20 and 93.96 / 94.12).
        mutations: candidates per parent in spaces without a finite neighbourhood.
        acquisition: ``its`` (independent Thompson sampling), ``mean`` or ``ucb``.
        beta: UCB exploration weight.
        encoding: ``auto`` (path where the space has it, the tree feature map
            :class:`~einnas.predictors.tree_features.TreeFeatures` on einspace, else one-hot),
            ``path`` or ``onehot``.
        members, hidden, steps: the MLP ensemble (5 members, as in BANANAS; one hidden layer
            of 32 and 100 Adam steps keep a refit near 50 ms on two cores -- BANANAS' deeper
            nets gave the same search results at 4x the cost).
        encoder: an explicit :class:`~einnas.predictors.encodings.Encoder` (overrides
            ``encoding``).
        predictor: the absolute predictor, by name in :mod:`einnas.registry` (default ``mlp``,
            the ensemble; it gets ``members``, ``hidden`` and ``steps``).
        seed_archs: architecture texts evaluated first, then mutated for the rest of the start
            phase instead of random samples (:mod:`einnas.strategies.seeding`).
        seeded_init: with ``seed_archs``, the start phase's length (default ``n_init``).
        (Thompson sampling beat the plain mean, 94.03 / 94.20 vs 93.94 / 94.11, and is the
        default.)

    On einspace (tree spaces) the candidates are ``mutations`` sampled mutations of each parent
    with their records (:func:`~einnas.strategies.delta_nas.mutation_candidates`) and the
    predictor reads ``phi(tree)``; :func:`einnas.strategies.make_strategy` gives it the same
    start length as Delta-NAS there (``n_init``, ``seeded_init``); unlike Delta-NAS it does not
    bound the size of the edits it scores.
    """

    name = "bananas"

    def __init__(
        self,
        n_init: int = 10,
        parents: int = 2,
        mutations: int = 20,
        acquisition: Acquisition = "its",
        beta: float = 1.0,
        encoding: Literal["auto", "path", "onehot"] = "auto",
        members: int = 5,
        hidden: tuple[int, ...] = (32,),
        steps: int = 100,
        encoder: Encoder | None = None,
        seed_archs: Sequence[str] = (),
        seeded_init: int | None = None,
        predictor: str = "mlp",
    ) -> None:
        from einnas.registry import get_predictor

        predictor = get_predictor(predictor).name  # unknown: a ValueError naming the choices
        if seeded_init is not None and seeded_init < 1:
            raise ValueError(f"seeded_init must be >= 1 (or None for n_init), got {seeded_init}")
        if n_init < 1 or parents < 1 or mutations < 1 or members < 1:
            raise ValueError("n_init, parents, mutations and members must be >= 1")
        if acquisition not in ("its", "mean", "ucb"):
            raise ValueError(f"acquisition must be its, mean or ucb, got {acquisition!r}")
        self.n_init = n_init
        self.parents = parents
        self.mutations = mutations
        self.acquisition = acquisition
        self.beta = beta
        self.encoding = encoding
        self.members = members
        self.hidden = tuple(hidden)
        self.steps = steps
        self.encoder = encoder
        self.seed_archs = tuple(dict.fromkeys(seed_archs))  # distinct, in the given order
        self.seeded_init = seeded_init
        self.predictor = predictor
        self._ids = IdentityCache()
        self._space: Any = None
        self._encoder: Encoder | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_init": self.n_init,
            "parents": self.parents,
            "mutations": self.mutations,
            "acquisition": self.acquisition,
            "beta": self.beta,
            "encoding": self.encoding,
            "members": self.members,
            "hidden": list(self.hidden),
            "steps": self.steps,
            # recorded only when set, so that studies logged before these knobs still resume
            **({"encoder": repr(self.encoder)} if self.encoder is not None else {}),
            **({"seed_archs": list(self.seed_archs)} if self.seed_archs else {}),
            **({"seeded_init": self.seeded_init} if self.seeded_init is not None else {}),
            **({"predictor": self.predictor} if self.predictor != "mlp" else {}),
        }

    def _encoder_for(self, space: Any) -> Encoder:
        if self._encoder is None or space is not self._space:
            self._space = space
            if self.encoder is not None:
                self._encoder = self.encoder
            elif self.encoding == "auto" and hasattr(space, "grammar"):
                self._encoder = TreeFeatures.for_space(space)
            else:
                self._encoder = make_encoder(space, self.encoding)
        return self._encoder

    def propose(self, ctx: ProposalContext) -> Proposal:
        enc = self._encoder_for(ctx.space)  # fail at decision 0 on a space without encoding
        start = seed_phase_length(self.seed_archs, self.n_init, self.seeded_init)
        if self.seed_archs and ctx.index < start:
            return seeded_start(ctx, self.seed_archs)
        done = [o for o in ctx.history if o.ok]
        if ctx.index < start or not done:
            return ctx.fresh_sample()
        ranked = sorted(done, key=lambda o: (-float(o.val), o.proposal))  # type: ignore[arg-type]
        mutation_of: dict[str, str] = {}
        if is_tree_space(ctx.space):
            drawn = mutation_candidates(ctx, ranked, self.parents, self.mutations, self._ids)
            pair_parents: list[Observation] = [c.parent for c in drawn]
            pair_cands: list[Any] = [c.arch for c in drawn]
            for c in drawn:
                mutation_of.setdefault(self._ids.identity(ctx.space, c.arch), c.mutation)
        else:
            pair_parents, pair_cands = parent_candidates(
                ctx, ranked, self.parents, self.mutations, self._ids
            )
        parent_of: dict[str, int] = {}
        cands: list[Any] = []
        for p, c in zip(pair_parents, pair_cands):  # one entry per identity (first parent wins)
            ident = self._ids.identity(ctx.space, c)
            if ident not in parent_of:
                parent_of[ident] = p.trial
                cands.append(c)
        if not cands:
            return ctx.fresh_sample()
        x = np.stack([enc.encode(o.arch) for o in done])
        y = np.array([float(o.val) for o in done])  # type: ignore[arg-type]
        seed = int(np.random.SeedSequence([ctx.seed, ctx.index, 0xBA7A]).generate_state(1)[0])
        model: Predictor = make_predictor(
            self.predictor, seed=seed, members=self.members, hidden=self.hidden, steps=self.steps
        )
        if isinstance(enc, TreeFeatures):  # wide and sparse: fit on the used columns
            model = OnSupport(model)
        model.fit(x, y)
        pred = model.predict(np.stack([enc.encode(c) for c in cands]))
        std = pred.std if pred.std is not None else np.zeros_like(pred.mean)
        if self.acquisition == "its":
            value = pred.mean + std * ctx.rng.standard_normal(len(cands))
        elif self.acquisition == "ucb":
            value = pred.mean + self.beta * std
        else:
            value = pred.mean
        order = ctx.rng.permutation(len(cands))  # uniform tie-breaking
        best = int(order[int(np.argmax(value[order]))])
        chosen = cands[best]
        ident = self._ids.identity(ctx.space, chosen)
        return Proposal(
            chosen, parent=parent_of[ident], mutation=mutation_of.get(ident), note="bananas"
        )
