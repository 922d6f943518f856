"""Per-layer choice between cuDNN's convolution and an im2col + matrix-product convolution.

A compiled network's convolutions (the fused ``routing[im2col, linear, col2im]`` and the 1D
space's ``conv1d`` terminals) are ``nn.Conv1d`` / ``nn.Conv2d`` modules.  On an accelerator the
library convolution is not always the fastest way to compute them: for the small, thin layers of
einspace networks an unfold followed by one batched matrix product (exactly the grammar's
``im2col -> linear -> col2im``) can win.  :func:`autoselect_convs` swaps every plain convolution
of a module for an :class:`AutoConv1d` / :class:`AutoConv2d` that shares its parameters; on its
first call with a given input (shape, dtype, autocast dtype, memory format, device, training or
not) it times both implementations (forward, plus backward when gradients are on) and caches the
faster one for the process (:data:`CHOICES`).  Every later layer of the same signature, in this or
any other network of the process, reuses the choice.

On CPU the modules call the library convolution unchanged, so CPU results are exactly those of
``nn.Conv1d`` / ``nn.Conv2d``.  While a CUDA graph is being captured nothing is timed (the
library convolution is used for a signature not yet measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CHOICES",
    "IMPLS",
    "AutoConv1d",
    "AutoConv2d",
    "autoselect_convs",
    "conv_im2col",
    "select_impl",
]

IMPLS = ("cudnn", "im2col")
"""The two implementations: the library convolution (cuDNN on CUDA) and im2col + matmul."""

CHOICES: dict[tuple[Any, ...], str] = {}
"""Process-wide cache: layer signature -> the faster implementation."""

TIMING_REPEATS = 3


def conv_im2col(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int
) -> Tensor:
    """The convolution ``F.conv{1,2}d(x, weight, bias, stride, padding)`` as unfold + matmul."""
    out_ch = weight.shape[0]
    w = weight.reshape(out_ch, -1)
    if x.dim() == 3:  # (B, C, L)
        batch, ch, _ = x.shape
        k = weight.shape[-1]
        xp = F.pad(x, (padding, padding)) if padding else x
        cols = xp.unfold(2, k, stride)  # (B, C, L', k)
        length = cols.shape[2]
        cols = cols.permute(0, 1, 3, 2).reshape(batch, ch * k, length)  # (c, tap) order
        y = torch.matmul(w, cols)  # (B, O, L')
        if bias is not None:
            y = y + bias.view(1, out_ch, 1).to(y.dtype)
        return y
    batch, _, h, wd = x.shape
    kh, kw = weight.shape[-2:]
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C*kh*kw, L)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        # channels-last in, channels-last out: (B, L, O) is already the NHWC layout
        yt = torch.matmul(cols.transpose(1, 2), w.t())
        if bias is not None:
            yt = yt + bias.to(yt.dtype)
        return yt.view(batch, ho, wo, out_ch).permute(0, 3, 1, 2)
    y = torch.matmul(w, cols)
    if bias is not None:
        y = y + bias.view(1, out_ch, 1).to(y.dtype)
    return y.view(batch, out_ch, ho, wo)


def _signature(conv: nn.Conv1d | nn.Conv2d, x: Tensor) -> tuple[Any, ...]:
    amp: Any = None
    if torch.is_autocast_enabled(x.device.type):
        amp = torch.get_autocast_dtype(x.device.type)
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    return (
        x.dim(),
        tuple(x.shape),
        tuple(conv.weight.shape),
        conv.stride[0],
        conv.padding[0],
        conv.bias is not None,
        x.dtype,
        amp,
        channels_last,
        str(x.device),
        torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_impl(
    fn: Callable[[Tensor, Tensor, Tensor | None], Tensor],
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    backward: bool,
) -> float:
    """Median seconds of ``fn`` (forward, and backward when asked) on copies of the inputs."""
    xd = x.detach().requires_grad_(backward and x.requires_grad)
    wd = weight.detach().requires_grad_(backward)
    bd = None if bias is None else bias.detach().requires_grad_(backward)
    times: list[float] = []
    for i in range(TIMING_REPEATS + 1):  # the first run warms up (cuDNN's algorithm search, ...)
        _sync(x.device)
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            y = fn(xd, wd, bd)
            if backward:
                y.backward(torch.ones_like(y))  # type: ignore[no-untyped-call]
        _sync(x.device)
        if i:
            times.append(time.perf_counter() - start)
        wd.grad = None
        xd.grad = None
        if bd is not None:
            bd.grad = None
    times.sort()
    return times[len(times) // 2]


def select_impl(conv: nn.Conv1d | nn.Conv2d, x: Tensor) -> str:
    """The faster implementation of ``conv`` on ``x`` (timed once per signature, then cached)."""
    key = _signature(conv, x)
    choice = CHOICES.get(key)
    if choice is not None:
        return choice
    if x.is_cuda and torch.cuda.is_current_stream_capturing():
        return "cudnn"  # nothing can be timed inside a graph capture
    stride, padding = conv.stride[0], int(conv.padding[0])  # type: ignore[arg-type]
    library = F.conv1d if x.dim() == 3 else F.conv2d

    def lib(xx: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return library(xx, w, b, stride, padding)

    def unfold(xx: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        return conv_im2col(xx, w, b, stride, padding)

    backward = bool(key[-1])
    t_lib = _time_impl(lib, x, conv.weight, conv.bias, backward)
    t_unfold = _time_impl(unfold, x, conv.weight, conv.bias, backward)
    choice = "im2col" if t_unfold < t_lib else "cudnn"
    CHOICES[key] = choice
    return choice


def _supported(conv: nn.Module) -> bool:
    """A plain convolution (no groups, no dilation, zero padding, equal strides and paddings)."""
    if type(conv) not in (nn.Conv1d, nn.Conv2d):
        return False
    assert isinstance(conv, (nn.Conv1d, nn.Conv2d))
    return (
        conv.groups == 1
        and all(d == 1 for d in conv.dilation)
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and len(set(conv.stride)) == 1
        and len(set(conv.padding)) == 1
    )


class AutoConv1d(nn.Conv1d):
    """``nn.Conv1d`` that, on an accelerator, runs the faster of cuDNN and im2col + matmul."""

    forced: str | None = None

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and self.forced is None:
            return super().forward(x)
        impl = self.forced or select_impl(self, x)
        if impl == "im2col":
            return conv_im2col(x, self.weight, self.bias, self.stride[0], int(self.padding[0]))  # type: ignore[arg-type]
        return super().forward(x)


class AutoConv2d(nn.Conv2d):
    """``nn.Conv2d`` that, on an accelerator, runs the faster of cuDNN and im2col + matmul."""

    forced: str | None = None

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and self.forced is None:
            return super().forward(x)
        impl = self.forced or select_impl(self, x)
        if impl == "im2col":
            return conv_im2col(x, self.weight, self.bias, self.stride[0], int(self.padding[0]))  # type: ignore[arg-type]
        return super().forward(x)


def _auto_version(conv: nn.Conv1d | nn.Conv2d, forced: str | None) -> nn.Module:
    cls: type[nn.Conv1d] | type[nn.Conv2d] = (
        AutoConv1d if isinstance(conv, nn.Conv1d) else AutoConv2d
    )
    new = cls.__new__(cls)
    new.__dict__.update(conv.__dict__)  # the same parameters, buffers and hyper-parameters
    if forced is not None:
        new.__dict__["forced"] = forced
    return new


def autoselect_convs(module: nn.Module, forced: str | None = None) -> int:
    """Swap every plain convolution inside ``module`` for its auto-selecting version, in place.

    The new modules share the old ones' parameters (same state-dict keys and values), so the
    network computes the same function.  ``forced`` ("cudnn" or "im2col") fixes the
    implementation instead of timing it.  Returns the number of convolutions swapped.
    """
    if forced is not None and forced not in IMPLS:
        raise ValueError(f"forced must be one of {IMPLS}, got {forced!r}")
    swapped = 0
    for parent in list(module.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and _supported(child):
                assert isinstance(child, (nn.Conv1d, nn.Conv2d))
                parent._modules[name] = _auto_version(child, forced)
                swapped += 1
    return swapped
