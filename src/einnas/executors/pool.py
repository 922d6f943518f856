"""A local process pool: ``workers`` evaluations in parallel on this machine.

Workers are started with the ``spawn`` method (never ``fork``: forking a process that has
imported PyTorch, with its thread pools and CUDA state, is unsafe), so each worker is a fresh
interpreter that imports the evaluator's module and loads what the evaluator needs lazily.

Every evaluation goes through :func:`~einnas.evaluators.base.run_evaluation`, so an exception
raised by the evaluator comes back as a failed result.  A worker that *dies* (killed by the
out-of-memory killer, a segfault in native code, ``os._exit``) breaks the pool: every evaluation
fails only its own trial: each worker notes which task it started (a small file per task), so
when the pool breaks the task whose worker is dead comes back failed (naming the cause) and every
other evaluation in flight is submitted again, once, on a fresh pool.  When the culprit cannot be
identified every task in flight is retried once, and a task fails only when it breaks the pool
twice.

Workers watch their parent: a daemon thread in each worker exits it (``os._exit``) within a
second of the search process's death (``kill -9``), so no worker outlives it.  :meth:`terminate`
(used on Ctrl-C, SIGTERM or an error in the search) kills the workers without waiting for the
running evaluations.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
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


_task_dir: str | None = None


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as the process that started it is gone (``kill -9``)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(
    evaluator: Evaluator | None = None,
    workers: int = 1,
    task_dir: str | None = None,
    parent: int | None = None,
) -> None:
    """Leave Ctrl-C to the search process: a terminal's SIGINT reaches the whole process group,
    and a worker interrupted mid-evaluation would otherwise report a spurious failed trial
    (the search process stops, and its running trials are closed as interrupted on resume).

    A daemon thread watches the parent process and exits the worker when it dies.  An
    evaluator with a ``worker_started(workers)`` method is told how many workers share the
    machine (the training evaluator then caps each worker's share of GPU memory)."""
    global _task_dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _task_dir = task_dir
    if parent is not None:
        if os.getppid() != parent:
            os._exit(1)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    hook = getattr(evaluator, "worker_started", None)
    if callable(hook):
        hook(workers)


def _run_task(tid: int, evaluator: Evaluator, task: EvalTask) -> EvalResult:
    """Note which worker runs task ``tid`` (to blame the right task if it dies), then run it."""
    if _task_dir is not None:
        with contextlib.suppress(OSError), open(os.path.join(_task_dir, str(tid)), "w") as f:
            f.write(str(os.getpid()))
    try:
        return run_evaluation(evaluator, task)
    finally:
        if _task_dir is not None:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(_task_dir, str(tid)))


def _exit_note(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f" (killed by {name}{hint})"
    return f" (exit code {code})"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return f"worker died: {exc}" if str(exc) else "worker died (BrokenProcessPool)"
    return f"{type(exc).__name__}: {exc}"


class ProcessPoolExecutor(Executor):
    """Evaluates in ``workers`` spawned processes (``capacity == workers``)."""

    MAX_BREAKS = 2
    """A task that breaks the pool this many times (or is seen to kill its worker) fails."""

    def __init__(self, evaluator: Evaluator, workers: int = 1) -> None:
        super().__init__(evaluator)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._lock = threading.RLock()
        self._pool: _StdPool | None = None
        self._closed = False
        self._next_id = 0
        self._broken: dict[int, dict[int, int | None]] = {}  # id(pool) -> worker exit codes
        self._task_dir = tempfile.mkdtemp(prefix="einnas-pool-")

    @property
    def capacity(self) -> int:
        return self.workers

    def _new_pool(self) -> _StdPool:
        ctx = multiprocessing.get_context(START_METHOD)
        return _StdPool(
            max_workers=self.workers,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(self.evaluator, self.workers, self._task_dir, os.getpid()),
        )

    def _submit_inner(self, tid: int, task: EvalTask) -> tuple[Future[EvalResult], _StdPool]:
        with self._lock:
            if self._closed:
                raise RuntimeError("submit() after shutdown()")
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                return self._pool.submit(_run_task, tid, self.evaluator, task), self._pool
            except BrokenProcessPool:
                # a worker died: start over with a fresh pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(_run_task, tid, self.evaluator, task), self._pool

    def _exit_codes(self, pool: _StdPool) -> dict[int, int | None]:
        """The exit status of each worker of a broken ``pool`` (None: alive), taken once."""
        with self._lock:
            codes = self._broken.get(id(pool))
            if codes is not None:
                return codes
            procs = dict(getattr(pool, "_processes", None) or {})
            # the pool saw a worker's pipe close; its exit status may need a moment to appear
            deadline = time.monotonic() + 0.5
            while True:
                codes = {pid: p.exitcode for pid, p in procs.items()}
                if any(c is not None for c in codes.values()) or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            self._broken[id(pool)] = codes
            return codes

    def _culprit(self, tid: int, pool: _StdPool) -> tuple[bool | None, str]:
        """Did task ``tid``'s worker die (None: unknown)?  And how it died."""
        codes = self._exit_codes(pool)
        try:
            with open(os.path.join(self._task_dir, str(tid))) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._task_dir, str(tid)))
        if pid in codes and codes[pid] is not None:
            return True, _exit_note(codes[pid])
        if any(c is not None for c in codes.values()):
            return False, ""  # another task's worker died
        return None, ""

    def submit(self, task: EvalTask) -> Future[EvalResult]:
        outer: Future[EvalResult] = Future()
        with self._lock:
            tid = self._next_id
            self._next_id += 1
        breaks = 0  # pool breaks with no identified culprit
        retries = 0
        pool: _StdPool | None = None

        def relay(fut: Future[EvalResult]) -> None:
            nonlocal breaks, retries, pool
            if fut.cancelled():
                outer.cancel()
                return
            try:
                result = fut.result()
            except CancelledError:
                outer.cancel()
                return
            except BrokenProcessPool as e:
                assert pool is not None
                died, note = self._culprit(tid, pool)
                breaks += 1 if died is None else 0
                retries += 1
                if self._closed:
                    result = failed_result("interrupted: the worker pool was shut down")
                elif died is True or breaks >= self.MAX_BREAKS or retries > 5:
                    result = failed_result(_describe(e) + note)
                else:  # a bystander of another task's crash (or unknown): run it again
                    try:
                        again_fut, pool = self._submit_inner(tid, task)
                        again_fut.add_done_callback(relay)
                        return
                    except Exception as again:
                        result = failed_result(_describe(again))
            except BaseException as e:  # an unpicklable result, ...
                result = failed_result(_describe(e))
            if not outer.done():
                outer.set_result(result)

        first, pool = self._submit_inner(tid, task)
        first.add_done_callback(relay)
        return outer

    def shutdown(self) -> None:
        """Cancel evaluations that have not started, wait for the running ones, stop workers."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._task_dir, ignore_errors=True)

    def terminate(self) -> None:
        """Stop now: kill the workers without waiting for running evaluations (Ctrl-C)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            procs = list((getattr(pool, "_processes", None) or {}).values())
            for proc in procs:
                with contextlib.suppress(Exception):
                    proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + 2.0
            for proc in procs:
                with contextlib.suppress(Exception):
                    proc.join(max(0.0, deadline - time.monotonic()))
                    if proc.is_alive():
                        proc.kill()
        shutil.rmtree(self._task_dir, ignore_errors=True)
