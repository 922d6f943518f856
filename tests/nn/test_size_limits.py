"""Size before allocation: a tree over the parameter / activation / compiled-node limits is
refused from its exact analysis, before PyTorch allocates anything.

Regressions: ``computation[linear100000000]`` (16 GB of weights) and
``routing[im2col(3,1,99999999), ...]`` (8.6e18 bytes) used to be compiled.  Property: for
trees of random widths and paddings, ``compile_network`` either refuses with SizeLimitError
exactly when the analysis is over a limit, or builds a network whose size is the analysis'.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einnas.cli import main
from einnas.grammar import SizeLimitError, SizeLimits, analyze, network_params, parse
from einnas.grammar.limits import ENV_MAX_ACTIVATION_BYTES, ENV_MAX_PARAMS
from einnas.nn.compile import compile_backbone, compile_network

ID = "computation[identity]"
HUGE_LINEAR = f"sequential[computation[linear100000000], {ID}]"
HUGE_IM2COL = "routing[im2col(3,1,99999999), computation[linear16], col2im]"
NESTED_B4 = "branching(4)[clone(4), " * 9 + ID + ", add]" * 9  # 4**9 copies of the leaf


@pytest.mark.parametrize(
    ("text", "shape", "needle"),
    [
        (HUGE_LINEAR, (1, 40), "parameters"),
        (HUGE_IM2COL, (3, 28, 28), "elements per example"),
        (NESTED_B4, (1, 40), "compiled nodes"),
    ],
)
def test_absurd_trees_are_refused_before_allocation(
    text: str, shape: tuple[int, ...], needle: str
) -> None:
    tree = parse(text)
    start = time.perf_counter()
    with pytest.raises(SizeLimitError, match=needle):
        compile_network(tree, shape, 10)
    with pytest.raises(SizeLimitError, match=needle):
        compile_backbone(tree, shape)
    assert time.perf_counter() - start < 2.0  # nothing was built


def test_message_names_the_size_and_how_to_raise_the_limit() -> None:
    with pytest.raises(SizeLimitError) as info:
        compile_network(parse(HUGE_LINEAR), (1, 40), 10)
    msg = str(info.value)
    assert "4,100,000,020 parameters" in msg and "16.4 GB" in msg
    assert "--max-params" in msg and ENV_MAX_PARAMS in msg


def test_limits_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = parse(f"sequential[computation[linear64], {ID}]")  # 40*64+64 + 1*10+10 = 2,644
    assert sum(p.numel() for p in compile_network(tree, (1, 40), 10).parameters()) == 2644
    with pytest.raises(SizeLimitError, match="2,644 parameters"):
        compile_network(tree, (1, 40), 10, limits=SizeLimits(max_params=2643))
    compile_network(tree, (1, 40), 10, limits=SizeLimits(max_params=2644))
    monkeypatch.setenv(ENV_MAX_PARAMS, "1000")
    with pytest.raises(SizeLimitError):
        compile_network(tree, (1, 40), 10)
    compile_network(tree, (1, 40), 10, limits=SizeLimits.from_env(max_params=10_000))
    monkeypatch.setenv(ENV_MAX_PARAMS, "lots")
    with pytest.raises(ValueError, match="EINNAS_MAX_PARAMS='lots'"):
        SizeLimits.from_env()
    monkeypatch.delenv(ENV_MAX_PARAMS)
    monkeypatch.setenv(ENV_MAX_ACTIVATION_BYTES, str(64 * 4 - 1))  # the (1, 64) output
    with pytest.raises(SizeLimitError, match="64 elements per example"):
        compile_network(tree, (1, 40), 10)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_params"):
        SizeLimits(max_params=0)


# ---------------------------------------------------------------------------------------------
# The kind of fault: any width, any padding


SMALL = SizeLimits(max_params=200_000, max_activation_bytes=4 << 20, max_compiled_nodes=400)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    width=st.integers(1, 10**12),
    pad=st.integers(0, 10**9),
    branch=st.sampled_from([2, 4, 8]),
    depth=st.integers(1, 6),
)
def test_refused_exactly_when_the_analysis_is_over_a_limit(
    width: int, pad: int, branch: int, depth: int
) -> None:
    inner = f"routing[im2col(3,1,1), computation[linear{width}], col2im]"  # same spatial size
    for _ in range(depth):
        inner = (
            f"branching(2)[clone(2), {inner}, {ID}, cat(2,1)]"
            if branch == 2
            else f"branching({branch})[clone({branch}), {inner}, cat({branch},1)]"
        )
    first = f"routing[im2col(3,1,{pad}), computation[linear4], col2im]"
    tree = parse(f"sequential[{first}, {inner}]")
    shape = (2, 6, 6)
    analysis = analyze(tree, shape)
    over = SMALL.violations(analysis, 10)
    try:
        net = compile_network(tree, shape, 10, limits=SMALL)
    except SizeLimitError:
        assert over
        return
    assert not over
    assert sum(p.numel() for p in net.parameters()) == network_params(analysis, 10)


# ---------------------------------------------------------------------------------------------
# CLI: check and train


def test_check_refuses_over_the_limits_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "trees.txt"
    small = f"sequential[computation[linear64], {ID}]"
    f.write_text(f"{HUGE_LINEAR}\n{HUGE_IM2COL}\n{small}\n")
    code = main(["check", "--input-shape", "1,40", str(f)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith("invalid 1: architecture too large to build: 4,100,000,020 param")
    assert out[1].startswith("invalid 2: ")  # not an image input: im2col does not type-check
    assert out[2] == "ok 2644 2x1x64"
    code = main(["check", "--input-shape", "1,40", "--max-params", "2000", str(f)])
    assert code == 1 and capsys.readouterr().out.splitlines()[2].startswith("invalid 3: ")
    f.write_text(f"{HUGE_IM2COL}\n")
    assert main(["check", "--input-shape", "3,28,28", str(f)]) == 1
    assert "elements per example" in capsys.readouterr().out
    assert main(["check", "--input-shape", "3,28,28", "--max-activation-bytes", "1000", str(f)])


def test_train_refuses_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("valid", 4), ("test", 4)):
        np.save(tmp_path / f"{split}_x.npy", rng.normal(size=(n, 1, 8)).astype(np.float32))
        np.save(tmp_path / f"{split}_y.npy", np.arange(n) % 2)
    arch = f"sequential[computation[linear64], {ID}]"  # 8*64+64 + 1*2+2 = 580
    code = main(
        [
            "train",
            "--arch",
            arch,
            "--dataset",
            str(tmp_path),
            "--epochs",
            "1",
            "--max-params",
            "579",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "580 parameters" in err and "limit of 579" in err
    assert "final training" not in err  # refused before anything trained
    monkeypatch.delenv(ENV_MAX_PARAMS, raising=False)
    code = main(
        [
            "train",
            "--arch",
            arch,
            "--dataset",
            str(tmp_path),
            "--epochs",
            "1",
            "--max-params",
            "580",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert ENV_MAX_PARAMS not in os.environ  # the limits were set for the training only


def test_search_refuses_a_seed_over_max_params_before_training(tmp_path: Path) -> None:
    from einnas.experiment import SearchSpec, build_search
    from einnas.spaces.base import SearchSpaceError

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("valid", 4), ("test", 4)):
        np.save(tmp_path / f"{split}_x.npy", rng.normal(size=(n, 1, 40)).astype(np.float32))
        np.save(tmp_path / f"{split}_y.npy", np.arange(n) % 2)
    spec = SearchSpec(
        space="einspace1d", dataset=str(tmp_path), seed_archs=["cnn1d"], max_params=10_000
    )
    with pytest.raises(SearchSpaceError, match=r"seed architecture 'cnn1d' has [\d,]+ backbone"):
        build_search(spec)
    spec.max_params = 1_000_000
    build_search(spec)  # fits
