"""Where the tabular benchmark tables live, and reading them.

The published benchmark tables (NAS-Bench-201, NAS-Bench-Macro, TransNAS-Bench-101 micro, and a
500-cell NAS-Bench-101 sample) are data, not code: they are never copied into the repository.  They are read from a *benchmark
folder* found, in order of precedence, as

1. the explicit argument (the CLI's ``--benchmark-dir``);
2. the environment variable ``EINNAS_BENCHMARK_DIR``;
3. ``../shared/data`` relative to the current working directory, if it exists;
4. ``../shared/data`` relative to the repository root (the parent of ``src/``), if it exists.

An explicit argument or a set environment variable that does not name a folder is an error (it is
never silently replaced by a default).

Every reader validates the file it parses and raises :class:`BenchmarkDataError` naming the file
and the expected format.  Parsed tables are cached in-process (:func:`functools.lru_cache`
keyed by the file's resolved path), so loading a table a second time costs nothing.  The cached
mappings are read-only views; do not rely on mutating them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "ENV_VAR",
    "FORMATS",
    "BenchmarkDataError",
    "MacroRecord",
    "NB101SampleRecord",
    "NB201Record",
    "benchmark_dir_or_none",
    "benchmark_file",
    "candidate_dirs",
    "read_macro_json",
    "read_nb101_sample_json",
    "read_nb201_costs",
    "read_nb201_json",
    "read_transnas_micro_zip",
    "resolve_benchmark_dir",
]

ENV_VAR = "EINNAS_BENCHMARK_DIR"
"""Environment variable naming the benchmark folder."""

_DEFAULT_RELATIVE = Path("..") / "shared" / "data"

NB201_JSON_FORMAT = (
    'a JSON object {arch_str: {"val_acc_200": float, "test_acc_200": float, "rank": int}}'
)
NB201_COSTS_FORMAT = (
    "a CSV file with header columns hp_x0..hp_x5 (op names in edge order) and "
    "metric_elapsed_time (seconds for 200 epochs), one row per cell"
)
MACRO_FORMAT = (
    'a JSON object {"01201210": {"test_acc": [3 floats], "mean_acc": float, "std": float, '
    '"params": int, "flops": int}} with 8-digit keys over {0, 1, 2}'
)
NB101_SAMPLE_FORMAT = (
    'a JSON object {"nasbench101": {"cifar10": {"(56-int tuple)": {"val_accuracy": float, '
    '"flops": float, "params": float, <zero-cost proxy>: float, ...}}}}; the tuple is 49 '
    "adjacency bits (7x7, row-major) followed by 7 op codes"
)
TRANSNAS_FORMAT = (
    "a zip archive holding zen/benchmark--transbench101_micro--<task>--<offset>.json files, "
    'each a JSON list of {"idx", "arch": "(a, b, c, d, e, f)", "zen", "val_accuracy": float}'
)

FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "nb201/nb201_cifar10.json": NB201_JSON_FORMAT,
        "nb201/nb201_cifar100.json": NB201_JSON_FORMAT,
        "nb201/nb201_imagenet.json": NB201_JSON_FORMAT,
        "nb201/nb201_cifar10_costs.csv": NB201_COSTS_FORMAT,
        "nasbench_macro/nas-bench-macro_cifar10.json": MACRO_FORMAT,
        "transnas101_micro/all_benchmarks_zen.zip": TRANSNAS_FORMAT,
        "nb101_sample/zc_nasbench101_sample.json": NB101_SAMPLE_FORMAT,
    }
)
"""Expected format of each benchmark file, by path relative to the benchmark folder."""


class BenchmarkDataError(FileNotFoundError, ValueError):
    """The benchmark folder or one of its files is missing or malformed.

    It is both a :class:`FileNotFoundError` (missing folder or file) and a :class:`ValueError`
    (malformed content), so callers may catch whichever fits; the message always names the path
    and says how to fix the problem.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_HOW_TO_FIX = (
    f"pass --benchmark-dir PATH or set the environment variable {ENV_VAR} to the folder "
    "holding nb201/, nasbench_macro/, transnas101_micro/ and nb101_sample/"
)


def _repo_root() -> Path | None:
    """The repository root when running from a source checkout (``<root>/src/einnas``)."""
    package_dir = Path(__file__).resolve().parent
    src_dir = package_dir.parent
    if src_dir.name != "src":
        return None
    return src_dir.parent


def candidate_dirs() -> list[Path]:
    """Default locations tried when neither an argument nor ``EINNAS_BENCHMARK_DIR`` is given."""
    candidates = [Path.cwd() / _DEFAULT_RELATIVE]
    root = _repo_root()
    if root is not None:
        candidates.append(root / _DEFAULT_RELATIVE)
    return candidates


def resolve_benchmark_dir(explicit: str | Path | None = None) -> Path:
    """Return the benchmark folder (resolved, absolute).

    Precedence: ``explicit`` > ``$EINNAS_BENCHMARK_DIR`` > ``../shared/data`` relative to the
    working directory > ``../shared/data`` relative to the repository root.

    Raises:
        BenchmarkDataError: the chosen folder does not exist, naming what was tried and how to
            fix it.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise BenchmarkDataError(
                f"benchmark folder {str(path)!r} (from the explicit argument) does not exist or "
                f"is not a folder; {_HOW_TO_FIX}"
            )
        return path.resolve()
    env = os.environ.get(ENV_VAR, "")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise BenchmarkDataError(
                f"benchmark folder {str(path)!r} (from ${ENV_VAR}) does not exist or is not a "
                f"folder; {_HOW_TO_FIX}"
            )
        return path.resolve()
    tried = candidate_dirs()
    for path in tried:
        if path.is_dir():
            return path.resolve()
    listed = ", ".join(repr(str(p)) for p in tried)
    raise BenchmarkDataError(
        f"benchmark folder not found (tried {listed}; {ENV_VAR} is not set); {_HOW_TO_FIX}"
    )


def benchmark_dir_or_none(explicit: str | Path | None = None) -> Path | None:
    """Like :func:`resolve_benchmark_dir` but return ``None`` instead of raising."""
    try:
        return resolve_benchmark_dir(explicit)
    except BenchmarkDataError:
        return None


def benchmark_file(relative: str, benchmark_dir: str | Path | None = None) -> Path:
    """Path of one benchmark file, e.g. ``benchmark_file("nb201/nb201_cifar10.json")``.

    Raises:
        BenchmarkDataError: the folder cannot be resolved or the file is absent (the message
            gives the expected format of the file).
    """
    folder = resolve_benchmark_dir(benchmark_dir)
    path = folder / relative
    if not path.is_file():
        expected = FORMATS.get(relative)
        what = f"; expected {expected}" if expected else ""
        raise BenchmarkDataError(
            f"{relative}: benchmark file {str(path)!r} is missing{what}; {_HOW_TO_FIX}"
        )
    return path.resolve()


def _malformed(path: Path, expected: str, problem: str) -> BenchmarkDataError:
    label = "/".join(path.parts[-2:])
    return BenchmarkDataError(f"{label}: expected {expected}; {problem} (file {str(path)!r})")


def _number(value: Any, path: Path, expected: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed(path, expected, f"{where} is {value!r}, not a number")
    out = float(value)
    if not math.isfinite(out):
        raise _malformed(path, expected, f"{where} is {value!r}, not a finite number")
    return out


def _load_json(path: Path, expected: str) -> Any:
    try:
        with path.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise BenchmarkDataError(f"cannot read {str(path)!r}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _malformed(path, expected, f"not valid JSON ({exc})") from exc


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201


def _json_entries(
    path: Path, fmt: str, required: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The entries of a non-empty JSON object of objects that each hold the ``required`` keys."""
    data = _load_json(path, fmt)
    if not isinstance(data, dict):
        raise _malformed(path, fmt, f"top level is a {type(data).__name__}")
    if not data:
        raise _malformed(path, fmt, "the object is empty")
    for key, entry in data.items():
        if not isinstance(entry, dict):
            raise _malformed(path, fmt, f"entry {key!r} is not an object")
        missing = [f for f in required if f not in entry]
        if missing:
            raise _malformed(path, fmt, f"entry {key!r} lacks {missing}")
        yield key, entry


@dataclass(frozen=True)
class NB201Record:
    """One NAS-Bench-201 cell on one dataset (accuracies in percent)."""

    val_acc_200: float
    test_acc_200: float


@lru_cache(maxsize=16)
def read_nb201_json(path: Path) -> Mapping[str, NB201Record]:
    """Parse ``nb201_<dataset>.json`` into ``{arch_str: NB201Record}`` (cached by path)."""
    out: dict[str, NB201Record] = {}
    for key, entry in _json_entries(path, NB201_JSON_FORMAT, ("val_acc_200", "test_acc_200")):
        out[key] = NB201Record(
            val_acc_200=_number(
                entry["val_acc_200"], path, NB201_JSON_FORMAT, f"{key}.val_acc_200"
            ),
            test_acc_200=_number(
                entry["test_acc_200"], path, NB201_JSON_FORMAT, f"{key}.test_acc_200"
            ),
        )
    return MappingProxyType(out)


@lru_cache(maxsize=4)
def read_nb201_costs(path: Path) -> Mapping[tuple[str, ...], float]:
    """Parse ``nb201_cifar10_costs.csv`` into ``{(op_0, ..., op_5): seconds for 200 epochs}``."""
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            needed = [f"hp_x{i}" for i in range(6)] + ["metric_elapsed_time"]
            absent = [f for f in needed if f not in fields]
            if absent:
                raise _malformed(path, NB201_COSTS_FORMAT, f"header lacks columns {absent}")
            out: dict[tuple[str, ...], float] = {}
            for line, row in enumerate(reader, start=2):
                ops = tuple(row[f"hp_x{i}"] for i in range(6))
                try:
                    seconds = float(row["metric_elapsed_time"])
                except (TypeError, ValueError) as exc:
                    raise _malformed(
                        path,
                        NB201_COSTS_FORMAT,
                        f"line {line}: metric_elapsed_time is {row['metric_elapsed_time']!r}",
                    ) from exc
                out[ops] = seconds
    except BenchmarkDataError:
        raise
    except OSError as exc:
        raise BenchmarkDataError(f"cannot read {str(path)!r}: {exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _malformed(path, NB201_COSTS_FORMAT, f"not a readable CSV file ({exc})") from exc
    if not out:
        raise _malformed(path, NB201_COSTS_FORMAT, "no data rows")
    return MappingProxyType(out)


# ---------------------------------------------------------------------------------------------
# NAS-Bench-Macro


@dataclass(frozen=True)
class MacroRecord:
    """One NAS-Bench-Macro architecture: CIFAR-10 test accuracy (percent) of 3 training seeds."""

    test_acc: tuple[float, float, float]
    mean_acc: float
    params: int
    flops: int


@lru_cache(maxsize=4)
def read_macro_json(path: Path) -> Mapping[str, MacroRecord]:
    """Parse ``nas-bench-macro_cifar10.json`` into ``{"01201210": MacroRecord}`` (cached)."""
    out: dict[str, MacroRecord] = {}
    for key, entry in _json_entries(path, MACRO_FORMAT, ("test_acc", "mean_acc")):
        seeds = entry["test_acc"]
        if not isinstance(seeds, list) or len(seeds) != 3:
            raise _malformed(path, MACRO_FORMAT, f"{key}.test_acc is {seeds!r}, not 3 numbers")
        accs = tuple(_number(s, path, MACRO_FORMAT, f"{key}.test_acc") for s in seeds)
        out[key] = MacroRecord(
            test_acc=(accs[0], accs[1], accs[2]),
            mean_acc=_number(entry["mean_acc"], path, MACRO_FORMAT, f"{key}.mean_acc"),
            params=int(_number(entry.get("params", 0), path, MACRO_FORMAT, f"{key}.params")),
            flops=int(_number(entry.get("flops", 0), path, MACRO_FORMAT, f"{key}.flops")),
        )
    return MappingProxyType(out)


# ---------------------------------------------------------------------------------------------
# TransNAS-Bench-101 micro


@lru_cache(maxsize=4)
def read_transnas_micro_zip(path: Path) -> Mapping[str, Mapping[str, float]]:
    """Parse ``all_benchmarks_zen.zip`` into ``{task: {"(a, b, c, d, e, f)": val_accuracy}}``.

    The archive is read in memory with :mod:`zipfile`; nothing is extracted to disk.  The
    per-offset files of one task are merged; an architecture listed twice with different values
    is an error.
    """
    tasks: dict[str, dict[str, float]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                base = name.rsplit("/", 1)[-1]
                if not base.endswith(".json"):
                    continue
                parts = base[: -len(".json")].split("--")
                if len(parts) != 4 or parts[1] != "transbench101_micro":
                    continue
                task = parts[2]
                try:
                    entries = json.loads(archive.read(name).decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise _malformed(
                        path, TRANSNAS_FORMAT, f"member {name!r} is not valid JSON ({exc})"
                    ) from exc
                if not isinstance(entries, list):
                    raise _malformed(path, TRANSNAS_FORMAT, f"member {name!r} is not a JSON list")
                table = tasks.setdefault(task, {})
                for i, entry in enumerate(entries):
                    if not isinstance(entry, dict) or "arch" not in entry:
                        raise _malformed(
                            path, TRANSNAS_FORMAT, f"member {name!r} item {i} lacks 'arch'"
                        )
                    if "val_accuracy" not in entry:
                        raise _malformed(
                            path, TRANSNAS_FORMAT, f"member {name!r} item {i} lacks 'val_accuracy'"
                        )
                    arch = entry["arch"]
                    if not isinstance(arch, str):
                        raise _malformed(
                            path, TRANSNAS_FORMAT, f"member {name!r} item {i}: arch {arch!r}"
                        )
                    value = _number(
                        entry["val_accuracy"], path, TRANSNAS_FORMAT, f"{name}[{i}].val_accuracy"
                    )
                    if arch in table and table[arch] != value:
                        raise _malformed(
                            path,
                            TRANSNAS_FORMAT,
                            f"task {task!r} lists {arch} twice with different values",
                        )
                    table[arch] = value
    except BenchmarkDataError:
        raise
    except zipfile.BadZipFile as exc:
        raise _malformed(path, TRANSNAS_FORMAT, f"not a zip archive ({exc})") from exc
    except OSError as exc:
        raise BenchmarkDataError(f"cannot read {str(path)!r}: {exc}") from exc
    if not tasks:
        raise _malformed(path, TRANSNAS_FORMAT, "no transbench101_micro JSON members found")
    return MappingProxyType({t: MappingProxyType(v) for t, v in tasks.items()})


# ---------------------------------------------------------------------------------------------
# NAS-Bench-101 (a 500-cell sample with zero-cost proxies)


@dataclass(frozen=True)
class NB101SampleRecord:
    """One NAS-Bench-101 cell of the sample: CIFAR-10 validation accuracy (percent), cost, and
    the zero-cost proxy scores the file lists (``proxies``: name -> score)."""

    val_accuracy: float
    flops: float
    params: float
    proxies: Mapping[str, float]


@lru_cache(maxsize=4)
def read_nb101_sample_json(path: Path) -> Mapping[str, NB101SampleRecord]:
    """Parse ``zc_nasbench101_sample.json`` into ``{"(56-int tuple)": NB101SampleRecord}``.

    The keys are returned as the file writes them; turning them into architectures (and checking
    them) is the job of :mod:`einnas.spaces.nb101_sample`.
    """
    fmt = NB101_SAMPLE_FORMAT
    data = _load_json(path, fmt)
    table = data.get("nasbench101") if isinstance(data, dict) else None
    table = table.get("cifar10") if isinstance(table, dict) else None
    if not isinstance(table, dict):
        raise _malformed(path, fmt, 'no object at data["nasbench101"]["cifar10"]')
    if not table:
        raise _malformed(path, fmt, "the cifar10 object is empty")
    out: dict[str, NB101SampleRecord] = {}
    for key, entry in table.items():
        if not isinstance(entry, dict):
            raise _malformed(path, fmt, f"entry {key!r} is not an object")
        missing = [f for f in ("val_accuracy", "flops", "params") if f not in entry]
        if missing:
            raise _malformed(path, fmt, f"entry {key!r} lacks {missing}")
        values = {name: _number(v, path, fmt, f"{key}.{name}") for name, v in entry.items()}
        proxies = {n: v for n, v in values.items() if n not in ("val_accuracy", "flops", "params")}
        out[key] = NB101SampleRecord(
            val_accuracy=values["val_accuracy"],
            flops=values["flops"],
            params=values["params"],
            proxies=MappingProxyType(proxies),
        )
    return MappingProxyType(out)
