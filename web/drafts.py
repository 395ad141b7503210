"""The designer's working copy of a report: its draft, edited, validated, saved or dropped.

The designer edits the report's draft (`Report.draft_text`), never its versions. Every
change is validated against the report's source (`engine.api.validate`) and stored as the
draft with its problems, valid or not; only `save_draft` makes a new version, and only
when the draft is valid (`web.reports.save_definition`), so an invalid draft never
replaces the last valid version. No HTTP types here.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from engine import api
from engine.catalogue import source_schema
from engine.document import read_yaml
from engine.errors import DataSourceError, DefinitionError, Issue
from engine.schema import SourceSchema
from web import reports
from web.db.models import Report, utcnow
from web.errors import TooLarge
from web.sources import source_engine

__all__ = (
    "Draft",
    "Edit",
    "discard_draft",
    "edit_draft",
    "field_list",
    "open_draft",
    "replace_draft",
    "report_source",
    "save_draft",
)

Document = dict[str, Any]
Edit = Callable[[Document], Document]

# libyaml when present: the pure-Python loader and dumper cost tens of ms a document.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Draft:
    """What the designer shows: the document, its problems, and how it stands to the versions.

    `unsaved` is true when the draft differs from the newest version; `issues` are the
    draft's problems (none when it is valid); `text` is the YAML tab's text; `broken` says
    the stored draft text did not parse, so `document` is the newest version's instead.
    """

    report_id: int
    title: str
    document: Document
    text: str
    version: int | None
    unsaved: bool
    issues: tuple[Issue, ...]
    broken: bool = False


def open_draft(session: Session, report_id: int) -> Draft:
    """The report's draft if it has one, else its newest version, with the draft's problems."""
    report = reports.get_report(session, report_id)
    return _draft(report)


def edit_draft(session: Session, report_id: int, edit: Edit) -> Draft:
    """Apply `edit` to the working document, validate it, and store it as the draft.

    An edit that cannot apply (`EditError`, e.g. a path that names nothing) raises before
    anything is stored.
    """
    report = reports.get_report(session, report_id)
    document = edit(_draft(report).document)
    return _store(session, report, _dump(document), document)


def replace_draft(session: Session, report_id: int, text: str) -> Draft:
    """The YAML tab's text as the draft, validated like any edit.

    Text that is not YAML, or not a mapping, raises `DefinitionError` and stores nothing:
    the designer could not show it. Text over the size limit raises `TooLarge`.
    """
    size = len(text.encode("utf-8"))
    if size > reports.MAX_DEFINITION_BYTES:
        limit = reports.MAX_DEFINITION_BYTES
        raise TooLarge(f"the definition has {size:,} bytes; the limit is {limit:,}", "definition")
    document = _load(text)
    report = reports.get_report(session, report_id)
    return _store(session, report, text, document)


def save_draft(session: Session, report_id: int) -> tuple[reports.SaveOutcome, Draft]:
    """Save the draft as the next version if it is valid (else keep it as the draft)."""
    report = reports.get_report(session, report_id)
    if report.draft_text is None:  # nothing changed since the newest version
        version = reports.latest_version(report)
        outcome = reports.SaveOutcome(True, version.number if version else None)
    else:
        outcome = reports.save_definition(session, report_id, report.draft_text)
    return outcome, _draft(report)


def discard_draft(session: Session, report_id: int) -> Draft:
    """Drop the draft: the designer shows the newest version again."""
    report = reports.get_report(session, report_id)
    if reports.latest_version(report) is None:
        raise DefinitionError("the report has no saved version to go back to", "draft")
    report.draft_text = None
    report.draft_errors = None
    session.commit()
    return _draft(report)


def report_source(session: Session, report_id: int) -> tuple[sa.Engine, SourceSchema]:
    """The engine and schema of the report's source (the edits' starting expressions)."""
    report = reports.get_report(session, report_id)
    if report.source is None:
        raise DefinitionError("the report has no data source: choose one first", "source")
    engine = source_engine(report.source)
    return engine, source_schema(engine)


def field_list(session: Session, report_id: int) -> tuple[str, list[dict[str, Any]]]:
    """The base table and the dotted field paths from it (`engine.api.describe_source`).

    A table the source does not have gives no fields: validation reports it at its path.
    """
    report = reports.get_report(session, report_id)
    table = str((_draft(report).document.get("source") or {}).get("table", ""))
    if report.source is None or not table:
        return table, []
    try:
        fields = api.describe_source(source_engine(report.source), table)["fields"]
    except DataSourceError:
        return table, []
    return table, list(fields)


def table_list(session: Session, report_id: int) -> list[dict[str, Any]]:
    """The tables of the report's source, each as a `path` (its name) and a `type` (how
    many columns it has); none when the source has none or cannot be reached."""
    report = reports.get_report(session, report_id)
    if report.source is None:
        return []
    try:
        tables = api.describe_source(source_engine(report.source))["tables"]
    except DataSourceError:
        return []
    return [{"path": t["name"], "type": f"{len(t['columns'])} columns"} for t in tables]


# --- helpers --------------------------------------------------------------------------


def _draft(report: Report, document: Document | None = None) -> Draft:
    """The report's working copy; `document` is its text's, when the caller has it."""
    latest = reports.latest_version(report)
    text = report.draft_text if report.draft_text is not None else (latest.text if latest else "")
    issues = tuple(
        Issue(e["path"], e["message"], e.get("hint", "")) for e in report.draft_errors or []
    )
    broken = False
    try:
        document = _load(text) if document is None else document
    except DefinitionError as error:  # a draft typed in the report page's editor
        document, broken = _load(latest.text) if latest else {}, True
        issues = issues or error.issues
    return Draft(
        report_id=report.id,
        title=report.title,
        document=document,
        text=text,
        version=latest.number if latest else None,
        unsaved=report.draft_text is not None,
        issues=issues,
        broken=broken,
    )


def _store(session: Session, report: Report, text: str, document: Document) -> Draft:
    issues = _problems(report, document)
    latest = reports.latest_version(report)
    if latest is not None and not issues and _parsed(latest.text) == document:
        report.draft_text = None  # back to the newest version: no draft
        report.draft_errors = None
    else:
        report.draft_text = text
        report.draft_errors = [issue.to_dict() for issue in issues]
        _remember(text, copy.deepcopy(document))
    report.updated_at = utcnow()
    session.commit()
    return _draft(report, document)


def _problems(report: Report, document: Mapping[str, Any]) -> tuple[Issue, ...]:
    if report.source is None:
        return (Issue("source", "the report has no data source: choose one first"),)
    return api.validate(document, source_engine(report.source)).issues


def _load(text: str) -> Document:
    """The document in `text`, a fresh copy each time (edits and callers may change it)."""
    return copy.deepcopy(_parsed(text))


# The same texts (the draft just stored, the newest version) are read on every edit and
# preview; parsing one costs more than the rest of an edit.
_documents: OrderedDict[str, Document] = OrderedDict()
_documents_lock = threading.Lock()
_DOCUMENTS_KEPT = 64


def _parsed(text: str) -> Document:
    """The document in `text`, shared: never change it."""
    with _documents_lock:
        if text in _documents:
            _documents.move_to_end(text)
            return _documents[text]
    try:
        document = yaml.load(text, Loader=_Loader) if text.strip() else {}  # noqa: S506 - safe
    except (yaml.YAMLError, ValueError, RecursionError):
        document = read_yaml(text)  # raises DefinitionError naming the line and column
    if not isinstance(document, dict):
        raise DefinitionError("the definition must be a mapping (title:, source:, bands: ...)")
    _remember(text, document)
    return document


def _remember(text: str, document: Document) -> None:
    with _documents_lock:
        _documents[text] = document
        _documents.move_to_end(text)
        while len(_documents) > _DOCUMENTS_KEPT:
            _documents.popitem(last=False)


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
