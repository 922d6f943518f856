"""CLI text: every verb's --help has examples, a missing --arch file is named as such, check
reports every line of a hostile file, display rounding, and the README's outputs are ignored."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from einnas.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_every_verb_help_has_examples(verb: str) -> None:
    text = _verbs()[verb].format_help()
    assert "Examples:" in text, verb
    assert f"einnas {verb}" in text.split("Examples:", 1)[1], verb


def test_trials_help_advertises_no_missing_flag() -> None:
    text = _verbs()["trials"].format_help()
    assert "--list" not in text
    assert "einnas report --storage" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["draw", "--arch", "{f}", "-o", "x.png"],
        ["train", "--arch", "{f}", "--epochs", "1"],
        ["check", "--input-shape", "1,40", "{f}"],
    ],
    ids=["draw", "train", "check"],
)
def test_missing_arch_file_says_no_such_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    missing = str(tmp_path / "best.txt")
    code = main([a.replace("{f}", missing) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert f"no such file: {missing}" in err and "column" not in err


def test_check_reports_every_line_of_a_hostile_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = "routing[im2col(3,1,1), computation[linear16], col2im]"
    deep = "sequential[" * 990 + "computation[identity]" + ", computation[identity]]" * 990
    f = tmp_path / "trees.txt"
    f.write_bytes(
        "\n".join(
            [ok, deep, ok, f"computation[linear{'9' * 4301}]", ok, "sequential[computation[norm]"]
        ).encode()
        + b"\n\xff\xfe\n"
        + ok.encode()
        + b"\n"
    )
    code = main(["check", "--input-shape", "3,28,28", str(f)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(out) == 8
    assert out[0].startswith("ok ") and out[2].startswith("ok ") and out[4].startswith("ok ")
    assert out[1].startswith("invalid 2: line 2 column ") and "nesting deeper than" in out[1]
    assert out[3].startswith("invalid 4: line 4 column 19: integer literal of 4301 digits")
    assert out[5].startswith("invalid 6: line 6 column 29: expected ','")
    assert out[6].startswith("invalid 7: line 7 column 1: unexpected character")
    assert out[7].startswith("ok ")


def test_display_rounds_accuracies() -> None:
    from einnas.cli import search_commands

    assert search_commands._fmt(78.22799998291016) == "78.23"
    assert search_commands._fmt(None) == "-"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize(
    "path",
    ["runs.db", "runs.db-wal", "runs.db-shm", "runs/s1/best.txt", "progress.png", "best.onnx"],
)
def test_readme_outputs_are_git_ignored(path: str) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False
    )
    assert result.returncode == 0, f"{path} is not ignored"
