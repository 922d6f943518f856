"""Registries of search spaces, strategies and predictors, open to plug-ins.

Every space, strategy and predictor einnas knows -- built-in or third-party -- is found here by
name; nothing else in einnas dispatches on a space or strategy name.  Third-party packages add
their own through Python entry points (see ``docs/plugins.md``):

* group ``einnas.spaces``: the entry point's name is the space's name; it loads to a factory
  ``factory(dataset: str | None = None, benchmark_dir: str | None = None) -> TabularBenchmark``,
  to a :class:`SpacePlugin` (a factory plus metadata: datasets, default dataset, description,
  aliases), or to a ready :class:`~einnas.spaces.tabular.TabularBenchmark`;
* group ``einnas.strategies``: name -> ``factory(tabular: bool, **options) -> Strategy`` (options:
  ``population``, ``tournament``, ``seed_archs``; a factory ignores those it does not use);
* group ``einnas.predictors``: name -> ``factory(*, seed: int, antisymmetric: bool, **options)
  -> Predictor``.

Entry points are read lazily -- only when a name is not built in or registered in-process, or
when the names are listed -- once per process.  A plug-in that fails to load (import error, a
wrong object) raises :class:`PluginError` naming the distribution and the entry point; listing
names skips a broken plug-in (and says so in :func:`plugin_errors`) so that one broken package
does not take the whole command line down.

Names are case-insensitive, and ``_`` reads as ``-``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from einnas.spaces.base import SearchSpaceError

if TYPE_CHECKING:  # pragma: no cover
    from einnas.predictors import Predictor
    from einnas.spaces.tabular import TabularBenchmark
    from einnas.strategies.base import Strategy

__all__ = [
    "PREDICTOR_GROUP",
    "SPACE_GROUP",
    "STRATEGY_GROUP",
    "PluginError",
    "PredictorEntry",
    "SpaceEntry",
    "SpaceKind",
    "SpacePlugin",
    "StrategyEntry",
    "canonical_name",
    "get_predictor",
    "get_space",
    "get_strategy",
    "load_space",
    "make_predictor",
    "make_strategy",
    "plugin_errors",
    "predictor_names",
    "register_predictor",
    "register_space",
    "register_strategy",
    "space_names",
    "strategy_names",
    "unregister_predictor",
    "unregister_space",
    "unregister_strategy",
]

SPACE_GROUP = "einnas.spaces"
STRATEGY_GROUP = "einnas.strategies"
PREDICTOR_GROUP = "einnas.predictors"

SpaceKind = Literal["tabular", "training", "objective"]
"""``tabular``: a table lookup (search, bench, diagnose-doa); ``training``: networks are trained
(search); ``objective``: a known objective for the DoA diagnostic only."""


class PluginError(SearchSpaceError):
    """A plug-in (entry point) could not be loaded or returned the wrong kind of object."""


def canonical_name(name: str) -> str:
    """The registry key of ``name``: stripped, lower case, ``_`` read as ``-``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a name must be a non-empty string, got {name!r}")
    return name.strip().lower().replace("_", "-")


# ---------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class SpacePlugin:
    """What an ``einnas.spaces`` entry point may load to: a factory plus its metadata.

    Args:
        factory: ``factory(dataset=None, benchmark_dir=None) -> TabularBenchmark`` (a factory
            taking fewer of these keywords is called with those it takes).
        datasets: the datasets (or tasks) the space has tables for; when given, any other
            ``--dataset`` is refused with an error listing them.
        default_dataset: the dataset used when none is given.
        description: one line shown in listings.
        aliases: other names of the space.
    """

    factory: Callable[..., Any]
    datasets: tuple[str, ...] = ()
    default_dataset: str | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise TypeError(f"SpacePlugin.factory must be callable, got {self.factory!r}")
        object.__setattr__(self, "datasets", tuple(self.datasets))
        object.__setattr__(self, "aliases", tuple(self.aliases))


@dataclass(frozen=True)
class SpaceEntry:
    """A registered space.

    Attributes:
        name: canonical name.
        factory: tabular spaces: ``factory(dataset, benchmark_dir) -> TabularBenchmark``;
            training spaces: ``factory(spec) -> (space, evaluator, strategy)`` for a
            :class:`~einnas.experiment.SearchSpec`; objective spaces:
            ``factory(dataset, benchmark_dir, **options) -> ObjectiveTable``.
        kind: see :data:`SpaceKind`.
        defaults: training spaces: the :class:`~einnas.experiment.SearchSpec` fields filled in
            when not given (``dataset``, ``max_params``, ``max_macs``).
        source: ``built-in``, ``register_space`` or ``<distribution> (entry point <name>)``.
    """

    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    default_dataset: str | None = None
    description: str = ""
    kind: SpaceKind = "tabular"
    check_dataset: bool = True
    defaults: Mapping[str, Any] = field(default_factory=dict)
    source: str = "register_space"

    @property
    def tabular(self) -> bool:
        return self.kind == "tabular"


@dataclass(frozen=True)
class StrategyEntry:
    """A registered strategy: ``factory(tabular=..., **options) -> Strategy``."""

    name: str
    factory: Callable[..., Any]
    aliases: tuple[str, ...] = ()
    source: str = "register_strategy"


@dataclass(frozen=True)
class PredictorEntry:
    """A registered predictor: ``factory(seed=..., antisymmetric=..., **options) -> Predictor``."""

    name: str
    factory: Callable[..., Any]
    source: str = "register_predictor"


E = TypeVar("E", SpaceEntry, StrategyEntry, PredictorEntry)


class _Registry(Generic[E]):
    """Name -> entry, with aliases, built-ins loaded on first use and entry points on demand."""

    def __init__(
        self,
        what: str,
        group: str,
        builtins: Callable[[], None],
        from_entry_point: Callable[[str, Any, str], E],
    ) -> None:
        self.what = what
        self.group = group
        self._builtins = builtins
        self._from_entry_point: Callable[[str, Any, str], E] = from_entry_point
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}
        self._builtin_order: list[str] = []
        self._loaded_builtins = False
        self._scanned: dict[str, Any] | None = None  # entry points by canonical name
        self._failed: dict[str, str] = {}  # entry points that failed to load: name -> message
        self._lock = threading.RLock()

    # -- registration ---------------------------------------------------------------------

    def _ensure_builtins(self) -> None:
        if not self._loaded_builtins:
            with self._lock:
                if not self._loaded_builtins:
                    self._loaded_builtins = True
                    self._builtins()

    def _owner(self, name: str) -> str | None:
        if name in self._entries:
            return name
        return self._aliases.get(name)

    def add(self, entry: E, *, replace: bool = False, builtin: bool = False) -> E:
        with self._lock:
            if not builtin:
                self._ensure_builtins()
            names = [entry.name, *getattr(entry, "aliases", ())]
            owners = list(dict.fromkeys(o for n in names if (o := self._owner(n)) is not None))
            if owners and not replace:
                owner = owners[0]
                raise ValueError(
                    f"{self.what} name {entry.name!r} (or one of its aliases) is already taken "
                    f"by {owner!r} ({self._entries[owner].source}); pass replace=True to override"
                )
            for owner in owners:
                self.remove(owner)
            self._entries[entry.name] = entry
            for alias in getattr(entry, "aliases", ()):
                if alias != entry.name:
                    self._aliases[alias] = entry.name
            if builtin:
                self._builtin_order.append(entry.name)
            return entry

    def remove(self, name: str) -> None:
        with self._lock:
            key = self._aliases.get(canonical_name(name), canonical_name(name))
            entry = self._entries.pop(key, None)
            if entry is None:
                raise KeyError(f"no {self.what} named {name!r}")
            for alias in [a for a, n in self._aliases.items() if n == key]:
                del self._aliases[alias]
            if key in self._builtin_order:
                self._builtin_order.remove(key)

    # -- entry points -----------------------------------------------------------------------

    def _scan(self) -> dict[str, Any]:
        if self._scanned is None:
            with self._lock:
                if self._scanned is None:
                    found: dict[str, Any] = {}
                    try:
                        eps = importlib.metadata.entry_points(group=self.group)
                    except Exception:  # pragma: no cover - broken metadata
                        eps = ()  # type: ignore[assignment]
                    for ep in eps:
                        found.setdefault(canonical_name(ep.name), ep)
                    self._scanned = found
        return self._scanned

    def _load_entry_point(self, key: str) -> E | None:
        ep = self._scan().get(key)
        if ep is None:
            return None
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an unknown distribution"
        where = f"{dist} (entry point {ep.name!r} = {ep.value!r} in group {self.group!r})"
        try:
            obj = ep.load()
            entry = self._from_entry_point(key, obj, where)
        except PluginError as exc:
            self._failed[key] = str(exc)
            raise
        except Exception as exc:
            message = (
                f"the {self.what} plug-in {ep.name!r} from {where} failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
            self._failed[key] = message
            raise PluginError(message) from exc
        with self._lock:
            if key not in self._entries:
                try:
                    self.add(entry, replace=False)
                except ValueError as exc:
                    self._failed[key] = f"the {self.what} plug-in from {where}: {exc}"
                    raise PluginError(self._failed[key]) from exc
            return self._entries[key]

    # -- lookup -----------------------------------------------------------------------------

    def get(self, name: str) -> E:
        self._ensure_builtins()
        key = canonical_name(name)
        key = self._aliases.get(key, key)
        hit = self._entries.get(key)
        if hit is not None:
            return hit
        loaded = self._load_entry_point(key)
        if loaded is not None:
            return loaded
        raise SearchSpaceError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        return f"unknown {self.what} {name!r}: choose one of {', '.join(self.names())}"

    def names(self) -> list[str]:
        """Built-ins in registration order, then in-process registrations, then plug-ins."""
        self._ensure_builtins()
        out = list(self._builtin_order)
        out += [n for n in self._entries if n not in out]
        for key in sorted(self._scan()):
            if key in out or key in self._aliases:
                continue
            try:
                self._load_entry_point(key)
            except PluginError:
                continue  # recorded in plugin_errors()
            out.append(key)
        return out

    def entries(self) -> list[E]:
        return [self._entries[n] for n in self.names()]

    def reset_plugins(self) -> None:
        """Forget entry points (scanned and loaded) so that the next lookup reads them again."""
        with self._lock:
            for key in list(self._entries):
                if self._entries[key].source.endswith(f"in group {self.group!r})"):
                    self.remove(key)
            self._scanned = None
            self._failed.clear()


# ---------------------------------------------------------------------------------------------
# Calling factories with the keywords they take


def _accepted_kwargs(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` restricted to the keywords ``func`` accepts (all of them with ``**kw``)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(kwargs)
    names = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {k: v for k, v in kwargs.items() if k in names}


# ---------------------------------------------------------------------------------------------
# Spaces


def _space_from_entry_point(key: str, obj: Any, where: str) -> SpaceEntry:
    from einnas.spaces.tabular import TabularBenchmark

    if isinstance(obj, SpaceEntry):
        return SpaceEntry(**{**obj.__dict__, "name": key, "source": where})
    if isinstance(obj, SpacePlugin):
        return SpaceEntry(
            key,
            obj.factory,
            aliases=tuple(canonical_name(a) for a in obj.aliases),
            datasets=obj.datasets,
            default_dataset=obj.default_dataset,
            description=obj.description,
            source=where,
        )
    if isinstance(obj, TabularBenchmark):
        table = obj
        return SpaceEntry(
            key,
            lambda dataset=None, benchmark_dir=None: table,
            datasets=(table.dataset,),
            default_dataset=table.dataset,
            description=table.name,
            source=where,
        )
    if callable(obj):
        return SpaceEntry(
            key, obj, description=(inspect.getdoc(obj) or "").split("\n")[0], source=where
        )
    raise PluginError(
        f"the space plug-in {key!r} from {where} loads to {type(obj).__name__} {obj!r}; expected "
        "a factory(dataset=None, benchmark_dir=None) -> TabularBenchmark, an "
        "einnas.spaces.SpacePlugin or a TabularBenchmark"
    )


def _register_builtin_spaces() -> None:
    from einnas.spaces import builtin

    for entry in builtin.space_entries():
        _SPACES.add(entry, builtin=True)


_SPACES: _Registry[SpaceEntry] = _Registry(
    "space", SPACE_GROUP, _register_builtin_spaces, _space_from_entry_point
)


def register_space(
    name: str,
    factory: Callable[..., Any],
    *,
    aliases: Iterable[str] = (),
    datasets: Iterable[str] = (),
    default_dataset: str | None = None,
    description: str = "",
    tabular: bool = True,
    kind: SpaceKind | None = None,
    defaults: Mapping[str, Any] | None = None,
    check_dataset: bool = True,
    replace: bool = False,
) -> SpaceEntry:
    """Register a space under ``name`` (and ``aliases``) in this process.

    Args:
        factory: for a tabular space ``factory(dataset=None, benchmark_dir=None) ->
            TabularBenchmark`` (see :class:`SpaceEntry` for the other kinds).
        datasets: datasets it has tables for (listed in help; with ``check_dataset`` any other
            dataset is refused before the factory is called).
        default_dataset: used when no dataset is given.
        tabular: ``False`` registers a training space (``kind="training"``).
        kind: overrides ``tabular`` (``"objective"``: the DoA diagnostic only).
        defaults: training spaces: :class:`~einnas.experiment.SearchSpec` defaults.
        replace: replace an entry of the same name instead of raising ``ValueError``.

    A space registered in-process is not visible in a pool worker started with ``spawn`` or
    ``forkserver`` unless the worker imports the module that registers it; entry points are.
    """
    if not callable(factory):
        raise TypeError(f"factory of space {name!r} must be callable, got {factory!r}")
    entry = SpaceEntry(
        canonical_name(name),
        factory,
        aliases=tuple(dict.fromkeys(canonical_name(a) for a in aliases)),
        datasets=tuple(datasets),
        default_dataset=default_dataset,
        description=description,
        kind=kind if kind is not None else ("tabular" if tabular else "training"),
        check_dataset=check_dataset,
        defaults=dict(defaults or {}),
        source="register_space",
    )
    return _SPACES.add(entry, replace=replace)


def unregister_space(name: str) -> None:
    """Remove a registered space (by name or alias)."""
    _SPACES.remove(name)


def get_space(name: str) -> SpaceEntry:
    """The entry of a space by name or alias (loading its entry point if need be).

    Raises:
        SearchSpaceError: unknown name (the message lists the known ones).
        PluginError: its plug-in failed to load.
    """
    return _SPACES.get(name)


def space_names(kind: str | Iterable[str] | None = None) -> list[str]:
    """Canonical names of the spaces (built-in first, then plug-ins), optionally of some kinds."""
    kinds = {kind} if isinstance(kind, str) else (set(kind) if kind is not None else None)
    return [e.name for e in _SPACES.entries() if kinds is None or e.kind in kinds]


def load_space(
    name: str, dataset: str | None = None, benchmark_dir: str | Any | None = None
) -> TabularBenchmark:
    """The table of a tabular space by name (``dataset`` ``None``: the space's default).

    Raises:
        SearchSpaceError: unknown or non-tabular space, or a dataset the space does not have.
        PluginError: the plug-in failed to load or returned something else than a table.
    """
    from einnas.spaces.tabular import TabularBenchmark

    try:
        entry = get_space(name)
    except PluginError:
        raise
    except SearchSpaceError:
        raise SearchSpaceError(
            f"unknown tabular space {name!r}; expected one of {', '.join(space_names('tabular'))}"
        ) from None
    if not entry.tabular:
        tabular = ", ".join(space_names("tabular"))
        raise SearchSpaceError(
            f"{entry.name!r} is a {entry.kind} space, not a tabular benchmark "
            f"(tabular spaces: {tabular})"
        )
    if dataset is None:
        dataset = entry.default_dataset
    if dataset is not None and entry.check_dataset and entry.datasets:
        wanted = canonical_name(dataset)
        matches = [d for d in entry.datasets if canonical_name(d) == wanted]
        if not matches:
            raise SearchSpaceError(
                f"space {entry.name!r} has no dataset {dataset!r}; expected one of "
                f"{', '.join(entry.datasets)}"
            )
        dataset = matches[0]
    kwargs = _accepted_kwargs(
        entry.factory,
        {
            "dataset": dataset,
            "benchmark_dir": None if benchmark_dir is None else str(benchmark_dir),
        },
    )
    try:
        table = entry.factory(**kwargs)
    except (SearchSpaceError, ValueError, FileNotFoundError):
        raise
    except Exception as exc:
        if entry.source == "built-in":
            raise
        raise PluginError(
            f"space {entry.name!r} from {entry.source} failed to build its table: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(table, TabularBenchmark):
        raise PluginError(
            f"space {entry.name!r} from {entry.source}: its factory returned "
            f"{type(table).__name__}, expected an einnas.spaces.TabularBenchmark"
        )
    return table


# ---------------------------------------------------------------------------------------------
# Strategies


def _strategy_from_entry_point(key: str, obj: Any, where: str) -> StrategyEntry:
    if isinstance(obj, StrategyEntry):
        return StrategyEntry(key, obj.factory, aliases=obj.aliases, source=where)
    if callable(obj):
        return StrategyEntry(key, obj, source=where)
    raise PluginError(
        f"the strategy plug-in {key!r} from {where} loads to {type(obj).__name__} {obj!r}; "
        "expected a factory(tabular, **options) -> Strategy"
    )


def _register_builtin_strategies() -> None:
    from einnas.strategies import builtin_strategy_entries

    for entry in builtin_strategy_entries():
        _STRATEGIES.add(entry, builtin=True)


_STRATEGIES: _Registry[StrategyEntry] = _Registry(
    "strategy", STRATEGY_GROUP, _register_builtin_strategies, _strategy_from_entry_point
)


def register_strategy(
    name: str,
    factory: Callable[..., Any],
    *,
    aliases: Iterable[str] = (),
    replace: bool = False,
) -> StrategyEntry:
    """Register ``factory(tabular: bool, **options) -> Strategy`` under ``name``.

    ``options`` are ``population``, ``tournament`` and ``seed_archs`` (any of them ``None`` /
    empty when not given); a factory without ``**options`` gets only the keywords it names.
    """
    if not callable(factory):
        raise TypeError(f"factory of strategy {name!r} must be callable, got {factory!r}")
    entry = StrategyEntry(
        canonical_name(name),
        factory,
        aliases=tuple(dict.fromkeys(canonical_name(a) for a in aliases)),
        source="register_strategy",
    )
    return _STRATEGIES.add(entry, replace=replace)


def unregister_strategy(name: str) -> None:
    _STRATEGIES.remove(name)


def get_strategy(name: str) -> StrategyEntry:
    """The entry of a strategy by name or alias (``ValueError`` if unknown)."""
    return _STRATEGIES.get(name)


def strategy_names() -> list[str]:
    """Canonical strategy names: the built-ins, then in-process registrations, then plug-ins."""
    return _STRATEGIES.names()


def make_strategy(name: str, *, tabular: bool, **options: Any) -> Strategy:
    """Build the strategy ``name`` for a tabular (``True``) or training space."""
    from einnas.strategies.base import Strategy

    entry = get_strategy(name)
    kwargs = _accepted_kwargs(entry.factory, {"tabular": tabular, **options})
    strategy = entry.factory(**kwargs)
    if not isinstance(strategy, Strategy):
        raise PluginError(
            f"strategy {entry.name!r} from {entry.source}: its factory returned "
            f"{type(strategy).__name__}, expected an einnas.strategies.Strategy"
        )
    return strategy


# ---------------------------------------------------------------------------------------------
# Predictors


def _predictor_from_entry_point(key: str, obj: Any, where: str) -> PredictorEntry:
    if callable(obj):
        return PredictorEntry(key, obj, source=where)
    raise PluginError(
        f"the predictor plug-in {key!r} from {where} loads to {type(obj).__name__}; expected "
        "a factory(*, seed, antisymmetric, **options) -> Predictor"
    )


def _register_builtin_predictors() -> None:
    from einnas.predictors import builtin_predictor_entries

    for entry in builtin_predictor_entries():
        _PREDICTORS.add(entry, builtin=True)


_PREDICTORS: _Registry[PredictorEntry] = _Registry(
    "predictor", PREDICTOR_GROUP, _register_builtin_predictors, _predictor_from_entry_point
)


def register_predictor(
    name: str, factory: Callable[..., Any], *, replace: bool = False
) -> PredictorEntry:
    """Register ``factory(*, seed, antisymmetric, **options) -> Predictor`` under ``name``.

    ``options`` are hints a factory may ignore: ``alpha`` (ridge penalty), ``steps``,
    ``members``, ``hidden`` (MLP ensemble), ``intercept``.
    """
    if not callable(factory):
        raise TypeError(f"factory of predictor {name!r} must be callable, got {factory!r}")
    return _PREDICTORS.add(
        PredictorEntry(canonical_name(name), factory, source="register_predictor"),
        replace=replace,
    )


def unregister_predictor(name: str) -> None:
    _PREDICTORS.remove(name)


def get_predictor(name: str) -> PredictorEntry:
    return _PREDICTORS.get(name)


def predictor_names() -> list[str]:
    return _PREDICTORS.names()


def make_predictor(
    name: str, *, seed: int = 0, antisymmetric: bool = False, **options: Any
) -> Predictor:
    """Build the predictor ``name`` (see :func:`register_predictor` for ``options``)."""
    entry = get_predictor(name)
    kwargs = _accepted_kwargs(
        entry.factory, {"seed": seed, "antisymmetric": antisymmetric, **options}
    )
    return entry.factory(**kwargs)  # type: ignore[no-any-return]


def plugin_errors() -> dict[str, str]:
    """Entry points that failed to load so far: ``"<group>:<name>" -> message``."""
    out: dict[str, str] = {}
    for reg in (_SPACES, _STRATEGIES, _PREDICTORS):
        out.update({f"{reg.group}:{k}": v for k, v in reg._failed.items()})
    return out


def reset_plugins() -> None:
    """Forget loaded entry points (tests; after installing a plug-in in a running process)."""
    for reg in (_SPACES, _STRATEGIES, _PREDICTORS):
        reg.reset_plugins()
