"""Ray: evaluations as Ray tasks, on a local Ray instance or on a cluster (``--ray-address``).

* With an address, the executor connects to that cluster (``ray.init(address=...)``); without
  one it starts a local instance with ``workers`` CPUs.  If Ray is already initialised in this
  process (a notebook, a test fixture), that session is used as is.  :meth:`shutdown` only
  shuts down a Ray instance this executor started.
* The evaluator is put in the object store once; each task receives a reference to it and the
  canonical text of one architecture, and returns an :class:`~einnas.evaluators.base.EvalResult`
  (via :func:`~einnas.evaluators.base.run_evaluation`, so the evaluator's exceptions become
  failed results).
* A task that Ray cannot complete (its worker crashed, its node died) comes back as a failed
  result too: Ray does not retry evaluations (``max_retries`` 0 by default), so a trial that
  kills its worker (out of memory, say) is marked failed and the search goes on.
* A local instance started here is shut down with the search, also when the search process is
  killed (``kill -9``): a :class:`~einnas.executors.reaper.Reaper` process then ends the Ray
  processes that outlive it (the dashboard and runtime-env agents do).

Ray is an optional dependency (``pip install "ray[default]"``) imported only when a
:class:`RayExecutor` is created.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from concurrent.futures import Future
from typing import Any

from einnas.evaluators.base import EvalResult, EvalTask, Evaluator, run_evaluation
from einnas.executors.base import Executor

__all__ = ["RayExecutor", "import_ray"]

_INSTALL_HINT = 'the Ray executor needs Ray: pip install "ray[default]" (or einnas[ray])'


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` telling how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e


def _evaluate(evaluator: Evaluator, task: EvalTask) -> EvalResult:
    """Body of the Ray task (module level, so workers import it rather than unpickle code)."""
    return run_evaluation(evaluator, task)


_remote_lock = threading.Lock()
_remote_fn: Any = None


def _remote(ray: Any) -> Any:
    global _remote_fn
    with _remote_lock:
        if _remote_fn is None:
            _remote_fn = ray.remote(_evaluate)
        return _remote_fn


class RayExecutor(Executor):
    """Runs each evaluation as a Ray task (``capacity == workers``)."""

    def __init__(
        self,
        evaluator: Evaluator,
        workers: int = 1,
        ray_address: str | None = None,
        *,
        max_retries: int = 0,
        num_cpus_per_task: float = 1.0,
        num_gpus_per_task: float = 0.0,
    ) -> None:
        super().__init__(evaluator)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.ray_address = ray_address
        ray = self._ray = import_ray()
        self._started = False
        self._reaper: Any = None
        if not ray.is_initialized():
            if ray_address:
                ray.init(address=ray_address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                from einnas.executors.reaper import Reaper

                # a local instance is ours: if this process is killed (-9), end all of it
                self._reaper = Reaper()
                ray.init(
                    num_cpus=workers or 2,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            self._started = True
        self._fn = _remote(ray).options(
            max_retries=max_retries, num_cpus=num_cpus_per_task, num_gpus=num_gpus_per_task
        )
        self._evaluator_ref = ray.put(evaluator)
        self._lock = threading.Lock()
        self._pending: dict[int, Any] = {}  # id -> ObjectRef of evaluations not yet finished
        self._closed = False

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, task: EvalTask) -> Future[EvalResult]:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after shutdown()")
            ref = self._fn.remote(self._evaluator_ref, task)
            self._pending[id(ref)] = ref
        inner: Future[Any] = ref.future()
        outer: Future[EvalResult] = Future()
        cancelled_error = self._ray.exceptions.TaskCancelledError
        key = id(ref)

        def relay(fut: Future[Any]) -> None:
            with self._lock:
                self._pending.pop(key, None)
            if fut.cancelled():
                outer.cancel()
                return
            exc = fut.exception()
            if isinstance(exc, cancelled_error):
                outer.cancel()
                return
            if exc is not None:
                result = EvalResult(None, None, {}, None, f"{type(exc).__name__}: {exc}")
            else:
                value = fut.result()
                if isinstance(value, EvalResult):
                    result = value
                else:
                    result = EvalResult(None, None, {}, None, f"Ray task returned {value!r}")
            if not outer.done():
                outer.set_result(result)

        inner.add_done_callback(relay)
        return outer

    def terminate(self) -> None:
        """Stop now: force-cancel running evaluations; shut Ray down if this executor started it."""
        self.shutdown(force=True)

    def shutdown(self, force: bool = False) -> None:
        """Cancel unfinished evaluations; shut Ray down if this executor started it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending.values())
            self._pending.clear()
        ray = self._ray
        for ref in pending:
            with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                ray.cancel(ref, force=force)
        if self._started and ray.is_initialized():
            ray.shutdown()
        if self._reaper is not None:
            self._reaper.stop()
