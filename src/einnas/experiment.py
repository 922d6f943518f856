"""From user settings to the parts of a search: space, evaluator, strategy, study config.

The CLI verbs ``search`` and ``bench`` (and library users) describe a search with a
:class:`SearchSpec`; :func:`build_search` turns it into the objects the search loop needs.
The spec's ``config()`` is what the study records, so a resumed search is checked against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from einnas.evaluators.base import Evaluator
from einnas.spaces.base import SearchSpace, SearchSpaceError
from einnas.spaces.tabular import SPACE_NAMES as TABULAR_SPACES
from einnas.spaces.tabular import normalise_space_name
from einnas.strategies import Strategy, make_strategy

EINSPACE_SPACES = ("einspace", "einspace1d")
ALL_SPACES = TABULAR_SPACES + EINSPACE_SPACES


def is_tabular(space: str) -> bool:
    try:
        normalise_space_name(space)
    except SearchSpaceError:
        return False
    return True


# Per-space budgets of the default einspace searches: small enough that a trial trains in
# seconds on one CPU core (MNIST-1D) or tens of seconds (28x28 images).
EINSPACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "einspace1d": {"dataset": "mnist1d", "max_params": 1_000_000, "max_macs": 10_000_000},
    "einspace": {"dataset": "fashion-mnist", "max_params": 5_000_000, "max_macs": 200_000_000},
}


@dataclass
class SearchSpec:
    """Everything that defines a search (and, with ``seed``, each of its decisions)."""

    space: str = "nb201"
    dataset: str | None = None
    strategy: str = "re"
    budget: int = 150
    seed: int = 0
    workers: int = 1
    population: int | None = None
    tournament: int | None = None
    seed_archs: list[str] = field(default_factory=list)
    benchmark_dir: str | None = None
    simulate_time: bool = False
    # einspace (training) searches only
    epochs: int = 8
    max_params: int | None = None
    max_macs: int | None = None
    max_trial_seconds: float | None = 120.0
    device: str = "cpu"
    threads_per_worker: int | None = 1

    def __post_init__(self) -> None:
        if is_tabular(self.space):
            self.space = normalise_space_name(self.space)
            if self.space == "nb201" and self.dataset is None:
                self.dataset = "cifar10"
        elif self.space in EINSPACE_DEFAULTS:
            defaults = EINSPACE_DEFAULTS[self.space]
            self.dataset = self.dataset or defaults["dataset"]
            self.max_params = self.max_params or defaults["max_params"]
            self.max_macs = self.max_macs or defaults["max_macs"]
        else:
            raise SearchSpaceError(
                f"unknown space {self.space!r}: choose one of {', '.join(ALL_SPACES)}"
            )

    @property
    def tabular(self) -> bool:
        return is_tabular(self.space)

    def config(self, evaluator: Evaluator, strategy: Strategy) -> dict[str, Any]:
        cfg = asdict(self)
        cfg.pop("benchmark_dir")
        if self.tabular:
            for key in (
                "epochs",
                "max_params",
                "max_macs",
                "max_trial_seconds",
                "device",
                "threads_per_worker",
            ):
                cfg.pop(key)
        cfg["strategy"] = strategy.describe()
        cfg["evaluator"] = evaluator.describe()
        return cfg

    def default_study_name(self) -> str:
        dataset = self.dataset or ""
        if "/" in dataset:  # a folder: its last component
            dataset = Path(dataset).name
        parts = [self.space, dataset, self.strategy, f"seed{self.seed}"]
        return "-".join(p for p in parts if p)


def build_search(spec: SearchSpec) -> tuple[SearchSpace[Any], Evaluator, Strategy]:
    """The space, evaluator and strategy of ``spec``."""
    if not spec.tabular:
        return _build_einspace(spec)
    from einnas.evaluators.tabular import TabularEvaluator
    from einnas.seeds import SEED_NAMES

    if spec.seed_archs and any(s in SEED_NAMES for s in spec.seed_archs):
        raise SearchSpaceError(
            "--seed-archs names einspace seeds; a tabular space takes architecture texts"
        )
    evaluator = TabularEvaluator(spec.space, spec.dataset, spec.benchmark_dir, spec.simulate_time)
    space = evaluator.table.space
    strategy = make_strategy(
        spec.strategy,
        tabular=True,
        population=spec.population,
        tournament=spec.tournament,
        seed_archs=spec.seed_archs,
    )
    return space, evaluator, strategy


def _build_einspace(spec: SearchSpec) -> tuple[SearchSpace[Any], Evaluator, Strategy]:
    from einnas.evaluators.training import TrainingConfig, TrainingEvaluator
    from einnas.grammar import Budget
    from einnas.seeds import SEED_NAMES, SEED_NAMES_1D, seed_text
    from einnas.spaces.einspace import EinSpace

    assert spec.dataset is not None and spec.max_params is not None and spec.max_macs is not None
    config = TrainingConfig(
        epochs=spec.epochs,
        device=spec.device,  # type: ignore[arg-type]
        max_seconds=spec.max_trial_seconds,
        num_threads=spec.threads_per_worker,
    )
    evaluator = TrainingEvaluator(spec.dataset, config)
    data = evaluator.data
    space = EinSpace.named(
        spec.space,
        data.input_shape,
        budget=Budget(max_params=spec.max_params, max_macs=spec.max_macs),
    )
    seeds = [seed_text(s) if s in SEED_NAMES + SEED_NAMES_1D else s for s in spec.seed_archs]
    for given, text in zip(spec.seed_archs, seeds):
        # a clear error now rather than a failed trial later
        params = space.analyze(space.from_text(text)).params
        if params > spec.max_params:
            raise SearchSpaceError(
                f"seed architecture {given[:60]!r} has {params:,} backbone parameters, over "
                f"--max-params {spec.max_params:,}: raise --max-params to at least {params:,} "
                "or give a smaller seed"
            )
    strategy = make_strategy(
        spec.strategy,
        tabular=False,
        population=spec.population,
        tournament=spec.tournament,
        seed_archs=seeds,
    )
    return space, evaluator, strategy
