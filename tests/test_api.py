"""The public Python API: create_study / load_study, ask and tell, optimize, results."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

import einnas
from einnas.api import AskedTrial
from einnas.benchmark_data import benchmark_dir_or_none
from einnas.spaces import SlotSpace
from einnas.study import DuplicateStudyError, IncompatibleStudyError, TrialState
from einnas.study.runner import replay_decisions


def _space() -> SlotSpace:
    return SlotSpace([4, 4, 4, 4], name="toy")


def _objective(trial: AskedTrial) -> float:
    return float(sum(trial.arch))


def test_root_exports() -> None:
    for name in ("create_study", "load_study", "Study", "TrialState", "spaces", "open_storage"):
        assert hasattr(einnas, name), name


def test_ask_tell_loop_and_values() -> None:
    study = einnas.create_study(_space(), strategy="re", seed=0)
    trial = study.ask()
    assert isinstance(trial.arch, tuple) and trial.arch_text == _space().to_text(trial.arch)
    done = study.tell(trial, 3.5)
    assert done.state is TrialState.COMPLETE and done.val == 3.5
    t2 = study.ask()
    done = study.tell(t2, {"val": 1.0, "test": 2.0, "params": 7, "macs": 9})
    assert (done.val, done.test, done.metrics["params"]) == (1.0, 2.0, 7)
    for bad in (math.nan, RuntimeError("boom"), None, {"test": 1.0}):
        t = study.ask()
        assert study.tell(t, bad).state is TrialState.FAILED  # type: ignore[arg-type]
    assert study.best_trial.val == 3.5
    assert len(study.trials) == 6
    assert len({t.arch for t in study.trials}) == 6


def test_optimize_two_workers_with_failures_continues() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def objective(trial: AskedTrial) -> float:
        with lock:
            calls.append(threading.current_thread().name)
        if trial.arch[0] == 0:
            raise ValueError("this one breaks")
        return float(sum(trial.arch))

    study = einnas.create_study(_space(), strategy="delta-nas", seed=1, workers=2)
    study.optimize(objective, n_trials=30, n_workers=2)
    trials = study.trials
    assert len(trials) == 30 and all(t.is_finished for t in trials)
    failed = [t for t in trials if t.state is TrialState.FAILED]
    assert failed and all("this one breaks" in (t.error or "") for t in failed)
    assert study.best_trial.state is TrialState.COMPLETE
    assert len(set(calls)) == 2  # both threads did work
    assert replay_decisions(study.storage, study.name, study.space, study.strategy, 1) == []


def test_trials_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    study = einnas.create_study(_space(), strategy="rs", seed=2)
    study.optimize(lambda t: {"val": float(sum(t.arch)), "params": 10}, n_trials=5)
    df = study.trials_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 5
    assert {"number", "state", "val", "arch", "metrics.params"} <= set(df.columns)


def test_storage_resume_and_load(tmp_path: Path) -> None:
    db = str(tmp_path / "api.db")
    s1 = einnas.create_study(_space(), strategy="ls", storage=db, study_name="x", seed=3)
    s1.optimize(_objective, n_trials=10)
    s2 = einnas.create_study(_space(), strategy="ls", storage=db, study_name="x", seed=3)
    s2.optimize(_objective, n_trials=5)
    assert len(s2.trials) == 15
    with pytest.raises(DuplicateStudyError):
        einnas.create_study(_space(), storage=db, study_name="x", load_if_exists=False)
    with pytest.raises(IncompatibleStudyError, match="seed"):
        einnas.create_study(_space(), strategy="ls", storage=db, study_name="x", seed=4)
    loaded = einnas.load_study("x", db, space=_space())
    assert loaded.best_trial.val == s2.best_trial.val
    with pytest.raises(Exception, match="pass the space object"):
        einnas.load_study("x", db)


def test_journal_storage(tmp_path: Path) -> None:
    path = f"journal:///{tmp_path / 'log.jsonl'}"
    study = einnas.create_study(_space(), strategy="re", storage=path, seed=0)
    study.optimize(_objective, n_trials=8, n_workers=2)
    assert len(einnas.load_study(study.name, path, space=_space()).trials) == 8


@pytest.mark.skipif(benchmark_dir_or_none() is None, reason="benchmark data folder not found")
def test_registered_space_optimizes_without_objective(tmp_path: Path) -> None:
    db = str(tmp_path / "nb.db")
    study = einnas.create_study("nb201", "re", dataset="cifar10", storage=db, study_name="nb")
    study.optimize(n_trials=12)
    assert len(study.trials) == 12 and study.best_trial.test is not None
    again = einnas.load_study("nb", db)
    again.optimize(n_trials=3)
    assert len(again.trials) == 15


def test_trials_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    from einnas.cli import main

    db = str(tmp_path / "c.db")
    study = einnas.create_study(_space(), strategy="rs", storage=db, study_name="c", seed=0)
    study.optimize(lambda t: {"val": float(sum(t.arch)), "params": 3}, n_trials=4)
    capsys.readouterr()
    assert main(["trials", "--storage", db, "--study", "c", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 4 and rows[0]["state"] == "complete" and rows[0]["metrics.params"] == "3"
