"""Search spaces: the protocol, slot spaces, tabular benchmarks, and the space registry.

A new tabular benchmark (e.g. for a plug-in, see ``docs/plugins.md``) is a :class:`SlotSpace`
and a :class:`TabularBenchmark`::

    from einnas.spaces import SlotSpace, TabularBenchmark, register_space

    space = SlotSpace([("flat", "conv3"), ("relu", "gelu")], name="mini")
    table = TabularBenchmark.from_records(space, {"flat-relu": (61.0, 60.2), ...}, dataset="d")
    register_space("mini", lambda dataset=None, benchmark_dir=None: table)

The names below are re-exported lazily (importing :mod:`einnas.spaces` stays cheap).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as mypy sees them; at runtime they load on first use
    from einnas.registry import (
        PluginError,
        SpaceEntry,
        SpacePlugin,
        get_space,
        load_space,
        register_space,
        space_names,
        unregister_space,
    )
    from einnas.spaces.base import FiniteSearchSpace, SearchSpace, SearchSpaceError
    from einnas.spaces.slots import SlotArch, SlotSpace
    from einnas.spaces.tabular import TableError, TabularBenchmark, TabularResult

__all__ = [
    "FiniteSearchSpace",
    "PluginError",
    "SearchSpace",
    "SearchSpaceError",
    "SlotArch",
    "SlotSpace",
    "SpaceEntry",
    "SpacePlugin",
    "TableError",
    "TabularBenchmark",
    "TabularResult",
    "get_space",
    "load_space",
    "register_space",
    "space_names",
    "unregister_space",
]

_WHERE = {
    "FiniteSearchSpace": "einnas.spaces.base",
    "SearchSpace": "einnas.spaces.base",
    "SearchSpaceError": "einnas.spaces.base",
    "SlotArch": "einnas.spaces.slots",
    "SlotSpace": "einnas.spaces.slots",
    "TableError": "einnas.spaces.tabular",
    "TabularBenchmark": "einnas.spaces.tabular",
    "TabularResult": "einnas.spaces.tabular",
    "PluginError": "einnas.registry",
    "SpaceEntry": "einnas.registry",
    "SpacePlugin": "einnas.registry",
    "get_space": "einnas.registry",
    "load_space": "einnas.registry",
    "register_space": "einnas.registry",
    "space_names": "einnas.registry",
    "unregister_space": "einnas.registry",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'einnas.spaces' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
