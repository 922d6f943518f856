"""A local process pool: ``workers`` evaluations in parallel on this machine.

Workers are started with the ``spawn`` method (never ``fork``: forking a process that has
imported PyTorch, with its thread pools and CUDA state, is unsafe), so each worker is a fresh
interpreter that imports the evaluator's module and loads what the evaluator needs lazily.

Every evaluation goes through :func:`~einnas.evaluators.base.run_evaluation`, so an exception
raised by the evaluator comes back as a failed result.  A worker that *dies* (killed by the
out-of-memory killer, a segfault in native code, ``os._exit``) breaks the pool: every evaluation
in flight then comes back as a failed result naming the cause, the pool is replaced by a fresh
one at the next submission, and the search goes on.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from concurrent.futures import CancelledError, Future
from concurrent.futures import ProcessPoolExecutor as _StdPool
from concurrent.futures.process import BrokenProcessPool

from einnas.evaluators.base import EvalResult, EvalTask, Evaluator, run_evaluation
from einnas.executors.base import Executor

__all__ = ["START_METHOD", "ProcessPoolExecutor"]

START_METHOD = "spawn"
"""How pool workers are started (``fork`` is unsafe once torch is imported)."""


def failed_result(error: str) -> EvalResult:
    """The result of an evaluation that could not run to completion."""
    return EvalResult(None, None, {}, None, error)


def _worker_init(evaluator: Evaluator | None = None, workers: int = 1) -> None:
    """Leave Ctrl-C to the search process: a terminal's SIGINT reaches the whole process group,
    and a worker interrupted mid-evaluation would otherwise report a spurious failed trial
    (the search process stops, and its running trials are closed as interrupted on resume).

    An evaluator with a ``worker_started(workers)`` method is told how many workers share the
    machine (the training evaluator then caps each worker's share of GPU memory)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hook = getattr(evaluator, "worker_started", None)
    if callable(hook):
        hook(workers)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return f"worker died: {exc}" if str(exc) else "worker died (BrokenProcessPool)"
    return f"{type(exc).__name__}: {exc}"


class ProcessPoolExecutor(Executor):
    """Evaluates in ``workers`` spawned processes (``capacity == workers``)."""

    def __init__(self, evaluator: Evaluator, workers: int = 1) -> None:
        super().__init__(evaluator)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: _StdPool | None = None
        self._closed = False

    @property
    def capacity(self) -> int:
        return self.workers

    def _new_pool(self) -> _StdPool:
        ctx = multiprocessing.get_context(START_METHOD)
        return _StdPool(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(self.evaluator, self.workers),
        )

    def _submit_inner(self, task: EvalTask) -> Future[EvalResult]:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after shutdown()")
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                return self._pool.submit(run_evaluation, self.evaluator, task)
            except BrokenProcessPool:
                # a worker died earlier: its trials have failed; start over with a fresh pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(run_evaluation, self.evaluator, task)

    def submit(self, task: EvalTask) -> Future[EvalResult]:
        inner = self._submit_inner(task)
        outer: Future[EvalResult] = Future()

        def relay(fut: Future[EvalResult]) -> None:
            if fut.cancelled():
                outer.cancel()
                return
            try:
                result = fut.result()
            except CancelledError:
                outer.cancel()
                return
            except BaseException as e:  # a dead worker, an unpicklable result, ...
                result = failed_result(_describe(e))
            if not outer.done():
                outer.set_result(result)

        inner.add_done_callback(relay)
        return outer

    def shutdown(self) -> None:
        """Cancel evaluations that have not started, wait for the running ones, stop workers."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
