"""The JSON API for automation, under /api: reports, data sources and runs."""

from litestar import Router

from web.routes.api import previews, reports, runs, sources

__all__ = ("api_router",)

api_router = Router(
    path="/api",
    tags=["api"],
    route_handlers=[
        reports.api_list_reports,
        reports.api_create_report,
        reports.api_get_report,
        reports.api_replace_report,
        reports.api_delete_report,
        reports.api_validate,
        reports.api_versions,
        reports.api_get_version,
        reports.api_restore_version,
        reports.api_diff,
        reports.api_element,
        previews.api_preview_report,
        previews.api_preview_definition,
        sources.api_list_sources,
        sources.api_create_source,
        sources.api_test_source,
        sources.api_source_schema,
        *(getattr(runs, name) for name in runs.__all__),
    ],
)
