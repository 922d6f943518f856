"""The spaces einnas ships, as registry entries (:mod:`einnas.registry` registers them first).

Each factory imports its space's module only when called, so listing the names stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from einnas.registry import SpaceEntry
from einnas.spaces.base import SearchSpaceError

if TYPE_CHECKING:  # pragma: no cover
    from einnas.diagnostics import ObjectiveTable
    from einnas.spaces.tabular import TabularBenchmark

__all__ = ["space_entries"]


def _nb201(dataset: str | None = None, benchmark_dir: str | None = None) -> TabularBenchmark:
    from einnas.spaces.nb201 import NB201Table

    return NB201Table.load(dataset or "cifar10", benchmark_dir)


def _macro(dataset: str | None = None, benchmark_dir: str | None = None) -> TabularBenchmark:
    from einnas.spaces.nasbench_macro import MacroTable

    return MacroTable.load(dataset or "cifar10", benchmark_dir)


def _transnas(dataset: str | None = None, benchmark_dir: str | None = None) -> TabularBenchmark:
    from einnas.spaces.transnas_micro import TASKS, TransNASMicroTable

    if dataset is None:
        raise SearchSpaceError(
            f"transnas-micro needs a task, one of {', '.join(TASKS)} (none was given)"
        )
    return TransNASMicroTable.load(dataset, benchmark_dir)


def _einspace_search(spec: Any) -> Any:
    from einnas.experiment import build_training_search

    return build_training_search(spec)


def _nb101_sample(
    dataset: str | None = None, benchmark_dir: str | None = None, **_: Any
) -> ObjectiveTable:
    from einnas.diagnostics import nb101_objective

    return nb101_objective(dataset, benchmark_dir)


def _synthetic(
    dataset: str | None = None,
    benchmark_dir: str | None = None,
    *,
    interaction: float = 0.0,
    objective_seed: int = 0,
    **_: Any,
) -> ObjectiveTable:
    from einnas.diagnostics import synthetic_objective

    return synthetic_objective(dataset, interaction=interaction, objective_seed=objective_seed)


def space_entries() -> list[SpaceEntry]:
    """The built-in spaces, in the order they are listed."""
    return [
        SpaceEntry(
            "nb201",
            _nb201,
            aliases=("nasbench201", "nas-bench-201", "nasbench-201", "nats-tss"),
            datasets=("cifar10", "cifar100", "imagenet"),
            default_dataset="cifar10",
            description="NAS-Bench-201: 6 edges x 5 ops (15,625 cells)",
            check_dataset=False,
            source="built-in",
        ),
        SpaceEntry(
            "nasbench-macro",
            _macro,
            aliases=("nas-bench-macro", "macro"),
            datasets=("cifar10",),
            description="NAS-Bench-Macro: 8 layers x 3 choices (6,561 architectures)",
            check_dataset=False,
            source="built-in",
        ),
        SpaceEntry(
            "transnas-micro",
            _transnas,
            aliases=(
                "transnas101-micro",
                "transnas-bench-101-micro",
                "transnasbench101-micro",
                "tnb101-micro",
            ),
            datasets=(
                "class_scene",
                "class_object",
                "jigsaw",
                "segmentsemantic",
                "normal",
                "room_layout",
                "autoencoder",
            ),
            description="TransNAS-Bench-101 micro: 6 edges x 4 ops on 7 tasks (val = test)",
            check_dataset=False,
            source="built-in",
        ),
        SpaceEntry(
            "einspace",
            _einspace_search,
            datasets=("fashion-mnist", "<folder>"),
            default_dataset="fashion-mnist",
            description="einspace (2D images): networks from the grammar, trained",
            kind="training",
            defaults={"dataset": "fashion-mnist", "max_params": 5_000_000, "max_macs": 200_000_000},
            source="built-in",
        ),
        SpaceEntry(
            "einspace1d",
            _einspace_search,
            datasets=("mnist1d", "<folder>"),
            default_dataset="mnist1d",
            description="einspace (1D sequences): networks from the grammar, trained",
            kind="training",
            defaults={"dataset": "mnist1d", "max_params": 1_000_000, "max_macs": 10_000_000},
            source="built-in",
        ),
        SpaceEntry(
            "nb101-sample",
            _nb101_sample,
            aliases=("nb101", "nasbench101-sample", "nasbench-101-sample"),
            datasets=("cifar10",),
            description="500 NAS-Bench-101 cells as 26 slots (DoA diagnostic only)",
            kind="objective",
            check_dataset=False,
            source="built-in",
        ),
        SpaceEntry(
            "synthetic",
            _synthetic,
            datasets=("MxK[+MxK...]",),
            default_dataset="8x3",
            description="synthetic slots: additive + pairwise objective (DoA diagnostic only)",
            kind="objective",
            check_dataset=False,
            source="built-in",
        ),
    ]
