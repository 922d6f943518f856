"""A benchmark-grade latency timer for a network's forward pass.

:func:`measure_latency` runs ``warmup`` untimed forward passes, then ``repeats`` timed ones, on
a fixed batch of ``batch_size`` zero inputs in eval mode under ``torch.inference_mode``; each
timed pass is bracketed by a device synchronisation on CUDA.  It reports the **median** in
milliseconds (robust to the odd slow pass on a shared machine) with the interquartile range and
the settings, so a recorded number says what it measured.  On CPU the thread count is the
process's (``torch.get_num_threads()``, recorded): latencies are comparable only between runs
with the same setting.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["LatencyResult", "measure_latency"]


@dataclass(frozen=True)
class LatencyResult:
    median_ms: float
    iqr_ms: float
    batch_size: int
    warmup: int
    repeats: int
    device: str
    threads: int

    def metrics(self) -> dict[str, Any]:
        """The trial metrics: ``latency_ms`` (median) and ``latency`` (the settings)."""
        return {"latency_ms": self.median_ms, "latency_info": asdict(self)}


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 1,
    warmup: int = 5,
    repeats: int = 20,
    device: torch.device | str | None = None,
) -> LatencyResult:
    """Median forward latency of ``model`` on a ``(batch_size, *input_shape)`` batch."""
    if batch_size < 1 or warmup < 0 or repeats < 1:
        raise ValueError("batch_size and repeats must be >= 1 and warmup >= 0")
    if device is None:
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
    dev = torch.device(device)
    x = torch.zeros((batch_size, *input_shape), device=dev)
    was_training = model.training
    model.eval()
    cuda = dev.type == "cuda"
    times: list[float] = []
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                if cuda:
                    torch.cuda.synchronize(dev)
                t0 = time.perf_counter()
                model(x)
                if cuda:
                    torch.cuda.synchronize(dev)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1000.0)
    finally:
        model.train(was_training)
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return LatencyResult(
        median_ms=float(statistics.median(times)),
        iqr_ms=float(q[2] - q[0]),
        batch_size=batch_size,
        warmup=warmup,
        repeats=repeats,
        device=str(dev),
        threads=torch.get_num_threads(),
    )
