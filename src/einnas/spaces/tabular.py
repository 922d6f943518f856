"""A common interface over the tabular benchmarks, and a factory to load one by name.

A tabular benchmark pairs a :class:`~einnas.spaces.slots.SlotSpace` with a precomputed value for
every architecture: a *validation* number that a search may look at, and a *test* number that is
only reported for the architecture the search selects.  Higher is better for both (where a
benchmark measures a loss, the table holds the negative loss).

Space names understood by :func:`load_tabular` (case-insensitive, ``_`` and ``-`` alike), with
their datasets or tasks:

* ``nb201``: ``cifar10`` (default), ``cifar100``, ``imagenet`` (alias ``ImageNet16-120``);
* ``nasbench-macro`` (alias ``macro``): ``cifar10`` (default, the only one);
* ``transnas-micro``: ``class_scene``, ``class_object``, ``jigsaw``, ``segmentsemantic``,
  ``normal``, ``room_layout``, ``autoencoder`` (no default: a task is required).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace

__all__ = [
    "SPACE_NAMES",
    "TabularBenchmark",
    "TabularResult",
    "load_tabular",
    "normalise_space_name",
]


@dataclass(frozen=True)
class TabularResult:
    """What a tabular benchmark says about one architecture.

    Attributes:
        val: the search signal (validation metric; higher is better).
        test: the number to report for a selected architecture (higher is better).
        train_seconds: simulated training time in seconds, where the benchmark records one.
    """

    val: float
    test: float
    train_seconds: float | None = None


class TabularBenchmark:
    """Validation / test values for every architecture of a slot space.

    Values are held in dense arrays indexed by :meth:`SlotSpace.index`, so lookups are O(m).

    Attributes:
        space: the search space whose architectures this table covers.
        name: e.g. ``"nb201/cifar10"``.
        dataset: the dataset or task name, in canonical form.
    """

    space: SlotSpace
    name: str
    dataset: str

    def __init__(
        self,
        space: SlotSpace,
        name: str,
        dataset: str,
        val: npt.ArrayLike,
        test: npt.ArrayLike,
        train_seconds: npt.ArrayLike | None = None,
    ) -> None:
        self.space = space
        self.name = name
        self.dataset = dataset
        self._val: npt.NDArray[np.float64] = np.asarray(val, dtype=np.float64)
        self._test: npt.NDArray[np.float64] = np.asarray(test, dtype=np.float64)
        self._train_seconds: npt.NDArray[np.float64] | None = (
            None if train_seconds is None else np.asarray(train_seconds, dtype=np.float64)
        )
        n = space.size()
        arrays = [("val", self._val), ("test", self._test)]
        if self._train_seconds is not None:
            arrays.append(("train_seconds", self._train_seconds))
        for label, arr in arrays:
            if arr.shape != (n,):
                raise ValueError(f"{name}: {label} has shape {arr.shape}, expected ({n},)")
        for label, arr in arrays[:2]:
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: {label} has missing or non-finite values")
        # The validation optimum and the cells attaining it (exact ties are rare but possible).
        self._best_val = float(np.max(self._val))
        self._val_optimal = np.flatnonzero(self._val == self._best_val)

    def __len__(self) -> int:
        return self.space.size()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} architectures)"

    def lookup(self, arch: Sequence[int]) -> TabularResult:
        """Validation, test and (if known) training time of ``arch``."""
        i = self.space.index(arch)
        seconds = None if self._train_seconds is None else float(self._train_seconds[i])
        return TabularResult(
            val=float(self._val[i]), test=float(self._test[i]), train_seconds=seconds
        )

    def val(self, arch: Sequence[int]) -> float:
        """The search signal of ``arch``."""
        return float(self._val[self.space.index(arch)])

    def test(self, arch: Sequence[int]) -> float:
        """The reported number of ``arch``."""
        return float(self._test[self.space.index(arch)])

    def train_seconds(self, arch: Sequence[int]) -> float | None:
        """Simulated training time of ``arch`` in seconds, or ``None`` where not recorded."""
        if self._train_seconds is None:
            return None
        return float(self._train_seconds[self.space.index(arch)])

    @property
    def has_train_seconds(self) -> bool:
        """Whether the table records training times."""
        return self._train_seconds is not None

    def optimum_val(self) -> float:
        """The best validation value over the whole space."""
        return self._best_val

    def optimum_test(self) -> float:
        """The best test value over the whole space (an oracle; for regret, not for search)."""
        return float(np.max(self._test))

    def val_optimal_archs(self) -> list[SlotArch]:
        """All architectures whose validation value equals :meth:`optimum_val`."""
        return [self.space.from_index(int(i)) for i in self._val_optimal]

    def best_test_at_val_optimum(self) -> float:
        """Test value of the validation-optimal architecture.

        This is what a perfect search (one that finds the validation optimum) reports.  If
        several architectures tie exactly for the validation optimum, the best of their test
        values is returned.
        """
        return float(np.max(self._test[self._val_optimal]))

    def values(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Copies of the full ``(val, test)`` arrays, indexed by :meth:`SlotSpace.index`."""
        return self._val.copy(), self._test.copy()

    # -- fidelities ------------------------------------------------------------------------

    max_step: int = 1
    """The step (e.g. training epochs) at which ``val`` and ``test`` were recorded."""

    def step_values(self) -> dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """``{step: (val, test)}`` for every fidelity the table records (always ``max_step``).

        A table with results after fewer epochs (NAS-Bench-201's 12-epoch run) overrides this;
        multi-fidelity searches use those steps as their rungs.
        """
        return {self.max_step: (self._val, self._test)}

    def lookup_at(self, arch: Sequence[int], step: int) -> TabularResult:
        """Validation and test value of ``arch`` after ``step`` (a recorded fidelity).

        ``train_seconds`` is the cost of training to ``step``: the full-training time scaled by
        ``step / max_step`` (where the table records one).
        """
        tables = self.step_values()
        if step not in tables:
            raise SearchSpaceError(
                f"{self.name} records results at steps {sorted(tables)}, not at {step}"
            )
        i = self.space.index(arch)
        val, test = tables[step]
        seconds = None
        if self._train_seconds is not None:
            seconds = float(self._train_seconds[i]) * step / self.max_step
        return TabularResult(val=float(val[i]), test=float(test[i]), train_seconds=seconds)


_SPACE_ALIASES = {
    "nb201": "nb201",
    "nasbench201": "nb201",
    "nas-bench-201": "nb201",
    "nasbench-201": "nb201",
    "nats-tss": "nb201",
    "nasbench-macro": "nasbench-macro",
    "nas-bench-macro": "nasbench-macro",
    "macro": "nasbench-macro",
    "transnas-micro": "transnas-micro",
    "transnas101-micro": "transnas-micro",
    "transnas-bench-101-micro": "transnas-micro",
    "transnasbench101-micro": "transnas-micro",
    "tnb101-micro": "transnas-micro",
}

SPACE_NAMES = ("nb201", "nasbench-macro", "transnas-micro")


def normalise_space_name(space: str) -> str:
    """Canonical space name (``nb201``, ``nasbench-macro``, ``transnas-micro``)."""
    key = space.strip().lower().replace("_", "-")
    try:
        return _SPACE_ALIASES[key]
    except KeyError:
        raise SearchSpaceError(
            f"unknown tabular space {space!r}; expected one of {', '.join(SPACE_NAMES)} "
            "(alias 'macro' for nasbench-macro)"
        ) from None


def load_tabular(
    space: str,
    dataset_or_task: str | None = None,
    benchmark_dir: str | Path | None = None,
) -> TabularBenchmark:
    """Load a tabular benchmark by name.

    Args:
        space: ``nb201``, ``nasbench-macro`` (alias ``macro``) or ``transnas-micro``.
        dataset_or_task: dataset (NB201: cifar10 / cifar100 / imagenet; Macro: cifar10) or
            TransNAS task; ``None`` takes the default where the space has one.
        benchmark_dir: the benchmark folder; ``None`` resolves it as
            :func:`einnas.benchmark_data.resolve_benchmark_dir` does.

    Raises:
        SearchSpaceError: unknown space, dataset or task.
        einnas.benchmark_data.BenchmarkDataError: missing or malformed data.
    """
    canonical = normalise_space_name(space)
    if canonical == "nb201":
        from einnas.spaces.nb201 import NB201Table

        return NB201Table.load(dataset_or_task or "cifar10", benchmark_dir)
    if canonical == "nasbench-macro":
        from einnas.spaces.nasbench_macro import MacroTable

        return MacroTable.load(dataset_or_task or "cifar10", benchmark_dir)
    from einnas.spaces.transnas_micro import TASKS, TransNASMicroTable

    if dataset_or_task is None:
        raise SearchSpaceError(
            f"transnas-micro needs a task, one of {', '.join(TASKS)} (none was given)"
        )
    return TransNASMicroTable.load(dataset_or_task, benchmark_dir)
