"""The context of every page and fragment: one documented dataclass each.

Templates read only `page.<field>`; tests/web/test_pages.py renders each template with
its dataclass under StrictUndefined, so a field a template needs cannot go missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import Issue
from web.designer.contexts import ErrorsContext, PropertiesContext, TreeContext
from web.reports import Example, ReportCard
from web.runs import ParamField
from web.sources import SourceSummary, TableInfo

__all__ = (
    "TEMPLATES",
    "AppliedEdit",
    "DesignerPage",
    "DesignerWorkspace",
    "DiffPage",
    "DraftStatus",
    "EditProblem",
    "ErrorPage",
    "GalleryPage",
    "LoginPage",
    "Preflight",
    "PreviewPane",
    "ReportPage",
    "RunFormErrors",
    "RunPanel",
    "RunRow",
    "RunState",
    "RunsPage",
    "SaveResult",
    "SourcePage",
    "SourceTest",
    "SourcesPage",
    "Thumbnail",
    "VersionRow",
    "VersionsPage",
    "YamlResult",
)


@dataclass(frozen=True)
class GalleryPage:
    """`gallery.html` (and `_cards.html` for search): the report cards and what filters them."""

    cards: list[ReportCard]
    tags: list[str]
    query: str = ""
    tag: str = ""
    examples: list[Example] = field(default_factory=list)
    sources: list[SourceSummary] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Thumbnail:
    """`_thumb.html`: a gallery card's image, or the box that waits for it (`pending`)."""

    report_id: int
    url: str | None = None
    pending: bool = False


@dataclass(frozen=True)
class VersionRow:
    number: int
    created_at: datetime
    note: str


@dataclass(frozen=True)
class ReportPage:
    """`report.html`: the report's newest definition (or its draft) in the YAML editor."""

    id: int
    title: str
    description: str
    tags: list[str]
    source: SourceSummary | None
    text: str
    version: int | None
    draft_issues: list[Issue]
    versions: list[VersionRow]
    run_fields: list[ParamField] = field(default_factory=list)
    formats: tuple[str, ...] = ("pdf",)

    @property
    def draft_result(self) -> SaveResult:
        """The draft's problems as `_save_result.html` shows them after a failed save."""
        return SaveResult(False, None, self.draft_issues)


@dataclass(frozen=True)
class SaveResult:
    """`_save_result.html`: after a save, the version stored or the problems of the draft."""

    saved: bool
    version: int | None
    issues: list[Issue]


@dataclass(frozen=True)
class VersionsPage:
    """`versions.html`: every saved version, newest first, to compare or restore."""

    report_id: int
    title: str
    versions: list[VersionRow]


@dataclass(frozen=True)
class DiffPage:
    """`diff.html`: the unified diff of two versions' YAML."""

    report_id: int
    title: str
    old: int
    new: int
    lines: list[str]


@dataclass(frozen=True)
class SourcesPage:
    """`sources.html`: the data sources and the form that adds one (with its error)."""

    sources: list[SourceSummary]
    name: str = ""
    url: str = ""
    error: str = ""
    error_field: str = ""


@dataclass(frozen=True)
class SourcePage:
    """`source.html`: one source's tables, columns, types and foreign keys."""

    source: SourceSummary
    tables: list[TableInfo]
    error: str = ""


@dataclass(frozen=True)
class SourceTest:
    """`_source_test.html`: the outcome of a test connection."""

    ok: bool
    message: str


@dataclass(frozen=True)
class LoginPage:
    """`login.html`: the access-token form."""

    next: str = "/"
    error: str = ""


@dataclass(frozen=True)
class ErrorPage:
    """`error.html`: any error on an HTML route."""

    status: int
    message: str
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class DraftStatus:
    """`designer/_status.html`: how the designer's draft stands to the saved versions.

    `problems` > 0 is an invalid draft ("draft — not saved: N problems"); `unsaved` a
    valid draft not saved yet; neither, the newest version itself. `message` says what
    the last action did; `oob` swaps the status in out of band beside another answer.
    """

    report_id: int
    version: int | None
    unsaved: bool
    problems: int
    message: str = ""
    oob: bool = False


@dataclass(frozen=True)
class DesignerWorkspace:
    """`designer/_workspace.html`: the band tree, the selected node's form and the status;
    what an edit in the tree re-renders (`#designer`)."""

    tree: TreeContext
    properties: PropertiesContext
    status: DraftStatus


@dataclass(frozen=True)
class AppliedEdit:
    """`designer/_applied.html`: the answer to a property form (200 or 422), all out of
    band: the error span of every field, the tree (summaries change) and the status."""

    errors: ErrorsContext
    tree: TreeContext
    status: DraftStatus


@dataclass(frozen=True)
class EditProblem:
    """`designer/_problem.html`: an edit that cannot apply, shown in the page's alert."""

    message: str


@dataclass(frozen=True)
class YamlResult:
    """`designer/_yaml_result.html`: the YAML tab's save, its problems beside the text.

    `applied` is false when the text was not even a document (malformed YAML): nothing
    was stored. Applied with `issues`, it is kept as the draft.
    """

    status: DraftStatus
    applied: bool
    issues: list[Issue]


@dataclass(frozen=True)
class PreviewPane:
    """`designer/_preview.html`: the first pages (URLs of SVG images) or the preview's error.

    `rows` of `total_rows` when not `complete` makes the banner "first N of M rows".
    """

    pages: list[str]
    rows: int = 0
    total_rows: int | None = None
    complete: bool = True
    error: str = ""
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class DesignerPage:
    """`design.html`: the designer of one report: tree, form and preview, or the YAML tab.

    `designer` keys this browser tab's previews (a newer one supersedes an older one);
    `broken` says the stored draft's YAML does not parse (the YAML tab shows it).
    """

    report_id: int
    title: str
    tab: str  # "design" or "yaml"
    workspace: DesignerWorkspace
    text: str
    designer: str
    broken: bool = False


@dataclass(frozen=True)
class Preflight:
    """`_preflight.html`: how big a run will be; with `confirm`, the question before a big one."""

    report_id: int
    rows: int
    pages: int
    seconds: float
    bytes: int
    confirm: bool = False
    confirm_rows: int = 0


@dataclass(frozen=True)
class RunFormErrors:
    """`_run_errors.html` (422): the problem beside each input of the run form, and the rest.
    `names` are every input's parameter name, so old messages are cleared."""

    names: list[str]
    errors: dict[str, str]
    message: str = ""


@dataclass(frozen=True)
class RunState:
    """`_run_state.html`: a run as one of its events shows it (progress or terminal)."""

    run_id: int
    status: str
    phase: str = ""
    percent: int = 0
    rows_done: int = 0
    rows_expected: int | None = None
    pages: int | None = None
    rate: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    position: int | None = None
    error: str = ""
    error_issues: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retries: int = 0  # times the database connection was lost and the run resumed

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class RunPanel:
    """`_run.html` and `run.html`: one run watched live (its SSE stream) with its controls."""

    run_id: int
    report_id: int
    report_title: str
    format: str
    state: RunState
    # Started from the run form: its inputs whose errors to clear (the form's own error and
    # the estimate are cleared too, even for a report without parameters). None: elsewhere.
    clear: list[str] | None = None


@dataclass(frozen=True)
class RunRow:
    """A run in a history table."""

    id: int
    report_id: int
    report_title: str
    status: str
    format: str
    parameters: dict[str, Any]
    created_at: datetime
    duration_s: float | None
    rows: int | None
    pages: int | None
    bytes: int | None
    strategy: str | None
    error: str


@dataclass(frozen=True)
class RunsPage:
    """`runs.html`: the runs of one report (`report_id`) or of all reports."""

    title: str
    report_id: int | None
    runs: list[RunRow]


# Which dataclass each template renders; `web.routes._render.render` enforces it.
TEMPLATES: dict[str, type] = {
    "gallery.html": GalleryPage,
    "_cards.html": GalleryPage,
    "_thumb.html": Thumbnail,
    "report.html": ReportPage,
    "_save_result.html": SaveResult,
    "versions.html": VersionsPage,
    "diff.html": DiffPage,
    "sources.html": SourcesPage,
    "source.html": SourcePage,
    "_source_test.html": SourceTest,
    "login.html": LoginPage,
    "error.html": ErrorPage,
    "design.html": DesignerPage,
    "designer/_workspace.html": DesignerWorkspace,
    "designer/_status.html": DraftStatus,
    "designer/_applied.html": AppliedEdit,
    "designer/_problem.html": EditProblem,
    "designer/_yaml_result.html": YamlResult,
    "designer/_preview.html": PreviewPane,
    "_preflight.html": Preflight,
    "_run_errors.html": RunFormErrors,
    "_run_state.html": RunState,
    "_run.html": RunPanel,
    "run.html": RunPanel,
    "runs.html": RunsPage,
}
