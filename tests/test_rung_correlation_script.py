"""benchmarks/rung_correlation.py on a small log: per-rung Spearman correlation with the last."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from einnas.study.events import TrialOutcome, TrialReport, TrialStart
from einnas.study.factory import open_storage
from einnas.study.trial import TrialState

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "rung_correlation.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("einnas_rung_correlation", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rung_correlation_reads_learning_curves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "mf.db"
    storage = open_storage(str(db))
    storage.create_study("x-re+asha-s0", {})
    # epoch 1 ranks backwards, epoch 3 ranks exactly like the last (8)
    for i in range(6):
        trial = storage.start_trial("x-re+asha-s0", TrialStart(arch=f"a{i}", arch_hash=f"h{i}"))
        for step, val in ((1, 50.0 - i), (3, 60.0 + i), (8, 70.0 + 2 * i)):
            storage.report("x-re+asha-s0", trial.number, TrialReport(step=step, val=val))
        storage.finish_trial(
            "x-re+asha-s0", trial.number, TrialOutcome(state=TrialState.COMPLETE, val=70.0 + 2 * i)
        )
    # a pruned candidate (no last rung) is left out
    pruned = storage.start_trial("x-re+asha-s0", TrialStart(arch="p", arch_hash="hp"))
    storage.report("x-re+asha-s0", pruned.number, TrialReport(step=1, val=99.0))
    storage.close()

    _module().main(["--storage", str(db), "--match", "asha"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["studies"] == 1
    assert result["by_step"]["1"]["rho_mean"] == pytest.approx(-1.0)
    assert result["by_step"]["3"]["rho_mean"] == pytest.approx(1.0)
    assert result["by_step"]["3"]["candidates"] == 6
    assert "8" not in result["by_step"]
