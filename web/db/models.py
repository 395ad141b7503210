"""The app database's tables: data sources, reports, their versions, and runs.

A report's definitions live in `report_versions` (one row per save, never changed); the
report row carries what the gallery shows and, when the last edit did not validate, the
draft text with its problems.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ("Base", "DataSource", "Report", "ReportVersion", "Run", "utcnow")


def utcnow() -> datetime:
    """Now in UTC, without a zone: SQLite keeps none, so every backend stores the same."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[dict[str, Any]]: JSON,
    }


class DataSource(Base):
    """A database reports read from. `url` holds the password: never show it."""

    __tablename__ = "data_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    reports: Mapped[list[Report]] = relationship(back_populates="source")


class Report(Base):
    """A report: its latest valid definition is its newest version."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_sources.id", ondelete="SET NULL"), index=True
    )
    draft_text: Mapped[str | None] = mapped_column(Text)
    draft_errors: Mapped[list[dict[str, Any]] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    source: Mapped[DataSource | None] = relationship(back_populates="reports")
    versions: Mapped[list[ReportVersion]] = relationship(
        back_populates="report", order_by="ReportVersion.number", cascade="all, delete-orphan"
    )
    runs: Mapped[list[Run]] = relationship(back_populates="report", cascade="all, delete-orphan")


class ReportVersion(Base):
    """One saved, valid definition of a report; numbered 1, 2, ... per report."""

    __tablename__ = "report_versions"
    __table_args__ = (UniqueConstraint("report_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    report: Mapped[Report] = relationship(back_populates="versions")


class Run(Base):
    """A run of a report version: what was asked, how it went, where its output is.

    `status` is queued, running, paused, done, failed, cancelled or interrupted (left
    active by a server that stopped). `manifest` is what makes a finished run reproducible.
    """

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_versions.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    format: Mapped[str] = mapped_column(String(10), default="pdf")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[dict[str, Any] | None] = mapped_column()
    output_path: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    rows: Mapped[int | None] = mapped_column()
    pages: Mapped[int | None] = mapped_column()
    bytes: Mapped[int | None] = mapped_column()
    strategy: Mapped[str | None] = mapped_column(String(20))
    manifest: Mapped[dict[str, Any] | None] = mapped_column()
    definition_version: Mapped[int | None] = mapped_column()
    definition_hash: Mapped[str | None] = mapped_column(String(64))

    report: Mapped[Report] = relationship(back_populates="runs")
