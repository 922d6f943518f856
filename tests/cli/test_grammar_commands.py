"""The grammar verbs of the CLI: sample, check, seeds (run in-process through ``main``)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from einnas.cli import main
from einnas.grammar import parse


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sample_prints_only_canonical_trees(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(
        capsys,
        "sample",
        "--space",
        "einspace",
        "--input-shape",
        "3,28,28",
        "--num-classes",
        "10",
        "-n",
        "25",
        "--seed",
        "0",
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 25
    for line in lines:
        assert parse(line)  # every line is a tree and nothing else
    _code2, out2, _ = run(capsys, "sample", "--input-shape", "3,28,28", "-n", "25", "--seed", "0")
    assert out2 == out  # same seed, same trees


def test_sample_1d_and_shape_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "sample", "--space", "einspace1d", "--input-shape", "1,40", "-n", "5"
    )
    assert code == 0 and len(out.splitlines()) == 5
    code, out, err = run(
        capsys, "sample", "--space", "einspace1d", "--input-shape", "3,28,28", "-n", "1"
    )
    assert code == 2 and out == ""
    assert "needs an input shape with 2 numbers" in err and "Traceback" not in err


def test_check_reports_ok_and_invalid_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "# a comment\n"
        "routing[im2col(3,1,1), computation[linear16], col2im]\n"
        "\n"
        "sequential[computation[linear64]\n"
        "routing[identity, computation[norm], col2im]\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, err = run(capsys, "check", "--input-shape", "3,28,28", "--num-classes", "10", "-")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "ok 618 2x16x28x28"  # 3*9*16+16 conv + 16*10+10 head
    assert lines[1].startswith("invalid 4: line 4 column 33: expected ','")
    assert lines[2].startswith("invalid 5:") and "col2im" in lines[2]
    assert "Traceback" not in err


def test_check_sampled_file_all_ok(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    from pathlib import Path

    _, out, _ = run(
        capsys,
        "sample",
        "--space",
        "einspace1d",
        "--input-shape",
        "1,40",
        "-n",
        "20",
        "--seed",
        "3",
    )
    f = Path(str(tmp_path)) / "trees.txt"
    f.write_text(out)
    code, out, _ = run(capsys, "check", "--input-shape", "1,40", str(f))
    assert code == 0
    assert all(line.startswith("ok ") for line in out.splitlines()) and len(out.splitlines()) == 20


def test_seeds_json_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "seeds", "--input-shape", "3,28,28", "--num-classes", "10", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["resnet18", "wrn16_4", "vit", "mlp_mixer"]
    assert abs(rows[0]["params"] - 11.22e6) / 11.22e6 < 0.01
    code, out, _ = run(capsys, "seeds", "--show", "resnet18")
    assert code == 0 and parse(out.strip())
    code, out, err = run(capsys, "seeds", "--show", "nope")
    assert code == 2 and "valid seeds are" in err
