"""The CUDA training path on a GPU (every test skips cleanly without one).

benchmarks/gpu_check.sh runs this file on the GPU machine; tests/nn/test_gpu_paths.py runs the
same code paths on CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from einnas.evaluators.base import EvalTask
from einnas.evaluators.training import TrainingConfig, TrainingEvaluator, train_and_evaluate
from einnas.executors.pool import ProcessPoolExecutor
from einnas.nn.compile import compile_network
from einnas.nn.convselect import CHOICES, AutoConv2d, autoselect_convs, select_impl
from einnas.nn.step import TrainStep
from einnas.seeds import seed_text, seed_tree

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 16, 3, padding=1),
        nn.BatchNorm1d(16),
        nn.LeakyReLU(),
        nn.Flatten(),
        nn.Linear(16 * 40, 10),
    )


def test_graph_step_matches_eager_step() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(512, 1, 40, generator=gen).to(CUDA)
    y = torch.randint(0, 10, (512,), generator=gen).to(CUDA)
    eager = TrainStep(_net().to(CUDA), x, y, lr=0.04, momentum=0.9, weight_decay=3e-4)
    graph = TrainStep(
        _net().to(CUDA), x, y, lr=0.04, momentum=0.9, weight_decay=3e-4, graph=True, warmup=2
    )
    for i in range(8):
        if i == 5:
            eager.set_lr(0.01)
            graph.set_lr(0.01)
        idx = torch.randperm(512, generator=gen)[:128].to(CUDA)
        a = eager(idx).clone()
        b = graph(idx).clone()
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    assert graph.graph is not None and graph.graph_error is None
    for p, q in zip(eager.model.parameters(), graph.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-2, atol=1e-3)
    graph.close()


def test_resnet18_bf16_channels_last_graph_step() -> None:
    torch.manual_seed(0)
    net = compile_network(seed_tree("resnet18"), (3, 32, 32), 10)
    autoselect_convs(net)
    net = net.to(CUDA).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randn(64, 3, 32, 32, device=CUDA).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,), device=CUDA)
    step = TrainStep(net, x, y, lr=0.04, momentum=0.9, amp=torch.bfloat16, graph=True)
    idx = torch.arange(64, device=CUDA)
    losses = [float(step(idx)) for _ in range(8)]
    assert step.graph is not None, step.graph_error
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[4:]) < losses[0]  # it learns the fixed batch
    step.close()


def test_conv_select_on_cuda_is_cached_and_correct() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1).to(CUDA)
    x = torch.randn(8, 16, 12, 12, device=CUDA, requires_grad=True)
    ref = F.conv2d(x, conv.weight, conv.bias, 1, 1)
    net = nn.Sequential(conv)
    autoselect_convs(net)
    assert isinstance(net[0], AutoConv2d)
    before = len(CHOICES)
    y = net(x)
    assert len(CHOICES) == before + 1 and select_impl(net[0], x) in ("cudnn", "im2col")
    net(x)
    assert len(CHOICES) == before + 1
    torch.testing.assert_close(y, ref, rtol=1e-3, atol=1e-3)


def _mnist1d_evaluator(config: TrainingConfig) -> TrainingEvaluator:
    return TrainingEvaluator("mnist1d", config, limit=600)


def test_train_and_evaluate_on_cuda() -> None:
    ev = _mnist1d_evaluator(TrainingConfig(epochs=3, device="cuda"))
    r = train_and_evaluate(seed_text("cnn1d"), ev.data, ev.config, seed=0)
    assert r.ok, r.error
    assert r.device.startswith("cuda") and r.val is not None and 0.0 <= r.val <= 100.0
    assert len(r.val_curve) == 3 and all(math.isfinite(v) for v in r.train_loss)
    assert r.train_loss[-1] < r.train_loss[0]
    final = train_and_evaluate(seed_text("cnn1d"), ev.data, ev.config, seed=0, final=True)
    assert final.ok and final.test is not None


def test_cuda_graphs_and_eager_agree_closely() -> None:
    ev = _mnist1d_evaluator(TrainingConfig(epochs=2, device="cuda"))
    arch = seed_text("cnn1d")
    a = train_and_evaluate(arch, ev.data, ev.config, seed=0)
    off = TrainingConfig(epochs=2, device="cuda", cuda_graphs="off", conv_select="off")
    b = train_and_evaluate(arch, ev.data, off, seed=0)
    assert a.ok and b.ok
    assert a.train_loss == pytest.approx(b.train_loss, rel=2e-2)


class _Hog(nn.Module):
    """Asks for 32 TiB in its forward: a real CUDA out-of-memory error."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        torch.empty(2**45, dtype=torch.uint8, device=x.device)
        y: Tensor = self.inner(x)
        return y


def test_cuda_out_of_memory_fails_the_trial_and_frees_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import einnas.evaluators.training as training

    ev = _mnist1d_evaluator(TrainingConfig(epochs=1, device="cuda"))
    arch = seed_text("cnn1d")
    train_and_evaluate(arch, ev.data, ev.config, seed=0)  # data on the device, CUDA warm
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    real = training.compile_network

    def hog(*args: object, **kwargs: object) -> nn.Module:
        return _Hog(real(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(training, "compile_network", hog)
    r = train_and_evaluate(arch, ev.data, ev.config, seed=0)
    assert not r.ok and r.failure == "oom" and r.model is None
    assert r.error is not None and r.error.startswith("CUDA out of memory")
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() <= baseline + 1_000_000
    monkeypatch.undo()
    assert train_and_evaluate(arch, ev.data, ev.config, seed=0).ok


def test_pool_workers_share_one_gpu() -> None:
    ev = _mnist1d_evaluator(TrainingConfig(epochs=1, device="cuda", num_threads=1))
    arch = seed_text("cnn1d")
    with ProcessPoolExecutor(ev, workers=2) as pool:
        futures = [pool.submit(EvalTask(i, arch, i)) for i in range(4)]
        results = [f.result() for f in futures]
    assert all(r.ok for r in results), [r.error for r in results]
    assert all(str(r.metrics["device"]).startswith("cuda") for r in results)
