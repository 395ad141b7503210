"""A per-run memory guard: shrink batches when memory runs high, stop before exhausting it.

Runs share one process, so the guard compares the process's resident memory with the
run's limit. Above 80% of the limit the batch size halves (down to a floor) and the run is
marked degraded; above the limit the run stops with a clear error.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable

from engine.errors import MemoryLimitExceeded

__all__ = ("MemoryGuard", "MemoryLimitExceeded", "current_rss_bytes", "resident_bytes")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process now, from the counters Linux keeps (/proc); None
    where they cannot be read (another system, or the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def current_rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc), else its peak so far."""
    now = resident_bytes()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if now is None else now


class MemoryGuard:
    """Checked once per batch; says which batch size to use next."""

    HIGH_WATER = 0.8

    def __init__(
        self,
        limit_bytes: int | None,
        floor: int = 100,
        measure: Callable[[], int] = current_rss_bytes,
    ) -> None:
        self.limit = limit_bytes
        self.floor = floor
        self.measure = measure
        self.degraded = False
        self.peak = 0

    def next_batch_size(self, batch_size: int) -> int:
        """The batch size to use next; raise `MemoryLimitExceeded` above the limit."""
        if self.limit is None:
            return batch_size
        used = self.measure()
        self.peak = max(self.peak, used)
        if used > self.limit:
            raise MemoryLimitExceeded(
                f"memory limit of {self.limit // 2**20} MB exceeded "
                f"({used // 2**20} MB in use); the run was stopped",
                "memory",
            )
        if used > self.HIGH_WATER * self.limit and batch_size > self.floor:
            self.degraded = True
            return max(self.floor, batch_size // 2)
        return batch_size
