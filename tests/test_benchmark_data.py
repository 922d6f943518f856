"""Finding the benchmark folder, and clear errors for missing or malformed data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from einnas import benchmark_data
from einnas.benchmark_data import (
    ENV_VAR,
    BenchmarkDataError,
    benchmark_dir_or_none,
    benchmark_file,
    read_nb201_json,
    resolve_benchmark_dir,
)
from einnas.spaces.tabular import load_tabular


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return root


# -- resolution ---------------------------------------------------------------------------------


def test_explicit_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = _folder(tmp_path / "explicit")
    env = _folder(tmp_path / "env")
    monkeypatch.setenv(ENV_VAR, str(env))
    assert resolve_benchmark_dir(explicit) == explicit.resolve()
    assert resolve_benchmark_dir(str(explicit)) == explicit.resolve()
    assert resolve_benchmark_dir() == env.resolve()
    assert resolve_benchmark_dir(None) == env.resolve()


def test_env_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _folder(tmp_path / "env")
    work = _folder(tmp_path / "repo")
    _folder(tmp_path / "shared" / "data")
    monkeypatch.chdir(work)
    monkeypatch.setenv(ENV_VAR, str(env))
    assert resolve_benchmark_dir() == env.resolve()


def test_default_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None
) -> None:
    work = _folder(tmp_path / "repo")
    data = _folder(tmp_path / "shared" / "data")
    monkeypatch.chdir(work)
    assert resolve_benchmark_dir() == data.resolve()


def test_default_relative_to_repo_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None
) -> None:
    repo = _folder(tmp_path / "checkout")
    data = _folder(tmp_path / "shared" / "data")
    monkeypatch.chdir(_folder(tmp_path / "elsewhere" / "deep"))
    monkeypatch.setattr(benchmark_data, "_repo_root", lambda: repo)
    assert resolve_benchmark_dir() == data.resolve()


def test_repo_root_is_parent_of_src() -> None:
    root = benchmark_data._repo_root()
    if root is None:
        pytest.skip("einnas is not running from a src/ checkout")
    assert (root / "src" / "einnas" / "benchmark_data.py").is_file()


def test_missing_explicit_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(BenchmarkDataError) as info:
        resolve_benchmark_dir(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "--benchmark-dir" in message and ENV_VAR in message
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, ValueError)
    assert benchmark_dir_or_none(missing) is None


def test_missing_env_dir_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(BenchmarkDataError, match=ENV_VAR) as info:
        resolve_benchmark_dir()
    assert str(tmp_path / "gone") in str(info.value)


def test_nothing_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None) -> None:
    monkeypatch.chdir(_folder(tmp_path / "a" / "b"))
    monkeypatch.setattr(benchmark_data, "_repo_root", lambda: None)
    with pytest.raises(BenchmarkDataError) as info:
        resolve_benchmark_dir()
    message = str(info.value)
    assert str(tmp_path / "a" / "b" / ".." / "shared" / "data") in message
    assert "--benchmark-dir" in message and ENV_VAR in message


# -- missing and malformed files ----------------------------------------------------------------


def test_missing_file_names_file_and_format(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkDataError) as info:
        benchmark_file("nb201/nb201_cifar10.json", tmp_path)
    message = str(info.value)
    assert "nb201/nb201_cifar10.json" in message
    assert "val_acc_200" in message and "test_acc_200" in message
    with pytest.raises(BenchmarkDataError, match=re.escape("nb201/nb201_cifar100.json")):
        load_tabular("nb201", "cifar100", tmp_path)
    with pytest.raises(BenchmarkDataError, match=re.escape("nas-bench-macro_cifar10.json")):
        load_tabular("macro", None, tmp_path)
    with pytest.raises(BenchmarkDataError, match=re.escape("all_benchmarks_zen.zip")):
        load_tabular("transnas-micro", "jigsaw", tmp_path)


def _write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "top level is a list"),
        ('{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": {"val_acc_200": 1.0}}', "lacks"),
        (
            '{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": {"val_acc_200": "x", "test_acc_200": 1}}',
            "not a number",
        ),
        ('{"bad arch": {"val_acc_200": 1.0, "test_acc_200": 1.0}}', "bad arch"),
        (
            '{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": {"val_acc_200": 1.0, "test_acc_200": 1.0}}',
            "15624 are missing",
        ),
    ],
)
def test_malformed_nb201(tmp_path: Path, content: str, problem: str) -> None:
    _write(tmp_path, "nb201/nb201_cifar10.json", content)
    with pytest.raises(BenchmarkDataError) as info:
        load_tabular("nb201", "cifar10", tmp_path)
    message = str(info.value)
    assert message.startswith("nb201/nb201_cifar10.json: expected")
    assert "JSON object {arch_str:" in message
    assert problem in message
    assert isinstance(info.value, ValueError)


def test_malformed_macro(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "nasbench_macro/nas-bench-macro_cifar10.json",
        json.dumps({"01201210": {"test_acc": [1.0], "mean_acc": 1.0}}),
    )
    with pytest.raises(BenchmarkDataError) as info:
        load_tabular("macro", None, tmp_path)
    assert str(info.value).startswith("nasbench_macro/nas-bench-macro_cifar10.json: expected")
    assert "not 3 numbers" in str(info.value)


def test_malformed_transnas(tmp_path: Path) -> None:
    _write(tmp_path, "transnas101_micro/all_benchmarks_zen.zip", b"this is not a zip")
    with pytest.raises(BenchmarkDataError) as info:
        load_tabular("transnas-micro", "jigsaw", tmp_path)
    assert str(info.value).startswith("transnas101_micro/all_benchmarks_zen.zip: expected")
    assert "not a zip archive" in str(info.value)


def test_parsed_tables_are_cached(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "nb201/nb201_cifar10.json",
        '{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": {"val_acc_200": 1.5, "test_acc_200": 2.5, "rank": 1}}',
    )
    first = read_nb201_json(path)
    assert read_nb201_json(path) is first
    record = first["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
    assert (record.val_acc_200, record.test_acc_200) == (1.5, 2.5)
    with pytest.raises(TypeError):
        first["x"] = record  # type: ignore[index]
