"""The GPU code paths, run on CPU: conv choice, the graph-capturable step, the step-based loop.

Every piece of the CUDA training path is device-agnostic; here it runs with ``device="cpu"``
(CUDA graphs themselves are skipped off CUDA).  tests/cuda runs the same on a GPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from einnas.data import Dataset, load_mnist1d
from einnas.evaluators.training import (
    TrainingConfig,
    TrainingEvaluator,
    gpu_plan,
    share_device,
    train_and_evaluate,
)
from einnas.nn.compile import compile_network
from einnas.nn.convselect import (
    CHOICES,
    AutoConv1d,
    AutoConv2d,
    autoselect_convs,
    conv_im2col,
    select_impl,
)
from einnas.nn.step import TrainStep
from einnas.seeds import seed_text, seed_tree

TINY = "sequential[routing[im2col(3,1,1), computation[linear16], col2im], computation[leakyrelu]]"


@pytest.mark.parametrize(
    ("conv", "shape"),
    [
        (nn.Conv1d(3, 5, 3, stride=1, padding=1), (4, 3, 11)),
        (nn.Conv1d(2, 4, 5, stride=2, padding=2), (3, 2, 13)),
        (nn.Conv2d(3, 5, 3, stride=2, padding=1), (2, 3, 9, 7)),
        (nn.Conv2d(4, 6, 1, stride=2, padding=0), (2, 4, 8, 8)),
    ],
)
def test_im2col_conv_matches_library(conv: nn.Conv1d | nn.Conv2d, shape: tuple[int, ...]) -> None:
    x = torch.randn(*shape, requires_grad=True)
    ref = conv(x)
    y = conv_im2col(x, conv.weight, conv.bias, conv.stride[0], int(conv.padding[0]))  # type: ignore[arg-type]
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    (gx_ref,) = torch.autograd.grad(ref.square().sum(), x)
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-4, atol=1e-4)


def test_im2col_conv_keeps_channels_last() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=1, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(2, 4, 7, 5).contiguous(memory_format=torch.channels_last)
    y = conv_im2col(x, conv.weight, conv.bias, 1, 1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, conv(x), rtol=1e-5, atol=1e-5)


def test_autoselect_keeps_parameters_and_function() -> None:
    torch.manual_seed(0)
    net = compile_network(seed_tree("resnet18"), (3, 16, 16), 10)
    x = torch.randn(2, 3, 16, 16)
    net.eval()
    ref = net(x)
    keys = list(net.state_dict())
    n = autoselect_convs(net, forced="im2col")
    assert n == sum(isinstance(m, (AutoConv1d, AutoConv2d)) for m in net.modules()) > 0
    assert list(net.state_dict()) == keys
    torch.testing.assert_close(net(x), ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError):
        autoselect_convs(net, forced="fft")


def test_autoselect_on_cpu_is_the_library_convolution() -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(1, 4, 3, padding=1)
    x = torch.randn(2, 1, 10)
    ref = conv(x)
    seq = nn.Sequential(conv)
    autoselect_convs(seq)
    assert torch.equal(seq(x), ref)  # bitwise: CPU results unchanged


def test_select_impl_times_once_per_signature() -> None:
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 6, 6)
    before = len(CHOICES)
    choice = select_impl(conv, x)
    assert choice in ("cudnn", "im2col")
    assert len(CHOICES) == before + 1
    assert select_impl(conv, x) == choice and len(CHOICES) == before + 1
    with torch.no_grad():  # forward-only is another signature
        select_impl(conv, x)
    assert len(CHOICES) == before + 2


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 8, 3, padding=1),
        nn.BatchNorm1d(8),
        nn.LeakyReLU(),
        nn.Flatten(),
        nn.Linear(8 * 12, 3),
    )


def test_train_step_equals_torch_sgd() -> None:
    x = torch.randn(64, 1, 12)
    y = torch.randint(0, 3, (64,))
    a, b = _net(), _net()
    opt = torch.optim.SGD(a.parameters(), lr=0.04, momentum=0.9, weight_decay=3e-4)
    step = TrainStep(b, x, y, lr=0.04, momentum=0.9, weight_decay=3e-4, graph=True)
    gen = torch.Generator().manual_seed(0)
    for i in range(6):
        if i == 3:
            for g in opt.param_groups:
                g["lr"] = 0.01
            step.set_lr(0.01)
        idx = torch.randperm(64, generator=gen)[:16]
        opt.zero_grad()
        loss_a = F.cross_entropy(a(x[idx]), y[idx])
        loss_a.backward()
        opt.step()
        loss_b = step(idx)
        assert torch.equal(loss_a.detach(), loss_b)
    assert step.graph is None  # no CUDA graphs on CPU
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    step.close()


def test_train_step_bf16_autocast_runs() -> None:
    x = torch.randn(32, 1, 12)
    y = torch.randint(0, 3, (32,))
    step = TrainStep(_net(), x, y, lr=0.04, amp=torch.bfloat16)
    losses = [float(step(torch.arange(16))) for _ in range(3)]
    assert all(math.isfinite(v) for v in losses)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_mnist1d(cache=tmp_path_factory.getbasetemp() / "einnas_cache").subset(300)


def test_step_loop_on_cpu_matches_plain_loop(small: Dataset) -> None:
    arch = seed_text("cnn1d")
    plain = train_and_evaluate(arch, small, TrainingConfig(epochs=2, num_threads=2), seed=1)
    steps = train_and_evaluate(
        arch, small, TrainingConfig(epochs=2, num_threads=2, cuda_graphs="on"), seed=1
    )
    assert plain.ok and steps.ok
    assert steps.val_curve == plain.val_curve
    assert steps.train_loss == pytest.approx(plain.train_loss, rel=1e-6)


def test_step_loop_bf16_channels_last_conv_select_on_cpu(small: Dataset) -> None:
    cfg = TrainingConfig(epochs=1, num_threads=2, amp="on", channels_last="on", conv_select="on")
    r = train_and_evaluate(arch := seed_text("cnn1d"), small, cfg, seed=0)
    assert r.ok, r.error
    assert r.val is not None and 0.0 <= r.val <= 100.0
    final = train_and_evaluate(arch, small, cfg, seed=0, final=True)
    assert final.ok and final.test is not None


def test_gpu_plan() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert gpu_plan(TrainingConfig(), 10**6, (1, 40), cpu) is None
    small_net = gpu_plan(TrainingConfig(), 10**6, (1, 40), cuda)
    assert small_net is not None
    assert small_net.amp is None and not small_net.channels_last
    assert small_net.cuda_graphs and small_net.conv_select
    big = gpu_plan(TrainingConfig(), 10**9, (3, 32, 32), cuda)
    assert big is not None and big.amp == torch.bfloat16 and big.channels_last
    assert big.cudnn_benchmark and not small_net.cudnn_benchmark
    off = gpu_plan(
        TrainingConfig(amp="off", cuda_graphs="off", conv_select="off"), 10**9, (3, 32, 32), cuda
    )
    assert off is not None and off.amp is None and not off.channels_last
    assert not off.cuda_graphs and not off.conv_select
    forced = gpu_plan(TrainingConfig(cuda_graphs="on"), 10**6, (1, 40), cpu)
    assert forced is not None and not forced.cuda_graphs  # graphs need CUDA
    with pytest.raises(ValueError):
        TrainingConfig(amp="maybe")  # type: ignore[arg-type]


def test_cuda_out_of_memory_fails_the_trial_only(
    small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import einnas.evaluators.training as training

    def boom(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(training, "_train_steps", boom)
    r = train_and_evaluate(TINY, small, TrainingConfig(epochs=1, cuda_graphs="on"), seed=0)
    assert not r.ok and r.failure == "oom" and r.model is None
    assert r.error is not None and r.error.startswith("CUDA out of memory")
    ev = r.to_eval_result()
    assert not ev.ok and ev.error == r.error
    monkeypatch.undo()
    again = train_and_evaluate(TINY, small, TrainingConfig(epochs=1, cuda_graphs="on"), seed=0)
    assert again.ok


def test_worker_hook_sets_shared_workers() -> None:
    import einnas.evaluators.training as training

    ev = TrainingEvaluator("mnist1d", TrainingConfig())
    try:
        ev.worker_started(4)
        assert training._SHARED_WORKERS == 4
    finally:
        share_device(1)


def test_mnist1d_cache_read_without_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.metadata

    import einnas.data.datasets as datasets

    rng = np.random.default_rng(0)
    arrays = {
        "x": rng.normal(size=(50, 40)).astype(np.float32),
        "y": (np.arange(50) % 10).astype(np.int64),
        "x_test": rng.normal(size=(10, 40)).astype(np.float32),
        "y_test": (np.arange(10) % 10).astype(np.int64),
    }
    np.savez(tmp_path / "mnist1d-v1-0.0.2.post1-n5000-s42.npz", **arrays)  # type: ignore[arg-type]

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    def no_generator(*args: object) -> None:
        raise AssertionError("must not generate (no mnist1d package)")

    monkeypatch.setattr(importlib.metadata, "version", missing)
    monkeypatch.setattr(datasets, "_generate_mnist1d", no_generator)
    d = load_mnist1d(cache=tmp_path)
    assert d.sizes == (40, 10, 10) and d.input_shape == (1, 40)
