"""Everything a finished einspace search leaves in its run directory (``runs/<study>/``).

:func:`einnas.final_training.final_train` writes the architecture (``best.txt``,
``best_pretty.txt``), the trained weights (``model.pt``) and ``final.json``.
:func:`write_run_outputs` completes the directory from those and the trial log:

* ``model.onnx`` — the trained network exported with :func:`einnas.export.export_onnx` and
  checked with onnxruntime against PyTorch on a random batch; the largest absolute logit
  difference goes into ``final.json`` as ``onnx_max_abs_diff`` (an export that fails the check
  is removed and its error recorded as ``onnx_error``).
* ``trials.json`` — the study's trials in order (architecture, state, validation value,
  parameter count, time, error), with the SQLite file and study they were read from.
* ``progress.png`` — best-so-far validation accuracy against the number of evaluations.
* ``acc_vs_params.png`` — validation accuracy of every trial against its parameter count.

Every file is (re)written on each call, so a rerun of a finished search (whose final training
is reused from the log) restores whatever is missing and brings the trial log and the figures
up to date with an extended budget.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from einnas.final_training import FinalResult
from einnas.study.storage import Storage
from einnas.study.trial import Trial

__all__ = ["ONNX_CHECK_BATCH", "RunOutputs", "trial_record", "write_run_outputs"]

ONNX_CHECK_BATCH = 8
"""Examples in the random batch on which the ONNX export is compared with PyTorch."""


@dataclass(frozen=True)
class RunOutputs:
    """What :func:`write_run_outputs` wrote: ``files`` maps a role (``onnx``, ``trials``, ...)
    to its path; ``onnx_max_abs_diff`` / ``onnx_error`` are the ONNX check's outcome."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    onnx_max_abs_diff: float | None = None
    onnx_error: str | None = None

    def summary_lines(self) -> list[str]:
        """Human-readable lines saying where everything is."""
        lines = [f"run directory {self.out_dir}/:"]
        notes = {
            "arch": "the architecture (canonical text)",
            "weights": "trained weights (state_dict)",
            "onnx": "ONNX opset 17"
            + (
                f", max |logit difference| vs PyTorch {self.onnx_max_abs_diff:.3g}"
                if self.onnx_max_abs_diff is not None
                else ""
            ),
            "final": "final training record",
            "trials": "trial log",
            "progress": "best-so-far validation accuracy vs evaluations",
            "acc_vs_params": "validation accuracy vs parameter count",
        }
        for role, path in self.files.items():
            lines.append(f"  {path.name:<18} {notes.get(role, role)}")
        if self.onnx_error is not None:
            lines.append(f"  model.onnx NOT written: {self.onnx_error}")
        return lines


def trial_record(t: Trial) -> dict[str, Any]:
    """One row of ``trials.json``."""
    params = t.metrics.get("params")
    return {
        "number": t.number,
        "proposal": t.proposal,
        "arch": t.arch,
        "hash": t.arch_hash,
        "parent": t.parent,
        "state": t.state.value,
        "val": t.val,
        "test": t.test,
        "params": params if isinstance(params, int) and not isinstance(params, bool) else None,
        "seconds": t.duration,
        "seed": t.seed,
        "error": t.error,
    }


TABLE_COLUMNS = (
    "number",
    "state",
    "val",
    "test",
    "arch",
    "parent",
    "proposal",
    "duration",
    "error",
    "started_at",
    "finished_at",
)


def trial_table_rows(trials: list[Trial]) -> list[dict[str, Any]]:
    """Flat rows of the trials (``trials --csv``, ``Study.trials_dataframe``).

    The fixed columns :data:`TABLE_COLUMNS`, then one ``metrics.<name>`` column per scalar
    metric that any trial has (lists and mappings, e.g. learning curves, are left out).
    """
    rows: list[dict[str, Any]] = []
    metric_names: list[str] = []
    for t in trials:
        for key, value in t.metrics.items():
            scalar = value is None or isinstance(value, bool | int | float | str)
            if scalar and key not in metric_names:
                metric_names.append(key)
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.value,
            "val": t.val,
            "test": t.test,
            "arch": t.arch,
            "parent": t.parent,
            "proposal": t.proposal,
            "duration": t.duration,
            "error": t.error,
            "started_at": t.started_at,
            "finished_at": t.finished_at,
        }
        for key in metric_names:
            value = t.metrics.get(key)
            row[f"metrics.{key}"] = value if not isinstance(value, list | dict) else None
        rows.append(row)
    return rows


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _export_onnx(final: FinalResult, dataset: str, out: Path) -> tuple[float | None, str | None]:
    """Export ``model.pt`` as ``model.onnx``: ``(max abs diff, None)`` or ``(None, error)``."""
    import torch

    from einnas.evaluators.training import cached_dataset
    from einnas.export import export_onnx
    from einnas.grammar import parse
    from einnas.nn.compile import compile_network

    weights = out / "model.pt"
    target = out / "model.onnx"
    if not weights.is_file():
        return None, f"no trained weights {weights}"
    data = cached_dataset(dataset, None)
    net = compile_network(parse(final.arch), data.input_shape, data.num_classes)
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    try:
        diff = export_onnx(net, target, batch=ONNX_CHECK_BATCH, seed=final.seed)
    except Exception as e:  # a failed check or exporter: keep no unchecked file
        target.unlink(missing_ok=True)
        return None, f"{type(e).__name__}: {e}"
    return diff, None


def _final_record(final: FinalResult, dataset: str, out: Path) -> dict[str, Any]:
    """``final.json`` as written by the final training, or rebuilt from ``final``."""
    path = out / "final.json"
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and record.get("arch") == final.arch:
            return record
    return {
        "arch": final.arch,
        "dataset": dataset,
        "epochs": final.epochs,
        "seed": final.seed,
        "test_acc": final.test_acc,
        "seconds": final.seconds,
        "params": final.params,
        "error": final.error,
    }


def write_run_outputs(
    storage: Storage,
    study: str,
    final: FinalResult,
    dataset: str,
    *,
    storage_path: str | os.PathLike[str] | None = None,
) -> RunOutputs:
    """Complete the run directory of ``study`` after its final training (see the module notes).

    ``dataset`` is the name or folder the study trained on (for the network's input shape and
    class count); ``storage_path`` is the SQLite file the trial log lives in, recorded in
    ``trials.json`` (``None`` or ``":memory:"`` for none).
    """
    from einnas.grammar import parse, pretty
    from einnas.viz.plots import plot_accuracy_vs_params, plot_study_progress

    out = Path(final.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    best_txt = out / "best.txt"
    if not best_txt.is_file():
        _write_text(best_txt, final.arch + "\n")
        _write_text(out / "best_pretty.txt", pretty(parse(final.arch)) + "\n")
    files["arch"] = best_txt
    if (out / "model.pt").is_file():
        files["weights"] = out / "model.pt"

    diff, onnx_error = _export_onnx(final, dataset, out)
    if diff is not None:
        files["onnx"] = out / "model.onnx"

    trials = sorted(storage.trials(study), key=lambda t: t.number)
    db = None if storage_path is None or str(storage_path) == ":memory:" else storage_path
    log = {
        "study": study,
        "storage": None if db is None else str(Path(db).resolve()),
        "trials": [trial_record(t) for t in trials],
    }
    _write_text(out / "trials.json", json.dumps(log, indent=1) + "\n")
    files["trials"] = out / "trials.json"

    files["progress"] = Path(
        plot_study_progress(
            trials,
            out / "progress.png",
            f"{study}: best-so-far validation accuracy",
            ylabel="validation accuracy (%)",
            xlabel="evaluations (trial number)",
        )
    )
    files["acc_vs_params"] = Path(
        plot_accuracy_vs_params(
            trials,
            out / "acc_vs_params.png",
            f"{study}: validation accuracy vs parameters",
            highlight_arch=final.arch,
        )
    )

    record = _final_record(final, dataset, out)
    record["onnx_max_abs_diff"] = diff
    record.pop("onnx_error", None)
    if onnx_error is not None:
        record["onnx_error"] = onnx_error
    record["trial_log"] = log["storage"]
    record["study"] = study
    _write_text(out / "final.json", json.dumps(record, indent=2) + "\n")
    files["final"] = out / "final.json"
    return RunOutputs(out, files, diff, onnx_error)
