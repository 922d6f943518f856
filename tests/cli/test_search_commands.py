"""The search verbs end to end: a miniature einspace training search with final training, and
search/trials/resume on a tabular benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from einnas.cli import main


def test_miniature_einspace_search_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "runs.db"
    out_dir = tmp_path / "run"
    argv = [
        "search", "--space", "einspace1d", "--dataset", "mnist1d", "--seed-archs", "cnn1d",
        "--budget", "4", "--population", "2", "--tournament", "2", "--epochs", "1",
        "--final-epochs", "1", "--storage", str(db), "--study", "mini", "--out", str(out_dir),
        "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "best architecture" in out and "final test accuracy" in out
    assert (out_dir / "best.txt").exists() and (out_dir / "model.pt").exists()
    final = json.loads((out_dir / "final.json").read_text())
    assert final["epochs"] == 1 and final["test_acc"] is not None

    # rerunning the finished study evaluates nothing and reuses the recorded final training
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(0 evaluated now)" in out and "recorded earlier" in out

    assert main(["trials", "--storage", str(db), "--study", "mini", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4
    assert rows[0]["arch"].startswith("sequential[sequential[computation[conv1d(3,64)]")  # the seed


def test_miniature_default_job_runs_delta_nas_from_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default job (no --space) in miniature: 11 one-epoch trials, so that the last one is
    a Delta-NAS decision; 2 workers' decisions, evaluated inline."""
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "runs.db"
    argv = [
        "search", "--budget", "11", "--epochs", "1", "--final-epochs", "1", "--executor", "inline",
        "--max-trial-seconds", "5", "--storage", str(db), "--study", "mini",
        "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "best_val=" in captured.err and "new best: trial 0" in captured.out  # progress
    assert "final test accuracy (1 epochs" in captured.out

    from einnas.study.study import Study

    study = Study.load(str(db), "mini")
    assert study.config["strategy"]["name"] == "delta-nas"
    assert study.config["workers"] == 2 and study.config["max_macs"] == 3_000_000
    trials = sorted(study.trials(), key=lambda t: t.proposal)
    assert len(trials) == 11
    assert trials[0].arch.startswith("sequential[sequential[computation[conv1d(3,64)]")
    assert all(t.mutation is not None for t in trials[1:])  # the seed's mutations, then ...
    assert trials[10].parent is not None  # ... a scored (or exploratory) child of a finished trial


def test_tabular_search_resume_and_extend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from einnas.benchmark_data import benchmark_dir_or_none

    if benchmark_dir_or_none() is None:
        pytest.skip("tabular benchmark folder not found (set EINNAS_BENCHMARK_DIR)")
    db = str(tmp_path / "runs.db")
    base = ["search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "re", "--seed", "0",
            "--storage", db, "--study", "s1", "--no-progress"]  # fmt: skip
    assert main([*base, "--budget", "40"]) == 0
    assert main([*base, "--budget", "80"]) == 0
    out = capsys.readouterr().out
    assert "80 trials (40 evaluated now)" in out
    assert main(["search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "re", "--seed", "0",
                 "--storage", db, "--study", "s2", "--budget", "80", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    main(["trials", "--storage", db, "--study", "s1", "--json"])
    extended = [r["arch"] for r in json.loads(capsys.readouterr().out)]
    main(["trials", "--storage", db, "--study", "s2", "--json"])
    straight = [r["arch"] for r in json.loads(capsys.readouterr().out)]
    assert extended == straight
    # a different seed on the same study is refused with a clear message
    reseeded = ["search", "--space", "nb201", "--dataset", "cifar10", "--strategy", "re", "--seed", "1",
                "--storage", db, "--study", "s1", "--budget", "80", "--no-progress"]  # fmt: skip
    assert main(reseeded) == 2
    assert "different 'seed'" in capsys.readouterr().err


def test_default_job_settings() -> None:
    from einnas.cli import build_parser
    from einnas.cli.search_commands import _final_epochs, _spec

    spec = _spec(build_parser().parse_args(["search"]))
    assert (spec.space, spec.dataset, spec.strategy, spec.budget, spec.workers) == (
        "einspace1d",
        "mnist1d",
        "delta-nas",
        30,
        2,
    )
    assert spec.seed_archs == ["cnn1d"] and spec.max_macs == 3_000_000
    assert spec.max_trial_seconds == 60.0
    assert _final_epochs(build_parser().parse_args(["search"])) == 32
    assert _final_epochs(build_parser().parse_args(["search", "--space", "einspace1d"])) == 64
    assert (
        _spec(build_parser().parse_args(["search", "--max-macs", "5000000"])).max_macs == 5_000_000
    )
    tab = _spec(build_parser().parse_args(["search", "--space", "nb201"]))
    assert (tab.dataset, tab.budget, tab.workers, tab.seed_archs) == ("cifar10", 150, 1, [])
    other = _spec(build_parser().parse_args(["search", "--space", "einspace1d"]))
    assert (other.strategy, other.max_macs, other.max_trial_seconds) == ("re", 10_000_000, 120.0)


@pytest.mark.parametrize(
    ("extra", "rungs"),
    [
        ([], (3, 8)),  # default first rung: --epochs / --eta rounded up
        (["--min-epochs", "1"], (1, 3, 8)),
        (["--eta", "2"], (4, 8)),
        (["--epochs", "12", "--eta", "4"], (3, 12)),
    ],
)
def test_asha_first_rung_defaults_to_epochs_over_eta(
    extra: list[str], rungs: tuple[int, ...]
) -> None:
    from einnas.cli import build_parser
    from einnas.cli.search_commands import _fidelity
    from einnas.experiment import SearchSpec

    args = build_parser().parse_args(["search", "--fidelity", "asha", *extra])
    spec = SearchSpec(space="einspace1d", dataset="mnist1d", epochs=args.epochs)
    policy = _fidelity(args, spec, None)
    assert tuple(policy.rungs) == rungs
