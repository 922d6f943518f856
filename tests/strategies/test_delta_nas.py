"""Delta-NAS: determinism, no repeats, resumability, the cached DoA dataset, and a real NB201 run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from einnas.benchmark_data import benchmark_dir_or_none
from einnas.evaluators.base import EvalResult
from einnas.executors.base import InlineExecutor
from einnas.predictors import DoADataset, OneHotEncoder
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.strategies import STRATEGY_NAMES, DeltaNAS, Observation, Strategy, make_strategy
from einnas.strategies.delta_nas import doa_encoder
from einnas.study.factory import open_storage
from einnas.study.runner import run_search


class Toy(SlotSpace):
    """``slots`` slots x 4 choices; values ``(a, b, c, ...)`` written as ``abc...``."""

    def __init__(self, slots: int = 5) -> None:
        super().__init__([4] * slots, name="toy")

    def to_text(self, arch: Sequence[int]) -> str:
        return "".join(map(str, self.validate(arch)))

    def from_text(self, text: str) -> SlotArch:
        return self.validate(tuple(int(c) for c in text))

    def identity(self, arch: Sequence[int]) -> str:
        a = self.validate(arch)
        return self.to_text(a if a[0] != 3 else (3, 0, *a[2:]))  # slot 1 is dead when slot 0 is 3


SPACE = Toy()
SMALL = Toy(3)


@dataclass(frozen=True)
class ToyEvaluator:
    """Additive effects plus one interaction; about 1 arch in 17 fails."""

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        space = Toy(len(arch))
        a = space.from_text(arch)
        if space.index(a) % 17 == 5:
            return EvalResult(float("nan"))
        rng = np.random.default_rng(1)
        effects = rng.normal(0, 1, (len(a), 4))
        val = 70 + sum(effects[j, v] for j, v in enumerate(a)) + (2.0 if a[1] == a[2] else 0.0)
        return EvalResult(float(val), float(val) - 1)

    def describe(self) -> dict[str, Any]:
        return {"kind": "toy"}


class NoNeighbours:
    """The toy space without ``neighbours``/``edit_distance``: the mutation fallback."""

    name = "toy-mut"

    def sample(self, rng: np.random.Generator) -> SlotArch:
        return SPACE.sample(rng)

    def mutate(self, arch: SlotArch, rng: np.random.Generator) -> SlotArch:
        return SPACE.mutate(arch, rng)

    def to_text(self, arch: SlotArch) -> str:
        return SPACE.to_text(arch)

    def from_text(self, text: str) -> SlotArch:
        return SPACE.from_text(text)

    def identity(self, arch: SlotArch) -> str:
        return SPACE.identity(arch)


def run(
    strategy: Strategy,
    budget: int,
    seed: int = 0,
    space: Any = SPACE,
    storage: Any = None,
    workers: int = 1,
) -> list[Any]:
    st = storage or open_storage(None)
    if storage is None:
        st.create_study("s", {})
    run_search(
        st, "s", space, strategy, InlineExecutor(ToyEvaluator()), budget, seed, workers=workers
    )
    return sorted(st.trials("s"), key=lambda t: t.proposal)


def archs(trials: list[Any]) -> list[str]:
    return [t.arch for t in trials]


def test_registered() -> None:
    assert "delta-nas" in STRATEGY_NAMES
    strategy = make_strategy("delta-nas", tabular=True)
    assert isinstance(strategy, DeltaNAS)
    desc = strategy.describe()
    assert desc["name"] == "delta-nas" and desc["predictor"] == "mlp"
    json.dumps(desc)


@pytest.mark.parametrize(
    "options",
    [{"predictor": "ridge"}, {"mlp_steps": 10}, {"q": 3, "parents": 3, "predictor": "ridge"}],
)
def test_deterministic_by_seed_and_no_repeats(options: dict[str, Any]) -> None:
    a = run(DeltaNAS(**options), 60, seed=4)
    b = run(DeltaNAS(**options), 60, seed=4)
    c = run(DeltaNAS(**options), 60, seed=5)
    assert archs(a) == archs(b)
    assert archs(a) != archs(c)
    assert len(a) == 60
    idents = [SPACE.identity(SPACE.from_text(t.arch)) for t in a]
    assert len(set(idents)) == len(idents)
    assert any(t.val is None for t in a)  # failures were seen and survived
    by_number = {t.number: t for t in a}
    for t in a:  # parents are earlier, successful trials
        if t.parent is not None:
            assert by_number[t.parent].proposal < t.proposal and by_number[t.parent].val is not None


def test_a_reused_strategy_object_matches_a_fresh_one() -> None:
    shared = DeltaNAS(predictor="ridge")
    first = run(shared, 50, seed=1)
    other = run(shared, 50, seed=2)  # the cache now holds another study's history ...
    again = run(shared, 50, seed=1)  # ... and is rebuilt for this one
    assert archs(again) == archs(first)
    assert archs(other) == archs(run(DeltaNAS(predictor="ridge"), 50, seed=2))


def test_resume_equals_a_straight_run() -> None:
    st = open_storage(None)
    st.create_study("s", {})
    run(DeltaNAS(mlp_steps=10), 30, seed=3, storage=st)
    resumed = run(DeltaNAS(mlp_steps=10), 55, seed=3, storage=st)  # cache rebuilt from the log
    assert archs(resumed) == archs(run(DeltaNAS(mlp_steps=10), 55, seed=3))


def test_parallel_workers_are_deterministic() -> None:
    def make() -> DeltaNAS:
        return DeltaNAS(predictor="ridge")

    assert archs(run(make(), 40, seed=6, workers=3)) == archs(run(make(), 40, seed=6, workers=3))


def test_exhausting_the_space_never_repeats() -> None:
    unique = len({SMALL.identity(a) for a in SMALL.all_archs()})  # 52 of 64
    trials = run(DeltaNAS(n_init=3, predictor="ridge"), unique - 2, seed=0, space=SMALL)
    idents = [SMALL.identity(SMALL.from_text(t.arch)) for t in trials]
    assert len(set(idents)) == len(idents) == unique - 2


def test_mutation_fallback_for_spaces_without_neighbours() -> None:
    strategy = DeltaNAS(encoder=OneHotEncoder(SPACE), mutations=8)
    a = run(strategy, 40, seed=2, space=NoNeighbours())
    assert archs(a) == archs(
        run(DeltaNAS(encoder=OneHotEncoder(SPACE), mutations=8), 40, seed=2, space=NoNeighbours())
    )
    assert len({t.arch for t in a}) == 40


def test_a_space_without_encoding_fails_before_evaluating() -> None:
    with pytest.raises(TypeError, match="encoder"):
        run(DeltaNAS(), 5, space=NoNeighbours())


def test_epochs_restart_after_patience() -> None:
    strategy = DeltaNAS(n_init=4, patience=5, restart_samples=2)
    # decisions 0..3 random; best at 4; no improvement afterwards
    vals = [1.0, 2.0, 3.0, 4.0, 9.0] + [0.0] * 20
    hist = [Observation(i, i, (0,), str(i), v) for i, v in enumerate(vals)]
    assert strategy.epoch(hist, 9) == (0, 4)
    assert strategy.epoch(hist, 10) == (10, 2)  # 10 - 4 > 5: a new epoch
    assert strategy.epoch(hist, 15) == (10, 2)  # the new epoch's best is decision 10 (0.0) ...
    assert strategy.epoch(hist, 16) == (16, 2)  # ... not beaten for more than 5 decisions
    assert DeltaNAS(patience=0).epoch(hist, 24) == (0, 10)


def test_dataset_cache_follows_the_history() -> None:
    strategy = DeltaNAS(predictor="ridge")
    trials = run(strategy, 45, seed=9)
    hist = [
        Observation(
            t.proposal,
            t.number,
            SPACE.from_text(t.arch),
            SPACE.identity(SPACE.from_text(t.arch)),
            t.val,
            t.parent,
        )
        for t in trials
    ]
    cached = strategy.dataset(SPACE, hist)
    fresh = DoADataset(doa_encoder(SPACE), SPACE)
    fresh.extend(hist)
    np.testing.assert_array_equal(cached.x, fresh.x)
    np.testing.assert_array_equal(cached.y, fresh.y)


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        DeltaNAS(eps=1.5)
    with pytest.raises(ValueError):
        DeltaNAS(parents=0)
    with pytest.raises(ValueError):
        DeltaNAS(predictor="gp")  # type: ignore[arg-type]


@pytest.mark.benchmark_data
def test_runs_to_budget_on_nb201() -> None:
    folder = benchmark_dir_or_none()
    if folder is None:
        pytest.skip(
            "benchmark data folder not found (set EINNAS_BENCHMARK_DIR or provide ../shared/data)"
        )
    from einnas.evaluators.tabular import TabularEvaluator

    evaluator = TabularEvaluator("nb201", "cifar10", str(folder))
    space = evaluator.table.space
    for strategy in (DeltaNAS(), DeltaNAS(predictor="ridge")):
        st = open_storage(None)
        st.create_study("s", {})
        out = run_search(st, "s", space, strategy, InlineExecutor(evaluator), 40, 0)
        assert out.finished == 40 and out.best is not None
        trials = st.trials("s")
        assert len({t.arch_hash for t in trials}) == 40
        # random search's median best-of-40 is ~89.9
        assert out.best.val is not None and out.best.val > 89.0


def test_slot_space_decisions_are_pinned() -> None:
    """Published tabular figures depend on these decisions: einspace work must not move them."""
    ridge = ["32232", "33301", "11011", "23231", "20312", "20320", "31322", "00101", "32221",
             "33132", "20322", "20020", "20000", "00020", "00000", "00030", "20030", "00033",
             "00031", "30030", "02030", "03030", "10030", "10033", "10031", "10230", "10032",
             "10020", "11030", "10010"]  # fmt: skip
    mlp = ["32232", "33301", "11011", "23231", "20312", "20320", "31322", "00101", "32221",
           "33132", "20322", "20020", "20000", "00020", "00030", "20030", "10030", "10031",
           "10033", "10032", "30030", "10020", "12030", "10230", "11030", "10010", "10000",
           "13030", "10330", "10130"]  # fmt: skip
    assert archs(run(DeltaNAS(predictor="ridge"), 30, seed=7)) == ridge
    assert archs(run(DeltaNAS(), 30, seed=7)) == mlp


# --------------------------------------------------------------------------- einspace trees


@dataclass(frozen=True)
class TreeScore:
    """Test double for training on einspace1d: a deterministic score of the tree text."""

    def evaluate(self, arch: str, seed: int) -> EvalResult:
        import hashlib
        import math

        a = EINSPACE_1D.analyze(EINSPACE_1D.from_text(arch))
        digest = hashlib.sha256(arch.encode()).digest()
        if digest[0] % 16 == 0:
            return EvalResult(math.nan)
        noise = int.from_bytes(digest[1:5], "big") / 2**32
        val = 50.0 + 20.0 * math.tanh(math.log1p(a.params) / 12.0) - 0.1 * a.n_nodes + 4 * noise
        return EvalResult(val, val)

    def describe(self) -> dict[str, Any]:
        return {"kind": "tree-score"}


def _einspace_1d() -> Any:
    from einnas.grammar import Budget
    from einnas.spaces.einspace import EinSpace

    return EinSpace((1, 40), budget=Budget(max_params=1_000_000, max_macs=10_000_000))


EINSPACE_1D = _einspace_1d()


def _cnn1d() -> str:
    from einnas.seeds import seed_text

    return seed_text("cnn1d")


def run_tree(strategy: Strategy, budget: int, seed: int = 0, storage: Any = None) -> list[Any]:
    st = storage or open_storage(None)
    if storage is None:
        st.create_study("s", {})
    executor = InlineExecutor(TreeScore())
    run_search(st, "s", EINSPACE_1D, strategy, executor, budget, seed, workers=2)
    return sorted(st.trials("s"), key=lambda t: t.proposal)


def einspace_delta_nas() -> DeltaNAS:
    strategy = make_strategy("delta-nas", tabular=False, seed_archs=[_cnn1d()])
    assert isinstance(strategy, DeltaNAS)
    return strategy


def test_einspace_defaults() -> None:
    from einnas.predictors.tree_features import TreeFeatures

    strategy = einspace_delta_nas()
    desc = strategy.describe()
    assert (desc["predictor"], desc["patience"], desc["max_edit"]) == ("ridge", 0, 12)
    assert (desc["seeded_init"], strategy.start_length) == (4, 4)
    assert DeltaNAS(n_init=7).start_length == 7  # no seeds: n_init random decisions
    assert DeltaNAS(seeded_init=2, seed_archs=["a", "b", "c"]).start_length == 3  # every seed
    with pytest.raises(ValueError, match="seeded_init"):
        DeltaNAS(seeded_init=0)
    assert desc["seed_archs"] == [_cnn1d()]
    json.dumps(desc)
    assert isinstance(doa_encoder(EINSPACE_1D), TreeFeatures)
    # tabular studies record exactly the keys they always did
    assert "seed_archs" not in make_strategy("delta-nas", tabular=True).describe()
    with pytest.raises(ValueError, match="max_edit"):
        DeltaNAS(max_edit=0)


def test_einspace_search_starts_from_the_seeds_and_builds_on_them() -> None:
    trials = run_tree(einspace_delta_nas(), 24, seed=1)
    assert len(trials) == 24 and len({t.arch_hash for t in trials}) == 24
    assert trials[0].arch == _cnn1d()
    by_number = {t.number: t for t in trials}
    start = trials[1:4]  # the start phase: small mutations of the seed
    assert all(t.mutation is not None for t in start)
    # the start phase mutates the seed (decision 0), whose result each decision could see
    assert all(by_number[t.parent].proposal == 0 for t in start if t.parent is not None)
    features = doa_encoder(EINSPACE_1D)
    seed_tree = EINSPACE_1D.from_text(_cnn1d())
    assert all(
        features.edit_size(seed_tree, EINSPACE_1D.from_text(t.arch)) <= 12  # type: ignore[attr-defined]
        for t in start
    )
    guided = trials[4:]
    assert all(t.parent is not None and t.mutation is not None for t in guided)
    assert any(t.parent is not None and by_number[t.parent].proposal > 0 for t in guided)
    # scored candidates are bounded edits of their parents (eps exploration may not be)
    sizes = [
        features.edit_size(  # type: ignore[attr-defined]
            EINSPACE_1D.from_text(by_number[t.parent].arch), EINSPACE_1D.from_text(t.arch)
        )
        for t in guided
    ]
    assert sum(size <= 12 for size in sizes) >= 0.7 * len(sizes)


def test_einspace_resume_is_replay() -> None:
    straight = run_tree(einspace_delta_nas(), 26, seed=2)
    st = open_storage(None)
    st.create_study("s", {})
    run_tree(einspace_delta_nas(), 13, seed=2, storage=st)
    resumed = run_tree(einspace_delta_nas(), 26, seed=2, storage=st)  # a fresh strategy object
    assert archs(resumed) == archs(straight)
    assert archs(run_tree(einspace_delta_nas(), 26, seed=3)) != archs(straight)


def test_einspace_doa_dataset_has_lineage_and_near_pairs() -> None:
    strategy = einspace_delta_nas()
    trials = run_tree(strategy, 20, seed=4)
    hist = [
        Observation(
            t.proposal,
            t.number,
            EINSPACE_1D.from_text(t.arch),
            t.arch_hash,
            t.val,
            t.parent,
        )
        for t in trials
    ]
    doa = strategy.dataset(EINSPACE_1D, hist)
    assert doa.is_lineage.any() and (~doa.is_lineage).any()  # siblings within the radius too
    assert (doa.distance[~doa.is_lineage] <= 12).all() and (doa.distance >= 0).all()
    np.testing.assert_array_equal(doa.y[0::2], -doa.y[1::2])  # both orders


def test_einspace_mlp_predictor_runs() -> None:
    strategy = DeltaNAS(predictor="mlp", mlp_steps=10, n_init=6, seed_archs=[_cnn1d()])
    trials = run_tree(strategy, 12, seed=5)
    assert len({t.arch_hash for t in trials}) == 12


def test_vectorised_scoring_and_incremental_ridge_keep_the_decisions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Synthetic 24x4 (d = 100): matrix-built deltas and the incrementally updated inverse make
    the same 60 decisions as the per-candidate loop with a fresh inverse per fit."""
    import einnas.strategies.delta_nas as dn
    from einnas.evaluators.synthetic import SyntheticEvaluator
    from einnas.executors.base import InlineExecutor
    from einnas.study.factory import open_storage
    from einnas.study.runner import run_search

    def decisions() -> list[str]:
        ev = SyntheticEvaluator((4,) * 24, 0.5, 0, 0.1)
        storage = open_storage(None)
        storage.create_study("s", {})
        run_search(
            storage, "s", ev.space, dn.DeltaNAS(predictor="ridge"), InlineExecutor(ev), 60, 3
        )
        return [t.arch for t in sorted(storage.trials("s"), key=lambda t: t.proposal)]

    fast = decisions()
    monkeypatch.setattr(dn, "VECTORISED_SCORING_MIN", 10**9)
    monkeypatch.setattr(dn, "INCREMENTAL_RIDGE_DIM", 10**9)
    assert decisions() == fast
