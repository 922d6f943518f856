"""One owner per study: a lease with a heartbeat, kept in the study's own log.

Two processes searching the same study would both decide, evaluate and log (a tabular study of
budget 200 ended with 390 rows), and the second one's start would close the first one's running
trials as interrupted.  A search therefore first *acquires the study's lease*:

* the lease is a sequence of study events of kind ``"lease"`` (payload: ``action`` --
  ``acquire``, ``renew`` or ``release`` --, the owner's ``host``, ``pid`` and random ``token``,
  its wall-clock ``time`` and heartbeat ``interval``; a takeover names the ``takeover`` token);
* ownership is decided by replaying those events in log order (:func:`lease_owner`): an
  ``acquire`` wins when nobody holds the lease, or when it takes over (``takeover``) exactly the
  current owner; a ``renew`` of the owner refreshes it; a ``release`` frees it.  Study events are
  appended atomically, so every reader derives the same owner; an acquirer appends its event and
  then re-reads the log to see whether it won;
* a holder renews the lease from a background thread every ``interval`` seconds (default
  :data:`HEARTBEAT_SECONDS`) and releases it at the end;
* a lease is *stale* when its owner has not renewed it for ``3 x interval`` seconds, or when the
  owner ran on this host and its pid is gone (``kill -9``): then it is taken over, and only then
  are the previous owner's running trials closed as interrupted (by the search's resume);
* otherwise the second process is refused with :class:`StudyLockedError`, naming the owner.

Within one process the lease is re-entrant (a search started from a study's ``optimize`` shares
its lease).  An in-memory storage is private to its process and needs no lease.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from einnas.study.storage import Storage, StorageError
from einnas.study.trial import StudyEvent

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_EVENT",
    "LeaseOwner",
    "StudyLease",
    "StudyLockedError",
    "lease_owner",
    "owned_study",
    "study_lease",
]

LEASE_EVENT = "lease"
HEARTBEAT_SECONDS = 5.0
"""Default heartbeat interval; a lease not renewed for 3 intervals is stale."""
STALE_FACTOR = 3.0

F = TypeVar("F", bound=Callable[..., Any])


class StudyLockedError(StorageError):
    """Another live process holds the study's lease."""

    def __init__(self, study: str, owner: LeaseOwner, where: str = "") -> None:
        self.study = study
        self.owner = owner
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.since))
        ago = max(0.0, time.time() - owner.last)
        super().__init__(
            f"study {study!r}{where} is being searched by another process (host {owner.host}, "
            f"pid {owner.pid}, since {since}, last heartbeat {ago:.0f} s ago); wait for it to "
            f"finish or stop it (Ctrl-C / kill {owner.pid}) and rerun; a lease without heartbeat "
            f"for {STALE_FACTOR * owner.interval:.0f} s is taken over automatically"
        )


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds a study's lease, as the log says."""

    host: str
    pid: int
    token: str
    since: float  # wall-clock time of its acquire
    last: float  # wall-clock time of its last heartbeat
    interval: float

    def stale(self, now: float | None = None) -> bool:
        """No heartbeat for 3 intervals, or an owner on this host whose process is gone."""
        now = time.time() if now is None else now
        if now - self.last > STALE_FACTOR * self.interval:
            return True
        return self.host == socket.gethostname() and not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    if sys.platform.startswith("linux"):  # a zombie (dead, not yet reaped) is dead
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[-1].split()
            return not fields or fields[0] != "Z"
        except OSError:
            return True
    return True


def lease_owner(events: list[StudyEvent]) -> LeaseOwner | None:
    """The lease's holder after replaying the study's ``lease`` events in log order."""
    owner: LeaseOwner | None = None
    for e in events:
        if e.kind != LEASE_EVENT:
            continue
        p = e.payload
        try:
            action, token = p["action"], str(p["token"])
            at = float(p.get("time", e.created_at))
        except (KeyError, TypeError, ValueError):
            continue  # not a lease event this version understands
        if action == "acquire":
            if owner is None or owner.token == token or p.get("takeover") == owner.token:
                since = owner.since if owner is not None and owner.token == token else at
                owner = LeaseOwner(
                    str(p.get("host", "?")),
                    int(p.get("pid", 0)),
                    token,
                    since,
                    at,
                    float(p.get("interval", HEARTBEAT_SECONDS)),
                )
        elif action == "renew":
            if owner is not None and owner.token == token:
                owner = LeaseOwner(owner.host, owner.pid, token, owner.since, at, owner.interval)
        elif action == "release" and owner is not None and owner.token == token:
            owner = None
    return owner


def _where(storage: Storage) -> str:
    path = getattr(storage, "path", None)
    return f" in {path}" if isinstance(path, str) else ""


class StudyLease:
    """The lease of one study held by this process (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        study: str,
        *,
        interval: float = HEARTBEAT_SECONDS,
        on_lost: Callable[[LeaseOwner | None], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self.storage = storage
        self.study = study
        self.interval = float(interval)
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held = False
        self.lost = False
        self.took_over: LeaseOwner | None = None
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _append(self, action: str, **extra: Any) -> None:
        payload = {
            "action": action,
            "host": self.host,
            "pid": self.pid,
            "token": self.token,
            "time": time.time(),
            "interval": self.interval,
            **extra,
        }
        self.storage.append_study_event(self.study, LEASE_EVENT, payload)

    def owner(self) -> LeaseOwner | None:
        """The current holder, as the log says."""
        return lease_owner(self.storage.study_events(self.study))

    def acquire(self) -> StudyLease:
        """Become the study's owner, or raise :class:`StudyLockedError`."""
        current = self.owner()
        takeover: str | None = None
        if current is not None and current.token != self.token:
            if not current.stale():
                raise StudyLockedError(self.study, current, _where(self.storage))
            takeover = current.token
        self._append("acquire", takeover=takeover)
        winner = self.owner()
        if winner is None or winner.token != self.token:
            if winner is None:  # pragma: no cover - released in between: not ours either
                raise StorageError(f"study {self.study!r}: could not acquire its lease; rerun")
            raise StudyLockedError(self.study, winner, _where(self.storage))
        self.took_over = current if takeover is not None else None
        self.held = True
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"einnas-lease-{self.study}", daemon=True
        )
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._append("renew")
                owner = self.owner()
            except Exception as exc:  # a full disk, a busy file: try again next beat
                print(
                    f"einnas: could not renew the lease of {self.study!r}: {exc}", file=sys.stderr
                )
                continue
            if owner is None or owner.token != self.token:
                self.lost = True
                self.held = False
                if self._on_lost is not None:
                    self._on_lost(owner)
                else:
                    print(
                        f"einnas: lost the lease of study {self.study!r} (taken over by "
                        f"{'nobody' if owner is None else f'{owner.host} pid {owner.pid}'})",
                        file=sys.stderr,
                    )
                return

    def release(self) -> None:
        """Stop the heartbeat and free the lease (a no-op when not held)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(1.0, self.interval))
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):  # read-only or full: it goes stale instead
                self._append("release")

    def __enter__(self) -> StudyLease:
        return self.acquire() if not self.held else self

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- re-entrant use from this process ---------------------------------------------------------

_held_lock = threading.Lock()
_held: dict[tuple[str, str], tuple[StudyLease, int]] = {}


def _key(storage: Storage, study: str) -> tuple[str, str] | None:
    path = getattr(storage, "path", None)
    if not isinstance(path, str) or not path or path == ":memory:":
        return None  # private to this process: no lease needed
    return (f"{type(storage).__name__}:{path}", study)


@contextlib.contextmanager
def study_lease(
    storage: Storage, study: str, *, interval: float | None = None
) -> Iterator[StudyLease | None]:
    """Hold ``study``'s lease for the block (re-entrant within this process).

    Yields ``None`` for a storage private to this process (in memory).  The interval defaults to
    :data:`HEARTBEAT_SECONDS` (or the ``EINNAS_LEASE_SECONDS`` environment variable).
    """
    key = _key(storage, study)
    if key is None:
        yield None
        return
    with _held_lock:
        entry = _held.get(key)
        if entry is not None:
            _held[key] = (entry[0], entry[1] + 1)
    if entry is None:
        if interval is None:
            interval = float(os.environ.get("EINNAS_LEASE_SECONDS", HEARTBEAT_SECONDS))
        lease = StudyLease(storage, study, interval=interval).acquire()
        with _held_lock:
            _held[key] = (lease, 1)
    else:
        lease = entry[0]
    try:
        yield lease
    finally:
        with _held_lock:
            held, count = _held[key]
            if count > 1:
                _held[key] = (held, count - 1)
            else:
                del _held[key]
        if count <= 1:
            lease.release()


def owned_study(fn: F) -> F:
    """Decorate ``fn(storage, study, ...)``: run it holding the study's lease.

    On ``KeyboardInterrupt`` / ``SystemExit`` (Ctrl-C, SIGTERM) the owner closes its running
    single-fidelity trials as interrupted before giving the lease back (they are evaluated again
    on resume); multi-fidelity candidates (``fidelity=`` given) stay running and continue from
    their checkpoints.
    """

    @functools.wraps(fn)
    def wrapper(storage: Storage, study: str, *args: Any, **kwargs: Any) -> Any:
        with study_lease(storage, study):
            try:
                return fn(storage, study, *args, **kwargs)
            except (KeyboardInterrupt, SystemExit):
                if kwargs.get("fidelity") is None:
                    try:
                        storage.abandon_running(study)
                    except Exception:  # a write the interrupt cut short: reconnect, try again
                        with contextlib.suppress(Exception):
                            storage.close()
                            storage.abandon_running(study)
                raise

    return wrapper  # type: ignore[return-value]
