"""Size limits checked from a tree's exact analysis *before* anything is allocated.

A text such as ``computation[linear100000000]`` or ``routing[im2col(3,1,99999999), ...]`` is a
valid derivation that would ask PyTorch for gigabytes (or exabytes) of memory.  Shape inference
(:func:`einnas.grammar.analyze`) gives the exact parameter count, the largest per-example tensor
and the number of compiled nodes without building anything, so a tree over a limit is refused
with :class:`SizeLimitError` naming the quantity, its value and how to raise the limit.

The limits default to :data:`DEFAULT_MAX_PARAMS`, :data:`DEFAULT_MAX_ACTIVATION_BYTES` and
:data:`DEFAULT_MAX_COMPILED_NODES`; the environment variables ``EINNAS_MAX_PARAMS``,
``EINNAS_MAX_ACTIVATION_BYTES`` and ``EINNAS_MAX_COMPILED_NODES`` override the defaults (and so
reach worker processes too); the CLI flags ``--max-params`` / ``--max-activation-bytes`` of
``check`` and ``train`` and the ``limits`` argument of ``compile_network`` override both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from einnas.grammar.inference import Analysis, network_params

__all__ = [
    "BYTES_PER_ELEMENT",
    "DEFAULT_MAX_ACTIVATION_BYTES",
    "DEFAULT_MAX_COMPILED_NODES",
    "DEFAULT_MAX_PARAMS",
    "ENV_MAX_ACTIVATION_BYTES",
    "ENV_MAX_COMPILED_NODES",
    "ENV_MAX_PARAMS",
    "SizeLimitError",
    "SizeLimits",
]

#: Parameters of a network (backbone + head): 100 M float32 weights are 400 MB, and training
#: keeps gradients and momentum as well (four times the ResNet-50 count).
DEFAULT_MAX_PARAMS = 100_000_000
#: Largest tensor between two operations, per example, in bytes (float32): 256 MiB, eight times
#: the sampler's default activation budget (``Budget.max_activation``, 2**23 elements).
DEFAULT_MAX_ACTIVATION_BYTES = 1 << 28
#: Modules of the compiled network (a shared b = 4/8 structure counted b times): nested b = 8
#: branchings multiply quickly, and each compiled node is a PyTorch module.
DEFAULT_MAX_COMPILED_NODES = 200_000

ENV_MAX_PARAMS = "EINNAS_MAX_PARAMS"
ENV_MAX_ACTIVATION_BYTES = "EINNAS_MAX_ACTIVATION_BYTES"
ENV_MAX_COMPILED_NODES = "EINNAS_MAX_COMPILED_NODES"

BYTES_PER_ELEMENT = 4  # float32


class SizeLimitError(ValueError):
    """A tree whose exact size (parameters, activations, compiled nodes) is over a limit."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r}: expected a positive integer")
    return value


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class SizeLimits:
    """Largest network that may be built: parameters, per-example activation bytes, nodes."""

    max_params: int = DEFAULT_MAX_PARAMS
    max_activation_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES
    max_compiled_nodes: int = DEFAULT_MAX_COMPILED_NODES

    def __post_init__(self) -> None:
        for name in ("max_params", "max_activation_bytes", "max_compiled_nodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_env(
        cls,
        max_params: int | None = None,
        max_activation_bytes: int | None = None,
        max_compiled_nodes: int | None = None,
    ) -> SizeLimits:
        """The defaults, overridden by the environment, overridden by the arguments given."""
        return cls(
            max_params if max_params is not None else _env_int(ENV_MAX_PARAMS, DEFAULT_MAX_PARAMS),
            max_activation_bytes
            if max_activation_bytes is not None
            else _env_int(ENV_MAX_ACTIVATION_BYTES, DEFAULT_MAX_ACTIVATION_BYTES),
            max_compiled_nodes
            if max_compiled_nodes is not None
            else _env_int(ENV_MAX_COMPILED_NODES, DEFAULT_MAX_COMPILED_NODES),
        )

    @contextlib.contextmanager
    def in_env(self) -> Iterator[None]:
        """Within the block, these are the default limits of this process and of the processes
        it starts (through the environment); the previous environment is restored after."""
        values = {
            ENV_MAX_PARAMS: str(self.max_params),
            ENV_MAX_ACTIVATION_BYTES: str(self.max_activation_bytes),
            ENV_MAX_COMPILED_NODES: str(self.max_compiled_nodes),
        }
        before = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def violations(self, analysis: Analysis, num_classes: int | None = None) -> list[str]:
        """What ``analysis`` exceeds, in words (empty when it fits).

        With ``num_classes`` the parameters are the network's (backbone + head), else the
        backbone's.
        """
        a = analysis
        params = network_params(a, num_classes) if num_classes is not None else a.params
        found: list[str] = []
        if params > self.max_params:
            found.append(
                f"{params:,} parameters ({_human_bytes(params * BYTES_PER_ELEMENT)} of float32 "
                f"weights) > the limit of {self.max_params:,} "
                f"(raise it with --max-params or {ENV_MAX_PARAMS})"
            )
        act = a.max_activation * BYTES_PER_ELEMENT
        if act > self.max_activation_bytes:
            found.append(
                f"a tensor of {a.max_activation:,} elements per example "
                f"({_human_bytes(act)}) > the limit of {self.max_activation_bytes:,} bytes "
                f"(raise it with --max-activation-bytes or {ENV_MAX_ACTIVATION_BYTES})"
            )
        if a.compiled_nodes > self.max_compiled_nodes:
            found.append(
                f"{a.compiled_nodes:,} compiled nodes (shared b = 4/8 structures built b times) "
                f"> the limit of {self.max_compiled_nodes:,} (raise it with {ENV_MAX_COMPILED_NODES})"
            )
        return found

    def check(self, analysis: Analysis, num_classes: int | None = None) -> None:
        """Raise :class:`SizeLimitError` if ``analysis`` exceeds a limit."""
        found = self.violations(analysis, num_classes)
        if found:
            raise SizeLimitError("architecture too large to build: " + "; ".join(found))
