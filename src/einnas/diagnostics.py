"""The DoA diagnostic (the paper's Fig. 3): predicting ``f(b) - f(a)`` by the pair's edit distance.

Sridhar & Chen report that a difference-of-architecture (DoA) predictor, trained on pairs of
similar architectures, is accurate for pairs one edit apart and that its error rises sharply
beyond one edit, then plateaus.  :func:`diagnose_doa` measures that, next to an *absolute*
predictor of the same model family, on any slot space with a known objective:

1. draw ``n_archs`` architectures with distinct identities (isomorphic cells count once) -- the
   "evaluated" ones -- by one of the training-set rules below (``sampling``);
2. **DoA predictor** ``g``: fitted on every ordered pair of them within ``radius`` edits, both
   orders (rows ``e(b) - e(a)``, targets ``f(b) - f(a)``; built by the search's own
   :class:`~einnas.predictors.doa.DoADataset`, lineage pairs off), with the odd (antisymmetric)
   model the strategy uses: ridge without intercept, or the MLP ensemble with odd members;
3. **absolute predictor** ``h``: the same family fitted on ``e(a) -> f(a)`` over the same
   architectures (ridge with intercept, or the ordinary MLP ensemble); it predicts a
   difference as ``h(b) - h(a)``;
4. for each edit distance ``d`` (default 1..6), up to ``held_out_pairs`` test pairs ``(a, b)`` at
   exactly ``d`` edits: the mean absolute error of the predicted against the true difference,
   and the rank correlation (Spearman's rho and Kendall's tau-b) between them;
5. the **neighbour ranking** -- the question a Delta-NAS decision asks: for ``parents`` training
   architectures ``a`` (drawn uniformly; and, separately, the ``parents`` best ones), all of
   ``a``'s single-edit neighbours that are not training architectures (one per identity, as the
   search's candidates), ranked by each predictor's predicted gain; per parent, Spearman's rho
   between predicted and true gains and the *regret* of the predicted-best neighbour (true gain
   of the best neighbour minus that of the chosen one; ties in the prediction averaged), next to
   the expected regret of a uniformly random pick; means over parents;
6. repeated for ``seeds`` seeds; mean and standard deviation over seeds.

Training sets (``sampling``):

* ``random`` (default; the paper's Fig. 3): uniform draws, redrawn on a repeated identity.
  Random cells are rarely close (200 NB201 cells give ~26 single-edit pairs).
* ``walk``: the cells a few random walks of single edits reach, as in a search whose evaluated
  cells are mostly each other's neighbours.  ``starts`` uniform random roots (distinct
  identities); then, until there are ``n_archs``, a uniformly chosen cell of the set so far is
  mutated once (:meth:`~einnas.spaces.slots.SlotSpace.mutate`: one slot to another value) and the
  child joins the set when its identity is new.  The set is a forest of ``starts`` trees of
  single edits (``starts = n_archs`` is ``random``).
* ``evolution``: the cells regularised (aging) evolution visits, with ``f`` as its fitness (a
  cheap table lookup): ``starts`` uniform random cells form the first population; each step
  draws ``min(tournament, population)`` members without replacement, mutates the fittest (the
  oldest among equals) once, and a child with a new identity joins the set and the population,
  whose oldest member then leaves when it holds more than ``starts``.  The set gathers around the
  good cells the way a search's history does.

``walk`` and ``evolution`` need ``f`` for every architecture (not the NAS-Bench-101 sample) and
default to anchored test pairs (held-out pairs are drawn uniformly from the whole space, far from
where such a set lies).

Test pairs (``pairs``):

* ``held-out`` (default): **both** architectures are outside the training set (by identity) and
  differ from each other -- no information leaks from training into the test.
* ``anchored``: ``a`` is a training architecture, ``b`` is not: the search's situation (an
  evaluated parent, an unevaluated candidate).  The absolute predictor still predicts
  ``h(b) - h(a)``.

Where the objective is known for every architecture (NAS-Bench-201, NAS-Bench-Macro, TransNAS
micro, synthetic spaces), ``a`` is drawn uniformly and ``b`` by changing ``d`` slots of ``a`` to
other values (uniform slots, uniform values); pairs are distinct.  Where it is known only for a
list (the NAS-Bench-101 sample), test pairs are drawn from the listed pairs at distance ``d``
(one cell per identity class), so far fewer may exist; each row reports how many were used.

Everything random comes from generators seeded by ``(seed, purpose)``; the same config gives the
same numbers.  Rank correlations are computed here with numpy (average ranks for ties), so scipy
is not needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from einnas.predictors import make_predictor
from einnas.predictors.doa import DoADataset
from einnas.predictors.encodings import Encoder, FloatArray, encode_many
from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace
from einnas.strategies.base import Observation

__all__ = [
    "DIAGNOSTIC_SPACES",
    "PAIR_MODES",
    "SAMPLING_MODES",
    "DiagnosticError",
    "DistanceRow",
    "DoADiagnosis",
    "DoADiagnosticConfig",
    "NeighbourRanking",
    "ObjectiveTable",
    "PairMetrics",
    "RankMetrics",
    "RankingSeed",
    "SeedResult",
    "default_config",
    "describe_sampling",
    "diagnose_doa",
    "draw_training_set",
    "format_diagnosis",
    "kendall_tau",
    "load_objective_table",
    "spearman_rho",
]

PairMode = Literal["held-out", "anchored"]
PAIR_MODES: tuple[str, ...] = ("held-out", "anchored")
SamplingMode = Literal["random", "walk", "evolution"]
SAMPLING_MODES: tuple[str, ...] = ("random", "walk", "evolution")
RANKING_GROUPS: tuple[str, ...] = ("random", "best")
DIAGNOSTIC_SPACES = ("nb201", "nasbench-macro", "transnas-micro", "nb101-sample", "synthetic")
"""The built-in spaces the diagnostic runs on (any registered tabular space works too)."""


class DiagnosticError(ValueError):
    """The diagnostic cannot run with these settings (the message says what to change)."""


# ---------------------------------------------------------------------------------------------
# What the diagnostic runs on


@dataclass(frozen=True)
class ObjectiveTable:
    """A slot space, its objective ``f``, and which architectures ``f`` is known for.

    Attributes:
        name: e.g. ``"nb201/cifar10"``.
        space: the slot space (encoding, edit distance, identity).
        value: ``f(arch)`` (the search signal: validation accuracy for the benchmarks).
        listed: the architectures ``f`` is known for, or ``None`` when it is known for all.
    """

    name: str
    space: SlotSpace
    value: Callable[[SlotArch], float]
    listed: tuple[SlotArch, ...] | None = None


def load_objective_table(
    space: str,
    dataset: str | None = None,
    benchmark_dir: str | Path | None = None,
    *,
    interaction: float = 0.0,
    objective_seed: int = 0,
) -> ObjectiveTable:
    """The objective table of a space by name, through the space registry.

    Args:
        space: any registered tabular space (``nb201``, ``nasbench-macro``, ``transnas-micro``,
            a plug-in's; aliases accepted) or a diagnostic space: ``nb101-sample`` or
            ``synthetic``.
        dataset: the benchmark's dataset or task (as for ``einnas bench``); for ``synthetic``
            the slot shape, ``MxK`` joined by ``+`` (default ``8x3``).
        benchmark_dir: the benchmark folder (see :mod:`einnas.benchmark_data`).
        interaction, objective_seed: the synthetic objective (ignored by the benchmarks).
    """
    from einnas.registry import PluginError, get_space, load_space, space_names

    kinds = ("tabular", "objective")
    try:
        entry = get_space(space)
    except PluginError:
        raise
    except SearchSpaceError:
        entry = None
    if entry is None or entry.kind not in kinds:
        raise SearchSpaceError(
            f"unknown space {space!r} for the DoA diagnostic; choose one of "
            f"{', '.join(space_names(kinds))}"
        )
    if entry.kind == "objective":
        table: ObjectiveTable = entry.factory(
            dataset=dataset,
            benchmark_dir=benchmark_dir,
            interaction=interaction,
            objective_seed=objective_seed,
        )
        return table
    tab = load_space(entry.name, dataset, benchmark_dir)
    return ObjectiveTable(tab.name, tab.space, tab.val)


def nb101_objective(dataset: str | None, benchmark_dir: str | Path | None) -> ObjectiveTable:
    """The 500-cell NAS-Bench-101 sample (the ``nb101-sample`` registry entry)."""
    from einnas.spaces.nb101_sample import NB101Sample

    if dataset is not None and dataset.strip().lower().replace("-", "") != "cifar10":
        raise SearchSpaceError(f"nb101-sample has results for cifar10 only, not {dataset!r}")
    sample = NB101Sample.load(benchmark_dir)
    return ObjectiveTable(sample.name, sample.space, sample.val, sample.archs)


def synthetic_objective(
    dataset: str | None, *, interaction: float = 0.0, objective_seed: int = 0
) -> ObjectiveTable:
    """A synthetic slot space of shape ``dataset`` (default ``8x3``; the ``synthetic`` entry)."""
    from einnas.spaces.synthetic import SyntheticObjective, SyntheticSlotSpace, parse_shape_spec

    shape = dataset or "8x3"
    cards = parse_shape_spec(shape)
    objective = SyntheticObjective(cards, interaction, objective_seed)
    name = f"synthetic/{shape}" + (f",interaction={interaction:g}" if interaction else "")
    return ObjectiveTable(name, SyntheticSlotSpace(cards), objective.value)


# ---------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class DoADiagnosticConfig:
    """Settings of :func:`diagnose_doa` (see the module docstring)."""

    n_archs: int = 200
    radius: int = 2
    predictor: str = "mlp"
    encoding: str = "default"
    seeds: int = 5
    first_seed: int = 0
    held_out_pairs: int = 200
    distances: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    pairs: str = "held-out"
    sampling: str = "random"
    starts: int = 10
    tournament: int = 5
    parents: int = 20

    def __post_init__(self) -> None:
        if self.n_archs < 2:
            raise DiagnosticError(f"--n-archs must be >= 2, got {self.n_archs}")
        if self.radius < 1:
            raise DiagnosticError(f"--radius must be >= 1, got {self.radius}")
        from einnas.registry import predictor_names

        if self.predictor not in predictor_names():
            raise DiagnosticError(
                f"--predictor must be one of {', '.join(predictor_names())}, got {self.predictor!r}"
            )
        if self.seeds < 1 or self.first_seed < 0:
            raise DiagnosticError(
                f"--seeds must be >= 1 and --first-seed >= 0, got {self.seeds}, {self.first_seed}"
            )
        if self.held_out_pairs < 3:
            raise DiagnosticError(
                f"--held-out-pairs must be >= 3 (rank correlations), got {self.held_out_pairs}"
            )
        if not self.distances or min(self.distances) < 1:
            raise DiagnosticError(f"--distances must be positive integers, got {self.distances}")
        if self.pairs not in PAIR_MODES:
            raise DiagnosticError(
                f"--pairs must be one of {', '.join(PAIR_MODES)}, got {self.pairs!r}"
            )
        if self.sampling not in SAMPLING_MODES:
            raise DiagnosticError(
                f"--sampling must be one of {', '.join(SAMPLING_MODES)}, got {self.sampling!r}"
            )
        if self.starts < 1 or (self.sampling != "random" and self.starts > self.n_archs):
            raise DiagnosticError(
                f"--starts must be between 1 and --n-archs ({self.n_archs}), got {self.starts}"
            )
        if self.tournament < 1:
            raise DiagnosticError(f"--tournament must be >= 1, got {self.tournament}")
        if self.parents < 0:
            raise DiagnosticError(
                f"--parents must be >= 0 (0: no neighbour ranking), got {self.parents}"
            )
        object.__setattr__(self, "distances", tuple(sorted(set(self.distances))))

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


def default_config(table: ObjectiveTable, **overrides: Any) -> DoADiagnosticConfig:
    """The default settings for ``table``, with ``overrides`` (``None`` values are ignored).

    Complete tables: 200 architectures, radius 2, distances 1..6 (at most the number of slots),
    held-out pairs.  The NAS-Bench-101 sample's cells are 4 to 23 edits apart (no pair within 2),
    so there: 200 architectures, radius 8, distances 4..12, anchored pairs (held-out pairs between
    the ~90 remaining identity classes are too few).  ``walk`` and ``evolution`` training sets
    default to anchored pairs (see the module docstring).
    """
    base: dict[str, Any]
    if table.listed is not None and table.space.name == "nb101":
        base = {"n_archs": 200, "radius": 8, "distances": tuple(range(4, 13)), "pairs": "anchored"}
    else:
        top = min(6, table.space.num_slots)
        base = {"distances": tuple(range(1, top + 1))}
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("sampling", "random") != "random":
        base["pairs"] = "anchored"
    base.update(given)
    return DoADiagnosticConfig(**base)


# ---------------------------------------------------------------------------------------------
# Rank correlations (numpy only)


def _average_ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 0..n-1 with ties given their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks: npt.NDArray[np.float64] = ((ends - counts + ends - 1) / 2.0)[inverse.reshape(-1)]
    return ranks


def spearman_rho(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rank correlation (ties get average ranks); NaN when a side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two vectors of equal length, got {a.shape} and {b.shape}")
    if a.size < 2:
        return math.nan
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / denom if denom > 0 else math.nan


def kendall_tau(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Kendall's tau-b (corrected for ties); NaN when a side is constant.  O(n^2) time."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two vectors of equal length, got {a.shape} and {b.shape}")
    n = a.size
    concordance = 0.0
    untied_a = untied_b = 0
    for i in range(n - 1):
        da = np.sign(a[i + 1 :] - a[i])
        db = np.sign(b[i + 1 :] - b[i])
        concordance += float(da @ db)
        untied_a += int(np.count_nonzero(da))
        untied_b += int(np.count_nonzero(db))
    denom = math.sqrt(float(untied_a) * float(untied_b))
    return concordance / denom if denom > 0 else math.nan


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class PairMetrics:
    """One predictor at one edit distance: mean (and std over seeds) of each metric."""

    mae: float
    spearman: float
    kendall: float
    mae_std: float | None = None
    spearman_std: float | None = None
    kendall_std: float | None = None


@dataclass(frozen=True)
class DistanceRow:
    """The two predictors at one edit distance.

    ``pairs``: test pairs per seed (mean); ``train_rows``: ordered training rows at that distance
    per seed (mean; 0 beyond the radius); ``no_change_mae``: mean ``|f(b) - f(a)|`` of the test
    pairs, the MAE of predicting no change (the scale the predictors' MAE is to be read against:
    it differs between training sets, because anchored pairs lie where the training set does).
    """

    distance: int
    pairs: float
    train_rows: float
    doa: PairMetrics
    absolute: PairMetrics
    no_change_mae: float = math.nan


_Metrics3 = tuple[float, float, float]  # (MAE, Spearman, Kendall)
# (pairs, train rows, DoA, absolute, mean |f(b) - f(a)|)
_SeedRow = tuple[int, int, _Metrics3, _Metrics3, float]


@dataclass(frozen=True)
class RankingSeed:
    """The neighbour ranking of one seed and parent group (means over its parents).

    ``spearman``: per-parent rank correlation of predicted and true gains; ``regret``: true gain
    of the parent's best neighbour minus that of the predicted-best one (what the search loses by
    trusting the predictor at that decision); ``random_regret``: the same for a uniform pick.
    """

    group: str
    parents: int
    neighbours: float
    doa_spearman: float
    doa_regret: float
    abs_spearman: float
    abs_regret: float
    random_regret: float


@dataclass(frozen=True)
class RankMetrics:
    """One predictor's neighbour ranking: mean (and std over seeds) of rho and regret."""

    spearman: float
    regret: float
    spearman_std: float | None = None
    regret_std: float | None = None


@dataclass(frozen=True)
class NeighbourRanking:
    """The two predictors ranking the unevaluated single-edit neighbours of one parent.

    ``group``: ``random`` (parents drawn uniformly from the training set) or ``best`` (the best
    training architectures, the parents Delta-NAS uses); ``parents``: parents per seed (mean);
    ``neighbours``: candidates per parent (mean).
    """

    group: str
    parents: float
    neighbours: float
    doa: RankMetrics
    absolute: RankMetrics
    random_regret: float
    random_regret_std: float | None = None


@dataclass(frozen=True)
class SeedResult:
    """Raw figures of one seed: ``{distance: (pairs, train rows, doa metrics, abs metrics)}``.

    ``ranking``: the neighbour ranking by parent group (empty when it was not measured).
    """

    seed: int
    members: int
    train_rows: int
    by_distance: dict[int, _SeedRow]
    ranking: dict[str, RankingSeed] = field(default_factory=dict)


@dataclass(frozen=True)
class DoADiagnosis:
    """What :func:`diagnose_doa` measured."""

    table: str
    space: str
    num_slots: int
    encoding: str
    config: DoADiagnosticConfig
    rows: list[DistanceRow]
    seeds: list[SeedResult] = field(repr=False)
    members: float
    train_rows: float
    seconds: float
    ranking: list[NeighbourRanking] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (config, per-distance metrics, per-seed figures)."""

        def clean(x: Any) -> Any:
            if isinstance(x, float):
                return None if not math.isfinite(x) else round(x, 6)
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        cfg = asdict(self.config)
        cfg["distances"] = list(self.config.distances)
        out = {
            "table": self.table,
            "space": self.space,
            "slots": self.num_slots,
            "encoding": self.encoding,
            "config": cfg,
            "members_per_seed": self.members,
            "train_rows_per_seed": self.train_rows,
            "results": [asdict(r) for r in self.rows],
            "neighbour_ranking": [asdict(r) for r in self.ranking],
            "per_seed": [
                {
                    "seed": s.seed,
                    "members": s.members,
                    "train_rows": s.train_rows,
                    "by_distance": [
                        {
                            "distance": d,
                            "pairs": v[0],
                            "train_rows": v[1],
                            "doa": dict(zip(("mae", "spearman", "kendall"), v[2])),
                            "absolute": dict(zip(("mae", "spearman", "kendall"), v[3])),
                            "no_change_mae": v[4],
                        }
                        for d, v in sorted(s.by_distance.items())
                    ],
                    "neighbour_ranking": [asdict(r) for r in s.ranking.values()],
                }
                for s in self.seeds
            ],
            "seconds": self.seconds,
        }
        cleaned: dict[str, Any] = clean(out)
        return cleaned


def format_diagnosis(diag: DoADiagnosis) -> str:
    """The per-distance table for people."""
    cfg = diag.config

    def pm(mean: float, std: float | None, fmt: str) -> str:
        if not math.isfinite(mean):
            return "-"
        text = format(mean, fmt)
        return text + (f"±{format(std, fmt)}" if std is not None and math.isfinite(std) else "")

    lines = [
        f"{diag.table}: {diag.num_slots} slots, encoding {diag.encoding}, predictor "
        f"{cfg.predictor}; {describe_sampling(cfg)}, DoA pairs within {cfg.radius} edits "
        f"({diag.train_rows:.0f} ordered rows per seed); {cfg.pairs} test pairs; "
        f"{cfg.seeds} seed(s), mean±std",
    ]
    header = (
        f"{'edits':>5} {'pairs':>6} {'train':>6} {'|diff|':>7} | {'DoA MAE':>13} {'rho':>11} "
        f"{'tau':>11} | {'abs MAE':>13} {'rho':>11} {'tau':>11}"
    )
    lines += [header, "-" * len(header)]
    for r in diag.rows:
        lines.append(
            f"{r.distance:>5} {r.pairs:>6.0f} {r.train_rows:>6.0f} "
            f"{pm(r.no_change_mae, None, '.3f'):>7} | "
            f"{pm(r.doa.mae, r.doa.mae_std, '.3f'):>13} "
            f"{pm(r.doa.spearman, r.doa.spearman_std, '.2f'):>11} "
            f"{pm(r.doa.kendall, r.doa.kendall_std, '.2f'):>11} | "
            f"{pm(r.absolute.mae, r.absolute.mae_std, '.3f'):>13} "
            f"{pm(r.absolute.spearman, r.absolute.spearman_std, '.2f'):>11} "
            f"{pm(r.absolute.kendall, r.absolute.kendall_std, '.2f'):>11}"
        )
    lines.append(
        "MAE of predicted vs true f(b) - f(a) (|diff|: of predicting no change); rho / tau: "
        f"Spearman / Kendall rank correlation; {diag.seconds:.1f} s"
    )
    if diag.ranking:
        lines += [
            "",
            "neighbour ranking: the unevaluated single-edit neighbours of one training parent, "
            "ranked by predicted gain",
        ]
        header = (
            f"{'parents':>7} {'n':>4} {'nbrs':>5} | {'DoA rho':>11} {'regret':>11} | "
            f"{'abs rho':>11} {'regret':>11} | {'random regret':>13}"
        )
        lines += [header, "-" * len(header)]
        for g in diag.ranking:
            lines.append(
                f"{g.group:>7} {g.parents:>4.0f} {g.neighbours:>5.1f} | "
                f"{pm(g.doa.spearman, g.doa.spearman_std, '.2f'):>11} "
                f"{pm(g.doa.regret, g.doa.regret_std, '.2f'):>11} | "
                f"{pm(g.absolute.spearman, g.absolute.spearman_std, '.2f'):>11} "
                f"{pm(g.absolute.regret, g.absolute.regret_std, '.2f'):>11} | "
                f"{pm(g.random_regret, g.random_regret_std, '.2f'):>13}"
            )
        lines.append(
            "rho: Spearman per parent; regret: true gain of the best neighbour minus that of the "
            "predicted-best one (means over parents); parents: random = uniform from the training "
            "set, best = its best"
        )
    return "\n".join(lines)


def describe_sampling(cfg: DoADiagnosticConfig) -> str:
    """The training set in words, e.g. ``200 archs by walks from 10 roots``."""
    if cfg.sampling == "walk":
        return f"{cfg.n_archs} archs by single-edit walks from {cfg.starts} random roots"
    if cfg.sampling == "evolution":
        return (
            f"{cfg.n_archs} archs visited by regularised evolution (population {cfg.starts}, "
            f"tournament {cfg.tournament})"
        )
    return f"{cfg.n_archs} random archs"


# ---------------------------------------------------------------------------------------------
# The diagnostic


def _rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


_TRAIN, _TEST, _FIT, _PARENTS = 0xD0A1, 0xD0A2, 0xD0A3, 0xD0A4


def _draw_random(
    table: ObjectiveTable, n: int, rng: np.random.Generator
) -> tuple[list[SlotArch], list[str]]:
    """``n`` architectures with distinct identities (uniform; from the list where there is one)."""
    space = table.space
    archs: list[SlotArch] = []
    ids: list[str] = []
    seen: set[str] = set()
    if table.listed is not None:
        pool: Sequence[SlotArch] = [
            table.listed[int(i)] for i in rng.permutation(len(table.listed))
        ]
        draws = iter(pool)
    else:
        draws = iter(space.sample(rng) for _ in range(100 * n))
    for arch in draws:
        ident = space.identity(arch)
        if ident not in seen:
            seen.add(ident)
            archs.append(arch)
            ids.append(ident)
            if len(archs) == n:
                return archs, ids
    classes = len(seen)
    raise DiagnosticError(
        f"{table.name}: could draw only {classes} architectures with distinct identities for "
        f"--n-archs {n}; lower --n-archs (and leave some for the held-out test pairs)"
    )


def _grow(
    table: ObjectiveTable,
    cfg: DoADiagnosticConfig,
    rng: np.random.Generator,
) -> tuple[list[SlotArch], list[str]]:
    """A ``walk`` or ``evolution`` training set (see the module docstring for the rules)."""
    space = table.space
    archs, ids = _draw_random(table, cfg.starts, rng)
    seen = set(ids)
    values = [float(table.value(a)) for a in archs]
    population = list(range(len(archs)))  # training-set indices, oldest first (evolution)
    for _ in range(100 * cfg.n_archs):
        if len(archs) == cfg.n_archs:
            return archs, ids
        if cfg.sampling == "walk":
            parent = int(rng.integers(len(archs)))
        else:
            size = min(cfg.tournament, len(population))
            picks = rng.choice(len(population), size=size, replace=False).tolist()
            # the fittest contestant; the oldest among equals
            parent = population[max(picks, key=lambda i: (values[population[i]], -i))]
        child = space.mutate(archs[parent], rng)
        ident = space.identity(child)
        if ident in seen:
            continue
        seen.add(ident)
        archs.append(child)
        ids.append(ident)
        values.append(float(table.value(child)))
        population.append(len(archs) - 1)
        if len(population) > cfg.starts:
            population.pop(0)
    raise DiagnosticError(
        f"{table.name}: --sampling {cfg.sampling} reached only {len(archs)} distinct "
        f"architectures for --n-archs {cfg.n_archs} (mutations keep revisiting known ones); "
        "lower --n-archs or raise --starts"
    )


def draw_training_set(
    table: ObjectiveTable, config: DoADiagnosticConfig, rng: np.random.Generator
) -> tuple[list[SlotArch], list[str]]:
    """The ``config.n_archs`` training architectures and their identities, in the order drawn.

    By ``config.sampling`` (see the module docstring); with ``walk`` and ``evolution`` each
    architecture after the first ``config.starts`` is one edit from an earlier one.

    Raises:
        DiagnosticError: too few distinct architectures, or a mutating rule on a listed table.
    """
    if config.sampling == "random":
        return _draw_random(table, config.n_archs, rng)
    if table.listed is not None:
        raise DiagnosticError(
            f"{table.name}: --sampling {config.sampling} mutates cells, but the objective is "
            f"known only for {len(table.listed)} listed ones; use --sampling random"
        )
    return _grow(table, config, rng)


def _at_distance(
    space: SlotSpace, arch: SlotArch, d: int, rng: np.random.Generator
) -> SlotArch | None:
    """``arch`` with ``d`` uniformly chosen slots changed to other uniform values."""
    mutable = [j for j, k in enumerate(space.cardinalities) if k > 1]
    if d > len(mutable):
        return None
    out = list(arch)
    for j in rng.choice(mutable, size=d, replace=False).tolist():
        k = space.cardinalities[j]
        v = int(rng.integers(k - 1))
        out[j] = v + 1 if v >= arch[j] else v
    return tuple(out)


def _generated_pairs(
    table: ObjectiveTable,
    d: int,
    count: int,
    mode: str,
    train: Sequence[SlotArch],
    train_ids: set[str],
    rng: np.random.Generator,
) -> list[tuple[SlotArch, SlotArch]]:
    space = table.space
    out: list[tuple[SlotArch, SlotArch]] = []
    done: set[tuple[str, str]] = set()
    for _ in range(50 * count):
        if len(out) == count:
            break
        if mode == "anchored":
            a = train[int(rng.integers(len(train)))]
        else:
            a = space.sample(rng)
            if space.identity(a) in train_ids:
                continue
        b = _at_distance(space, a, d, rng)
        if b is None:
            break
        ia, ib = space.identity(a), space.identity(b)
        key = (min(ia, ib), max(ia, ib))
        if ib in train_ids or ia == ib or key in done:
            continue
        done.add(key)
        out.append((a, b))
    return out


def _listed_pairs(
    table: ObjectiveTable,
    distances: Sequence[int],
    count: int,
    mode: str,
    train: Sequence[SlotArch],
    train_ids: set[str],
    rng: np.random.Generator,
) -> dict[int, list[tuple[SlotArch, SlotArch]]]:
    """Test pairs among the listed architectures: one per identity class outside training."""
    assert table.listed is not None
    space = table.space
    held: list[SlotArch] = []
    held_ids: set[str] = set()
    for i in rng.permutation(len(table.listed)).tolist():
        arch = table.listed[i]
        ident = space.identity(arch)
        if ident not in train_ids and ident not in held_ids:
            held_ids.add(ident)
            held.append(arch)
    firsts = list(train) if mode == "anchored" else held
    a_codes = np.asarray(firsts, dtype=np.int64).reshape(len(firsts), space.num_slots)
    b_codes = np.asarray(held, dtype=np.int64).reshape(len(held), space.num_slots)
    dist = np.count_nonzero(a_codes[:, None, :] != b_codes[None, :, :], axis=2)
    if mode != "anchored":
        dist = np.where(np.triu(np.ones_like(dist, dtype=bool), 1), dist, -1)
    out: dict[int, list[tuple[SlotArch, SlotArch]]] = {}
    for d in distances:
        ii, jj = np.nonzero(dist == d)
        pick = rng.permutation(ii.size)[:count]
        out[d] = [(firsts[int(ii[p])], held[int(jj[p])]) for p in pick]
    return out


def _metrics(pred: FloatArray, true: FloatArray) -> _Metrics3:
    if true.size < 3:
        return (math.nan, math.nan, math.nan)
    mae = float(np.mean(np.abs(pred - true)))
    return (mae, spearman_rho(pred, true), kendall_tau(pred, true))


def _regret(pred: FloatArray, true: FloatArray) -> float:
    """True gain of the best candidate minus that of the predicted-best (ties averaged)."""
    chosen = pred >= pred.max()
    return float(true.max() - true[chosen].mean())


def _neighbour_ranking(
    table: ObjectiveTable,
    cfg: DoADiagnosticConfig,
    train: Sequence[SlotArch],
    ids: Sequence[str],
    values: Sequence[float],
    encoder: Encoder,
    predict: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    rng: np.random.Generator,
) -> dict[str, RankingSeed]:
    """Per parent group: how well each predictor ranks a training parent's new neighbours.

    ``predict(enc_a, enc_b)`` gives the DoA and the absolute predictor's ``f(b) - f(a)``.
    A parent needs at least 3 candidates (rank correlation); the others are passed over.
    """
    space = table.space
    train_ids = set(ids)
    cache: dict[int, list[SlotArch]] = {}

    def candidates(i: int) -> list[SlotArch]:
        if i not in cache:
            here: set[str] = set()
            out: list[SlotArch] = []
            for c in space.neighbours(train[i]):
                ident = space.identity(c)
                if ident not in train_ids and ident not in here:
                    here.add(ident)
                    out.append(c)
            cache[i] = out
        return cache[i]

    orders = {
        "random": rng.permutation(len(train)).tolist(),
        # best first; the earlier-drawn among equals
        "best": sorted(range(len(train)), key=lambda i: (-values[i], i)),
    }
    out: dict[str, RankingSeed] = {}
    for group in RANKING_GROUPS:
        parents: list[int] = []
        for i in orders[group]:
            if len(parents) == cfg.parents:
                break
            if len(candidates(i)) >= 3:
                parents.append(i)
        if not parents:
            continue
        cands = [candidates(i) for i in parents]
        enc_a = encode_many(encoder, [train[i] for i, c in zip(parents, cands) for _ in c])
        enc_b = encode_many(encoder, [b for c in cands for b in c])
        pred_doa, pred_abs = predict(enc_a, enc_b)
        stats: list[tuple[float, float, float, float, float]] = []
        start = 0
        for i, c in zip(parents, cands):
            stop = start + len(c)
            true = np.array([table.value(b) for b in c], dtype=np.float64) - values[i]
            pd, pa = pred_doa[start:stop], pred_abs[start:stop]
            stats.append(
                (
                    spearman_rho(pd, true),
                    _regret(pd, true),
                    spearman_rho(pa, true),
                    _regret(pa, true),
                    float(true.max() - true.mean()),
                )
            )
            start = stop
        cols = list(zip(*stats))
        mean = [_summary(col)[0] for col in cols]
        out[group] = RankingSeed(
            group=group,
            parents=len(parents),
            neighbours=float(np.mean([len(c) for c in cands])),
            doa_spearman=mean[0],
            doa_regret=mean[1],
            abs_spearman=mean[2],
            abs_regret=mean[3],
            random_regret=mean[4],
        )
    return out


def _one_seed(table: ObjectiveTable, cfg: DoADiagnosticConfig, seed: int) -> SeedResult:
    from einnas.strategies.delta_nas import doa_encoder

    space = table.space
    train, ids = draw_training_set(table, cfg, _rng(seed, _TRAIN))
    train_ids = set(ids)
    values = [float(table.value(a)) for a in train]
    encoder = doa_encoder(space, cfg.encoding)
    doa = DoADataset(encoder, space, radius=cfg.radius, lineage=False)
    doa.extend([Observation(i, i, a, ids[i], values[i]) for i, a in enumerate(train)])
    if len(doa) == 0:
        raise DiagnosticError(
            f"{table.name}: no two of the {cfg.n_archs} training architectures are within "
            f"{cfg.radius} edits, so the DoA predictor has nothing to learn from; raise --radius "
            "or --n-archs"
        )
    fit_seed = int(np.random.SeedSequence([seed, _FIT]).generate_state(1)[0])
    doa_model = make_predictor(cfg.predictor, seed=fit_seed, antisymmetric=True)
    doa_model.fit(doa.x, doa.y)
    abs_model = make_predictor(cfg.predictor, seed=fit_seed, antisymmetric=False)
    abs_model.fit(doa.encodings, doa.values)

    test_rng = _rng(seed, _TEST)
    if table.listed is not None:
        by_d = _listed_pairs(
            table, cfg.distances, cfg.held_out_pairs, cfg.pairs, train, train_ids, test_rng
        )
    else:
        by_d = {
            d: _generated_pairs(table, d, cfg.held_out_pairs, cfg.pairs, train, train_ids, test_rng)
            for d in cfg.distances
        }
    train_dist = doa.distance
    nan3 = (math.nan, math.nan, math.nan)
    results: dict[int, _SeedRow] = {}
    for d in cfg.distances:
        pairs = by_d.get(d, [])
        rows = int(np.count_nonzero(train_dist == d))
        if not pairs:
            results[d] = (0, rows, nan3, nan3, math.nan)
            continue
        enc_a = encode_many(encoder, [a for a, _ in pairs])
        enc_b = encode_many(encoder, [b for _, b in pairs])
        true = np.array([table.value(b) - table.value(a) for a, b in pairs], dtype=np.float64)
        pred_doa = doa_model.predict(enc_b - enc_a).mean
        pred_abs = abs_model.predict(enc_b).mean - abs_model.predict(enc_a).mean
        results[d] = (
            len(pairs),
            rows,
            _metrics(pred_doa, true),
            _metrics(pred_abs, true),
            float(np.mean(np.abs(true))),
        )

    def predict_both(enc_a: FloatArray, enc_b: FloatArray) -> tuple[FloatArray, FloatArray]:
        gain_doa = doa_model.predict(enc_b - enc_a).mean
        gain_abs = abs_model.predict(enc_b).mean - abs_model.predict(enc_a).mean
        return gain_doa, gain_abs

    ranking: dict[str, RankingSeed] = {}
    if cfg.parents and table.listed is None:
        ranking = _neighbour_ranking(
            table, cfg, train, ids, values, encoder, predict_both, _rng(seed, _PARENTS)
        )
    return SeedResult(seed, len(doa.members), len(doa), results, ranking)


def _summary(values: Sequence[float]) -> tuple[float, float | None]:
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return math.nan, None
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else None
    return float(np.mean(arr)), std


def _pair_metrics(per_seed: Sequence[_Metrics3]) -> PairMetrics:
    mae, mae_std = _summary([m[0] for m in per_seed])
    rho, rho_std = _summary([m[1] for m in per_seed])
    tau, tau_std = _summary([m[2] for m in per_seed])
    return PairMetrics(mae, rho, tau, mae_std, rho_std, tau_std)


def diagnose_doa(
    table: ObjectiveTable,
    config: DoADiagnosticConfig | None = None,
    on_seed: Callable[[SeedResult], None] | None = None,
) -> DoADiagnosis:
    """Run the DoA diagnostic on ``table`` (see the module docstring).

    Raises:
        DiagnosticError: the settings leave nothing to train on or to test.
    """
    from einnas.strategies.delta_nas import doa_encoder

    cfg = config if config is not None else default_config(table)
    t0 = time.perf_counter()
    encoding = repr(doa_encoder(table.space, cfg.encoding))
    seeds: list[SeedResult] = []
    for seed in cfg.seed_list:
        seeds.append(_one_seed(table, cfg, seed))
        if on_seed is not None:
            on_seed(seeds[-1])
    if all(s.by_distance[d][0] == 0 for s in seeds for d in cfg.distances):
        raise DiagnosticError(
            f"{table.name}: no test pair at edit distance {', '.join(map(str, cfg.distances))}; "
            "choose other --distances (or, for a sampled table, --pairs anchored / fewer --n-archs)"
        )
    rows = [
        DistanceRow(
            distance=d,
            pairs=float(np.mean([s.by_distance[d][0] for s in seeds])),
            train_rows=float(np.mean([s.by_distance[d][1] for s in seeds])),
            doa=_pair_metrics([s.by_distance[d][2] for s in seeds]),
            absolute=_pair_metrics([s.by_distance[d][3] for s in seeds]),
            no_change_mae=_summary([s.by_distance[d][4] for s in seeds])[0],
        )
        for d in cfg.distances
    ]
    ranking = []
    for group in RANKING_GROUPS:
        got = [s.ranking[group] for s in seeds if group in s.ranking]
        if not got:
            continue
        doa_rho, doa_rho_sd = _summary([g.doa_spearman for g in got])
        doa_reg, doa_reg_sd = _summary([g.doa_regret for g in got])
        abs_rho, abs_rho_sd = _summary([g.abs_spearman for g in got])
        abs_reg, abs_reg_sd = _summary([g.abs_regret for g in got])
        rnd, rnd_sd = _summary([g.random_regret for g in got])
        ranking.append(
            NeighbourRanking(
                group=group,
                parents=float(np.mean([g.parents for g in got])),
                neighbours=float(np.mean([g.neighbours for g in got])),
                doa=RankMetrics(doa_rho, doa_reg, doa_rho_sd, doa_reg_sd),
                absolute=RankMetrics(abs_rho, abs_reg, abs_rho_sd, abs_reg_sd),
                random_regret=rnd,
                random_regret_std=rnd_sd,
            )
        )
    return DoADiagnosis(
        table=table.name,
        space=table.space.name,
        num_slots=table.space.num_slots,
        encoding=encoding,
        config=cfg,
        rows=rows,
        seeds=seeds,
        members=float(np.mean([s.members for s in seeds])),
        train_rows=float(np.mean([s.train_rows for s in seeds])),
        seconds=round(time.perf_counter() - t0, 3),
        ranking=ranking,
    )
