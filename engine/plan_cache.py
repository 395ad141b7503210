"""Plans kept for reuse: a designer previews the same definition over and over.

A plan depends only on the definition and the source's schema, and never changes once
built (see `QueryPlan`), so the same plan can serve any number of previews and runs. Plans
are keyed by the definition's canonical JSON (its SHA-256) and the schema object itself
(schemas are reflected once per source and cached by the caller; a new reflection is a
new schema), and the least recently used is dropped beyond `max_entries`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import orjson

from engine.definition import ReportDefinition
from engine.plan import QueryPlan, build_plan
from engine.schema import SourceSchema

__all__ = ("DEFAULT_PLANS", "PlanCache", "definition_hash")


def definition_hash(definition: ReportDefinition) -> str:
    """SHA-256 of the definition's canonical JSON (keys sorted): equal documents, one hash."""
    data = orjson.dumps(definition.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


class PlanCache:
    """An LRU of plans by (definition hash, schema identity); safe to share between threads."""

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        # The schema is kept with its plan: its id alone could be reused by a later object.
        self._plans: OrderedDict[tuple[str, int], tuple[SourceSchema, QueryPlan]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def plan(self, definition: ReportDefinition, schema: SourceSchema) -> QueryPlan:
        """The plan for this definition over this schema, built only if not kept already;
        a definition with problems raises `DefinitionError` each time (nothing is kept)."""
        key = (definition_hash(definition), id(schema))
        with self._lock:
            entry = self._plans.get(key)
            if entry is not None and entry[0] is schema:
                self._plans.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
        plan = build_plan(definition, schema)  # outside the lock: others need not wait
        with self._lock:
            self._plans[key] = (schema, plan)
            self._plans.move_to_end(key)
            while len(self._plans) > self.max_entries:
                self._plans.popitem(last=False)
        return plan

    def __len__(self) -> int:
        with self._lock:
            return len(self._plans)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()


DEFAULT_PLANS = PlanCache()
