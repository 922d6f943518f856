"""Tests of the figures in :mod:`einnas.viz.plots` (synthetic data, no benchmark needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from einnas.study.trial import INTERRUPTED, Trial, TrialState
from einnas.viz.plots import (
    plot_accuracy_vs_params,
    plot_strategy_comparison,
    plot_study_progress,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_strategy_comparison_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    q = np.arange(1, 101)
    curves = {
        name: np.maximum.accumulate(90 + gain * np.log(q) + rng.normal(0, 0.3, (20, 100)), axis=1)
        for name, gain in (("rs", 0.5), ("re", 0.8), ("ls", 0.9))
    }
    curves["rs"][:, :3] = np.nan  # no successful trial yet on the first queries
    out = tmp_path / "sub" / "cmp.png"
    assert plot_strategy_comparison(curves, out, "toy benchmark") == str(out)
    width, height = _png_size(out)
    assert (width, height) == (900, 576)  # 7.5 x 4.8 inches at 120 dpi
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


def test_strategy_comparison_copes_with_one_seed_and_nothing(tmp_path: Path) -> None:
    plot_strategy_comparison({"rs": [[1.0, 2.0, 2.0]], "re": np.empty((0, 3))}, tmp_path / "a.png")
    plot_strategy_comparison({}, tmp_path / "b.png")
    assert _png_size(tmp_path / "a.png")[0] > 0 and _png_size(tmp_path / "b.png")[0] > 0


def _trial(n: int, val: float | None, test: float | None, state: TrialState, error: str | None = None) -> Trial:  # fmt: skip
    return Trial(number=n, arch=f"a{n}", arch_hash=f"a{n}", state=state, val=val, test=test,
                 error=error)  # fmt: skip


def test_study_progress_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    trials = [
        _trial(i, float(v), float(v) - 0.5, TrialState.COMPLETE)
        for i, v in enumerate(rng.normal(88, 3, 60))
    ]
    trials[5] = _trial(5, 10.0, 10.0, TrialState.COMPLETE)  # a very poor cell: below the axis
    trials[7] = _trial(7, None, None, TrialState.FAILED, "boom")
    trials[9] = _trial(9, None, None, TrialState.FAILED, INTERRUPTED)
    trials.append(_trial(60, None, None, TrialState.RUNNING))
    out = tmp_path / "progress.png"
    assert plot_study_progress(list(reversed(trials)), out, "study s1") == str(out)
    assert _png_size(out) == (900, 576)


def test_study_progress_without_successful_trials(tmp_path: Path) -> None:
    out = tmp_path / "empty.png"
    plot_study_progress([_trial(0, None, None, TrialState.FAILED, "x")], out)
    plot_study_progress([], tmp_path / "none.png")
    assert out.read_bytes()[:8] == PNG


def test_accuracy_vs_params_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    trials = [
        Trial(number=i, arch=f"a{i}", arch_hash=f"a{i}", state=TrialState.COMPLETE,
              val=float(v), metrics={"params": int(p)})
        for i, (v, p) in enumerate(zip(rng.normal(80, 5, 30), rng.integers(1_000, 500_000, 30)))
    ]  # fmt: skip
    trials.append(_trial(30, None, None, TrialState.FAILED, "too many parameters"))
    trials.append(_trial(31, 50.0, None, TrialState.COMPLETE))  # no parameter count
    out = tmp_path / "acc_vs_params.png"
    assert plot_accuracy_vs_params(trials, out, "study s1", highlight_arch="a3") == str(out)
    assert _png_size(out) == (900, 576)
    plot_accuracy_vs_params([], tmp_path / "none.png")
    assert (tmp_path / "none.png").read_bytes()[:8] == PNG
