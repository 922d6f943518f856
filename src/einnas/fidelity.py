"""Multi-fidelity schedules: successive halving (ASHA) and Hyperband over training epochs.

A *fidelity policy* decides how much training each candidate gets.  The search loop asks it, every
time a worker is free, whether a candidate that is waiting at a rung should be *promoted* (trained
further, continuing from its checkpoint); if not, the strategy proposes a new candidate, which
starts at the policy's first rung for it.  Candidates that are never promoted end ``pruned``.

Rungs are training steps (epochs for trained networks; the fidelities a table records for
tabular benchmarks).  With ``min_step`` r, ``max_step`` R and reduction factor eta the rungs are
``r, r*eta, r*eta^2, ...`` up to R (R itself is always the last rung).

:class:`ASHA` is the asynchronous successive halving of Li et al. (2020), promotion type: a
candidate waiting at rung k is promoted once it ranks in the top ``floor(n_k / eta)`` of the
``n_k`` results recorded at rung k (the highest rung is checked first; among several promotable
candidates the best goes first).  :class:`Hyperband` runs ASHA brackets that start at different
rungs (bracket s starts at rung s; a new candidate joins the bracket chosen round-robin by its
decision index); promotion compares candidates of one bracket only.

Everything here is a pure function of the candidates' recorded results, so a resumed search makes
the same promotions from the same log.  A policy also says when a waiting candidate can *never*
be promoted any more (too many results above it for the results that can still arrive): such a
candidate is pruned at once and its checkpoint deleted, which bounds the checkpoints on disk.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASHA",
    "FIDELITY_NAMES",
    "Candidate",
    "FidelityPolicy",
    "Hyperband",
    "Promotion",
    "fidelity_from_config",
    "geometric_rungs",
    "make_fidelity",
]


def geometric_rungs(min_step: int, max_step: int, eta: float) -> tuple[int, ...]:
    """``min_step * eta^k`` (rounded) below ``max_step``, then ``max_step``."""
    if min_step < 1 or max_step < min_step:
        raise ValueError(f"need 1 <= min_step <= max_step, got {min_step} and {max_step}")
    if eta <= 1:
        raise ValueError(f"the reduction factor eta must be > 1, got {eta}")
    steps: list[int] = []
    k = 0
    while True:
        step = round(min_step * eta**k)
        if step >= max_step:
            break
        if not steps or step > steps[-1]:
            steps.append(step)
        k += 1
    steps.append(max_step)
    return tuple(steps)


@dataclass(frozen=True)
class Candidate:
    """What a policy knows about one candidate (one trial of a multi-fidelity search).

    Attributes:
        trial: the trial number.
        bracket: its Hyperband bracket (0 for ASHA).
        values: validation value at every rung it has reached (rung step -> value).
        busy: True while a job of it runs (it cannot be promoted then).
        done: True once it reached the last rung or was stopped.
    """

    trial: int
    bracket: int
    values: Mapping[int, float]
    busy: bool = False
    done: bool = False

    @property
    def step(self) -> int:
        """The highest rung reached (0: none yet)."""
        return max(self.values, default=0)


@dataclass(frozen=True)
class Promotion:
    """Train ``trial`` on from rung step ``from_step`` to ``to_step``."""

    trial: int
    from_step: int
    to_step: int


@dataclass(frozen=True)
class FidelityPolicy(ABC):
    """How much training each candidate gets (see the module docstring)."""

    rungs: tuple[int, ...] = field(default=())

    @property
    def max_step(self) -> int:
        return self.rungs[-1]

    @abstractmethod
    def bracket_of(self, decision: int) -> int:
        """The bracket a new candidate of decision index ``decision`` joins."""

    def first_step(self, bracket: int) -> int:
        """The rung a new candidate of ``bracket`` is trained to first."""
        return self.rungs[bracket]

    def next_step(self, step: int) -> int | None:
        """The rung after ``step`` (None at the last rung)."""
        later = [r for r in self.rungs if r > step]
        return later[0] if later else None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-able settings recorded in the study config."""

    @property
    @abstractmethod
    def eta(self) -> float:
        """Reduction factor."""

    def _ladders(self, candidates: Sequence[Candidate]) -> dict[tuple[int, int], list[Candidate]]:
        """``{(bracket, rung step): candidates with a value there, best first}``.

        Ties go to the lower trial number.
        """
        out: dict[tuple[int, int], list[Candidate]] = {}
        for c in candidates:
            for step in c.values:
                out.setdefault((c.bracket, step), []).append(c)
        for (_, step), group in out.items():
            group.sort(key=lambda c, s=step: (-c.values[s], c.trial))  # type: ignore[misc]
        return out

    def promotion(self, candidates: Sequence[Candidate]) -> Promotion | None:
        """The next promotion, or None: highest rung first, best value first, lowest trial on ties."""
        ladders = self._ladders(candidates)
        for bracket in sorted({c.bracket for c in candidates}):
            for step in reversed(self.rungs[:-1]):
                ranked = ladders.get((bracket, step), [])
                quota = math.floor(len(ranked) / self.eta)
                for c in ranked[:quota]:
                    if not c.busy and not c.done and c.step == step:
                        nxt = self.next_step(step)
                        assert nxt is not None
                        return Promotion(c.trial, step, nxt)
        return None

    def hopeless(self, candidates: Sequence[Candidate], arrivals: int) -> list[int]:
        """Waiting candidates that can never be promoted, whatever ``arrivals`` more results bring.

        ``arrivals`` bounds how many more results can still be recorded at any rung (new
        candidates still to be proposed plus jobs still running).  A candidate waiting at rung k
        with ``rank`` candidates of its bracket above it there needs
        ``floor((n_k + arrivals) / eta) > rank``; if even that fails it is hopeless.
        """
        out: list[int] = []
        for (_, step), ranked in self._ladders(candidates).items():
            if step == self.max_step:
                continue
            room = math.floor((len(ranked) + arrivals) / self.eta)
            for rank, c in enumerate(ranked):
                if rank < room:
                    continue
                if not c.busy and not c.done and c.step == step:
                    out.append(c.trial)
        return sorted(out)


@dataclass(frozen=True)
class ASHA(FidelityPolicy):
    """Asynchronous successive halving (promotion type), one bracket."""

    reduction: float = 3.0

    @classmethod
    def over(cls, min_step: int, max_step: int, eta: float = 3.0) -> ASHA:
        return cls(rungs=geometric_rungs(min_step, max_step, eta), reduction=eta)

    @property
    def eta(self) -> float:
        return self.reduction

    def bracket_of(self, decision: int) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {"name": "asha", "rungs": list(self.rungs), "eta": self.reduction}


@dataclass(frozen=True)
class Hyperband(FidelityPolicy):
    """Asynchronous Hyperband: ASHA brackets starting at successive rungs, round-robin."""

    reduction: float = 3.0
    brackets: int = 0  # 0: one per rung except the last

    @classmethod
    def over(cls, min_step: int, max_step: int, eta: float = 3.0, brackets: int = 0) -> Hyperband:
        rungs = geometric_rungs(min_step, max_step, eta)
        n = brackets or max(1, len(rungs) - 1)
        if not 1 <= n <= len(rungs):
            raise ValueError(f"brackets must be between 1 and {len(rungs)}, got {brackets}")
        return cls(rungs=rungs, reduction=eta, brackets=n)

    @property
    def eta(self) -> float:
        return self.reduction

    def bracket_of(self, decision: int) -> int:
        return decision % max(1, self.brackets)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "hyperband",
            "rungs": list(self.rungs),
            "eta": self.reduction,
            "brackets": self.brackets,
        }


FIDELITY_NAMES = ("full", "asha", "hyperband")


def make_fidelity(
    name: str,
    *,
    min_step: int,
    max_step: int,
    eta: float = 3.0,
    rungs: Sequence[int] | None = None,
) -> FidelityPolicy | None:
    """``full`` (None: every candidate trained to ``max_step``), ``asha`` or ``hyperband``.

    ``rungs`` overrides the geometric ladder (e.g. a table's recorded fidelities ``(12, 200)``).
    """
    key = name.strip().lower()
    if key in ("full", "none", ""):
        return None
    if key not in FIDELITY_NAMES:
        raise ValueError(f"unknown fidelity {name!r}: choose one of {', '.join(FIDELITY_NAMES)}")
    ladder = tuple(rungs) if rungs is not None else geometric_rungs(min_step, max_step, eta)
    if list(ladder) != sorted(set(ladder)) or ladder[0] < 1:
        raise ValueError(f"rungs must be increasing positive steps, got {list(ladder)}")
    if key == "asha":
        return ASHA(rungs=ladder, reduction=eta)
    return Hyperband(rungs=ladder, reduction=eta, brackets=max(1, len(ladder) - 1))


def fidelity_from_config(config: Mapping[str, Any]) -> FidelityPolicy | None:
    """The policy a study recorded with :meth:`FidelityPolicy.describe` (None for ``full``)."""
    name = str(config.get("name", "full"))
    if name == "full":
        return None
    rungs = tuple(int(r) for r in config["rungs"])
    eta = float(config.get("eta", 3.0))
    if name == "asha":
        return ASHA(rungs=rungs, reduction=eta)
    if name == "hyperband":
        return Hyperband(rungs=rungs, reduction=eta, brackets=int(config.get("brackets", 1)))
    raise ValueError(f"unknown fidelity {name!r} in the study config")
