"""The seeded start of the predictor-guided strategies (Delta-NAS, BANANAS).

Random einspace networks are mostly poor, and on a budget of a few dozen trainings a start from
``n_init`` random samples spends a third of the budget on them.  With seed architectures (e.g.
``cnn1d``, ``resnet18``) the start phase instead evaluates

* the seeds, one per decision, in the given order (a seed whose identity was proposed before
  is skipped: its decision becomes a mutation);
* then, until the phase ends, one mutation per decision of a seed, cycling through the seeds
  that have finished successfully and are visible to the decision.  While none is visible yet
  (with ``w`` workers decision ``k`` sees only decisions ``< k - w + 1``) the seed's text itself
  is mutated and the child is recorded without a parent, since no finished trial is its parent
  yet; when every seed has failed, the decision is a random sample.

The phase lasts ``max(seeded_init or n_init, len(seeds))`` decisions, so its children are
single mutations of the seeds: pairs of similar networks from the first decision on, which is
what a difference predictor learns from.  With an ``accept`` predicate (Delta-NAS on einspace:
edits of at most ``max_edit`` productions) the mutations are restricted to those it accepts
where any draw is.  Like every decision it depends only on the history and the decision's RNG,
so resuming replays it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from einnas.strategies.base import Proposal, ProposalContext

__all__ = ["seed_phase_length", "seeded_start"]


def seed_phase_length(
    seed_archs: Sequence[str], n_init: int, seeded_init: int | None = None
) -> int:
    """Decisions of the start phase.

    Without seeds ``n_init`` (random samples); with seeds every seed, then mutations of them up
    to ``seeded_init`` decisions (``n_init`` when not set).
    """
    if not seed_archs:
        return n_init
    return max(seeded_init or n_init, len(seed_archs))


def seeded_start(
    ctx: ProposalContext,
    seed_archs: Sequence[str],
    accept: Callable[[Any, Any], bool] | None = None,
) -> Proposal:
    """Decision ``ctx.index`` of the start phase of a seeded search (see the module docstring).

    ``accept(parent_arch, child)`` restricts the mutations where any draw passes it (Delta-NAS
    on einspace: edits of at most ``max_edit`` productions, see
    :meth:`~einnas.strategies.base.ProposalContext.fresh_mutation_of`).
    """
    k, n = ctx.index, len(seed_archs)
    if k < n:
        arch = ctx.space.from_text(seed_archs[k])
        if ctx.is_new(arch):
            return Proposal(arch, note="seed")
    visible = {o.proposal: o for o in ctx.history if o.proposal < n}
    ok = [visible[i] for i in sorted(visible) if visible[i].ok]
    if ok:
        child = ctx.fresh_mutation(ok[(k - n) % len(ok)], accept)
        if child is not None:
            return Proposal(child.arch, child.parent, child.mutation, note="seed-mutation")
    else:
        pending = [i for i in range(min(n, k)) if i not in visible]
        if pending:
            text = seed_archs[pending[(k - n) % len(pending)]]
            proposal = ctx.fresh_mutation_of(
                ctx.space.from_text(text), None, accept, note="seed-mutation"
            )
            if proposal is not None:
                return proposal
    return ctx.fresh_sample()
