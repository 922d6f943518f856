"""``einnas train`` and ``einnas export``, and ONNX export of compiled networks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from einnas.cli import main
from einnas.export import ONNX_TOLERANCE, export_onnx, export_torch, load_torch
from einnas.grammar import parse
from einnas.nn.compile import compile_network
from einnas.seeds import block, branch2, comp, conv, seq

TINY_1D = seq(comp("conv1d(3,8)"), seq(comp("norm"), comp("leakyrelu")))

TINY_2D = seq(
    seq(seq(conv(3, 2, 1, 8), comp("norm")), comp("leakyrelu")),
    block(seq(conv(3, 1, 1, 8), comp("norm")), comp("identity"), comp("leakyrelu")),
)

SMALL_1D = seq(
    seq(TINY_1D, branch2(seq(comp("conv1d(3,8)"), comp("leakyrelu")), comp("identity"), "add")),
    "routing[im2col(3,2,1), computation[pos_enc], identity]",
)


def test_train_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["train", "--arch", TINY_1D, "--dataset", "mnist1d", "--epochs", "1", "--seed", "0"]
    assert main([*argv, "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert set(row) == {"test_acc", "val_acc", "params", "seconds"}
    assert 0.0 <= row["test_acc"] <= 100.0 and row["val_acc"] is None and row["params"] > 0

    arch_file = tmp_path / "arch.txt"
    arch_file.write_text(f"# a comment\n\n{TINY_1D}\n")
    out = tmp_path / "trained"
    argv = ["train", "--arch", str(arch_file), "--dataset", "mnist1d", "--epochs", "1"]
    assert main([*argv, "--with-val", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "validation accuracy" in text
    assert (out / "model.pt").exists() and json.loads((out / "result.json").read_text())["val_acc"]


def test_train_threads_is_deterministic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["train", "--arch", TINY_1D, "--epochs", "1", "--seed", "3", "--threads", "1", "--json"]
    before = torch.get_num_threads()
    try:
        rows = []
        for _ in range(2):
            assert main(argv) == 0
            rows.append(json.loads(capsys.readouterr().out))
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert rows[0]["test_acc"] == rows[1]["test_acc"]


PATCH_2D = seq("routing[im2col(4,4,0), computation[linear16], identity]", comp("pos_enc"))


@pytest.mark.parametrize(
    ("arch", "shape"),
    [(TINY_2D, (3, 16, 16)), (PATCH_2D, (3, 16, 16)), (SMALL_1D, (1, 40))],
    ids=["2d", "2d-patches", "1d"],
)
def test_export_onnx_matches_torch(arch: str, shape: tuple[int, ...], tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = compile_network(parse(arch), shape, 10)
    diff = export_onnx(net, tmp_path / "net.onnx", batch=3)
    assert (tmp_path / "net.onnx").exists() and 0.0 <= diff <= ONNX_TOLERANCE

    export_torch(net, tmp_path / "net.pt")
    again = load_torch(tmp_path / "net.pt").eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert torch.equal(again(x), net.eval()(x))


def test_export_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    db, outdir = str(tmp_path / "runs.db"), str(tmp_path / "run")
    argv = [
        "search", "--space", "einspace1d", "--budget", "2", "--epochs", "1", "--final-epochs", "1",
        "--population", "2", "--tournament", "2", "--storage", db, "--study", "t", "--out", outdir,
        "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()

    onnx_file = tmp_path / "t.onnx"
    argv = ["export", "--storage", db, "--study", "t", "--format", "onnx", "-o", str(onnx_file)]
    assert main([*argv, "--run-dir", outdir]) == 0
    text = capsys.readouterr().out
    assert onnx_file.exists() and "weights from" in text and "max |logit difference|" in text

    # without the run directory: the best trial's architecture, untrained, said so
    monkeypatch.chdir(tmp_path)
    argv = ["export", "--storage", db, "--study", "t", "--format", "torch", "-o", "t.pt"]
    assert main(argv) == 0
    assert "UNTRAINED" in capsys.readouterr().out
    assert load_torch(tmp_path / "t.pt").num_classes == 10

    assert main(["export", "--storage", db, "--study", "nope"]) == 2


def test_export_pick_trade_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EINNAS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    db, outdir = str(tmp_path / "runs.db"), str(tmp_path / "run")
    argv = [
        "search", "--space", "einspace1d", "--budget", "3", "--epochs", "1", "--final-epochs", "1",
        "--population", "2", "--tournament", "2", "--storage", db, "--study", "p", "--out", outdir,
        "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    from einnas.study.study import Study

    trials = [t for t in Study.load(db, "p").trials() if t.val is not None]
    smallest = min(trials, key=lambda t: (t.metrics["macs"], t.number))
    base = ["export", "--storage", db, "--study", "p", "--format", "torch", "--run-dir", outdir]
    assert main([*base, "-o", "small.pt", "--pick", "min macs"]) == 0
    text = capsys.readouterr().out
    assert f"trial {smallest.number} (--pick 'min macs')" in text and "UNTRAINED" in text
    assert main([*base, "-o", "knee.pt", "--pick", "knee", "--objectives", "val,macs"]) == 0
    assert "--pick 'knee'" in capsys.readouterr().out
    assert main([*base, "--pick", "max val under macs<0"]) == 2
