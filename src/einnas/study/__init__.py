"""Studies, trials and their storage: the append-only log behind every search.

* :mod:`einnas.study.trial` -- :class:`Trial` (an immutable view), :class:`TrialState`;
* :mod:`einnas.study.events` -- what callers write: :class:`TrialStart`,
  :class:`TrialReport`, :class:`TrialOutcome` (validated value objects);
* :mod:`einnas.study.storage` -- :class:`Storage`: the log's semantics (trial
  numbers, replay, validation, errors), written once over a backend's
  primitives (create/list studies; inside a transaction, read a study's
  records after a cursor and append records);
* backends, which only store and read: :class:`InMemoryStorage`
  (:mod:`~einnas.study.memory`), :class:`SQLiteStorage`
  (:mod:`~einnas.study.sqlite_storage`, durable, multi-process) and
  :class:`JournalStorage` (:mod:`~einnas.study.journal`, a JSON-lines file
  for shared file systems);
* :mod:`einnas.study.factory` -- :func:`open_storage` (a storage from a spec);
* :mod:`einnas.study.study` -- the :class:`Study` façade (create / resume, queries).

The storage is the single source of truth: trials are recorded as events that
are only ever appended (a start, reports, then at most one outcome), and the
current state of a trial is derived by replaying them. Resuming a search is
replaying its log. Writes go through the storage:
``storage.start_trial(study, TrialStart(...))``,
``storage.finish_trial(study, number, TrialOutcome.complete(val))``,
``storage.record_trial(study, start, outcome)``, ``storage.report(...)``.
"""

from einnas.study.events import TrialOutcome, TrialReport, TrialStart
from einnas.study.factory import open_storage
from einnas.study.journal import JournalStorage
from einnas.study.memory import InMemoryStorage
from einnas.study.sqlite_storage import SCHEMA_VERSION, SQLiteStorage
from einnas.study.storage import (
    DuplicateReportError,
    DuplicateStudyError,
    Storage,
    StorageError,
    TrialFinishedError,
    UnknownStudyError,
    UnknownTrialError,
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
    "DuplicateReportError",
    "DuplicateStudyError",
    "InMemoryStorage",
    "IncompatibleStudyError",
    "JSONValue",
    "JournalStorage",
    "Metrics",
    "SQLiteStorage",
    "Storage",
    "StorageError",
    "Study",
    "StudyEvent",
    "StudyRecord",
    "Trial",
    "TrialFinishedError",
    "TrialOutcome",
    "TrialReport",
    "TrialStart",
    "TrialState",
    "UnknownStudyError",
    "UnknownTrialError",
    "open_storage",
]
