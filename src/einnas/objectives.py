"""Objectives of a multi-objective study: a metric name and a direction.

A trial's *values* are its validation number ``val`` plus the entries of its metrics (what the
evaluator returned: a tabular benchmark's ``latency`` / ``flops`` / ``params``, a training
evaluator's ``params`` / ``macs`` / ``latency_ms``, or anything a user objective returns).  An
objective names one of them and says whether it is maximised or minimised::

    parse_objectives("val:max,latency:min")
    parse_objectives("accuracy,params")      # directions default: val max, everything else min

Aliases: ``accuracy`` / ``acc`` / ``val_acc`` -> ``val``; ``flops`` and ``macs`` are separate
names, but a trial that records only one of them answers for both (NB201's and
NAS-Bench-Macro's "FLOPs" are counted as multiply-accumulates, as einspace's ``macs`` are);
``latency`` falls back to ``latency_ms`` (the training evaluator's measured latency).

Internally everything is *minimised*: :func:`to_minimisation` negates maximised values, so the
Pareto utilities (:mod:`einnas.pareto`) need no directions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALIASES",
    "Direction",
    "Objective",
    "objective_values",
    "parse_objectives",
    "to_minimisation",
]

Direction = Literal["max", "min"]

ALIASES: dict[str, str] = {
    "accuracy": "val",
    "acc": "val",
    "val_acc": "val",
    "validation": "val",
    "param": "params",
    "parameters": "params",
    "flop": "flops",
    "mac": "macs",
    "mults": "macs",
    "time": "latency",
}
"""Other spellings of the built-in objective names."""

_FALLBACKS: dict[str, tuple[str, ...]] = {
    "flops": ("flops", "macs"),
    "macs": ("macs", "flops"),
    "latency": ("latency", "latency_ms"),
    "latency_ms": ("latency_ms", "latency"),
}


@dataclass(frozen=True)
class Objective:
    """One objective: the metric ``name`` and whether it is maximised or minimised."""

    name: str
    direction: Direction = "min"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"an objective needs a name, got {self.name!r}")
        if self.direction not in ("max", "min"):
            raise ValueError(
                f"direction of {self.name!r} must be max or min, not {self.direction!r}"
            )

    @property
    def sign(self) -> float:
        """``-1`` for a maximised objective (so that minimisation applies), ``+1`` otherwise."""
        return -1.0 if self.direction == "max" else 1.0

    def __str__(self) -> str:
        return f"{self.name}:{self.direction}"

    def value(self, val: float | None, metrics: Mapping[str, Any]) -> float | None:
        """This objective's value of a trial, or ``None`` when the trial does not record it."""
        if self.name == "val":
            return None if val is None or not math.isfinite(val) else float(val)
        for key in _FALLBACKS.get(self.name, (self.name,)):
            x = metrics.get(key)
            if isinstance(x, bool) or not isinstance(x, int | float):
                continue
            if math.isfinite(float(x)):
                return float(x)
        return None


def parse_objectives(spec: str | Sequence[str | Objective]) -> tuple[Objective, ...]:
    """Objectives from ``"val:max,latency:min"`` (or a list of such items / Objectives).

    A name without a direction is maximised if it is ``val`` and minimised otherwise.

    Raises:
        ValueError: an empty list, a bad direction, or a name given twice.
    """
    items: Iterable[str | Objective]
    items = spec.split(",") if isinstance(spec, str) else spec
    out: list[Objective] = []
    for item in items:
        if isinstance(item, Objective):
            out.append(item)
            continue
        text = item.strip()
        if not text:
            continue
        name, _, direction = text.partition(":")
        name = name.strip().lower().replace("-", "_")
        name = ALIASES.get(name, name)
        direction = direction.strip().lower()
        if direction in ("", None):
            direction = "max" if name == "val" else "min"
        if direction in ("maximise", "maximize", "maximum"):
            direction = "max"
        if direction in ("minimise", "minimize", "minimum"):
            direction = "min"
        if direction not in ("max", "min"):
            raise ValueError(f"objective {text!r}: direction must be max or min")
        out.append(Objective(name, direction))  # type: ignore[arg-type]
    if not out:
        raise ValueError(f"no objectives in {spec!r} (e.g. 'val:max,latency:min')")
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise ValueError(f"an objective is listed twice in {', '.join(names)}")
    return tuple(out)


def objective_values(
    objectives: Sequence[Objective], val: float | None, metrics: Mapping[str, Any] | None
) -> tuple[float, ...] | None:
    """The trial's values in objective order (as recorded), or ``None`` if any is missing."""
    m = metrics or {}
    out: list[float] = []
    for o in objectives:
        v = o.value(val, m)
        if v is None:
            return None
        out.append(v)
    return tuple(out)


def to_minimisation(
    values: npt.ArrayLike, objectives: Sequence[Objective]
) -> npt.NDArray[np.float64]:
    """``values`` (rows of objective values) with maximised columns negated."""
    arr = np.asarray(values, dtype=np.float64)
    signs = np.asarray([o.sign for o in objectives], dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, len(objectives))
    return arr * signs
