"""Multi-objective CLI: report --objectives/--pick/--plot and bench --objectives, and the tables'
cost metrics and true fronts (NAS-Bench-201 CIFAR-10 latency, NAS-Bench-Macro params)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from einnas.benchmark_data import benchmark_dir_or_none
from einnas.cli import main
from einnas.objectives import parse_objectives, to_minimisation
from einnas.pareto import dominates


@pytest.fixture
def data() -> Path:
    folder = benchmark_dir_or_none()
    if folder is None or not (folder / "nb201" / "nb201_cifar10_costs.csv").is_file():
        pytest.skip("benchmark data folder (with the NB201 cost table) not found")
    return folder


def test_tables_put_costs_into_lookup_metrics(data: Path) -> None:
    from einnas.evaluators.tabular import TabularEvaluator

    nb = TabularEvaluator("nb201", "cifar10", str(data))
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    res = nb.evaluate(arch, 0)
    assert set(res.metrics) == {"latency", "flops", "params"}
    ops = ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3",
           "nor_conv_3x3")  # fmt: skip
    with (data / "nb201" / "nb201_cifar10_costs.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if tuple(r[f"hp_x{i}"] for i in range(6)) == ops)
    assert res.metrics["params"] == float(row["metric_params"])
    assert res.metrics["latency"] == float(row["metric_latency"])
    assert res.metrics["flops"] == float(row["metric_flops"])
    assert res.metrics["latency"] > 0 and res.metrics["flops"] > 100
    c100 = TabularEvaluator("nb201", "cifar100", str(data))
    assert c100.evaluate(arch, 0).metrics == {}  # the cost table is CIFAR-10's only
    macro = TabularEvaluator("nasbench-macro", None, str(data))
    m = macro.evaluate("01201210", 0).metrics
    assert set(m) == {"params", "flops"} and m["params"] > 0


def test_true_front_is_exact(data: Path) -> None:
    from einnas.evaluators.tabular import TabularEvaluator
    from einnas.mo_bench import table_values, true_front

    table = TabularEvaluator("nb201", "cifar10", str(data)).table
    objs = parse_objectives("val:max,latency:min")
    truth = true_front(table, objs)
    values = to_minimisation(table_values(table, objs), objs)
    front = to_minimisation(truth.front, objs)
    # nothing in the table dominates a front point; the best val is on it
    sample = values[:: max(1, len(values) // 3000)]
    for f in front:
        assert not any(dominates(v, f) for v in sample)
    assert front[:, 0].min() == pytest.approx(values[:, 0].min())
    assert 0 < truth.hypervolume < 1
    assert truth.hv(truth.front) == pytest.approx(truth.hypervolume)
    assert truth.hv(table_values(table, objs)) == pytest.approx(truth.hypervolume)


def test_report_front_pick_and_plot(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    argv = [
        "search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "mo-re",
        "--budget", "40", "--seed", "0", "--storage", db, "--study", "m",
        "--benchmark-dir", str(data), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    png = tmp_path / "front.png"
    report = ["report", "--storage", db, "--study", "m", "--objectives", "val:max,params:min"]
    assert main([*report, "--pick", "max val under params<=0.5", "--plot", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert png.is_file() and out["trials_with_values"] == 40
    front = out["front"]
    assert front and all(front[i]["val"] > front[i + 1]["val"] for i in range(len(front) - 1))
    assert all(front[i]["params"] > front[i + 1]["params"] for i in range(len(front) - 1))
    picked = out["picked"]
    assert picked["metrics"]["params"] <= 0.5
    eligible = [r for r in front if r["params"] <= 0.5]
    assert picked["val"] == max(r["val"] for r in eligible)
    assert main([*report, "--pick", "knee"]) == 0
    text = capsys.readouterr().out
    assert "Pareto front of" in text and "pick 'knee': trial" in text


def test_bench_objectives(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "mo.json"
    argv = [
        "bench", "--space", "nasbench-macro", "--objectives", "val:max,params:min",
        "--budgets", "10,20", "--seeds", "3", "--jobs", "1", "--benchmark-dir", str(data),
        "--json", str(out_json), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "true front" in text and "mo-delta-nas" in text
    result = json.loads(out_json.read_text())
    assert [r["strategy"] for r in result["results"]] == ["mo-rs", "mo-re", "mo-delta-nas"]
    truth = result["true_front_hypervolume"]
    for row in result["results"]:
        assert 0 < row["hv@10"] <= row["hv@20"] <= truth + 1e-9
        assert row["hv_se@20"] is not None
    assert np.asarray(result["true_front"]).shape[1] == 2


def test_bench_objectives_refuses_unsupported_flags(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--objectives", "val,latency", "--simulate-time", "--seeds", "1"]
    assert main(argv) == 2
    assert "--simulate-time not supported with --objectives" in capsys.readouterr().err
