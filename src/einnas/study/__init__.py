"""Studies, trials and their storage: the append-only log behind every search.

* :mod:`einnas.study.trial` -- :class:`Trial` (an immutable view), :class:`TrialState`;
* :mod:`einnas.study.storage` -- the :class:`Storage` API, :class:`InMemoryStorage`,
  :func:`open_storage`;
* :mod:`einnas.study.sqlite_storage` -- :class:`SQLiteStorage` (durable, multi-process);
* :mod:`einnas.study.study` -- the :class:`Study` façade (create / resume, queries).

The storage is the single source of truth: trials are recorded as events that
are only ever appended (a start event, then at most one finish event), and the
current state of a trial is derived by replaying its events. Resuming a search
is replaying its log.
"""

from einnas.study.sqlite_storage import SCHEMA_VERSION, SQLiteStorage
from einnas.study.storage import (
    DuplicateStudyError,
    InMemoryStorage,
    Storage,
    StorageError,
    TrialFinishedError,
    UnknownStudyError,
    UnknownTrialError,
    open_storage,
)
from einnas.study.study import BUDGET_EVENT, IDENTITY_KEYS, IncompatibleStudyError, Study
from einnas.study.trial import (
    INTERRUPTED,
    JSONValue,
    Metrics,
    StudyEvent,
    StudyRecord,
    Trial,
    TrialState,
)

__all__ = [
    "BUDGET_EVENT",
    "IDENTITY_KEYS",
    "INTERRUPTED",
    "SCHEMA_VERSION",
    "DuplicateStudyError",
    "InMemoryStorage",
    "IncompatibleStudyError",
    "JSONValue",
    "Metrics",
    "SQLiteStorage",
    "Storage",
    "StorageError",
    "Study",
    "StudyEvent",
    "StudyRecord",
    "Trial",
    "TrialFinishedError",
    "TrialState",
    "UnknownStudyError",
    "UnknownTrialError",
    "open_storage",
]
