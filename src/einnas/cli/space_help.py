"""Help texts that list the registered spaces and strategies, computed only when shown.

Building the parser must not import every installed plug-in (each ``einnas`` command builds
it), so the ``--space`` / ``--strategy`` help strings read the registry only when ``--help``
formats them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["LazyHelp", "space_help", "strategy_help"]


class LazyHelp(str):
    """A help string whose text is ``render()``, computed when argparse formats it."""

    render: Callable[[], str]

    def __new__(cls, render: Callable[[], str]) -> LazyHelp:
        obj = super().__new__(cls, "(computed when shown)")
        obj.render = render
        return obj

    def __mod__(self, params: Any) -> str:  # argparse expands help with ``help % params``
        text: str = self.render().replace("%", "%%") % params
        return text


def _names(kinds: tuple[str, ...]) -> str:
    from einnas.registry import space_names

    try:
        return ", ".join(space_names(kinds))
    except Exception as exc:  # pragma: no cover - a broken registry must not break --help
        return f"(could not list: {exc})"


def space_help(prefix: str, kinds: tuple[str, ...]) -> LazyHelp:
    """``prefix`` followed by the registered spaces of ``kinds`` (plug-ins included)."""
    return LazyHelp(lambda: f"{prefix}; registered: {_names(kinds)}")


def strategy_help(prefix: str) -> LazyHelp:
    def render() -> str:
        from einnas.registry import strategy_names

        return f"{prefix}; registered: {', '.join(strategy_names())}"

    return LazyHelp(render)
