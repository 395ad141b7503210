"""The app database: models, sessions and migrations (Alembic, applied on start)."""

from web.db.migrate import upgrade
from web.db.models import Base, DataSource, Report, ReportVersion, Run
from web.db.session import Database

__all__ = ("Base", "DataSource", "Database", "Report", "ReportVersion", "Run", "upgrade")
