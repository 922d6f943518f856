"""The registry and plug-ins: slot spaces, table helpers, entry points, the example package."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from einnas import registry
from einnas.cli import main
from einnas.spaces import (
    PluginError,
    SearchSpaceError,
    SlotSpace,
    SpacePlugin,
    TableError,
    TabularBenchmark,
    load_space,
    register_space,
    space_names,
    unregister_space,
)
from einnas.strategies import RandomSearch, Strategy, make_strategy, register_strategy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "einnas-plugin-mlp1d"


# -- SlotSpace ------------------------------------------------------------------------------


def test_slot_space_default_text_and_errors() -> None:
    space = SlotSpace([3, 2, 4], name="toy")
    assert space.size() == 24
    arch = (2, 0, 3)
    assert space.to_text(arch) == "2-0-3" == space.identity(arch)
    assert space.from_text(" 2-0-3 ") == arch
    assert all(space.from_text(space.to_text(a)) == a for a in space.all_archs())
    with pytest.raises(SearchSpaceError, match="found 2 tokens instead of 3"):
        space.from_text("1-0")
    with pytest.raises(SearchSpaceError, match="slot 2 is '4'"):
        space.from_text("1-0-4")


def test_slot_space_with_labels() -> None:
    space = SlotSpace([("flat", "conv3"), 3, ("relu", "gelu")], name="mini")
    assert space.cardinalities == (2, 3, 2)
    assert space.to_text((1, 2, 0)) == "conv3-2-relu"
    assert space.from_text("conv3-2-relu") == (1, 2, 0)
    assert space.from_text("1-2-0") == (1, 2, 0)  # indices are read too
    with pytest.raises(SearchSpaceError, match=re.escape("expected one of flat|conv3")):
        space.from_text("conv5-2-relu")
    with pytest.raises(SearchSpaceError, match="labels must be"):
        SlotSpace([("a-b", "c")], name="bad")
    with pytest.raises(SearchSpaceError, match="repeats a label"):
        SlotSpace([("a", "a")], name="bad")


# -- table helpers --------------------------------------------------------------------------


def _space() -> SlotSpace:
    return SlotSpace([("a", "b"), ("x", "y", "z")], name="tiny")


def _records(space: SlotSpace) -> dict[str, tuple[float, float, float]]:
    return {
        space.to_text(a): (float(10 * a[0] + a[1]), float(10 * a[0] + a[1]) - 0.5, 1.0 + a[1])
        for a in space.all_archs()
    }


def test_from_records_and_arrays() -> None:
    space = _space()
    table = TabularBenchmark.from_records(space, _records(space), dataset="d")
    assert (table.name, table.dataset, len(table)) == ("tiny/d", "d", 6)
    assert table.val((1, 2)) == 12.0 and table.test("b-z" and (1, 2)) == 11.5
    assert table.train_seconds((0, 1)) == 2.0
    assert table.val_optimal_archs() == [(1, 2)]
    by_tuple = TabularBenchmark.from_records(space, {a: (1.0, 2.0) for a in space.all_archs()})
    assert not by_tuple.has_train_seconds
    val, test = table.values()
    again = TabularBenchmark.from_arrays(space, val, test, name="t2")
    assert again.val((1, 2)) == 12.0 and again.name == "t2"


def test_from_records_errors_name_an_architecture() -> None:
    space = _space()
    records: dict[Any, Any] = _records(space)
    del records["b-y"]
    with pytest.raises(TableError, match=r"1 of the 6 architectures .* e\.g\. 'b-y'"):
        TabularBenchmark.from_records(space, records)
    records["b-y"] = (1.0, float("nan"))
    with pytest.raises(TableError, match="non-finite"):
        TabularBenchmark.from_records(space, records)
    records["b-y"] = (1.0, 2.0)
    records[(1, 1)] = (1.0, 2.0)
    with pytest.raises(TableError, match="given twice"):
        TabularBenchmark.from_records(space, records)
    with pytest.raises(TableError, match="bad architecture 'c-x'"):
        TabularBenchmark.from_records(space, {"c-x": (1.0, 2.0)})


def test_from_file_csv_json_npz(tmp_path: Path) -> None:
    space = _space()
    records = _records(space)
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(
        "arch,val,test,train_seconds\n"
        + "".join(f"{k},{v},{t},{s}\n" for k, (v, t, s) in records.items())
    )
    json_path = tmp_path / "t.json"
    json_path.write_text(json.dumps({k: {"val": v, "test": t} for k, (v, t, _) in records.items()}))
    npz_path = tmp_path / "t.npz"
    table = TabularBenchmark.from_records(space, records)
    np.savez(npz_path, val=table.values()[0], test=table.values()[1])
    for path in (csv_path, json_path, npz_path):
        loaded = TabularBenchmark.from_file(space, path, dataset="d")
        assert loaded.values()[0].tolist() == table.values()[0].tolist(), path
    assert TabularBenchmark.from_file(space, csv_path).has_train_seconds
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,val\na-x,1\n")
    with pytest.raises(TableError, match=r"bad\.csv.*columns arch, val, test"):
        TabularBenchmark.from_file(space, bad)


# -- in-process registration ----------------------------------------------------------------


@pytest.fixture
def tiny_space() -> Iterator[str]:
    space = _space()
    table = TabularBenchmark.from_records(space, _records(space), dataset="d")
    register_space(
        "tiny-test",
        lambda dataset=None, benchmark_dir=None: table,
        aliases=("tiny_alias",),
        datasets=("d",),
        default_dataset="d",
    )
    yield "tiny-test"
    unregister_space("tiny-test")


def test_register_space_in_process(tiny_space: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny_space in space_names("tabular")
    assert load_space("TINY_ALIAS").name == "tiny/d"
    with pytest.raises(SearchSpaceError, match="no dataset 'e'; expected one of d"):
        load_space(tiny_space, "e")
    with pytest.raises(ValueError, match="already taken"):
        register_space("tiny-alias", lambda: None)
    args = ["search", "--space", tiny_space, "--budget", "4", "--storage", ":memory:"]
    assert main([*args, "--strategy", "ls", "--no-progress"]) == 0
    assert "best architecture" in capsys.readouterr().out
    bench = ["bench", "--space", tiny_space, "--strategies", "rs,delta-nas,bananas"]
    assert main([*bench, "--budgets", "3,6", "--seeds", "2", "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "tiny-test / d" in out and "delta-nas" in out
    assert main(["diagnose-doa", "--space", tiny_space, "--predictor", "ridge", "--n-archs",
                 "4", "--seeds", "1", "--distances", "1-2", "--held-out-pairs", "3",
                 "--parents", "0"]) == 0  # fmt: skip


def test_register_strategy_and_predictor() -> None:
    class Mine(RandomSearch):
        name = "mine"

    register_strategy("mine", lambda tabular, **options: Mine(), aliases=("my",))
    try:
        assert isinstance(make_strategy("MY", tabular=True, population=3), Mine)
        assert "mine" in registry.strategy_names()
    finally:
        registry.unregister_strategy("mine")
    with pytest.raises(ValueError, match="unknown strategy 'mine'"):
        make_strategy("mine", tabular=True)

    from einnas.predictors import RidgePredictor
    from einnas.strategies import DeltaNAS

    made: list[dict[str, Any]] = []

    def factory(**kw: Any) -> RidgePredictor:
        made.append(kw)
        return RidgePredictor(alpha=kw["alpha"])

    registry.register_predictor("my-ridge", factory)
    try:
        assert "my-ridge" in registry.predictor_names()
        strategy = DeltaNAS(predictor="my-ridge", n_init=2)
        space = _space()
        from einnas.study.factory import open_storage
        from einnas.study.runner import run_search
        from einnas.study.study import Study

        table = TabularBenchmark.from_records(space, _records(space))
        from einnas.evaluators.base import EvalResult

        class Eval:
            instant = True

            def evaluate(self, arch: str, seed: int) -> EvalResult:
                r = table.lookup(space.from_text(arch))
                return EvalResult(r.val, r.test, {}, None)

            def describe(self) -> dict[str, Any]:
                return {"kind": "tiny"}

        from einnas.executors.base import InlineExecutor

        storage = open_storage(None)
        Study.create_or_load(storage, "s", {"space": "tiny"})
        run_search(storage, "s", space, strategy, InlineExecutor(Eval()), 5, 0)  # type: ignore[arg-type]
        assert made and made[0]["alpha"] == 1.0
    finally:
        registry.unregister_predictor("my-ridge")
    with pytest.raises(ValueError, match="unknown predictor"):
        DeltaNAS(predictor="my-ridge")


# -- entry points -----------------------------------------------------------------------------


class _FakeDist:
    name = "fake-dist"


class _FakeEntryPoint:
    def __init__(self, name: str, value: str, group: str, obj: Any = None) -> None:
        self.name, self.value, self.group, self._obj = name, value, group, obj
        self.dist = _FakeDist()

    def load(self) -> Any:
        if self._obj is None:
            raise ImportError(f"No module named {self.value.split(':')[0]!r}")
        return self._obj


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_FakeEntryPoint]]:
    eps: list[_FakeEntryPoint] = []

    def entry_points(group: str) -> list[_FakeEntryPoint]:
        return [e for e in eps if e.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry.reset_plugins()
    yield eps
    registry.reset_plugins()


def test_broken_entry_point_is_a_clear_error(fake_entry_points: list[_FakeEntryPoint]) -> None:
    fake_entry_points.append(_FakeEntryPoint("broken", "no_such_mod:load", "einnas.spaces"))
    with pytest.raises(PluginError) as info:
        load_space("broken")
    message = str(info.value)
    assert "fake-dist" in message and "'broken'" in message and "no_such_mod:load" in message
    assert "failed to load" in message and "ModuleNotFoundError" not in message.split(":")[0]
    # listing skips it (and records why); other names still work
    assert "broken" not in space_names()
    assert "einnas.spaces:broken" in registry.plugin_errors()
    # a plug-in returning the wrong object
    fake_entry_points.append(_FakeEntryPoint("wrong", "m:x", "einnas.spaces", obj=lambda: 42))
    registry.reset_plugins()  # entry points are read once per process
    with pytest.raises(
        PluginError, match=re.escape("returned int, expected an einnas.spaces.TabularBenchmark")
    ):
        load_space("wrong")
    # through the CLI: one line naming the distribution
    assert main(["search", "--space", "broken", "--budget", "2", "--storage", ":memory:"]) == 2


def test_entry_point_space_and_strategy(
    fake_entry_points: list[_FakeEntryPoint], capsys: pytest.CaptureFixture[str]
) -> None:
    space = _space()
    table = TabularBenchmark.from_records(space, _records(space), dataset="d")
    plugin = SpacePlugin(lambda dataset=None: table, datasets=("d",), default_dataset="d")
    fake_entry_points.append(_FakeEntryPoint("ep-tiny", "m:PLUGIN", "einnas.spaces", plugin))

    class Picky(RandomSearch):
        name = "picky"

    def strategy_factory(tabular: bool) -> Strategy:
        return Picky()

    fake_entry_points.append(_FakeEntryPoint("picky", "m:f", "einnas.strategies", strategy_factory))
    assert "ep-tiny" in space_names("tabular")
    assert load_space("ep-tiny") is table
    assert isinstance(make_strategy("picky", tabular=True, population=4), Picky)
    argv = ["search", "--space", "ep-tiny", "--strategy", "picky", "--budget", "3"]
    assert main([*argv, "--storage", ":memory:", "--no-progress"]) == 0
    assert "best architecture" in capsys.readouterr().out


# -- the example package, through the CLI in a fresh process ---------------------------------


def _example_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a subprocess that sees the example plug-in's entry point.

    When the package is installed (scripts/setup.sh) that is all; otherwise a minimal
    ``.dist-info`` with its entry point is written to ``tmp_path`` and put on the path.
    """
    env = dict(os.environ)
    paths = [str(ROOT / "src")]
    installed = any(
        ep.name == "mlp1d" for ep in importlib.metadata.entry_points(group="einnas.spaces")
    )
    if not installed:
        info = tmp_path / "site" / "einnas_plugin_mlp1d-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: einnas-plugin-mlp1d\nVersion: 0.1.0\n"
        )
        (info / "entry_points.txt").write_text("[einnas.spaces]\nmlp1d = einnas_mlp1d:PLUGIN\n")
        paths += [str(tmp_path / "site"), str(EXAMPLE / "src")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _einnas(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "einnas", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_example_plugin_table_is_complete() -> None:
    lines = (EXAMPLE / "src" / "einnas_mlp1d" / "mlp1d_mnist1d.csv").read_text().splitlines()
    assert lines[0] == "arch,val,test,train_seconds" and len(lines) == 82


def test_example_plugin_through_the_cli(tmp_path: Path) -> None:
    env = _example_env(tmp_path)
    bench = _einnas(
        ["bench", "--space", "mlp1d", "--strategies", "rs,re", "--budgets", "10,20",
         "--seeds", "3", "--no-progress", "--json", "out.json"],
        env,
        tmp_path,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    assert "mlp1d / mnist1d" in bench.stdout
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["space"] == "mlp1d" and result["dataset"] == "mnist1d"
    rows = {(r["strategy"], r["budget"]): r for r in result["results"]}
    assert set(rows) == {("rs", 10), ("rs", 20), ("re", 10), ("re", 20)}
    assert all(r["seeds"] == 3 and 30.0 < r["mean_test"] < 75.0 for r in rows.values())

    search = _einnas(
        ["search", "--space", "mlp1d", "--budget", "10", "--storage", "runs.db", "--no-progress"],
        env,
        tmp_path,
    )
    assert search.returncode == 0, search.stderr
    assert "study mlp1d-mnist1d-re-seed0: 10 trials" in search.stdout
    best = search.stdout.split("best architecture (trial ")[1].split(": ", 1)[1].split("\n")[0]
    assert len(best.split("-")) == 4  # e.g. conv5-d2-w128-gelu
    # the evaluator pickles as names: a process pool's workers load the table by name too
    pool = _einnas(
        ["search", "--space", "mlp1d", "--budget", "6", "--workers", "2", "--executor", "pool",
         "--storage", ":memory:", "--no-progress"],
        env,
        tmp_path,
    )  # fmt: skip
    assert pool.returncode == 0, pool.stderr
    listed = _einnas(["search", "--help"], env, tmp_path)
    assert "mlp1d" in listed.stdout
