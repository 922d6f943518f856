"""Progress of long phases: the final training shows a bar per epoch; a rerun says it reuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from einnas.data.datasets import Dataset
from einnas.evaluators import training
from einnas.evaluators.training import TrainingConfig, epoch_progress, train_and_evaluate
from einnas.study import InMemoryStorage

TINY = "sequential[routing[im2col(3,1,1), computation[linear16], col2im], computation[leakyrelu]]"


def _toy(n: int = 64) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 12)).astype(np.float32)
    y = (np.arange(n) % 3).astype(np.int64)
    return Dataset("toy", x, y, x.copy(), y.copy(), x.copy(), y.copy(), (1, 12), 3)


def test_epoch_hook_sees_every_epoch() -> None:
    seen: list[tuple[int, int, float, float | None]] = []
    with epoch_progress(lambda *a: seen.append(a)):
        train_and_evaluate(TINY, _toy(), TrainingConfig(epochs=3, num_threads=1), seed=0)
        train_and_evaluate(TINY, _toy(), TrainingConfig(epochs=2, num_threads=1), 0, final=True)
    assert [(e, n) for e, n, _, _ in seen] == [(1, 3), (2, 3), (3, 3), (1, 2), (2, 2)]
    assert all(v is not None for *_, v in seen[:3]) and seen[3][3] is None
    seen.clear()
    train_and_evaluate(TINY, _toy(), TrainingConfig(epochs=1, num_threads=1), seed=0)
    assert seen == []  # outside the block: no hook


def test_final_training_shows_a_bar_and_a_rerun_reuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from einnas.final_training import final_train

    monkeypatch.setattr(training, "cached_dataset", lambda name, cache=None: _toy())
    st = InMemoryStorage()
    st.create_study("s", {})
    first = final_train(st, "s", TINY, "toy", 3, 0, tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    assert "final training" in err and "3/3" in err and "loss=" in err
    assert not first.reused and (tmp_path / "run" / "model.pt").is_file()
    again = final_train(st, "s", TINY, "toy", 3, 0, tmp_path / "run", progress=True)
    assert again.reused and again.test_acc == first.test_acc
    assert "final training" not in capsys.readouterr().err  # nothing retrained
