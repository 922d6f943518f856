"""Export a compiled einspace network: ONNX (validated with onnxruntime) or a self-describing
PyTorch file.

:func:`export_onnx` writes opset 17 with a dynamic batch axis when the exporter manages it (a
fixed batch otherwise), then runs the file with onnxruntime on a random batch and compares the
logits with PyTorch's; a difference above :data:`ONNX_TOLERANCE` raises.  :func:`export_torch`
saves ``{"arch", "input_shape", "num_classes", "state_dict"}``, enough to rebuild the network
with :func:`einnas.nn.compile.compile_network` and load its weights (:func:`load_torch`).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from einnas.grammar import parse, to_text
from einnas.nn.compile import Network, compile_network
from einnas.nn.ops import Im2Col1d

__all__ = ["ONNX_TOLERANCE", "ExportError", "export_onnx", "export_torch", "load_torch"]

ONNX_TOLERANCE = 1e-4
"""Largest accepted absolute difference between ONNX Runtime's and PyTorch's logits."""


class ExportError(ValueError):
    """The exported model does not reproduce the PyTorch network."""


class _Im2Col1dGather(torch.nn.Module):
    """:class:`Im2Col1d` with a gather instead of ``Tensor.unfold`` (which the TorchScript ONNX
    exporter cannot export after a pad); the same values in the same order."""

    def __init__(self, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = torch.nn.functional.pad(x, (self.padding, self.padding))
        length = int(x.shape[2])  # fixed by the network's input shape: a constant in the export
        n_out = (length - self.kernel) // self.stride + 1
        idx = (
            torch.arange(n_out, device=x.device)[:, None] * self.stride
            + torch.arange(self.kernel, device=x.device)[None, :]
        )
        # (B, C, L', k) -> (B, L', C, k) -> (B, L', C*k)
        return x[:, :, idx].transpose(1, 2).flatten(2)


def _exportable(net: Network) -> Network:
    """``net`` itself, or a copy with its 1D im2col modules replaced by exportable ones."""
    if not any(isinstance(m, Im2Col1d) for m in net.modules()):
        return net
    twin = copy.deepcopy(net)
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Im2Col1d):
                setattr(parent, name, _Im2Col1dGather(child.kernel, child.stride, child.padding))
    return twin


def _export(net: Network, x: torch.Tensor, path: Path, dynamic: bool) -> None:
    kwargs: dict[str, Any] = {
        "opset_version": 17,
        "input_names": ["input"],
        "output_names": ["logits"],
        "dynamo": False,  # the TorchScript exporter needs no onnxscript
    }
    if dynamic:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), **kwargs)


def _max_diff(session: Any, net: Network, x: torch.Tensor) -> float:
    with torch.no_grad():
        expected = net(x).detach().cpu().numpy()
    got = session.run(None, {"input": x.cpu().numpy()})[0]
    if got.shape != expected.shape:
        raise ExportError(f"ONNX output shape {got.shape} != PyTorch output shape {expected.shape}")
    return float(abs(got - expected).max()) if expected.size else 0.0


def export_onnx(net: Network, path: str | os.PathLike[str], batch: int = 2, seed: int = 0) -> float:
    """Write ``net`` as ONNX (opset 17) to ``path`` and validate it with onnxruntime.

    Returns the largest absolute logit difference between ONNX Runtime and PyTorch on a random
    batch of ``batch`` examples (generated with ``seed``); raises :class:`ExportError` if it is
    above :data:`ONNX_TOLERANCE`.  The batch axis is dynamic when the export supports it (then a
    batch of ``batch + 1`` is checked too).
    """
    import onnxruntime as ort

    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = net.training
    net = net.cpu().eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *net.input_shape), generator=gen)
    try:
        exportable = _exportable(net)
        dynamic = True
        try:
            _export(exportable, x, out, dynamic=True)
        except Exception:  # any exporter failure: retry with a fixed batch
            dynamic = False
            _export(exportable, x, out, dynamic=False)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
        diff = _max_diff(session, net, x)
        if dynamic:
            x2 = torch.randn((batch + 1, *net.input_shape), generator=gen)
            try:
                diff = max(diff, _max_diff(session, net, x2))
            except ExportError:
                raise
            except Exception:  # the "dynamic" axis was not: re-export fixed
                _export(exportable, x, out, dynamic=False)
                session = ort.InferenceSession(
                    str(out), options, providers=["CPUExecutionProvider"]
                )
                diff = _max_diff(session, net, x)
    finally:
        net.train(was_training)
    if not diff <= ONNX_TOLERANCE:  # also catches NaN
        raise ExportError(
            f"ONNX Runtime and PyTorch logits differ by {diff:.3g} (> {ONNX_TOLERANCE:g})"
        )
    return diff


def export_torch(net: Network, path: str | os.PathLike[str]) -> None:
    """Save ``{"arch", "input_shape", "num_classes", "state_dict"}`` of ``net`` to ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save(
        {
            "arch": to_text(net.tree),
            "input_shape": list(net.input_shape),
            "num_classes": net.num_classes,
            "state_dict": state,
        },
        out,
    )


def load_torch(path: str | os.PathLike[str]) -> Network:
    """Rebuild the network saved by :func:`export_torch` (with its weights)."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    net = compile_network(
        parse(str(blob["arch"])), tuple(blob["input_shape"]), int(blob["num_classes"])
    )
    net.load_state_dict(blob["state_dict"])
    return net
