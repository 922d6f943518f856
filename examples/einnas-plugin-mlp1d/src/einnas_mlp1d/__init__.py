"""mlp1d: 81 small networks (4 slots x 3 choices) trained on MNIST-1D, as an einnas space.

Architectures read ``<stem>-<depth>-<width>-<act>``, e.g. ``conv5-d2-w128-gelu``; the table
(``mlp1d_mnist1d.csv``) was made by ``generate_table.py`` next to this package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from einnas.spaces import SlotSpace, SpacePlugin, TabularBenchmark

SLOTS = {
    "stem": ("flat", "conv3", "conv5"),
    "depth": ("d1", "d2", "d3"),
    "width": ("w32", "w64", "w128"),
    "act": ("relu", "tanh", "gelu"),
}
TABLE = Path(__file__).with_name("mlp1d_mnist1d.csv")


@lru_cache(maxsize=1)
def load(dataset: str | None = None, benchmark_dir: str | None = None) -> TabularBenchmark:
    """The MNIST-1D table (the only dataset; ``benchmark_dir`` is not needed)."""
    space = SlotSpace(list(SLOTS.values()), name="mlp1d")
    return TabularBenchmark.from_file(space, TABLE, dataset="mnist1d")


PLUGIN = SpacePlugin(
    load,
    datasets=("mnist1d",),
    default_dataset="mnist1d",
    description="81 MLP/CNN variants trained 12 epochs on MNIST-1D (example plug-in)",
)
