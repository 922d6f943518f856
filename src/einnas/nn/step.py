"""One SGD training step as an object that can be replayed from a CUDA graph.

:class:`TrainStep` runs forward, cross-entropy, backward and an SGD update (momentum, weight
decay, no dampening, as ``torch.optim.SGD``) on the batch ``x_all[idx], y_all[idx]``, optionally
under bf16 autocast.  The step has no host synchronisation and no data-dependent control flow: the
batch is gathered on the device from a static index buffer and the learning rate lives in a
device tensor, so with ``graph=True`` (CUDA only) the whole step is captured once into a
``torch.cuda.CUDAGraph`` after ``warmup`` eager steps and every later step is one graph replay —
hundreds of small kernel launches become one.  This is what makes tiny networks (the search's
candidates, ResNet-18 at batch 256) fast on a GPU, where they are bound by launch overhead.

A step whose batch size differs from the captured one runs eagerly.  If capturing fails (an
operation that cannot be captured), the step falls back to eager execution for good
(:attr:`TrainStep.graph_error` says why).  On CPU the step is plain eager PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TrainStep"]


class TrainStep:
    """Forward + cross-entropy + backward + SGD on ``x_all[idx], y_all[idx]``.

    ``amp`` is the autocast dtype (``None``: full precision).  ``graph`` asks for CUDA-graph
    replay (ignored off CUDA).  Call with a 1-D index tensor (on any device); returns the step's
    loss as a 0-d device tensor (with graphs, the same tensor every call: use it before the next
    call).
    """

    def __init__(
        self,
        model: nn.Module,
        x_all: Tensor,
        y_all: Tensor,
        *,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        amp: torch.dtype | None = None,
        graph: bool = False,
        warmup: int = 3,
    ) -> None:
        self.model = model
        self.x_all = x_all
        self.y_all = y_all
        self.device = x_all.device
        # a gathered batch is plain contiguous: keep channels-last data channels-last
        self.channels_last = (
            x_all.dim() == 4
            and x_all.is_contiguous(memory_format=torch.channels_last)
            and not x_all.is_contiguous()
        )
        self.params: list[Tensor] = [p for p in model.parameters() if p.requires_grad]
        self.bufs = [torch.zeros_like(p) for p in self.params]
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr = float(lr)
        self.lr_t = torch.tensor(self.lr, dtype=torch.float32, device=self.device)
        self.amp = amp
        self.graph_wanted = graph and self.device.type == "cuda"
        self.warmup = max(1, warmup)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_error: str | None = None
        self.batch_size: int | None = None
        self.idx: Tensor | None = None
        self.static_loss: Tensor | None = None
        self._side: torch.cuda.Stream | None = None

    def set_lr(self, lr: float) -> None:
        """Set the learning rate for the next steps (no host synchronisation)."""
        self.lr = float(lr)
        self.lr_t.fill_(self.lr)

    @contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.amp is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.amp, cache_enabled=False):
            yield

    def _body(self, idx: Tensor, in_graph: bool) -> Tensor:
        for p in self.params:
            p.grad = None
        xb = self.x_all.index_select(0, idx)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yb = self.y_all.index_select(0, idx)
        with self._autocast():
            loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()  # type: ignore[no-untyped-call]
        self._sgd(in_graph)
        return loss.detach()

    @torch.no_grad()
    def _sgd(self, in_graph: bool) -> None:
        """``torch.optim.SGD``'s update (dampening 0, not Nesterov) with foreach kernels."""
        pairs = [(p, b) for p, b in zip(self.params, self.bufs) if p.grad is not None]
        if not pairs:
            return
        params: list[Tensor] = [p for p, _ in pairs]
        bufs = [b for _, b in pairs]
        grads = [p.grad for p in params]
        assert all(g is not None for g in grads)
        g_list: list[Tensor] = [g for g in grads if g is not None]
        if self.weight_decay:
            torch._foreach_add_(g_list, params, alpha=self.weight_decay)
        if self.momentum:
            torch._foreach_mul_(bufs, self.momentum)
            torch._foreach_add_(bufs, g_list)
            update = bufs
        else:
            update = g_list
        if in_graph:  # the learning rate is read from the device at every replay
            torch._foreach_sub_(params, list(torch._foreach_mul(update, self.lr_t)))  # type: ignore[arg-type]
        else:
            torch._foreach_add_(params, update, alpha=-self.lr)

    def _eager(self, idx: Tensor) -> Tensor:
        if not self.graph_wanted:
            return self._body(idx, in_graph=False)
        # warm-up before a capture runs on a side stream, as torch.cuda.graphs asks
        if self._side is None:
            self._side = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        side = self._side
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            loss = self._body(idx, in_graph=False)
        torch.cuda.current_stream(self.device).wait_stream(side)
        return loss

    def _capture(self, idx: Tensor) -> None:
        self.idx = idx.to(self.device).clone()
        self.batch_size = int(idx.numel())
        graph = torch.cuda.CUDAGraph()
        for p in self.params:
            p.grad = None
        try:
            with torch.cuda.graph(graph):
                self.static_loss = self._body(self.idx, in_graph=True)
        except Exception as e:  # an operation that cannot be captured: stay eager
            self.graph_error = f"{type(e).__name__}: {e}"
            self.graph_wanted = False
            self.static_loss = None
            for p in self.params:
                p.grad = None
            torch.cuda.synchronize(self.device)
            return
        self.graph = graph

    def __call__(self, idx: Tensor) -> Tensor:
        self.calls += 1
        if self.graph is not None and idx.numel() == self.batch_size:
            assert self.idx is not None and self.static_loss is not None
            self.idx.copy_(idx, non_blocking=True)
            self.graph.replay()
            return self.static_loss
        if self.graph_wanted and self.graph is None and self.calls > self.warmup:
            self._capture(idx)
            if self.graph is not None:  # capturing records the step without running it
                self.graph.replay()
                assert self.static_loss is not None
                return self.static_loss
        return self._eager(idx.to(self.device, non_blocking=True))

    def close(self) -> None:
        """Release the graph and its memory pool."""
        self.graph = None
        self.static_loss = None
        self.idx = None
        for p in self.params:
            p.grad = None
