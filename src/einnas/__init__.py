"""einnas: neural architecture search over einspace with Delta-NAS predictor-guided evolution.

The Python API (see ``docs/api.md``)::

    import einnas

    space = einnas.spaces.SlotSpace([4, 4, 4], name="toy")
    study = einnas.create_study(space, strategy="delta-nas", storage="runs.db", seed=0)
    study.optimize(my_objective, n_trials=50, n_workers=2)   # my_objective(trial) -> float
    print(study.best_trial.arch, study.best_trial.val)

Names are imported on first use, so ``import einnas`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "create_study": "einnas.api",
    "load_study": "einnas.api",
    "Study": "einnas.api",
    "AskedTrial": "einnas.api",
    "TrialFailed": "einnas.api",
    "FrozenTrial": "einnas.study.trial",
    "Trial": "einnas.study.trial",
    "TrialState": "einnas.study.trial",
    "open_storage": "einnas.study.factory",
    "register_space": "einnas.registry",
    "register_strategy": "einnas.registry",
    "register_predictor": "einnas.registry",
}
_SUBMODULES = ("spaces", "strategies", "predictors", "registry", "fidelity", "study", "testing")

__all__ = [
    "AskedTrial",
    "FrozenTrial",
    "Study",
    "Trial",
    "TrialFailed",
    "TrialState",
    "__version__",
    "create_study",
    "fidelity",
    "load_study",
    "open_storage",
    "predictors",
    "register_predictor",
    "register_space",
    "register_strategy",
    "registry",
    "spaces",
    "strategies",
    "study",
    "testing",
]

if TYPE_CHECKING:  # pragma: no cover
    from einnas import fidelity, predictors, registry, spaces, strategies, study, testing
    from einnas.api import AskedTrial, Study, TrialFailed, create_study, load_study
    from einnas.registry import register_predictor, register_space, register_strategy
    from einnas.study.factory import open_storage
    from einnas.study.trial import Trial, TrialState
    from einnas.study.trial import Trial as FrozenTrial


def __getattr__(name: str) -> Any:
    if name in _API:
        module = importlib.import_module(_API[name])
        value = getattr(module, "Trial" if name == "FrozenTrial" else name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"einnas.{name}")
    raise AttributeError(f"module 'einnas' has no attribute {name!r}")
