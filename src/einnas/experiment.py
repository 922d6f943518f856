"""From user settings to the parts of a search: space, evaluator, strategy, study config.

The CLI verbs ``search`` and ``bench`` (and library users) describe a search with a
:class:`SearchSpec`; :func:`build_search` turns it into the objects the search loop needs.
The spec's ``config()`` is what the study records, so a resumed search is checked against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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

    def __post_init__(self) -> None:
        if is_tabular(self.space):
            self.space = normalise_space_name(self.space)
            if self.space == "nb201" and self.dataset is None:
                self.dataset = "cifar10"
        elif self.space not in EINSPACE_SPACES:
            raise SearchSpaceError(
                f"unknown space {self.space!r}: choose one of {', '.join(ALL_SPACES)}"
            )

    def config(self, evaluator: Evaluator, strategy: Strategy) -> dict[str, Any]:
        cfg = asdict(self)
        cfg.pop("benchmark_dir")
        cfg["strategy"] = strategy.describe()
        cfg["evaluator"] = evaluator.describe()
        return cfg

    def default_study_name(self) -> str:
        parts = [self.space, self.dataset or "", self.strategy, f"seed{self.seed}"]
        return "-".join(p for p in parts if p)


def build_search(spec: SearchSpec) -> tuple[SearchSpace[Any], Evaluator, Strategy]:
    """The space, evaluator and strategy of ``spec``."""
    if not is_tabular(spec.space):
        raise SearchSpaceError(
            f"searching {spec.space} needs the training evaluator, which einnas does not ship yet; "
            "use a tabular space (nb201, nasbench-macro, transnas-micro) or `einnas sample`"
        )
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
