"""Tests of ``einnas bench`` / ``einnas report`` and the analysis in :mod:`einnas.bench`."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from einnas.bench import (
    BenchConfig,
    RunRecord,
    best_so_far,
    best_so_far_curves,
    format_paired,
    format_table,
    paired_differences,
    run_bench,
    study_name,
    summarise,
)
from einnas.benchmark_data import benchmark_dir_or_none
from einnas.cli import main
from einnas.spaces.base import SearchSpaceError
from einnas.study import SQLiteStorage, Study, TrialOutcome, TrialStart

DATA = benchmark_dir_or_none()
needs_data = pytest.mark.skipif(DATA is None, reason="benchmark folder (../shared/data) absent")
ROW_KEYS = {
    "strategy",
    "budget",
    "seeds",
    "mean_test",
    "std_test",
    "found_optimum",
    "overhead_ms_per_query",
}
NB201_C10_TEST_OPTIMUM = 94.37


def _run(strategy: str, seed: int, val: list[float | None], test: list[float | None],
         optimal: list[bool] | None = None) -> RunRecord:  # fmt: skip
    return RunRecord(
        strategy=strategy,
        seed=seed,
        study=f"s-{strategy}-{seed}",
        val=tuple(val),
        test=tuple(test),
        optimal=tuple(optimal or [False] * len(val)),
        search_seconds=0.003 * len(val),
        evaluated_now=len(val),
        wall_seconds=0.1,
    )


# --------------------------------------------------------------------------- analysis (no data)


def test_best_so_far_selects_by_validation_and_keeps_the_earlier_on_ties() -> None:
    run = _run("rs", 0, [None, 80.0, 85.0, 85.0, 70.0], [None, 90.0, 91.0, 99.0, 99.5],
               [False, False, False, True, False])  # fmt: skip
    test, found = best_so_far(run, 5)
    assert math.isnan(test[0])  # no successful trial yet
    assert test[1:].tolist() == [90.0, 91.0, 91.0, 91.0]  # the tie at 85 keeps decision 2
    assert found.tolist() == [False, False, False, True, True]
    with pytest.raises(ValueError, match="fewer than 6"):
        best_so_far(run, 6)


def test_summarise_mean_std_found_and_overhead() -> None:
    runs = [
        _run("re", 0, [1.0, 3.0, 2.0], [10.0, 30.0, 20.0], [False, True, False]),
        _run("re", 1, [1.0, 2.0, 5.0], [12.0, 22.0, 52.0]),
        _run("rs", 0, [1.0, 1.0, 1.0], [5.0, 6.0, 7.0]),
    ]
    rows = summarise(runs, [3, 1], ["rs", "re"])
    assert [(r["strategy"], r["budget"]) for r in rows] == [
        ("rs", 1),
        ("rs", 3),
        ("re", 1),
        ("re", 3),
    ]
    assert all(set(r) == ROW_KEYS for r in rows)
    re1, re3 = rows[2], rows[3]
    assert re1["mean_test"] == 11.0 and re1["std_test"] == pytest.approx(math.sqrt(2), abs=1e-4)
    assert re3["mean_test"] == 41.0 and re3["found_optimum"] == 0.5
    assert re1["found_optimum"] == 0.0
    assert rows[0]["std_test"] is None  # one seed: no sample standard deviation
    assert rows[1]["mean_test"] == 5.0  # rs: all equal, the first trial stays selected
    assert re3["overhead_ms_per_query"] == pytest.approx(3.0)
    curves = best_so_far_curves(runs, 3, ["rs", "re"])
    assert list(curves) == ["rs", "re"] and curves["re"].shape == (2, 3)
    np.testing.assert_allclose(curves["re"][1], [12.0, 22.0, 52.0])
    table = format_table(rows)
    assert "mean_test" in table and "41.00" in table


def test_paired_differences_pair_on_seeds() -> None:
    runs = [
        _run("delta-nas", 0, [1.0, 2.0], [10.0, 20.0]),
        _run("delta-nas", 1, [1.0, 2.0], [11.0, 25.0]),
        _run("delta-nas", 2, [1.0, 2.0], [11.0, 25.0]),  # no re run on seed 2: not paired
        _run("re", 0, [1.0, 0.0], [9.0, 99.0]),  # selects 9.0 at both budgets
        _run("re", 1, [1.0, 2.0], [12.0, 22.0]),
        _run("rs", 0, [None, None], [None, None]),  # no success: nothing to pair
    ]
    rows = paired_differences(runs, [2, 1], "delta-nas", ["delta-nas", "re", "rs"])
    keys = {"strategy", "versus", "budget", "mean_diff", "se_diff", "seeds"}
    assert all(set(r) == keys for r in rows)
    assert [(r["strategy"], r["budget"]) for r in rows] == [
        ("re", 1), ("re", 2), ("rs", 1), ("rs", 2)
    ]  # fmt: skip
    re1, re2 = rows[0], rows[1]
    # budget 1: 9-10 = -1, 12-11 = +1; budget 2: 9-20 = -11, 22-25 = -3
    assert (re1["mean_diff"], re1["seeds"]) == (0.0, 2)
    assert re1["se_diff"] == pytest.approx(1.0)
    assert (re2["mean_diff"], re2["seeds"]) == (-7.0, 2)
    assert re2["se_diff"] == pytest.approx(4.0)
    assert rows[2]["seeds"] == 0 and rows[2]["mean_diff"] is None
    text = format_paired(rows)
    assert "minus delta-nas" in text and "-7.000 ± 4.000" in text and "-1.8" in text
    with pytest.raises(ValueError, match="no runs"):
        paired_differences(runs, [1], "ls")
    with pytest.raises(ValueError, match="--compare 'ls'"):
        BenchConfig(strategies=("re", "rs"), compare="ls")
    assert BenchConfig(strategies=("re", "delta-nas"), compare="Delta-NAS").compare == "delta-nas"


def test_bench_config_validates() -> None:
    cfg = BenchConfig(space="NB201", budgets=(20, 10, 20), seeds=3)
    assert (cfg.space, cfg.dataset, cfg.budgets, cfg.max_budget) == (
        "nb201",
        "cifar10",
        (10, 20),
        20,
    )
    assert cfg.seed_list == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown strategy"):
        BenchConfig(strategies=("rs", "nope"))
    with pytest.raises(ValueError, match="budgets"):
        BenchConfig(budgets=(0,))
    with pytest.raises(ValueError, match="unknown space"):
        BenchConfig(space="nb999")
    assert study_name("nb201", "cifar10", "re", 7) == "bench-nb201-cifar10-re-s7"


def test_bench_cli_rejects_an_unknown_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--strategies", "rs,zz", "--seeds", "1", "--no-progress"]) == 2
    assert "unknown strategy 'zz'" in capsys.readouterr().err


def test_cli_import_does_not_load_matplotlib() -> None:
    code = "import sys, einnas.cli, einnas.viz.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- bench on NB201


@needs_data
@pytest.mark.benchmark_data
def test_bench_nb201_writes_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    args = ["bench", "--space", "nb201", "--dataset", "cifar10", "--strategies", "rs,re,ls",
            "--budgets", "10,20", "--seeds", "3", "--json", str(out), "--plot", str(png),
            "--benchmark-dir", str(DATA), "--no-progress", "--compare", "re"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "total wall time" in printed and "mean_test" in printed
    assert "strategy minus re" in printed
    data: dict[str, Any] = json.loads(out.read_text())
    assert data["compare"] == "re"
    assert [(r["strategy"], r["versus"], r["budget"], r["seeds"]) for r in data["paired"]] == [
        (s, "re", b, 3) for s in ("rs", "ls") for b in (10, 20)
    ]
    by = {(r["strategy"], r["budget"]): r["mean_test"] for r in data["results"]}
    for r in data["paired"]:  # the mean paired difference is the difference of the means
        assert r["mean_diff"] == pytest.approx(
            by[(r["strategy"], r["budget"])] - by[("re", r["budget"])], abs=2e-4
        )
    assert (data["space"], data["dataset"]) == ("nb201", "cifar10")
    rows = data["results"]
    assert [(r["strategy"], r["budget"]) for r in rows] == [
        (s, b) for s in ("rs", "re", "ls") for b in (10, 20)
    ]
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["seeds"] == 3
        assert 80.0 < r["mean_test"] <= NB201_C10_TEST_OPTIMUM
        assert 0.0 <= r["std_test"] < 5.0
        assert 0.0 <= r["found_optimum"] <= 1.0
        assert 0.0 < r["overhead_ms_per_query"] < 1000.0
    for s in ("rs", "re", "ls"):  # more queries never select a worse architecture on average...
        r10, r20 = (r for r in rows if r["strategy"] == s)
        assert r20["found_optimum"] >= r10["found_optimum"]  # ...and never lose the optimum
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same benchmark in this process (1 worker) gives the same numbers: studies are
    # independent and deterministic, whatever the parallelism.
    inline = run_bench(
        BenchConfig("nb201", "cifar10", ("rs", "re", "ls"), (10, 20), 3, 0, 1, None, str(DATA))
    )
    for a, b in zip(inline.summary(), rows):
        assert {k: v for k, v in a.items() if k != "overhead_ms_per_query"} == {
            k: v for k, v in b.items() if k != "overhead_ms_per_query"
        }


@needs_data
@pytest.mark.benchmark_data
def test_bench_with_sqlite_storage_keeps_every_study(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    cfg = BenchConfig("nb201", "cifar100", ("rs", "ls"), (8,), 2, 5, 2, str(db), str(DATA))
    result = run_bench(cfg)
    assert result.dataset == "cifar100" and len(result.runs) == 4
    storage = SQLiteStorage(db)
    names = sorted(s.name for s in storage.list_studies())
    assert names == sorted(study_name("nb201", "cifar100", s, seed) for s in ("rs", "ls")
                           for seed in (5, 6))  # fmt: skip
    for name in names:
        study = Study.load(storage, name)
        assert study.n_finished() == 8 and study.config["budget"] == 8
    # Running it again resumes the studies from the file: nothing is evaluated again.
    again = run_bench(dataclasses.replace(cfg, workers=1))
    assert all(r.evaluated_now == 0 for r in again.runs)
    assert again.summary()[0]["overhead_ms_per_query"] is None
    assert [r["mean_test"] for r in again.summary()] == [r["mean_test"] for r in result.summary()]
    storage.close()


# --------------------------------------------------------------------------- report


@needs_data
@pytest.mark.benchmark_data
def test_report_on_a_search_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, png = tmp_path / "runs.db", tmp_path / "progress.png"
    search = ["search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "re",
              "--budget", "15", "--seed", "3", "--storage", str(db), "--study", "s1",
              "--benchmark-dir", str(DATA), "--no-progress"]  # fmt: skip
    assert main(search) == 0
    capsys.readouterr()
    assert main(["report", "--storage", str(db), "--study", "s1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["budget"] == 15 and summary["trials"] == 15
    assert (summary["finished"], summary["complete"], summary["failed"]) == (15, 15, 0)
    assert (summary["interrupted"], summary["running"]) == (0, 0)
    trials = Study.load(str(db), "s1").trials()
    best = max(trials, key=lambda t: (t.val, -t.number))
    assert summary["best"] == {"number": best.number, "arch": best.arch, "val": best.val,
                               "test": best.test}  # fmt: skip
    assert summary["wall_seconds"] >= 0.0

    # Text form, the study found without --study (the file holds one), and the plot.
    assert main(["report", "--storage", str(db), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "study s1" in text and best.arch in text and "15 finished" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_counts_failed_and_interrupted_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "runs.db"
    study = Study.create(str(db), "s", {"space": "toy", "budget": 4})
    st = study.storage
    st.record_trial("s", TrialStart("a", "a"), TrialOutcome.complete(50.0, test=49.0))
    st.record_trial("s", TrialStart("b", "b"), TrialOutcome.failed("boom"))
    st.start_trial("s", TrialStart("c", "c"))
    study.abandon_running()  # c: interrupted
    st.start_trial("s", TrialStart("d", "d"))  # d: still running
    study.storage.close()
    assert main(["report", "--storage", str(db), "--study", "s", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["finished"], summary["complete"], summary["failed"]) == (2, 1, 1)
    assert (summary["interrupted"], summary["running"], summary["trials"]) == (1, 1, 4)
    assert summary["best"]["arch"] == "a" and summary["budget"] == 4


def test_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.db"
    assert main(["report", "--storage", str(missing), "--study", "s"]) == 2
    assert "no trial log at" in capsys.readouterr().err
    assert not missing.exists()  # report never creates a file
    db = tmp_path / "two.db"
    for name in ("x", "y"):
        Study.create(str(db), name, {"budget": 1}).storage.close()
    assert main(["report", "--storage", str(db)]) == 2
    assert "give --study" in capsys.readouterr().err
    assert main(["report", "--storage", str(db), "--study", "z"]) != 0


@needs_data
@pytest.mark.benchmark_data
def test_bench_reads_a_shorter_budget_from_a_longer_study(tmp_path: Path) -> None:
    db = str(tmp_path / "bench.db")
    long = run_bench(BenchConfig("nb201", "cifar10", ("re",), (12,), 2, 0, 1, db, str(DATA)))
    short = run_bench(BenchConfig("nb201", "cifar10", ("re",), (5,), 2, 0, 1, db, str(DATA)))
    assert all(r.evaluated_now == 0 for r in short.runs)
    for a, b in zip(short.runs, long.runs):
        assert a.val == b.val[:5] and a.test == b.test[:5]


# --------------------------------------------------------------------------- synthetic spaces


def test_bench_config_reads_synthetic_spaces() -> None:
    cfg = BenchConfig(space="Synthetic:12x4", seeds=2, interaction=0.5, noise=0.1)
    assert (cfg.space, cfg.dataset) == ("synthetic", "12x4_i0.5_n0.1_s0")
    assert dataclasses.replace(cfg, seeds=3).dataset == cfg.dataset
    cfg = BenchConfig(space="synthetic", dataset="3x2+2x3", seeds=2)
    assert cfg.dataset == "3x2+2x3_i0_n0_s0"
    with pytest.raises(ValueError, match="shape"):
        BenchConfig(space="synthetic")
    with pytest.raises(SearchSpaceError):
        BenchConfig(space="synthetic:12by4")
    with pytest.raises(ValueError, match="noise"):
        BenchConfig(space="synthetic:4x2", noise=-1.0)
    with pytest.raises(ValueError, match="synthetic"):
        BenchConfig(space="nb201", noise=0.1)
    with pytest.raises(ValueError, match="training time"):
        BenchConfig(space="synthetic:4x2", simulate_time=True)


def test_bench_runs_a_synthetic_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "syn.json"
    args = ["bench", "--space", "synthetic", "--slots", "6", "--choices", "3", "--interaction",
            "0.5", "--noise", "0.2", "--strategies", "rs,ls,delta-nas", "--budgets", "5,15",
            "--seeds", "2", "--jobs", "1", "--compare", "delta-nas", "--json", str(out),
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "synthetic / 6x3_i0.5_n0.2_s0" in printed and "minus delta-nas" in printed
    data = json.loads(out.read_text())
    assert (data["space"], data["dataset"], data["noise"]) == ("synthetic", "6x3_i0.5_n0.2_s0", 0.2)
    assert all(r["found_optimum"] is None for r in data["results"])
    assert {(r["strategy"], r["budget"]) for r in data["paired"]} == {
        (s, b) for s in ("rs", "ls") for b in (5, 15)
    }
    # every trial: test = f(arch), val = f(arch) + its fixed noise
    from einnas.evaluators.synthetic import SyntheticEvaluator

    ev = SyntheticEvaluator((3,) * 6, 0.5, 0, 0.2)
    db = tmp_path / "syn.db"
    cfg = BenchConfig("synthetic:6x3", None, ("ls",), (15,), 1, 0, 1, str(db),
                      interaction=0.5, noise=0.2)  # fmt: skip
    run = run_bench(cfg).runs[0]
    assert run.study == "bench-synthetic-6x3_i0.5_n0.2_s0-ls-s0"
    trials = [t for t in SQLiteStorage(str(db)).trials(run.study) if t.val is not None]
    assert len(trials) == 15
    for t in trials:
        f = ev.objective.value(ev.space.from_text(t.arch))
        assert t.test == pytest.approx(f) and t.val == pytest.approx(f + ev.noise_of(t.arch))
