"""Hypothesis: a damaged log file is read or refused with a StorageError, never a raw error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einnas.testing.storage_fuzz import KINDS, OPS, damage, read_damaged, valid_log_bytes

_damage = st.tuples(
    st.sampled_from(OPS),
    st.integers(0, 1 << 20),
    st.integers(0, 1 << 20),
    st.binary(min_size=1, max_size=48),
)


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), damages=st.lists(_damage, min_size=1, max_size=3))
def test_damaged_log_reads_or_raises_storage_error(
    kind: str, damages: list[tuple[str, int, int, bytes]]
) -> None:
    data = valid_log_bytes(kind)
    for op, a, b, garbage in damages:
        data = damage(data, op, a, b, garbage)
    read_damaged(kind, data)  # True or False; anything but a StorageError propagates


def test_undamaged_logs_read_cleanly() -> None:
    for kind in KINDS:
        assert read_damaged(kind, valid_log_bytes(kind))
