"""Reports: the gallery's cards, definitions saved as versions, drafts, import and export.

Every save that validates is a new version; one that does not is kept as the report's
draft with its problems, and the last valid version stays what it was.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from engine import api
from engine.definition import ReportDefinition
from engine.document import parse_definition
from engine.errors import DefinitionError, Issue, QuireError
from web.db.models import DataSource, Report, ReportVersion, Run, utcnow
from web.errors import NotFound, TooLarge
from web.sources import get_source, source_engine
from web.thumbnails import thumbnail_key

__all__ = (
    "MAX_DEFINITION_BYTES",
    "Example",
    "ReportCard",
    "SaveOutcome",
    "all_tags",
    "blank_definition",
    "create_report",
    "delete_report",
    "diff_versions",
    "duplicate_report",
    "element_at",
    "example_text",
    "export_definition",
    "get_report",
    "get_version",
    "latest_version",
    "list_examples",
    "list_reports",
    "restore_version",
    "save_definition",
    "set_tags",
    "thumbnail_key_of",
    "validate_definition",
)

MAX_DEFINITION_BYTES = 1_000_000


@dataclass(frozen=True)
class ReportCard:
    """A report as the gallery shows it. `thumbnail_key` names what its thumbnail shows
    (its newest version on its source); `thumbnail_url` is set once that image exists."""

    id: int
    title: str
    description: str
    tags: tuple[str, ...]
    last_run: datetime | None
    has_draft: bool
    versions: int
    thumbnail_key: str | None = None
    thumbnail_url: str | None = None


@dataclass(frozen=True)
class SaveOutcome:
    """What a save did: stored version `version`, or kept the text as a draft with `issues`."""

    saved: bool
    version: int | None
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    description: str


def list_reports(session: Session, query: str = "", tag: str = "") -> list[ReportCard]:
    """Cards of the reports whose title or description contains `query` and that have `tag`."""
    last_run = (
        sa.select(Run.report_id, sa.func.max(Run.created_at).label("at"))
        .group_by(Run.report_id)
        .subquery()
    )
    versions = (
        sa.select(
            ReportVersion.report_id,
            sa.func.count().label("n"),
            sa.func.max(ReportVersion.number).label("newest"),
        )
        .group_by(ReportVersion.report_id)
        .subquery()
    )
    newest = aliased(ReportVersion)
    statement = (
        sa.select(Report, last_run.c.at, versions.c.n, newest.text, DataSource.url)
        .outerjoin(last_run, last_run.c.report_id == Report.id)
        .outerjoin(versions, versions.c.report_id == Report.id)
        .outerjoin(newest, (newest.report_id == Report.id) & (newest.number == versions.c.newest))
        .outerjoin(DataSource, DataSource.id == Report.source_id)
        .order_by(Report.updated_at.desc(), Report.id.desc())
    )
    if query.strip():
        pattern = "%" + _escape_like(query.strip().lower()) + "%"
        statement = statement.where(
            sa.or_(
                sa.func.lower(Report.title).like(pattern, escape="\\"),
                sa.func.lower(Report.description).like(pattern, escape="\\"),
            )
        )
    cards = []
    for report, at, count, text, url in session.execute(statement):
        if tag and tag not in report.tags:
            continue
        cards.append(
            ReportCard(
                report.id,
                report.title,
                report.description,
                tuple(report.tags),
                at,
                report.draft_text is not None,
                count or 0,
                None if text is None or url is None else thumbnail_key(text, url),
            )
        )
    return cards


def all_tags(session: Session) -> list[str]:
    tags: set[str] = set()
    for report_tags in session.scalars(sa.select(Report.tags)):
        tags.update(report_tags)
    return sorted(tags)


def get_report(session: Session, report_id: int) -> Report:
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report with id {report_id}", "report_id")
    return report


def latest_version(report: Report) -> ReportVersion | None:
    return report.versions[-1] if report.versions else None


def get_version(session: Session, report_id: int, number: int) -> ReportVersion:
    report = get_report(session, report_id)
    for version in report.versions:
        if version.number == number:
            return version
    raise NotFound(
        f"report {report_id} has no version {number} (it has 1 to {len(report.versions)})",
        "version",
    )


def validate_definition(text: str, source: DataSource | None) -> ReportDefinition:
    """The definition in `text`, checked for structure and against its source.

    Raises `DefinitionError` with every problem (`engine.api.validate`, in one pass).
    """
    if len(text.encode("utf-8")) > MAX_DEFINITION_BYTES:
        raise TooLarge(
            f"the definition has {len(text.encode('utf-8')):,} bytes; "
            f"the limit is {MAX_DEFINITION_BYTES:,}",
            "definition",
        )
    if source is None:
        raise DefinitionError("the report has no data source: choose one first", "source")
    validated = api.validate(text, source_engine(source))
    error = validated.error()
    if error is not None:
        raise error
    assert validated.definition is not None  # valid
    return validated.definition


def create_report(
    session: Session, text: str, source_id: int, tags: list[str] | tuple[str, ...] = ()
) -> Report:
    """A new report from a definition that must validate; nothing is stored otherwise."""
    source = get_source(session, source_id)
    definition = validate_definition(text, source)
    report = Report(
        title=definition.title,
        description=definition.description or "",
        tags=_clean_tags(tags),
        source=source,
    )
    report.versions.append(ReportVersion(number=1, text=text, note="created"))
    session.add(report)
    session.commit()
    return report


def blank_definition(session: Session, source_id: int) -> str:
    """The smallest valid definition on the source: its first table, no bands yet."""
    from web.sources import describe_source

    tables = describe_source(get_source(session, source_id))
    if not tables:
        raise DefinitionError("the data source has no tables to report on", "source_id")
    return f"title: Untitled report\nsource:\n  table: {tables[0].name}\n"


def save_definition(session: Session, report_id: int, text: str) -> SaveOutcome:
    """Store `text` as the report's next version if it validates, else as its draft.

    An invalid text never replaces the last valid version. Saving the same text as the
    newest version adds no version. A text over the size limit raises `TooLarge`.
    """
    report = get_report(session, report_id)
    try:
        definition = validate_definition(text, report.source)
    except TooLarge:
        raise
    except QuireError as error:
        report.draft_text = text
        report.draft_errors = [issue.to_dict() for issue in error.issues]
        report.updated_at = utcnow()
        session.commit()
        return SaveOutcome(False, None, error.issues)
    latest = latest_version(report)
    report.draft_text = None
    report.draft_errors = None
    if latest is None or latest.text != text:
        number = latest.number + 1 if latest else 1
        report.versions.append(ReportVersion(number=number, text=text, note="saved"))
        report.title = definition.title
        report.description = definition.description or ""
        report.updated_at = utcnow()
    session.commit()
    version = latest_version(report)
    return SaveOutcome(True, version.number if version else None)


def thumbnail_key_of(session: Session, report_id: int) -> str | None:
    """What the report's thumbnail shows (`web.thumbnails.thumbnail_key`), or None for a
    report with no version or no source."""
    report = get_report(session, report_id)
    latest = latest_version(report)
    if latest is None or report.source is None:
        return None
    return thumbnail_key(latest.text, report.source.url)


def restore_version(session: Session, report_id: int, number: int) -> SaveOutcome:
    """Save an old version's text again, as the newest version (checked like any save)."""
    return save_definition(session, report_id, get_version(session, report_id, number).text)


def diff_versions(session: Session, report_id: int, old: int, new: int) -> list[str]:
    """A unified diff of two versions' YAML, line by line."""
    before = get_version(session, report_id, old)
    after = get_version(session, report_id, new)
    return list(
        difflib.unified_diff(
            before.text.splitlines(),
            after.text.splitlines(),
            f"version {old}",
            f"version {new}",
            lineterm="",
        )
    )


def duplicate_report(session: Session, report_id: int) -> Report:
    """A copy of the report's newest version, titled as a copy."""
    report = get_report(session, report_id)
    latest = latest_version(report)
    if latest is None:
        raise DefinitionError("the report has no saved version to copy", "report_id")
    title = f"{report.title} (copy)"
    copy = Report(
        title=title, description=report.description, tags=list(report.tags), source=report.source
    )
    copy.versions.append(ReportVersion(number=1, text=_retitle(latest.text, title), note="copy"))
    session.add(copy)
    session.commit()
    return copy


def delete_report(session: Session, report_id: int) -> None:
    session.delete(get_report(session, report_id))
    session.commit()


def set_tags(session: Session, report_id: int, tags: list[str] | tuple[str, ...]) -> Report:
    report = get_report(session, report_id)
    report.tags = _clean_tags(tags)
    session.commit()
    return report


def export_definition(session: Session, report_id: int) -> tuple[str, str]:
    """A file name and the YAML text of the report's newest version."""
    report = get_report(session, report_id)
    latest = latest_version(report)
    if latest is None:
        raise NotFound(f"report {report_id} has no saved version", "report_id")
    slug = re.sub(r"[^a-z0-9]+", "_", report.title.lower()).strip("_") or f"report_{report_id}"
    return f"{slug}.yaml", latest.text


def element_at(session: Session, report_id: int, path: str) -> Any:
    """The piece of the newest definition at a path like `bands.detail.elements[2]`."""
    report = get_report(session, report_id)
    latest = latest_version(report)
    if latest is None:
        raise NotFound(f"report {report_id} has no saved version", "report_id")
    value: Any = parse_definition(latest.text).to_data()
    walked = ""
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if key:
            if not isinstance(value, dict) or key not in value:
                where = walked or "the definition"
                raise NotFound(f"no element at '{path}': {where} has no '{key}'", path)
            value, walked = value[key], f"{walked}.{key}" if walked else key
        else:
            position = int(index)
            if not isinstance(value, list) or position >= len(value):
                size = len(value) if isinstance(value, list) else 0
                raise NotFound(
                    f"no element at '{path}': {walked} has {size} item(s), no [{position}]", path
                )
            value, walked = value[position], f"{walked}[{position}]"
    if not walked:
        raise NotFound(f"'{path}' is not an element path", path)
    return value


def list_examples(examples_dir: Path) -> list[Example]:
    """The example definitions that parse, by file name; read again only when files change."""
    files = tuple((f, f.stat().st_mtime_ns) for f in sorted(examples_dir.glob("*.yaml")))
    return list(_read_examples(files))


@functools.lru_cache(maxsize=4)
def _read_examples(files: tuple[tuple[Path, int], ...]) -> tuple[Example, ...]:
    # Parsing YAML costs ~0.1 s a file here: the gallery must not pay it on every keystroke.
    examples = []
    for file, _mtime in files:
        try:
            definition = parse_definition(file.read_text(encoding="utf-8"), str(file))
        except DefinitionError:
            continue
        examples.append(Example(file.stem, definition.title, definition.description or ""))
    return tuple(examples)


def example_text(examples_dir: Path, name: str) -> str:
    names = {example.name for example in list_examples(examples_dir)}
    if name not in names:
        raise NotFound(f"no example named '{name}'", "example")
    return (examples_dir / f"{name}.yaml").read_text(encoding="utf-8")


def _clean_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    cleaned: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()[:40]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned[:20]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _retitle(text: str, title: str) -> str:
    """The text with its top-level `title:` line replaced, comments and layout kept."""
    quoted = '"' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'
    new, count = re.subn(r"(?m)^title:[^\n]*$", lambda _: f"title: {quoted}", text, count=1)
    return new if count else f"title: {quoted}\n{text}"
