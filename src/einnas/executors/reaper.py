"""A reaper: when the search process dies (even ``kill -9``), end what it started.

Ray's local instance shares the fate of the driver only in part: after ``kill -9`` of the
driver its GCS, raylet and workers exit, but the dashboard and runtime-env agents live on.  A
:class:`Reaper` is a small separate process (``python -m einnas.executors.reaper PID``) that
remembers, every ``interval`` seconds, the processes descended from ``PID`` (by ``/proc``), and
when ``PID`` is gone sends them SIGTERM, then SIGKILL to any still alive 2 s later.  Each
process is identified by its pid *and* start time, so a recycled pid is never signalled.
Linux only (elsewhere it does nothing).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

__all__ = ["Reaper", "descendants"]


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int, exclude: int | None = None) -> dict[int, int]:
    """{pid: start time} of every live process descended from ``root``."""
    parents: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                parents[int(name)] = st
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        nxt = set()
        for pid, (ppid, start) in parents.items():
            if ppid in frontier and pid not in found and pid != exclude:
                found[pid] = start
                nxt.add(pid)
        frontier = nxt
    return found


def _reap(known: dict[int, int]) -> None:
    alive = {p: s for p, s in known.items() if (st := _stat(p)) is not None and st[1] == s}
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 2.0
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = {p: s for p, s in alive.items() if (st := _stat(p)) is not None and st[1] == s}
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def watch(driver: int, interval: float = 1.0) -> None:
    """Remember ``driver``'s descendants until it dies, then end them."""
    me = os.getpid()
    known: dict[int, int] = {}
    while True:
        if _stat(driver) is None:
            _reap(known)
            return
        known.update(descendants(driver, exclude=me))
        known = {p: s for p, s in known.items() if (st := _stat(p)) is not None and st[1] == s}
        time.sleep(interval)


class Reaper:
    """Start a reaper for this process; :meth:`stop` ends it (a normal shutdown)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        if not sys.platform.startswith("linux"):
            return
        with contextlib.suppress(OSError):
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "einnas.executors.reaper", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the terminal does not reach it
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]))
