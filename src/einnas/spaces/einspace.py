"""einspace (2D images or 1D sequences) behind the :class:`~einnas.spaces.base.SearchSpace` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from einnas.grammar import (
    Analysis,
    Budget,
    Feature,
    Grammar,
    InvalidArchitecture,
    Module,
    MutationRecord,
    ParseError,
    analyze,
    arch_hash,
    input_feature,
    mutate_tree,
    parse,
    sample_tree,
    to_text,
)
from einnas.grammar.pcfg import DEFAULT_COMPUTATION_PROB
from einnas.spaces.base import SearchSpaceError

SPACE_NAMES = ("einspace", "einspace1d")


@dataclass(eq=False)
class EinSpace:
    """einspace for one input shape: ``(C, H, W)`` (space ``einspace``) or ``(C, L)`` (``einspace1d``)."""

    input_shape: tuple[int, ...]
    computation_prob: float = DEFAULT_COMPUTATION_PROB
    budget: Budget = field(default_factory=Budget)
    name: str = field(init=False)
    grammar: Grammar = field(init=False)
    feature: Feature = field(init=False)

    def __post_init__(self) -> None:
        self.feature = input_feature(tuple(self.input_shape))
        self.input_shape = self.feature.shape
        self.grammar = Grammar.for_input(self.input_shape, computation_prob=self.computation_prob)
        self.name = "einspace" if len(self.input_shape) == 3 else "einspace1d"

    @classmethod
    def named(cls, space: str, input_shape: tuple[int, ...], **kwargs: object) -> EinSpace:
        """The space called ``space`` (``einspace``/``einspace1d``), checking the input's rank."""
        want = {"einspace": 3, "einspace1d": 2}.get(space)
        if want is None:
            raise SearchSpaceError(
                f"unknown space {space!r}: choose one of {', '.join(SPACE_NAMES)}"
            )
        if len(input_shape) != want:
            example = "3,28,28" if want == 3 else "1,40"
            raise SearchSpaceError(
                f"space {space!r} needs an input shape with {want} numbers (e.g. --input-shape {example}), "
                f"got {','.join(map(str, input_shape))}"
            )
        return cls(tuple(input_shape), **kwargs)  # type: ignore[arg-type]

    def sample(self, rng: np.random.Generator) -> Module:
        return sample_tree(self.grammar, self.feature, rng, self.budget)

    def mutate(self, arch: Module, rng: np.random.Generator) -> Module:
        return self.mutate_with_record(arch, rng)[0]

    def mutate_with_record(
        self, arch: Module, rng: np.random.Generator
    ) -> tuple[Module, MutationRecord]:
        return mutate_tree(arch, self.feature, self.grammar, rng, self.budget)

    def to_text(self, arch: Module) -> str:
        return to_text(arch)

    def from_text(self, text: str) -> Module:
        """Parse and type-check ``text`` for this space's input shape."""
        try:
            tree = parse(text)
            analyze(tree, self.feature)
        except (ParseError, InvalidArchitecture) as e:
            raise SearchSpaceError(str(e)) from e
        return tree

    def identity(self, arch: Module) -> str:
        return arch_hash(arch)

    def analyze(self, arch: Module) -> Analysis:
        return analyze(arch, self.feature)

    def log_prob(self, arch: Module) -> float:
        return self.grammar.log_prob(arch, self.feature)
