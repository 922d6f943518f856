"""The seeded start of the predictor-guided strategies."""

from __future__ import annotations

import json

import numpy as np

from einnas.grammar import Budget
from einnas.seeds import seed_text
from einnas.spaces.einspace import EinSpace
from einnas.strategies.base import Observation, ProposalContext
from einnas.strategies.seeding import seed_phase_length, seeded_start

SPACE = EinSpace((1, 40), budget=Budget(max_params=1_000_000, max_macs=10_000_000))
SEEDS = (seed_text("cnn1d"), "sequential[computation[conv1d(5,32)], computation[leakyrelu]]")


def ctx(k: int, history: list[Observation]) -> ProposalContext:
    seen = {o.identity for o in history}
    return ProposalContext(k, 0, history, seen, SPACE, np.random.default_rng([0, k]))


def obs(k: int, text: str, val: float | None) -> Observation:
    arch = SPACE.from_text(text)
    return Observation(k, k, arch, SPACE.identity(arch), val)


def test_phase_length() -> None:
    assert seed_phase_length((), 10) == 10
    assert seed_phase_length(SEEDS, 10) == 10
    assert seed_phase_length(SEEDS * 6, 3) == 12
    assert seed_phase_length(SEEDS, 10, 4) == 4
    assert seed_phase_length((), 10, 4) == 10


def test_seeds_first_then_mutations_of_the_visible_ones() -> None:
    first = seeded_start(ctx(0, []), SEEDS)
    assert (SPACE.to_text(first.arch), first.note) == (SEEDS[0], "seed")
    assert SPACE.to_text(seeded_start(ctx(1, []), SEEDS).arch) == SEEDS[1]
    # decision 2 before any seed finished: a mutation of a seed's text, without a parent
    early = seeded_start(ctx(2, []), SEEDS)
    assert early.parent is None and early.mutation is not None and early.note == "seed-mutation"
    # seeds visible: mutations of the successful ones, cycling, with the seed as parent
    history = [obs(0, SEEDS[0], 70.0), obs(1, SEEDS[1], None)]
    for k in (2, 3, 4):
        p = seeded_start(ctx(k, history), SEEDS)
        assert p.parent == 0 and json.loads(p.mutation or "{}")["path"] is not None


def test_all_seeds_failed_falls_back_to_random_samples() -> None:
    history = [obs(0, SEEDS[0], None), obs(1, SEEDS[1], None)]
    assert seeded_start(ctx(2, history), SEEDS).note == "random"


def test_a_repeated_seed_becomes_a_mutation() -> None:
    history = [obs(0, SEEDS[0], 60.0)]
    p = seeded_start(ctx(2, history), (SEEDS[0], SEEDS[1], SEEDS[0]))
    assert p.note == "seed-mutation" and p.parent == 0


def test_accept_bounds_the_mutations_and_never_stalls() -> None:
    history = [obs(0, SEEDS[0], 70.0)]
    seed_tree = SPACE.from_text(SEEDS[0])
    sizes: list[int] = []

    def small(parent: object, child: object) -> bool:
        assert parent == seed_tree
        return len(SPACE.to_text(child)) <= len(SEEDS[0])  # no growth

    for k in range(1, 8):
        p = seeded_start(ctx(k, history), SEEDS[:1], small)
        sizes.append(len(SPACE.to_text(p.arch)))
        assert p.parent == 0 and p.note == "seed-mutation"
    assert max(sizes) <= len(SEEDS[0])
    # the same decisions without the bound do grow the seed (the bound is what kept them small)
    unbounded = [seeded_start(ctx(k, history), SEEDS[:1]).arch for k in range(1, 8)]
    assert any(len(SPACE.to_text(a)) > len(SEEDS[0]) for a in unbounded)
    # nothing accepted: the first new mutation, not a stall
    p = seeded_start(ctx(1, history), SEEDS[:1], lambda parent, child: False)
    assert p.note == "seed-mutation" and p.parent == 0
    # before the seed is visible, its text is mutated under the same bound
    p = seeded_start(ctx(1, []), SEEDS[:1], small)
    assert p.parent is None and len(SPACE.to_text(p.arch)) <= len(SEEDS[0])
