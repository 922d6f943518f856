"""The run directory of a finished einspace search: weights, checked ONNX, trial log, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from einnas.cli import main
from einnas.export import ONNX_TOLERANCE
from einnas.final_training import FinalResult
from einnas.run_outputs import write_run_outputs
from einnas.study.memory import InMemoryStorage

PNG = b"\x89PNG\r\n\x1a\n"

RUN_FILES = (
    "best.txt",
    "model.pt",
    "model.onnx",
    "final.json",
    "trials.json",
    "progress.png",
    "acc_vs_params.png",
)


def test_miniature_search_fills_the_run_directory(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the MNIST-1D cache shared with tests/data and tests/evaluators (by path)
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "einnas_cache"))
    db, run = tmp_path / "runs.db", tmp_path / "run"
    argv = [
        "search", "--space", "einspace1d", "--seed-archs", "cnn1d", "--budget", "2",
        "--population", "2", "--tournament", "2", "--epochs", "1", "--final-epochs", "1",
        "--storage", str(db), "--study", "mini", "--out", str(run), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    for name in RUN_FILES:
        assert (run / name).is_file(), name
        assert name in out  # the summary says where everything is
    assert (run / "progress.png").read_bytes()[:8] == PNG
    assert (run / "acc_vs_params.png").read_bytes()[:8] == PNG

    final = json.loads((run / "final.json").read_text())
    assert 0.0 <= final["onnx_max_abs_diff"] < ONNX_TOLERANCE
    assert "onnx_error" not in final and final["trial_log"] == str(db.resolve())

    log = json.loads((run / "trials.json").read_text())
    assert log["study"] == "mini" and log["storage"] == str(db.resolve())
    assert [t["number"] for t in log["trials"]] == [0, 1]
    assert all(t["params"] > 0 for t in log["trials"] if t["state"] == "complete")

    # a rerun reuses the recorded final training and restores what is missing
    for name in ("model.onnx", "trials.json", "progress.png", "acc_vs_params.png"):
        (run / name).unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "recorded earlier" in out
    assert all((run / name).is_file() for name in RUN_FILES)
    assert json.loads((run / "final.json").read_text())["onnx_max_abs_diff"] < ONNX_TOLERANCE


def test_missing_weights_are_recorded_not_exported(tmp_path: Path) -> None:
    storage = InMemoryStorage()
    storage.create_study("s", {})
    arch = "sequential[computation[conv1d(3,8)], computation[leakyrelu]]"
    final = FinalResult(arch, 50.0, 1, 0, 1.0, 100, None, str(tmp_path / "run"))
    outputs = write_run_outputs(storage, "s", final, "mnist1d", storage_path=":memory:")
    assert outputs.onnx_max_abs_diff is None and outputs.onnx_error is not None
    assert "no trained weights" in outputs.onnx_error
    assert not (tmp_path / "run" / "model.onnx").exists()
    record = json.loads((tmp_path / "run" / "final.json").read_text())
    assert record["onnx_max_abs_diff"] is None and "no trained weights" in record["onnx_error"]
    assert (
        record["trial_log"] is None and (tmp_path / "run" / "best.txt").read_text().strip() == arch
    )
    assert "NOT written" in "\n".join(outputs.summary_lines())
