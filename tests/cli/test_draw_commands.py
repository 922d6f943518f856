"""``einnas draw`` (run in-process through ``main``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from einnas.cli import main

pytest.importorskip("matplotlib")

TINY = "sequential[computation[conv1d(3,8)], computation[leakyrelu]]"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_draw_writes_the_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.png"
    code, stdout, _ = run(capsys, "draw", "--arch", TINY, "-o", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in stdout

    arch = tmp_path / "best.txt"
    arch.write_text(f"# best\n{TINY}\n", encoding="utf-8")
    code, _, _ = run(capsys, "draw", "--arch", str(arch), "--tree", "-o", str(tmp_path / "t.svg"))
    assert code == 0 and (tmp_path / "t.svg").stat().st_size > 0


def test_draw_seed_names_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    code, dot, _ = run(capsys, "draw", "--arch", "cnn1d", "--format", "dot", "--title", "CNN")
    assert code == 0 and dot.startswith("digraph") and 'label="CNN"' in dot
    assert '"1x40"' in dot and dot.count("->") == 10
    # an image seed named without --input-shape is drawn for 3,28,28
    code, dot, _ = run(capsys, "draw", "--arch", "resnet18", "--format", "dot")
    assert code == 0 and '"3x28x28"' in dot


def test_draw_errors_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = str(tmp_path / "x.png")
    code, _, err = run(
        capsys, "draw", "--arch", "sequential[computation[conv1d(3,8)], comp", "-o", png
    )
    assert code == 2 and "einnas draw: error: line 1 column" in err
    permuted = "routing[permute(1,3,2), computation[linear16], permute(1,3,2)]"
    code, _, err = run(capsys, "draw", "--arch", permuted, "-o", png)
    assert code == 2 and "default input shape 1,40" in err and "--input-shape" in err
    code, _, err = run(capsys, "draw", "--arch", TINY, "--input-shape", "3,28,28", "-o", png)
    assert code == 2 and "input shape 3,28,28" in err and "conv1d" in err
    code, _, err = run(capsys, "draw", "--arch", TINY, "-o", str(tmp_path / "x.jpg"))
    assert code == 2 and ".png" in err
    code, _, err = run(capsys, "draw", "--arch", TINY)
    assert code == 2 and "-o" in err
    assert not (tmp_path / "x.png").exists()
