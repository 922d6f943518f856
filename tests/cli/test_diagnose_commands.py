"""``einnas diagnose-doa`` end to end (synthetic spaces need no data; nb201 skips without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from einnas.cli import main
from einnas.cli.diagnose_commands import parse_distances

FAST = ["--n-archs", "60", "--seeds", "2", "--held-out-pairs", "20"]


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "synthetic", "--dataset", "6x3", "--predictor", "ridge"]
    assert main([*argv, *FAST]) == 0
    out = capsys.readouterr().out
    assert out.startswith("synthetic/6x3: 6 slots") and "DoA MAE" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 6


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "synthetic", "--dataset", "6x3", "--interaction", "0.5",
            "--distances", "1,3-4", "--pairs", "anchored", "--json", *FAST]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["distance"] for r in data["results"]] == [1, 3, 4]
    assert data["config"]["predictor"] == "mlp" and data["config"]["pairs"] == "anchored"
    assert data["results"][0]["doa"]["mae_std"] is not None


def test_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "doa.png"
    argv = ["diagnose-doa", "--space", "synthetic", "--predictor", "ridge", "--plot", str(png)]
    assert main([*argv, *FAST]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert f"plot written to {png}" in capsys.readouterr().out


def test_walk_sampling_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "synthetic", "--dataset", "6x3", "--predictor", "ridge",
            "--sampling", "walk", "--starts", "4", "--parents", "5", "--distances", "1-2",
            "--json", *FAST]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    cfg = data["config"]
    assert (cfg["sampling"], cfg["starts"], cfg["parents"], cfg["pairs"]) == (
        "walk", 4, 5, "anchored"
    )  # fmt: skip
    assert [g["group"] for g in data["neighbour_ranking"]] == ["random", "best"]
    assert data["results"][0]["train_rows"] >= 2 * (60 - 4)


def test_evolution_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "synthetic", "--dataset", "6x3", "--predictor", "ridge",
            "--sampling", "evolution", "--tournament", "3", *FAST]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "visited by regularised evolution (population 10, tournament 3)" in out
    assert "anchored test pairs" in out and "random regret" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--distances", "1-x"], "--distances must be"),
        (["--distances", "7"], "exceed the 6 slots"),
        (["--n-archs", "1"], "--n-archs must be >= 2"),
        (["--dataset", "6"], "MxK"),
        (["--sampling", "walk", "--starts", "0"], "--starts must be between 1"),
        (["--parents", "-2"], "--parents must be >= 0"),
    ],
)
def test_user_errors(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "synthetic", "--dataset", "6x3", *FAST[2:], *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_parse_distances() -> None:
    assert parse_distances("1-6") == (1, 2, 3, 4, 5, 6)
    assert parse_distances("1, 2,4") == (1, 2, 4)


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["diagnose-doa", "--help"])
    out = capsys.readouterr().out
    assert "Examples:" in out and "einnas diagnose-doa --space nb201 --dataset cifar10" in out


@pytest.mark.benchmark_data
def test_nb201(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diagnose-doa", "--space", "nb201", "--dataset", "cifar100", "--benchmark-dir",
            str(data_dir), "--json", *FAST]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"] == "nb201/cifar100" and len(data["results"]) == 6
