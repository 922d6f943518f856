"""The training evaluator: protocol, determinism, failures, pickling, the Evaluator protocol."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from einnas.data import Dataset, load_mnist1d
from einnas.evaluators.base import EvalTask, Evaluator, run_evaluation
from einnas.evaluators.training import (
    TrainingConfig,
    TrainingEvaluator,
    train_and_evaluate,
)
from einnas.grammar import parse

TINY = "sequential[routing[im2col(3,1,1), computation[linear16], col2im], computation[leakyrelu]]"
FAST = TrainingConfig(epochs=1, num_threads=2)


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The same directory as tests/data uses: MNIST-1D is generated once per session.
    return tmp_path_factory.getbasetemp() / "einnas_cache"


@pytest.fixture(scope="session")
def small(cache: Path) -> Dataset:
    return load_mnist1d(cache=cache).subset(512)


def _toy(n: int = 64, nan: bool = False) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 12)).astype(np.float32)
    if nan:
        x[5, 0, 3] = np.nan
    y = (np.arange(n) % 3).astype(np.int64)
    return Dataset("toy", x, y, x.copy(), y.copy(), x.copy(), y.copy(), (1, 12), 3)


def test_tiny_run_returns_finite_val(small: Dataset) -> None:
    r = train_and_evaluate(TINY, small, TrainingConfig(epochs=2, num_threads=2), seed=0)
    assert r.ok, r.error
    assert r.val is not None and math.isfinite(r.val) and 0.0 <= r.val <= 100.0
    assert r.val == r.val_curve[-1] and len(r.val_curve) == 2
    assert len(r.train_loss) == 2 and all(math.isfinite(v) for v in r.train_loss)
    assert r.params == 234 and r.epochs == 2 and r.test is None
    assert r.model is not None
    assert sum(p.numel() for p in r.model.parameters()) == r.params
    ev = r.to_eval_result()
    assert ev.ok and ev.val == r.val and ev.metrics["params"] == 234


def test_same_seed_same_result(small: Dataset) -> None:
    a = train_and_evaluate(parse(TINY), small, FAST, seed=3)
    b = train_and_evaluate(TINY, small, FAST, seed=3)
    c = train_and_evaluate(TINY, small, FAST, seed=4)
    assert a.val_curve == b.val_curve and a.train_loss == b.train_loss
    assert a.train_loss != c.train_loss


def test_final_phase_trains_on_train_val_and_reports_test(small: Dataset) -> None:
    r = train_and_evaluate(TINY, small, FAST, seed=0, final=True)
    assert r.ok and r.test is not None and r.val is None and r.val_curve == []
    ev = r.to_eval_result()
    assert ev.val == ev.test == r.test and ev.metrics["final"] is True


def test_cosine_schedule_reaches_zero_lr(small: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    lrs: list[float] = []
    original = torch.optim.lr_scheduler.CosineAnnealingLR.step

    def spy(self: torch.optim.lr_scheduler.CosineAnnealingLR, *a: object) -> None:
        original(self)
        lrs.append(self.get_last_lr()[0])

    monkeypatch.setattr(torch.optim.lr_scheduler.CosineAnnealingLR, "step", spy)
    train_and_evaluate(TINY, small, TrainingConfig(epochs=3, num_threads=2), seed=0)
    # __init__ steps once (lr 0.04), then once per epoch: 0.03, 0.01, 0.0
    assert lrs[0] == pytest.approx(0.04)
    assert lrs[1:] == pytest.approx([0.03, 0.01, 0.0], abs=1e-9)


class _FixedEvaluator:
    """An evaluator returning a fixed result (to run results through ``run_evaluation``)."""

    def __init__(self, result: object) -> None:
        self.result = result

    def evaluate(self, arch: str, seed: int) -> object:
        return self.result

    def describe(self) -> dict[str, object]:
        return {}


def test_nan_loss_is_a_failure() -> None:
    r = train_and_evaluate(TINY, _toy(nan=True), FAST, seed=0)
    assert not r.ok and r.failure == "nan" and r.val is None
    ev = run_evaluation(_FixedEvaluator(r.to_eval_result()), EvalTask(0, TINY, 0))
    assert not ev.ok and "non-finite" in (ev.error or "")


def test_huge_learning_rate_fails_cleanly(small: Dataset) -> None:
    cfg = TrainingConfig(epochs=1, lr=1e6, batch_size=16, num_threads=2)
    r = train_and_evaluate(TINY, small, cfg, seed=0)
    assert not r.ok and r.failure == "nan"
    assert r.to_eval_result().ok is False


def test_too_many_params_fails_before_training(small: Dataset) -> None:
    r = train_and_evaluate(TINY, small, TrainingConfig(max_params=100), seed=0)
    assert r.failure == "params" and "234" in (r.error or "") and r.model is None
    assert r.epochs == 0


def test_time_limit_is_a_failure(small: Dataset) -> None:
    r = train_and_evaluate(TINY, small, TrainingConfig(epochs=50, max_seconds=0.0), seed=0)
    assert r.failure == "timeout" and r.epochs == 0


def test_evaluator_protocol_pickling_and_failures(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(cache))
    ev = TrainingEvaluator("MNIST-1D", FAST, limit=256)
    assert isinstance(ev, Evaluator)
    clone = pickle.loads(pickle.dumps(ev))
    assert clone == ev and clone.dataset == "mnist1d"
    d = ev.describe()
    assert d["kind"] == "training" and d["dataset"] == "mnist1d" and d["lr"] == 0.04
    assert d["epochs"] == 1 and d["batch_size"] == 256 and d["weight_decay"] == 3e-4

    ok = run_evaluation(ev, EvalTask(0, TINY, 0))
    assert ok.ok and ok.val is not None and math.isfinite(ok.val)
    assert ok.metrics["params"] == 234 and len(ok.metrics["val_curve"]) == 1
    assert ok.metrics["seconds"] > 0 and ok.duration is not None

    # an exception (here an architecture invalid on 1D inputs) -> a failed trial
    bad = run_evaluation(ev, EvalTask(1, "sequential[computation[norm], routing[", 0))
    assert not bad.ok and bad.error is not None and bad.val is None
    invalid = run_evaluation(
        ev, EvalTask(2, "sequential[computation[leakyrelu], computation[linear_div64]]", 0)
    )
    assert not invalid.ok and invalid.error is not None

    # over the parameter limit -> failed, with the reason in the metrics
    capped = TrainingEvaluator("mnist1d", TrainingConfig(max_params=10), limit=256)
    res = run_evaluation(capped, EvalTask(3, TINY, 0))
    assert not res.ok and res.metrics["failure"] == "params"


def test_folder_dataset_through_evaluator(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 96), ("valid", 32), ("test", 32)):
        np.save(tmp_path / f"{split}_x.npy", rng.normal(size=(n, 2, 6, 6)).astype(np.float32))
        np.save(tmp_path / f"{split}_y.npy", np.arange(n) % 5)
    ev = TrainingEvaluator(str(tmp_path), TrainingConfig(epochs=1, batch_size=32))
    res = ev.evaluate(TINY, 0)
    assert res.ok and res.val is not None
    assert ev.data.input_shape == (2, 6, 6) and ev.data.num_classes == 5


def test_training_in_steps_continues_exactly(small: Dataset, tmp_path: Path) -> None:
    """0 -> 1 then 1 -> 3 from the checkpoint equals 0 -> 3 straight (multi-fidelity rungs)."""
    cfg = TrainingConfig(epochs=3, num_threads=1)
    straight = train_and_evaluate(TINY, small, cfg, seed=4)
    ckpt = str(tmp_path / "t.pt")
    first = train_and_evaluate(TINY, small, cfg, seed=4, epochs=(0, 1), checkpoint=ckpt)
    assert Path(ckpt).is_file() and first.epochs == 1 and len(first.val_curve) == 1
    rest = train_and_evaluate(TINY, small, cfg, seed=4, epochs=(1, 3), checkpoint=ckpt)
    assert first.val_curve + rest.val_curve == straight.val_curve
    assert rest.val == straight.val and rest.epochs == 3
    with pytest.raises(ValueError, match="holds epoch 1, not 2"):
        train_and_evaluate(TINY, small, cfg, seed=4, epochs=(2, 3), checkpoint=ckpt)


def test_evaluator_steps_report_the_curve(tmp_path: Path) -> None:
    ev = TrainingEvaluator("mnist1d", TrainingConfig(epochs=3, num_threads=1), limit=256)
    ckpt = str(tmp_path / "c.pt")
    low = run_evaluation(ev, EvalTask(0, TINY, 1, from_step=0, to_step=1, checkpoint=ckpt))
    assert low.ok and list(low.metrics["curve"]) == ["1"]
    high = run_evaluation(ev, EvalTask(0, TINY, 1, from_step=1, to_step=3, checkpoint=ckpt))
    assert high.ok and list(high.metrics["curve"]) == ["2", "3"]
    assert high.val == high.metrics["curve"]["3"]
