"""A query result cache for small queries: aggregates, charts, previews, row estimates.

Never for the row stream of a full run. Entries are keyed by the compiled SQL text, its
bound parameters and the source, expire after a TTL, and are evicted least recently used
first when the cache holds too many entries or too many bytes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = ("CacheStats", "QueryCache", "query_key")


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int


class QueryCache:
    """TTL + LRU + size bound; safe to share between threads."""

    def __init__(
        self,
        ttl_s: float = 300.0,
        max_entries: int = 256,
        max_bytes: int = 32 * 2**20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value for `key`, computing (outside the lock) and storing it if absent."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry[2]
            if entry is not None:
                self._drop(key)
            self._misses += 1
        value = compute()
        size = _size(value)
        if size <= self.max_bytes:
            with self._lock:
                if key in self._entries:
                    self._drop(key)
                self._entries[key] = (now + self.ttl_s, size, value)
                self._bytes += size
                while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                    self._drop(next(iter(self._entries)))
        return value

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._bytes)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _drop(self, key: Hashable) -> None:
        _, size, _ = self._entries.pop(key)
        self._bytes -= size


def query_key(
    engine: sa.Engine, query: sa.ClauseElement, parameters: Mapping[str, Any]
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Source, compiled SQL and bound values: two queries share an entry only if all match."""
    compiled = query.compile(dialect=engine.dialect)
    values = {**compiled.params, **parameters}
    bound = tuple(sorted((name, repr(value)) for name, value in values.items()))
    source = engine.url.render_as_string(hide_password=False)
    return source, str(compiled), bound


def _size(value: Any) -> int:
    """Approximate bytes held by a query result (lists of rows of scalars)."""
    size = sys.getsizeof(value)
    if isinstance(value, list | tuple):
        for item in value:
            size += _size(item) if isinstance(item, list | tuple) else sys.getsizeof(item)
    return size


DEFAULT_CACHE = QueryCache()
