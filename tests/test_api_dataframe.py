"""``Study.trials_dataframe()``: one row per trial, the fixed columns, then scalar metrics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import einnas
from einnas.spaces import SlotSpace

pd = pytest.importorskip("pandas", reason="pip install 'einnas[pandas]'")


def _objective(trial: einnas.AskedTrial) -> float | dict[str, object]:
    a, b, c = trial.arch
    if (a, b, c) == (0, 0, 0):
        raise RuntimeError("this one diverged")
    if c == 3:
        return {"val": 50.0 + a + b, "test": 49.0 + a, "params": 100 * (b + 1), "curve": [1, 2]}
    return float(10 * a + b + c)


def test_trials_dataframe_with_two_workers(tmp_path: Path) -> None:
    space = SlotSpace([("x", "y", "z"), 3, 4], name="toy")
    study = einnas.create_study(space, strategy="rs", storage=tmp_path / "runs.db", seed=3)
    study.optimize(_objective, n_trials=36, n_workers=2)  # every architecture of the space

    df = study.trials_dataframe()
    trials = study.trials
    assert isinstance(df, pd.DataFrame) and len(df) == len(trials) == 36
    fixed = ["number", "state", "val", "test", "arch", "parent", "proposal", "duration", "error"]
    assert list(df.columns[: len(fixed)]) == fixed
    assert "metrics.params" in df.columns and "metrics.curve" not in df.columns  # lists left out
    assert list(df["number"]) == [t.number for t in trials] == list(range(36))
    assert list(df["arch"]) == [t.arch for t in trials]

    failed = df[df["state"] == "failed"]
    assert list(failed["arch"]) == ["x-0-0"]
    assert "RuntimeError: this one diverged" in failed["error"].iloc[0]
    complete = df[df["state"] == "complete"]
    assert len(complete) == 35 and (complete["duration"] >= 0).all()
    best = study.best_trial
    assert complete["val"].max() == best.val == 54.0 and best.arch == "z-2-3"
    row = df[df["number"] == best.number].iloc[0]
    assert row["test"] == 51.0 and row["metrics.params"] == 300
    assert math.isnan(df[df["arch"] == "z-2-2"]["metrics.params"].iloc[0])

    # the same frame from the log in a new process's view
    again = einnas.load_study(study.name, tmp_path / "runs.db", space=space)
    pd.testing.assert_frame_equal(again.trials_dataframe(), df)


def test_trials_dataframe_of_an_empty_study() -> None:
    study = einnas.create_study(SlotSpace([2, 2], name="tiny"), strategy="rs")
    df = study.trials_dataframe()
    assert len(df) == 0
    with pytest.raises(ValueError, match="no complete trial"):
        _ = study.best_trial
