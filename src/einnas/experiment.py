"""From user settings to the parts of a search: space, evaluator, strategy, study config.

The CLI verbs ``search`` and ``bench`` (and library users) describe a search with a
:class:`SearchSpec`; :func:`build_search` turns it into the objects the search loop needs.
The spec's ``config()`` is what the study records, so a resumed search is checked against it.

Spaces and strategies are looked up in :mod:`einnas.registry` (built-ins and plug-ins alike): a
tabular space's table comes from :func:`einnas.registry.load_space`, a training space's search
from its entry's factory (:func:`build_training_search` for einspace).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from einnas.evaluators.base import Evaluator
from einnas.registry import get_space, space_names
from einnas.spaces.base import SearchSpace, SearchSpaceError
from einnas.strategies import Strategy, make_strategy

SEARCH_KINDS = ("tabular", "training")


def search_space_names() -> list[str]:
    """The spaces ``einnas search`` accepts: tabular and training ones, plug-ins included."""
    return space_names(SEARCH_KINDS)


def is_tabular(space: str) -> bool:
    """Whether ``space`` names a registered tabular space."""
    try:
        return get_space(space).tabular
    except SearchSpaceError:
        return False


def __getattr__(name: str) -> Any:  # the former constants, now views of the registry
    if name == "ALL_SPACES":
        return tuple(search_space_names())
    if name == "TABULAR_SPACES":
        return tuple(space_names("tabular"))
    if name == "EINSPACE_SPACES":
        return tuple(space_names("training"))
    if name == "EINSPACE_DEFAULTS":
        return {n: dict(get_space(n).defaults) for n in space_names("training")}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        try:
            entry = get_space(self.space)
        except SearchSpaceError as exc:
            if type(exc) is not SearchSpaceError:
                raise  # a broken plug-in: its own message
            raise SearchSpaceError(
                f"unknown space {self.space!r}: choose one of {', '.join(search_space_names())}"
            ) from None
        if entry.kind not in SEARCH_KINDS:
            raise SearchSpaceError(
                f"space {entry.name!r} is for the DoA diagnostic only (einnas diagnose-doa); "
                f"search spaces: {', '.join(search_space_names())}"
            )
        self.space = entry.name
        if entry.tabular:
            if self.dataset is None:
                self.dataset = entry.default_dataset
        else:
            defaults = entry.defaults
            self.dataset = self.dataset or defaults.get("dataset", entry.default_dataset)
            self.max_params = self.max_params or defaults.get("max_params")
            self.max_macs = self.max_macs or defaults.get("max_macs")

    @property
    def tabular(self) -> bool:
        return get_space(self.space).tabular

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
    entry = get_space(spec.space)
    if not entry.tabular:
        built: tuple[SearchSpace[Any], Evaluator, Strategy] = entry.factory(spec)
        return built
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


def build_training_search(spec: SearchSpec) -> tuple[SearchSpace[Any], Evaluator, Strategy]:
    """The search of an einspace space (the factory of the ``einspace`` registry entries)."""
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


@dataclass(frozen=True)
class ResolvedSearch:
    """What :func:`resolve_space_and_strategy` found: the objects a study needs."""

    space: SearchSpace[Any]
    space_name: str
    dataset: str | None
    strategy: Strategy
    evaluator: Evaluator | None


def resolve_space_and_strategy(
    space: SearchSpace[Any] | str,
    strategy: str | Strategy,
    *,
    dataset: str | None = None,
    benchmark_dir: str | None = None,
    strategy_options: dict[str, Any] | None = None,
) -> ResolvedSearch:
    """A space (object or registered name) and a strategy (object or registered name).

    A registered name brings its evaluator (a tabular lookup; training for einspace); a space
    object has none (the caller evaluates).  Strategy names are made with the defaults of the
    space's family (tabular slot spaces vs einspace trees) plus ``strategy_options``.
    """
    from einnas.spaces.base import FiniteSearchSpace

    options = dict(strategy_options or {})
    if isinstance(space, str):
        name = strategy if isinstance(strategy, str) else "re"
        spec = SearchSpec(
            space=space,
            dataset=dataset,
            strategy=name,
            benchmark_dir=benchmark_dir,
            population=options.pop("population", None),
            tournament=options.pop("tournament", None),
            seed_archs=list(options.pop("seed_archs", []) or []),
        )
        sp, evaluator, built = build_search(spec)
        if isinstance(strategy, str) and options:
            built = make_strategy(
                strategy,
                tabular=spec.tabular,
                population=spec.population,
                tournament=spec.tournament,
                seed_archs=spec.seed_archs,
                **options,
            )
        return ResolvedSearch(
            sp,
            spec.space,
            spec.dataset,
            built if isinstance(strategy, str) else strategy,
            evaluator,
        )
    if not isinstance(space, SearchSpace):
        raise TypeError(
            f"space must be a registered name or a search space object (sample, mutate, "
            f"to_text, from_text, identity), got {type(space).__name__}"
        )
    if isinstance(strategy, str):
        tabular = isinstance(space, FiniteSearchSpace)
        strat = make_strategy(strategy, tabular=tabular, **options)
    else:
        strat = strategy
    return ResolvedSearch(space, space.name, dataset, strat, None)
