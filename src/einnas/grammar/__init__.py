"""einspace as a probabilistic context-free grammar: trees, text, shapes, sampling, mutation.

This package imports nothing from the rest of einnas (and nothing from torch).
"""

from einnas.grammar.features import Feature, ShapeError, input_feature, parse_shape
from einnas.grammar.inference import (
    Analysis,
    InvalidArchitecture,
    NodeInfo,
    analyze,
    network_params,
)
from einnas.grammar.limits import SizeLimitError, SizeLimits
from einnas.grammar.mutation import MutationError, MutationRecord, mutate_tree
from einnas.grammar.pcfg import Grammar
from einnas.grammar.sampling import Budget, SamplingError, sample_tree
from einnas.grammar.terminals import Role, Terminal, terminal_text
from einnas.grammar.text import ParseError, arch_hash, parse, pretty, text_hash, to_text
from einnas.grammar.tree import (
    Branching,
    Computation,
    Module,
    Node,
    Routing,
    Sequential,
    count_nodes,
    iter_nodes,
    module_type,
    node_at,
    replace_at,
    tree_depth,
)

__all__ = [
    "Analysis",
    "Branching",
    "Budget",
    "Computation",
    "Feature",
    "Grammar",
    "InvalidArchitecture",
    "Module",
    "MutationError",
    "MutationRecord",
    "Node",
    "NodeInfo",
    "ParseError",
    "Role",
    "Routing",
    "SamplingError",
    "Sequential",
    "ShapeError",
    "SizeLimitError",
    "SizeLimits",
    "Terminal",
    "analyze",
    "arch_hash",
    "count_nodes",
    "input_feature",
    "iter_nodes",
    "module_type",
    "mutate_tree",
    "network_params",
    "node_at",
    "parse",
    "parse_shape",
    "pretty",
    "replace_at",
    "sample_tree",
    "terminal_text",
    "text_hash",
    "to_text",
    "tree_depth",
]
