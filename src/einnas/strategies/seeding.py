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

The phase lasts ``max(n_init, len(seeds))`` decisions, so its children are single mutations of
the seeds: pairs of similar networks from the first decision on, which is what a difference
predictor learns from.  Like every decision it depends only on the history and the decision's
RNG, so resuming replays it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from einnas.strategies.base import Proposal, ProposalContext

__all__ = ["seed_phase_length", "seeded_start"]


def seed_phase_length(seed_archs: Sequence[str], n_init: int) -> int:
    """Decisions of the start phase: every seed, then mutations of them up to ``n_init``."""
    return max(n_init, len(seed_archs)) if seed_archs else n_init


def _mutation_of_text(ctx: ProposalContext, text: str) -> Proposal | None:
    """A new mutation of the architecture ``text`` (not a finished trial: no parent)."""
    arch = ctx.space.from_text(text)
    mutate_with_record: Any = getattr(ctx.space, "mutate_with_record", None)
    for _ in range(ctx.max_tries // 10 or 1):
        if mutate_with_record is not None:
            child, record = mutate_with_record(arch, ctx.rng)
            mutation: str | None = json.dumps(record.to_dict())
        else:
            child, mutation = ctx.space.mutate(arch, ctx.rng), None
        if ctx.is_new(child):
            return Proposal(child, mutation=mutation, note="seed-mutation")
    return None


def seeded_start(ctx: ProposalContext, seed_archs: Sequence[str]) -> Proposal:
    """Decision ``ctx.index`` of the start phase of a seeded search (see the module docstring)."""
    k, n = ctx.index, len(seed_archs)
    if k < n:
        arch = ctx.space.from_text(seed_archs[k])
        if ctx.is_new(arch):
            return Proposal(arch, note="seed")
    visible = {o.proposal: o for o in ctx.history if o.proposal < n}
    ok = [visible[i] for i in sorted(visible) if visible[i].ok]
    if ok:
        child = ctx.fresh_mutation(ok[(k - n) % len(ok)])
        if child is not None:
            return Proposal(child.arch, child.parent, child.mutation, note="seed-mutation")
    else:
        pending = [i for i in range(min(n, k)) if i not in visible]
        if pending:
            proposal = _mutation_of_text(ctx, seed_archs[pending[(k - n) % len(pending)]])
            if proposal is not None:
                return proposal
    return ctx.fresh_sample()
