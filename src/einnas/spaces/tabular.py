"""A common interface over the tabular benchmarks, helpers to build one, and loading by name.

A new benchmark is a :class:`~einnas.spaces.slots.SlotSpace` plus its values:
:meth:`TabularBenchmark.from_records` (a mapping ``arch -> (val, test[, train_seconds])``),
:meth:`TabularBenchmark.from_arrays` (arrays in :meth:`SlotSpace.index` order) or
:meth:`TabularBenchmark.from_file` (a CSV, JSON or NPZ file); see ``docs/plugins.md``.

A tabular benchmark pairs a :class:`~einnas.spaces.slots.SlotSpace` with a precomputed value for
every architecture: a *validation* number that a search may look at, and a *test* number that is
only reported for the architecture the search selects.  Higher is better for both (where a
benchmark measures a loss, the table holds the negative loss).

Tables are loaded by name through the space registry (:func:`einnas.registry.load_space`, which
also finds plug-ins); the built-in spaces, with their datasets or tasks, are:

* ``nb201``: ``cifar10`` (default), ``cifar100``, ``imagenet`` (alias ``ImageNet16-120``);
* ``nasbench-macro`` (alias ``macro``): ``cifar10`` (default, the only one);
* ``transnas-micro``: ``class_scene``, ``class_object``, ``jigsaw``, ``segmentsemantic``,
  ``normal``, ``room_layout``, ``autoencoder`` (no default: a task is required).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from einnas.spaces.base import SearchSpaceError
from einnas.spaces.slots import SlotArch, SlotSpace


class TableError(SearchSpaceError):
    """A table that does not fit its space (missing, duplicate or malformed entries)."""


__all__ = [
    "SPACE_NAMES",
    "TableError",
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

    def metrics_of(self, arch: Sequence[int]) -> dict[str, float]:
        """Costs the table records for ``arch`` besides val/test (e.g. ``params``, ``flops``,
        ``latency``), put into every lookup's metrics for multi-objective search.

        Empty by default; NAS-Bench-201 (CIFAR-10) and NAS-Bench-Macro override it.
        """
        return {}

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

    def report_label(self) -> str:
        """What the reported (test) number is, for plot axes."""
        return "test accuracy of the selected architecture (%)"

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

    # -- building a table -------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        space: SlotSpace,
        val: npt.ArrayLike,
        test: npt.ArrayLike,
        train_seconds: npt.ArrayLike | None = None,
        *,
        name: str | None = None,
        dataset: str = "default",
    ) -> TabularBenchmark:
        """A table from arrays indexed by :meth:`SlotSpace.index` (lexicographic order).

        ``name`` defaults to ``"<space name>/<dataset>"``.
        """
        return cls(space, name or f"{space.name}/{dataset}", dataset, val, test, train_seconds)

    @classmethod
    def from_records(
        cls,
        space: SlotSpace,
        records: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
        *,
        name: str | None = None,
        dataset: str = "default",
    ) -> TabularBenchmark:
        """A table from ``{arch: values}`` covering every architecture of ``space``.

        Args:
            records: a mapping (or an iterable of pairs) from an architecture -- a tuple of
                choice indices or its text (:meth:`SlotSpace.from_text`) -- to ``(val, test)``,
                ``(val, test, train_seconds)``, a :class:`TabularResult` or a mapping with keys
                ``val``, ``test`` and optionally ``train_seconds``.
            name: the table's name (default ``"<space name>/<dataset>"``).
            dataset: the dataset or task the values are for.

        Raises:
            TableError: an architecture outside the space, one given twice, one missing (the
                message names one), or values that are not finite numbers.
        """
        label = name or f"{space.name}/{dataset}"
        n = space.size()
        val = np.full(n, np.nan)
        test = np.full(n, np.nan)
        seconds = np.full(n, np.nan)
        seen = np.zeros(n, dtype=bool)
        has_seconds = False
        items = records.items() if isinstance(records, Mapping) else records
        for key, value in items:
            try:
                arch = space.from_text(key) if isinstance(key, str) else space.validate(key)
            except SearchSpaceError as exc:
                raise TableError(f"{label}: bad architecture {key!r}: {exc}") from None
            i = space.index(arch)
            if seen[i]:
                raise TableError(
                    f"{label}: architecture {space.to_text(arch)!r} is given twice (as {key!r})"
                )
            seen[i] = True
            v, t, s = _record_values(label, key, value)
            val[i], test[i] = v, t
            if s is not None:
                seconds[i] = s
                has_seconds = True
        if not seen.all():
            missing = np.flatnonzero(~seen)
            example = space.to_text(space.from_index(int(missing[0])))
            raise TableError(
                f"{label}: {missing.size} of the {n} architectures of {space.name!r} have no "
                f"values, e.g. {example!r}"
            )
        if has_seconds and np.isnan(seconds).any():
            example = space.to_text(space.from_index(int(np.flatnonzero(np.isnan(seconds))[0])))
            raise TableError(
                f"{label}: train_seconds is given for some architectures but not for "
                f"{example!r} (give it for all or none)"
            )
        return cls(space, label, dataset, val, test, seconds if has_seconds else None)

    @classmethod
    def from_file(
        cls,
        space: SlotSpace,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        dataset: str = "default",
    ) -> TabularBenchmark:
        """A table read from a file, by suffix.

        * ``.csv``: a header row with columns ``arch``, ``val``, ``test`` and optionally
          ``train_seconds``; ``arch`` is the architecture's text (or its choice indices).
        * ``.json``: an object ``{arch text: {"val": .., "test": .., "train_seconds": ..}}``
          (or ``[val, test]`` lists), or a list of objects with an ``arch`` key.
        * ``.npz``: arrays ``val``, ``test`` and optionally ``train_seconds`` in
          :meth:`SlotSpace.index` order, or with an ``arch`` array of texts giving the order.

        Raises:
            TableError: a malformed file (the message names the file and the expected form).
            FileNotFoundError: no such file.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no table file {str(p)!r}")
        suffix = p.suffix.lower()
        label = name or f"{space.name}/{dataset}"
        try:
            if suffix == ".csv":
                with p.open(newline="", encoding="utf-8") as fh:
                    reader = csv.DictReader(fh)
                    fields = set(reader.fieldnames or ())
                    if not {"arch", "val", "test"} <= fields:
                        raise TableError(
                            f"expected a header with columns arch, val, test[, train_seconds]; "
                            f"found {sorted(fields)}"
                        )
                    rows: list[tuple[Any, Any]] = [(r["arch"], r) for r in reader]
                return cls.from_records(space, rows, name=label, dataset=dataset)
            if suffix == ".json":
                data = json.loads(p.read_text(encoding="utf-8"))
                if isinstance(data, list):
                    if not all(isinstance(r, dict) and "arch" in r for r in data):
                        raise TableError("a JSON list must hold objects with an 'arch' key")
                    data = [(r["arch"], r) for r in data]
                elif not isinstance(data, dict):
                    raise TableError("expected a JSON object {arch: values} or a list")
                return cls.from_records(space, data, name=label, dataset=dataset)
            if suffix == ".npz":
                with np.load(p, allow_pickle=False) as z:
                    arrays = {k: np.asarray(z[k]) for k in z.files}
                if "val" not in arrays or "test" not in arrays:
                    raise TableError(f"expected arrays val and test, found {sorted(arrays)}")
                if "arch" in arrays:
                    secs = arrays.get("train_seconds")
                    recs = [
                        (str(a), (v, t) if secs is None else (v, t, secs[i]))
                        for i, (a, v, t) in enumerate(
                            zip(arrays["arch"], arrays["val"], arrays["test"])
                        )
                    ]
                    return cls.from_records(space, recs, name=label, dataset=dataset)
                return cls.from_arrays(
                    space,
                    arrays["val"],
                    arrays["test"],
                    arrays.get("train_seconds"),
                    name=label,
                    dataset=dataset,
                )
        except (TableError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise TableError(f"table file {str(p)!r}: {exc}") from None
        raise TableError(f"table file {str(p)!r}: unknown suffix; use .csv, .json or .npz")


def _record_values(label: str, key: Any, value: Any) -> tuple[float, float, float | None]:
    """``(val, test, train_seconds)`` of one record of :meth:`TabularBenchmark.from_records`."""
    seconds: Any = None
    if isinstance(value, TabularResult):
        v, t, seconds = value.val, value.test, value.train_seconds
    elif isinstance(value, Mapping):
        if "val" not in value or "test" not in value:
            raise TableError(f"{label}: the record of {key!r} has no 'val' and 'test': {value!r}")
        v, t = value["val"], value["test"]
        seconds = value.get("train_seconds")
        if seconds == "":
            seconds = None
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (2, 3):
        v, t = value[0], value[1]
        seconds = value[2] if len(value) == 3 else None
    else:
        raise TableError(
            f"{label}: the record of {key!r} is {value!r}; expected (val, test), "
            "(val, test, train_seconds) or a mapping with val and test"
        )
    try:
        out = (float(v), float(t), None if seconds is None else float(seconds))
    except (TypeError, ValueError):
        raise TableError(
            f"{label}: the record of {key!r} has non-numeric values {value!r}"
        ) from None
    if not (math.isfinite(out[0]) and math.isfinite(out[1])):
        raise TableError(f"{label}: the record of {key!r} has non-finite values {value!r}")
    return out


class _SpaceNames(Sequence[str]):
    """The registered tabular space names (read from the registry on each access)."""

    def _names(self) -> list[str]:
        from einnas.registry import space_names

        return space_names("tabular")

    def __getitem__(self, i: Any) -> Any:
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        return repr(tuple(self._names()))


SPACE_NAMES: Sequence[str] = _SpaceNames()
"""The tabular spaces' canonical names, plug-ins included (a live view of the registry)."""


def normalise_space_name(space: str) -> str:
    """Canonical name of a tabular space (aliases resolved through the registry)."""
    from einnas.registry import get_space

    try:
        entry = get_space(space)
    except SearchSpaceError:
        entry = None
    if entry is None or not entry.tabular:
        raise SearchSpaceError(
            f"unknown tabular space {space!r}; expected one of {', '.join(SPACE_NAMES)}"
        )
    return entry.name


def load_tabular(
    space: str,
    dataset_or_task: str | None = None,
    benchmark_dir: str | Path | None = None,
) -> TabularBenchmark:
    """Load a tabular benchmark by name (:func:`einnas.registry.load_space`).

    Args:
        space: a registered tabular space (``nb201``, ``nasbench-macro`` (alias ``macro``),
            ``transnas-micro``, or a plug-in's).
        dataset_or_task: dataset (NB201: cifar10 / cifar100 / imagenet; Macro: cifar10) or
            TransNAS task; ``None`` takes the default where the space has one.
        benchmark_dir: the benchmark folder; ``None`` resolves it as
            :func:`einnas.benchmark_data.resolve_benchmark_dir` does.

    Raises:
        SearchSpaceError: unknown space, dataset or task.
        einnas.benchmark_data.BenchmarkDataError: missing or malformed data.
    """
    from einnas.registry import load_space

    return load_space(space, dataset_or_task, benchmark_dir)
