"""Delta-NAS: evolution guided by a predictor of accuracy *differences* between similar networks.

Sridhar & Chen (WACV 2025) predict ``Delta(a, b) = f(b) - f(a)`` for a pair of similar
architectures from the difference of their encodings, ``delta(a, b) = e(b) - e(a)``, instead of
predicting ``f`` itself.  Small deltas live in a set that grows linearly with the number of
decision slots (NB201: 120 single-edit deltas for 15,625 cells), and ``N`` evaluations give up
to ``N (N - 1)`` training pairs.  This module implements the search of ``spec/delta-nas.md``:

.. code-block:: text

    evaluate n_init random architectures                                    (default 10)
    each decision:
        sync the DoA dataset with the history        (pairs within `radius` edits + lineage)
        fit g on it                                  (an MLP ensemble, or ridge regression)
        parents = the top-`parents` architectures of the current epoch by f
        cands   = their unevaluated single-edit neighbours  (slot spaces: all of them;
                  other spaces: `mutations` sampled mutations per parent)
        score   = f(parent) + g(delta(parent, cand))        (comparable across parents)
        propose the best-scoring candidate; with probability `eps` a random mutation of a
        random parent instead, so the search cannot lock onto a wrong prediction
    epoch: when the epoch's best has not improved for `patience` decisions, start a new
        epoch with `restart_samples` random architectures (the DoA dataset keeps everything)

Choices where the spec leaves room, each a constructor knob (``describe()`` records them all):

* **Exhausted parents.**  A parent none of whose neighbours is unevaluated yields no candidate,
  so parents are the top-``parents`` architectures *that still have an unevaluated neighbour*:
  at a local optimum the search walks down the ranking and scores cells two edits from the
  optimum instead of running out of candidates.
* **Restarts (our addition; ``patience=0`` gives the spec's loop exactly).**  With single-edit
  candidates the search is a local one, and NB201 has local optima several edits from the global
  one (CIFAR-10: 18 local optima under single edits; steepest ascent from the best of 10 random
  cells reaches the global optimum in 59% of starts).  Even with an *oracle* predictor (true
  differences) this loop finds the CIFAR-10 validation optimum in only ~80% of runs, whatever the
  budget.  So once an epoch stalls, a new epoch starts from a few random cells and climbs again
  with the parents taken from that epoch only; the predictor keeps all pairs, so what the
  earlier climbs learned about edits speeds up the later ones.  This is what lifts the share of
  runs that find the CIFAR-10 optimum within 150 queries from ~0.80 to ~0.96.
* **Encoding.**  The default DoA encoding is the one-hot slot encoding followed by the value
  counts (:class:`~einnas.predictors.encodings.CountEncoder`) where all slots share one choice
  set: the ridge model then has a shared effect per value ("-> conv3x3 helps, on any edge") that
  every pair informs, plus per-slot corrections.  It climbs markedly faster than one-hot alone
  (median queries to the CIFAR-10 optimum 36 vs 42; an oracle needs 15).
* **Ties** (e.g. before any pair exists, when ``g = 0``) are broken uniformly at random.
* **Batches.**  ``q > 1`` fits once per block of ``q`` decisions, on the history before the
  block, and each decision of the block proposes the best candidate not yet proposed -- the
  same as evaluating the block's top ``q`` candidates in parallel.
* **Parent selection.**  ``selection="tournament"`` draws each parent as the winner of a
  tournament of ``tournament`` members of the ``population`` most recent successes (the spec's
  alternative); the default is the top of the ranking.

Determinism.  A strategy is a pure function of the history.  The DoA dataset is cached in the
strategy object and extended with the observations that are new since the last decision
(:meth:`~einnas.predictors.doa.DoADataset.sync` rebuilds it when the history is not an
extension, e.g. another study); epochs are recomputed from the history; the MLP ensemble is
seeded from ``(seed, block start)``; so a resumed study makes the same decisions.

Defaults were chosen on NB201 with the (cheap) ridge predictor, 100 seeds per setting; figures
are the mean test accuracy of the best-by-validation cell after 50 / 100 / 150 queries:

=========================================  =====================  =====================  =====================
setting (ridge)                            CIFAR-10               CIFAR-100              ImageNet16-120
=========================================  =====================  =====================  =====================
spec loop: k=5, one-hot, no restarts       94.03 / 94.11 / 94.15  (40 seeds)
k=1, one-hot, no restarts                  94.20 / 94.22 / 94.22
k=1, one-hot+counts, no restarts           94.24 / 94.25 / 94.25  73.14 / 73.48 / 73.51
k=1, one-hot+counts, patience 20           94.22 / 94.32 / 94.37  73.08 / 73.47 / 73.51  46.18 / 46.42 / 46.50
**k=1, one-hot+counts, patience 25**       94.24 / 94.31 / 94.34  73.14 / 73.49 / 73.51  46.30 / 46.45 / 46.46
k=1, one-hot+counts, patience 30           94.24 / 94.28 / 94.34  73.14 / 73.46 / 73.51  46.35 / 46.47 / 46.48
k=3, one-hot+counts, patience 20           94.14 / 94.23 / 94.30  72.85 / 73.24 / 73.42  46.24 / 46.34 / 46.38
=========================================  =====================  =====================  =====================

Standard errors are 0.02-0.04 (CIFAR-10), 0.03-0.10 (CIFAR-100), 0.03-0.06 (ImageNet).  Also
tried, with no gain: ``radius`` 1, 3 or 6 instead of 2; ``alpha`` 0.1 or 10 instead of 1;
``eps`` 0, 0.05 or 0.2 instead of 0.1; NB201 path encoding (alone or with one-hot); scoring a
candidate from every evaluated cell one edit away instead of from its parent only; parents kept
apart by a minimum edit distance; tournament parents; ``restart_samples`` 5 instead of 3.  More
parents help the *spec* loop (no restarts), whose beam is its only way out of a local optimum;
with restarts, one parent (plus the walk-down above) climbs fastest.

Predictor.  The final comparison (same 100 seeds, so the first 10 random cells are shared by all
strategies; 25 / 50 / 100 / 150 queries; share of runs that found the validation optimum by 100 /
150 queries in brackets)::

    strategy         CIFAR-10                           CIFAR-100                          ImageNet16-120
    re               93.32 93.93 94.24 94.30 (.43 .66)  70.43 72.01 73.04 73.38 (.50 .82)  44.37 45.68 46.26 46.38
    ls               93.81 94.12 94.20 94.22 (.67 .74)  71.49 72.72 73.13 73.24 (.76 .78)  45.46 46.00 46.12 46.25
    bananas          93.79 94.14 94.28 94.28 (.81 .87)  71.48 72.73 73.37 73.51 (.88 1.0)  45.41 46.08 46.48 46.49
    delta-nas ridge  93.98 94.24 94.31 94.34 (.86 .96)  72.25 73.14 73.49 73.51 (.99 1.0)  45.89 46.30 46.45 46.46
    delta-nas mlp    93.99 94.26 94.31 94.36 (.86 .97)  72.20 73.23 73.47 73.51 (.98 1.0)  45.84 46.28 46.50 46.50

The MLP ensemble -- the spec's default predictor -- and ridge are equal within noise; the MLP is
the default (it is the only one of the two above BANANAS at 100 queries on ImageNet16-120, by
0.02 +- 0.04 paired, i.e. not significantly) at ~25 ms per decision on two cores, against ~1.2
ms for ``predictor="ridge"``, the choice when overhead matters.  On ImageNet16-120 the
validation-optimal cell tests at 46.20 while several runners-up test above 46.5, so test
accuracy there rewards *not* finding the optimum; compare on validation accuracy too.

Delta-NAS on einspace trees
---------------------------
Trees have no slots and no finite neighbourhood, so on einspace (spaces with
``mutate_with_record`` and no ``neighbours``):

* the encoding is the tree feature map ``phi`` of
  :class:`~einnas.predictors.tree_features.TreeFeatures` (production counts, their
  generalisations and parent -> child pairs); a subtree resample changes only the features of the
  resampled subtree, so ``delta = phi(child) - phi(parent)`` is sparse;
* the "edit distance" is ``TreeFeatures.edit_size``, the productions removed plus added (2 for a
  terminal swap); the DoA dataset holds every lineage pair plus every pair of members within
  ``radius`` of it, both orders;
* candidates are ``mutations`` sampled mutations (with their records, which the trial log keeps)
  of each of the top ``parents``, restricted to edits of at most ``max_edit`` productions where a
  parent has any (:func:`mutation_candidates`); score ``f(parent) + g(delta)``, train the best;
* with ``seed_archs`` the start phase (``seeded_init`` decisions, default ``n_init``) evaluates
  the seeds and then mutations of them, within ``max_edit`` where any draw is, instead of random
  samples (:mod:`einnas.strategies.seeding`);
* an MLP predictor is fitted on the used feature columns only
  (:class:`~einnas.predictors.support.OnSupport`), ridge on the used block of ``X^T X`` (the same
  model, ``O(s^3)`` for ``s`` used of ~600-800 columns).

The einspace defaults (``make_strategy(..., tabular=False)``, ``DELTA_NAS_EINSPACE`` in
:mod:`einnas.strategies`) target budgets of 30-100 trained networks with noisy fitness.  They are
**not tuned on real training**: one trial costs 5-60 s of CPU, so comparing settings over enough
seeds and budgets to resolve differences of a point would take days of compute we do not have.
They follow from the spec, from the tabular results above and from two measurements (MNIST-1D,
the ``cnn1d`` seed):

* fitness noise: three 8-epoch trainings (different seeds) of ``cnn1d`` gave 75.1 / 75.4 / 78.8,
  of one of its mutants 66.0 / 68.3 / 65.1 -- a standard deviation of ~2 points, while edits move
  the accuracy by a point or two up to -65 (an edit that breaks the network);
* sampled mutations of ``cnn1d``: half swap a terminal (edit size 2), 75% have edit size <= 8 and
  90% <= 17 (a resample near the root replaces most of the network by a random one).

Hence ``predictor="ridge"`` with ``alpha=1``: tens to a few hundred pairs on a few hundred used
features is what the additive model with shrinkage suits, and it predicts "no change" for a
feature no pair has shown (``alpha = sigma^2 / tau^2`` with noise ``sigma ~ 2`` and a
per-feature effect ``tau`` of a few points is at most ~1).  ``parents=3`` (the spec's 3..5)
because with noisy fitness the single best network is often a lucky draw.  ``patience=0`` (no
restarts) because restarts sample random networks, mostly poor on einspace, and such budgets
leave no room for a second climb.  ``mutations=16``: 48 candidates; a decision then takes
~0.1 s (``benchmarks/delta_nas_einspace_overhead.py``, 100-trial runs on two loaded cores: p50
98 ms, p90 188 ms, mostly sampling mutations), nothing next to a training.  ``max_edit=12`` and ``radius=12``
so that the predictor is queried on edits of the size it is trained on (the linear-domain
argument: small deltas), leaving large resamples to exploration.  ``eps=0.2`` (tabular 0.1)
because the predictor learns from few, noisy pairs, and an exploratory mutation adds a lineage
pair the predictor did not choose.  ``n_init=10`` (the spec's) for an unseeded search, but
``seeded_init=4`` with seeds: the seed and three small mutations of it, then guided decisions.
With ``seeded_init=10`` the first ten decisions were the seed and nine *unguided* mutations of
it (unbounded: a third of them broke the network), and on MNIST-1D (3 seeds, 40 trainings)
Delta-NAS trailed regularised evolution early (mean best 77.4 vs 86.7 after 10) although it
ended ahead (93.2 vs 90.3); guided decisions from the best network so far start climbing after
four trainings instead (see docs/delta-nas.md for the figures of both).
``DoADataset.distance`` records every pair's edit size, which is what a tree version of the
Fig. 3 diagnostic (error by edit size) reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from einnas.predictors import Predictor, make_predictor
from einnas.predictors.doa import DoADataset, history_key
from einnas.predictors.encodings import Encoder, EncodingName, FloatArray, make_encoder
from einnas.predictors.ridge import RidgePredictor
from einnas.predictors.support import OnSupport
from einnas.predictors.tree_features import TreeFeatures
from einnas.strategies.base import Observation, Proposal, ProposalContext, Strategy
from einnas.strategies.seeding import seed_phase_length, seeded_start

__all__ = [
    "Candidate",
    "DeltaNAS",
    "IdentityCache",
    "doa_encoder",
    "is_tree_space",
    "mutation_candidates",
    "parent_candidates",
]

PredictorName = str
"""``ridge``, ``mlp`` or any predictor in :mod:`einnas.registry`."""

VECTORISED_SCORING_MIN = 48
"""Candidates from which a slot space's deltas are built as one matrix (see ``scores``)."""

INCREMENTAL_RIDGE_DIM = 64
"""From this encoding length on, the ridge refit uses the DoA dataset's incrementally updated
inverse (``O(d^2)`` per new pair) instead of a fresh ``O(d^3)`` inverse per decision.  Below it
(NB201: 35, NAS-Bench-Macro: 27, NB101-shaped: 57) the fresh inverse is kept: it is cheap there,
and its rounding is what the recorded decisions (tests, published tables) were made with."""


class IdentityCache:
    """Memoised ``space.identity``.

    NB201's isomorphism class costs ~70 us per call, and each decision checks every neighbour of
    its parents against the seen set.  The cache is per space object and bounded.
    """

    def __init__(self, max_size: int = 200_000) -> None:
        self._space: Any = None
        self._ids: dict[Any, str] = {}
        self._max_size = max_size

    def identity(self, space: Any, arch: Any) -> str:
        if space is not self._space:
            self._space, self._ids = space, {}
        try:
            hit = self._ids.get(arch)
        except TypeError:  # unhashable architecture
            return str(space.identity(arch))
        if hit is None:
            hit = str(space.identity(arch))
            if len(self._ids) < self._max_size:
                self._ids[arch] = hit
        return hit


def is_tree_space(space: Any) -> bool:
    """A space whose candidates are sampled mutations with records (einspace), not neighbours."""
    return (
        getattr(space, "mutate_with_record", None) is not None
        and getattr(space, "neighbours", None) is None
    )


def doa_encoder(space: Any, encoding: str = "default") -> Encoder:
    """The DoA encoding of ``space``.

    ``default`` is one-hot plus value counts when every slot has the same number of choices
    (NB201, NAS-Bench-Macro, TransNAS micro) and plain one-hot otherwise; any name of
    :func:`~einnas.predictors.encodings.make_encoder` is accepted too.  For einspace (a space
    with a ``grammar``) ``default`` (or ``tree``) is the tree feature map
    :class:`~einnas.predictors.tree_features.TreeFeatures`.

    Raises:
        TypeError: the space has neither a slot encoding nor a grammar: pass an ``Encoder``.
    """
    if hasattr(space, "grammar") and encoding in ("default", "tree"):
        return TreeFeatures.for_space(space)
    if not hasattr(space, "encode"):
        raise TypeError(
            f"delta-nas needs an encoding of {getattr(space, 'name', type(space).__name__)!r} "
            "architectures; this space has no one-hot encoding (space.encode), so pass "
            "DeltaNAS(encoder=...) with a feature map for it"
        )
    if encoding == "default":
        cards = set(getattr(space, "cardinalities", ()))
        encoding = "onehot+counts" if len(cards) == 1 else "onehot"
    kind: EncodingName = encoding  # type: ignore[assignment]
    return make_encoder(space, kind)


def parent_candidates(
    ctx: ProposalContext,
    ranked: Sequence[Observation],
    parents: int,
    mutations: int,
    ids: IdentityCache,
) -> tuple[list[Observation], list[Any]]:
    """``(parent, candidate)`` pairs from the first ``parents`` of ``ranked`` that yield any.

    A parent's candidates are its not-yet-proposed single-edit neighbours where the space has
    ``neighbours`` (all of them, in the space's order), else ``mutations`` sampled mutations
    (``space.mutate`` with ``ctx.rng``).  Each identity appears once per parent (isomorphic
    neighbours collapse); parents without a new candidate are skipped, so in slot spaces the
    pool is empty only when every ranked parent is exhausted (with sampled mutations, only the
    first ``parents + 8`` of the ranking are tried).
    """
    neighbours = getattr(ctx.space, "neighbours", None)
    # sampled mutations are rarely all seen; don't walk a long ranking drawing them
    ranked = ranked if neighbours is not None else ranked[: parents + 8]
    pair_parents: list[Observation] = []
    pair_cands: list[Any] = []
    used = 0
    for parent in ranked:
        if used >= parents:
            break
        if neighbours is not None:
            raw = neighbours(parent.arch)
        else:
            raw = [ctx.space.mutate(parent.arch, ctx.rng) for _ in range(mutations)]
        here: set[str] = set()
        cands = []
        for c in raw:
            ident = ids.identity(ctx.space, c)
            if ident not in ctx.seen and ident not in here:
                here.add(ident)
                cands.append(c)
        if cands:
            used += 1
            pair_parents.extend([parent] * len(cands))
            pair_cands.extend(cands)
    return pair_parents, pair_cands


@dataclass(frozen=True)
class Candidate:
    """A sampled mutation of an evaluated parent: the child, its record and its edit size."""

    parent: Observation
    arch: Any
    mutation: str  # the MutationRecord as JSON (what the trial log stores)
    size: int | None = None  # edit size from the parent (``edit_size``), if measured


def mutation_candidates(
    ctx: ProposalContext,
    ranked: Sequence[Observation],
    parents: int,
    mutations: int,
    ids: IdentityCache,
    edit_size: Callable[[Any, Any], int] | None = None,
    max_edit: int | None = None,
) -> list[Candidate]:
    """``mutations`` sampled mutations (``space.mutate_with_record``) of each of the first
    ``parents`` of ``ranked`` that yield a new one (tree spaces).

    Each identity appears once per parent and never one proposed before; only the first
    ``parents + 8`` of the ranking are tried.  With ``max_edit``, a parent's candidates are
    those within ``edit_size(parent, child) <= max_edit`` -- bounded edits, where a difference
    predictor is trained and accurate -- unless none of its draws is, in which case all of them
    are kept (the search never stalls on a small tree whose every edit is large).
    """
    out: list[Candidate] = []
    used = 0
    for parent in ranked[: parents + 8]:
        if used >= parents:
            break
        here: set[str] = set()
        drawn: list[Candidate] = []
        for _ in range(mutations):
            child, record = ctx.space.mutate_with_record(parent.arch, ctx.rng)  # type: ignore[attr-defined]
            ident = ids.identity(ctx.space, child)
            if ident in ctx.seen or ident in here:
                continue
            here.add(ident)
            size = edit_size(parent.arch, child) if edit_size is not None else None
            drawn.append(Candidate(parent, child, json.dumps(record.to_dict()), size))
        if max_edit is not None:
            small = [c for c in drawn if c.size is not None and c.size <= max_edit]
            drawn = small or drawn
        if drawn:
            used += 1
            out.extend(drawn)
    return out


def _rank(observations: Sequence[Observation]) -> list[Observation]:
    """Successful observations, best first (earlier decision first on ties)."""
    return sorted(
        (o for o in observations if o.val is not None),
        key=lambda o: (-float(o.val or 0.0), o.proposal),
    )


class DeltaNAS(Strategy):
    """Delta-NAS predictor-guided evolution (see the module docstring).

    Args:
        n_init: random architectures evaluated first.
        radius: DoA pairs up to this edit distance (plus every parent-child pair); on einspace
            the edit size of :meth:`~einnas.predictors.tree_features.TreeFeatures.edit_size`.
        parents: parents (best of the current epoch with an unevaluated neighbour) whose
            candidates are scored.
        mutations: candidates per parent in spaces without a finite neighbourhood (sampled
            mutations; slot spaces score all single-edit neighbours).
        q: decisions per predictor fit (the spec's batch size).
        eps: probability of proposing a random mutation of a random parent instead.
        predictor: ``mlp`` (ensemble of 5 small MLPs, the spec's default) or ``ridge`` (closed
            form, the additive model; equal search results at ~1/20 of the overhead).
        alpha: ridge penalty.
        context: give the predictor the parent's encoding next to the delta (lets the MLP model
            interactions; off by default, as in the spec).
        lineage: add (parent, child) pairs beyond ``radius``.
        patience: start a new epoch after this many decisions without improving the epoch's
            best (0: never; the spec's loop).
        restart_samples: random architectures at the start of each later epoch.
        selection: ``top`` (the ranking) or ``tournament``.
        population, tournament: tournament selection's population (most recent successes of
            the epoch) and tournament size.
        encoding: the DoA encoding by name (see :func:`doa_encoder`); ignored if ``encoder``.
        encoder: an :class:`~einnas.predictors.encodings.Encoder` (needed for spaces with
            neither a slot encoding nor a grammar; einspace defaults to
            :class:`~einnas.predictors.tree_features.TreeFeatures`).
        mlp_steps: Adam steps per MLP-ensemble fit.
        seed_archs: architecture texts evaluated first, then mutated for the rest of the start
            phase instead of random samples (:mod:`einnas.strategies.seeding`).
        max_edit: tree spaces: score only sampled mutations within this edit size of their
            parent (:meth:`~einnas.predictors.tree_features.TreeFeatures.edit_size`, productions
            removed plus added), where a parent has any; ``None``: no bound.  The start phase's
            mutations of the seeds are bounded the same way.
        seeded_init: with ``seed_archs``, the start phase's length (default ``n_init``): the
            seeds, then mutations of them, before the guided decisions begin.

    The defaults are the tabular ones; :func:`einnas.strategies.make_strategy` gives einspace
    its own (see "Delta-NAS on einspace trees" in the module docstring).
    """

    name = "delta-nas"

    def __init__(
        self,
        n_init: int = 10,
        radius: int = 2,
        parents: int = 1,
        mutations: int = 20,
        q: int = 1,
        eps: float = 0.1,
        predictor: PredictorName = "mlp",
        alpha: float = 1.0,
        context: bool = False,
        lineage: bool = True,
        patience: int = 25,
        restart_samples: int = 3,
        selection: Literal["top", "tournament"] = "top",
        population: int = 30,
        tournament: int = 10,
        encoding: str = "default",
        encoder: Encoder | None = None,
        mlp_steps: int = 60,
        seed_archs: Sequence[str] = (),
        max_edit: int | None = None,
        seeded_init: int | None = None,
    ) -> None:
        if seeded_init is not None and seeded_init < 1:
            raise ValueError(f"seeded_init must be >= 1 (or None for n_init), got {seeded_init}")
        if min(n_init, radius, parents, mutations, q, restart_samples, population, tournament) < 1:
            raise ValueError(
                "n_init, radius, parents, mutations, q, restart_samples, population and "
                "tournament must be >= 1"
            )
        if patience < 0 or mlp_steps < 0 or alpha < 0:
            raise ValueError("patience, mlp_steps and alpha must be >= 0")
        if max_edit is not None and max_edit < 1:
            raise ValueError(f"max_edit must be >= 1 (or None for no bound), got {max_edit}")
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must be in [0, 1], got {eps}")
        from einnas.registry import get_predictor

        try:
            predictor = get_predictor(predictor).name
        except ValueError as exc:
            raise ValueError(
                f"predictor must be 'ridge', 'mlp' or a registered one: {exc}"
            ) from None
        if selection not in ("top", "tournament"):
            raise ValueError(f"selection must be 'top' or 'tournament', got {selection!r}")
        self.n_init = n_init
        self.radius = radius
        self.parents = parents
        self.mutations = mutations
        self.q = q
        self.eps = eps
        self.predictor: PredictorName = predictor
        self.alpha = alpha
        self.context = context
        self.lineage = lineage
        self.patience = patience
        self.restart_samples = restart_samples
        self.selection = selection
        self.population = population
        self.tournament = tournament
        self.encoding = encoding
        self.encoder = encoder
        self.mlp_steps = mlp_steps
        self.seed_archs = tuple(dict.fromkeys(seed_archs))  # distinct, in the given order
        self.max_edit = max_edit
        self.seeded_init = seeded_init
        # Caches: derived from the history only (see the module docstring).
        self._space: Any = None
        self._encoder: Encoder | None = None
        self._doa: DoADataset | None = None
        self._fit_key: tuple[Any, ...] | None = None
        self._model: Predictor | None = None
        self._ids = IdentityCache()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_init": self.n_init,
            "radius": self.radius,
            "parents": self.parents,
            "mutations": self.mutations,
            "q": self.q,
            "eps": self.eps,
            "predictor": self.predictor,
            "alpha": self.alpha,
            "context": self.context,
            "lineage": self.lineage,
            "patience": self.patience,
            "restart_samples": self.restart_samples,
            "selection": self.selection,
            "population": self.population,
            "tournament": self.tournament,
            "encoding": repr(self.encoder) if self.encoder is not None else self.encoding,
            "mlp_steps": self.mlp_steps,
            # recorded only when set, so that studies logged before these knobs still resume
            **({"seed_archs": list(self.seed_archs)} if self.seed_archs else {}),
            **({"max_edit": self.max_edit} if self.max_edit is not None else {}),
            **({"seeded_init": self.seeded_init} if self.seeded_init is not None else {}),
        }

    # -- the cached encoder, DoA dataset and predictor ----------------------------------------

    def _bind(self, space: Any) -> Encoder:
        """Encoder for ``space``; a new space object drops every cache."""
        if self._encoder is None or space is not self._space:
            encoder = (
                self.encoder if self.encoder is not None else doa_encoder(space, self.encoding)
            )
            self._space, self._encoder = space, encoder
            self._doa = DoADataset(
                encoder,
                space,
                radius=self.radius,
                lineage=self.lineage,
                edit_distance=self._edit_size(encoder),
            )
            self._fit_key, self._model = None, None
        return self._encoder

    @staticmethod
    def _edit_size(encoder: Encoder) -> Callable[[Any, Any], int] | None:
        """The tree edit-size proxy where the encoder has one (else the space's distance)."""
        return encoder.edit_size if isinstance(encoder, TreeFeatures) else None

    def dataset(self, space: Any, history: Sequence[Observation]) -> DoADataset:
        """The DoA dataset of ``history`` (extended incrementally when possible)."""
        self._bind(space)
        assert self._doa is not None
        self._doa.sync(history)
        return self._doa

    def _fit(self, doa: DoADataset, seed: int) -> Predictor:
        last = history_key(doa.members[-1]) if doa.members else None
        key = (None if self.predictor == "ridge" else seed, doa.consumed, len(doa), last)
        if self._model is not None and self._fit_key == key:
            return self._model
        model: Predictor = make_predictor(
            self.predictor,
            seed=seed,
            antisymmetric=not self.context,
            alpha=self.alpha,
            intercept=False,  # DoA rows: no intercept, with or without context
            steps=self.mlp_steps,
        )
        if isinstance(model, RidgePredictor) and not self.context:
            # wide, sparse tree features: solve on the used columns (the same model)
            support_only = isinstance(self._encoder, TreeFeatures) and self.alpha > 0
            incremental = (
                not support_only and self.alpha > 0 and doa.encoder.dim >= INCREMENTAL_RIDGE_DIM
            )
            model = model.fit_statistics(
                *doa.sufficient_statistics(),
                support_only=support_only,
                inverse=doa.regularised_inverse(self.alpha) if incremental else None,
            )
        elif isinstance(model, RidgePredictor):
            model = model.fit(doa.features(True), doa.y)
        else:
            if isinstance(self._encoder, TreeFeatures):  # wide and sparse: the used columns
                model = OnSupport(model)
            model.fit(doa.features(self.context), doa.y)
        self._model, self._fit_key = model, key
        return model

    # -- epochs -------------------------------------------------------------------------------

    def epoch(self, history: Sequence[Observation], k: int) -> tuple[int, int]:
        """``(first decision, random decisions)`` of the epoch that decision ``k`` belongs to.

        Epoch 0 starts at decision 0 with :attr:`start_length` start decisions.  With
        ``patience`` set, a new epoch starts at decision ``j`` (with ``restart_samples`` random decisions) when the
        current epoch is past its random phase and none of the observations made since its
        best (or, if it has none yet, since its start) improved on it for more than
        ``patience`` decisions.  Only the history is read, so replays agree.
        """
        start, phase = 0, self.start_length
        if not self.patience:
            return start, phase
        best, last, ptr = -np.inf, 0, 0
        for j in range(k + 1):
            while ptr < len(history) and history[ptr].proposal < j:
                o = history[ptr]
                ptr += 1
                if o.proposal >= start and o.val is not None and o.val > best:
                    best, last = o.val, o.proposal
            if j >= start + phase and j - last > self.patience:
                start, phase = j, self.restart_samples
                best, last = -np.inf, j
        return start, phase

    # -- the decision ---------------------------------------------------------------------------

    @property
    def start_length(self) -> int:
        """Decisions of the start phase (random, or with seeds the seeds and their mutations).

        ``n_init``; with ``seed_archs``, ``seeded_init`` if set, and never fewer than the seeds.
        """
        return seed_phase_length(self.seed_archs, self.n_init, self.seeded_init)

    def _small_edit(self, space: Any) -> Callable[[Any, Any], bool] | None:
        """``edit_size(parent, child) <= max_edit`` on trees with ``max_edit``, else None."""
        edit_size = self._edit_size(self._bind(space))
        if edit_size is None or self.max_edit is None:
            return None
        bound = self.max_edit
        return lambda parent, child: edit_size(parent, child) <= bound

    def _pool(self, ctx: ProposalContext, ranked: list[Observation]) -> list[Observation]:
        """Parent pool: the ranking, or tournament winners (best first)."""
        if self.selection == "top":
            return ranked
        pop = sorted(ranked, key=lambda o: o.proposal)[-self.population :]
        winners: dict[int, Observation] = {}
        for _ in range(self.parents):
            picks = ctx.rng.choice(len(pop), size=min(self.tournament, len(pop)), replace=False)
            win = _rank([pop[int(i)] for i in picks])[0]
            winners[win.proposal] = win
        return _rank(list(winners.values()))

    def propose(self, ctx: ProposalContext) -> Proposal:
        self._bind(ctx.space)  # fail at decision 0, not after n_init evaluations
        k = ctx.index
        if self.seed_archs and k < self.start_length:
            return seeded_start(ctx, self.seed_archs, self._small_edit(ctx.space))
        if k < self.start_length:
            return ctx.fresh_sample()
        epoch_start, phase = self.epoch(ctx.history, k)
        if k < epoch_start + phase:
            return ctx.fresh_sample()
        block = k - (k - epoch_start - phase) % self.q  # first decision of this fit's block
        history = [o for o in ctx.history if o.proposal < block] if self.q > 1 else ctx.history
        ranked = _rank([o for o in history if o.proposal >= epoch_start])
        if not ranked:
            return ctx.fresh_sample()
        if ctx.rng.random() < self.eps:
            parent = ranked[int(ctx.rng.integers(min(self.parents, len(ranked))))]
            child = ctx.fresh_mutation(parent)
            if child is not None:
                return Proposal(
                    child.arch, parent=parent.trial, mutation=child.mutation, note="explore"
                )
        pool = self._pool(ctx, ranked)
        if is_tree_space(ctx.space):
            return self._propose_mutation(ctx, history, block, pool, ranked)
        pair_parents, pair_cands = parent_candidates(
            ctx, pool, self.parents, self.mutations, self._ids
        )
        if not pair_cands and pool is not ranked:
            pair_parents, pair_cands = parent_candidates(
                ctx, ranked, self.parents, self.mutations, self._ids
            )
        if not pair_cands:
            return ctx.fresh_sample()
        doa = self.dataset(ctx.space, history)
        seed = int(np.random.SeedSequence([ctx.seed, block, 0xD17A]).generate_state(1)[0])
        scores = self.scores(self._fit(doa, seed), pair_parents, pair_cands)
        order = ctx.rng.permutation(len(pair_cands))  # uniform tie-breaking
        best = int(order[int(np.argmax(scores[order]))])
        return Proposal(pair_cands[best], parent=pair_parents[best].trial, note="delta")

    def _propose_mutation(
        self,
        ctx: ProposalContext,
        history: Sequence[Observation],
        block: int,
        pool: list[Observation],
        ranked: list[Observation],
    ) -> Proposal:
        """The scored decision in a tree space: the best of the parents' sampled mutations."""
        edit_size = self._edit_size(self._bind(ctx.space))
        cands = mutation_candidates(
            ctx, pool, self.parents, self.mutations, self._ids, edit_size, self.max_edit
        )
        if not cands and pool is not ranked:
            cands = mutation_candidates(
                ctx, ranked, self.parents, self.mutations, self._ids, edit_size, self.max_edit
            )
        if not cands:
            return ctx.fresh_sample()
        doa = self.dataset(ctx.space, history)
        seed = int(np.random.SeedSequence([ctx.seed, block, 0xD17A]).generate_state(1)[0])
        model = self._fit(doa, seed)
        scores = self.scores(model, [c.parent for c in cands], [c.arch for c in cands])
        order = ctx.rng.permutation(len(cands))  # uniform tie-breaking
        best = cands[int(order[int(np.argmax(scores[order]))])]
        return Proposal(best.arch, parent=best.parent.trial, mutation=best.mutation, note="delta")

    def scores(
        self,
        model: Predictor,
        parents: Sequence[Observation],
        cands: Sequence[Any],
    ) -> FloatArray:
        """``f(parent) + g(delta(parent, cand))`` per (parent, candidate) pair."""
        enc = self._encoder
        if enc is None:
            raise RuntimeError("DeltaNAS.scores called before the strategy saw a space")
        d = enc.dim
        base = np.fromiter((float(p.val or 0.0) for p in parents), np.float64, len(parents))
        if (
            len(cands) >= VECTORISED_SCORING_MIN
            and getattr(enc, "vectorised", False)
            and isinstance(cands[0], tuple)
        ):
            # slot spaces: every candidate and parent encoded at once (exact 0/1/count entries,
            # so the same deltas as the loop below); for a few candidates (NB201: 24) the loop
            # over cached encodings is as fast
            codes = np.array(cands, dtype=np.int64)
            first: dict[int, int] = {}
            which = np.fromiter(
                (first.setdefault(p.trial, len(first)) for p in parents), np.int64, len(parents)
            )
            uniq = {p.trial: p for p in parents}
            e_par = enc.encode_codes(np.array([uniq[t].arch for t in first], dtype=np.int64))  # type: ignore[attr-defined]
            e_cand = enc.encode_codes(codes)  # type: ignore[attr-defined]
            x = e_cand - e_par[which]
            if self.context:
                x = np.concatenate([x, e_par[which]], axis=1)
        else:
            x = np.empty((len(cands), 2 * d if self.context else d), dtype=np.float64)
            for i, (p, c) in enumerate(zip(parents, cands)):
                e_p = enc.encode(p.arch)
                x[i, :d] = enc.encode(c) - e_p
                if self.context:
                    x[i, d:] = e_p
        predict_mean = getattr(model, "predict_mean", None)
        if predict_mean is not None:
            gain: FloatArray = predict_mean(x)
            return base + gain
        gain = model.predict(x).mean
        return base + gain
