"""The latency timer and the training evaluator's optional latency metric."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from einnas.evaluators.training import TrainingConfig, TrainingEvaluator
from einnas.latency import measure_latency
from einnas.objectives import objective_values, parse_objectives

TINY = "sequential[routing[im2col(3,1,1), computation[linear16], col2im], computation[leakyrelu]]"


def test_measure_latency_reports_median_and_settings() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    model.train()
    r = measure_latency(model, (8,), batch_size=4, warmup=2, repeats=7)
    assert r.median_ms > 0 and r.iqr_ms >= 0 and math.isfinite(r.median_ms)
    assert (r.batch_size, r.warmup, r.repeats, r.device) == (4, 2, 7, "cpu")
    assert r.threads == torch.get_num_threads()
    assert model.training  # restored
    m = r.metrics()
    assert m["latency_ms"] == r.median_ms and m["latency_info"]["batch_size"] == 4
    with pytest.raises(ValueError):
        measure_latency(model, (8,), repeats=0)


def test_training_evaluator_records_latency_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path))
    cfg = TrainingConfig(epochs=1, num_threads=2)
    plain = TrainingEvaluator("mnist1d", cfg, limit=256)
    assert "latency_batch" not in plain.describe()  # earlier studies' configs are unchanged
    timed = TrainingEvaluator("mnist1d", cfg, limit=256, latency_batch=1)
    assert timed.describe()["latency_batch"] == 1
    res = timed.evaluate(TINY, 0)
    assert res.metrics["latency_ms"] > 0
    objs = parse_objectives("val:max,latency:min,macs:min")
    values = objective_values(objs, res.val, res.metrics)
    assert values is not None and values[1] == res.metrics["latency_ms"]
    with pytest.raises(ValueError):
        TrainingEvaluator("mnist1d", cfg, latency_batch=0)
