"""The state that flows along a derivation: a feature's mode and shape (batch dimension excluded).

einspace has two feature modes (einspace.md §2.1):

* ``im`` — channel-first images, ``(C, H, W)`` in the 2D space and ``(C, L)`` in the 1D space;
* ``col`` — token sequences ``(S, D)`` (produced by ``im2col``, consumed by ``col2im``).

Shapes here never include the batch dimension; the torch tensors carry it in front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["im", "col"]


class ShapeError(ValueError):
    """An operation cannot be applied to a feature of this mode and shape."""


@dataclass(frozen=True, slots=True)
class Feature:
    """Mode and per-example shape of the tensor between two operations."""

    mode: Mode
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_shape(self, shape: tuple[int, ...]) -> Feature:
        return Feature(self.mode, shape)

    def __str__(self) -> str:
        return f"{self.mode}{list(self.shape)}"


def input_feature(shape: tuple[int, ...]) -> Feature:
    """The feature of a network input: ``(C, H, W)`` (2D) or ``(C, L)`` (1D), in ``im`` mode."""
    if len(shape) not in (2, 3) or any(int(d) <= 0 for d in shape):
        raise ShapeError(
            f"input shape {shape!r} is not supported: give C,H,W for images (e.g. 3,28,28) "
            "or C,L for sequences (e.g. 1,40), all positive"
        )
    return Feature("im", tuple(int(d) for d in shape))


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse a comma separated shape such as ``"3,28,28"`` (also accepts ``x`` as separator)."""
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ShapeError(
            f"cannot read shape {text!r}: expected integers like 3,28,28 or 1,40"
        ) from None
    input_feature(shape)
    return shape
