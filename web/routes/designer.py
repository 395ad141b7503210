"""The designer: `/reports/{id}/design`, its edits (htmx fragments) and its live preview.

Every edit goes through `web.drafts` (validated, stored as the draft, never as a version)
and answers with the fragment it changes, 200 when the draft is valid and 422 when not
(the page's htmx config swaps both), with `HX-Trigger: quire:changed` so the preview pane
asks for a new preview. A path that names nothing is a 404 and changes nothing; an edit
that cannot apply a 422 whose message shows in the page's alert region.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Response, Template
from sqlalchemy.orm import Session

from engine.errors import DefinitionError, QuireError, Superseded
from web import drafts, previews
from web.designer.contexts import (
    ErrorsContext,
    PropertiesUrls,
    TreeUrls,
    error_slots,
    errors_context,
    field_picker_context,
    properties_context,
    tree_context,
)
from web.designer.edits import (
    add_band,
    add_element,
    add_item,
    apply_form,
    move_item,
    remove_band,
    remove_item,
)
from web.designer.forms import build_form
from web.designer.paths import EditError, resolve
from web.drafts import Draft
from web.errors import NotFound
from web.http_errors import status_of
from web.pages import (
    AppliedEdit,
    DesignerPage,
    DesignerWorkspace,
    DraftStatus,
    PreviewPane,
    YamlResult,
)
from web.routes._render import render
from web.thumbnails import Thumbnails

__all__ = (
    "apply_properties",
    "designer_add_band",
    "designer_add_element",
    "designer_add_item",
    "designer_discard",
    "designer_fields",
    "designer_move",
    "designer_page",
    "designer_preview",
    "designer_remove",
    "designer_remove_band",
    "designer_save",
    "designer_select",
    "designer_yaml",
    "preview_page_svg",
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
CHANGED = {"HX-Trigger": "quire:changed"}  # the preview pane listens for it


@get("/reports/{report_id:int}/design", sync_to_thread=True)
def designer_page(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    tab: FromQuery[str] = "design",
    path: FromQuery[str] = "",
) -> Template:
    draft = drafts.open_draft(session, report_id)
    page = DesignerPage(
        report_id=report_id,
        title=draft.title,
        tab="yaml" if tab == "yaml" else "design",
        workspace=_workspace(draft, path),
        text=draft.text,
        designer=uuid.uuid4().hex,
        broken=draft.broken,
    )
    return render("design.html", page)


@get("/reports/{report_id:int}/design/select", sync_to_thread=True)
def designer_select(
    session: NamedDependency[Session], report_id: FromPath[int], path: FromQuery[str] = ""
) -> Template:
    """The tree with `path` selected and its property form."""
    draft = drafts.open_draft(session, report_id)
    build_form(draft.document, path)  # a path naming nothing: 404
    return render("designer/_workspace.html", _workspace(draft, path))


@post("/reports/{report_id:int}/design/properties", sync_to_thread=True)
def apply_properties(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    """The property form: errors beside their fields, the tree and the status, out of band."""
    path = str(data.get("path", ""))
    draft = _edit(session, report_id, lambda d: apply_form(d, path, data))
    form = build_form(draft.document, path)
    if draft.issues:
        errors = errors_context(DefinitionError(list(draft.issues)), form)
    else:
        errors = ErrorsContext(error_slots(form), {}, (), draft=False)
    page = AppliedEdit(
        errors, tree_context(draft.document, path, _tree_urls(report_id)), _status(draft, oob=True)
    )
    response = render("designer/_applied.html", page, 422 if draft.issues else 200)
    response.headers.update({**CHANGED, "HX-Reswap": "none"})
    return response


@post("/reports/{report_id:int}/design/add-element", sync_to_thread=True)
def designer_add_element(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    band, kind = str(data.get("band", "")), str(data.get("type", ""))
    _, schema = drafts.report_source(session, report_id)
    draft = _edit(session, report_id, lambda d: add_element(d, band, kind, source=schema))
    count = len(resolve(draft.document, band).get("elements") or [])
    return _edited(draft, f"{band}.elements[{count - 1}]")


@post("/reports/{report_id:int}/design/remove", sync_to_thread=True)
def designer_remove(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    """Remove an element (the band is selected after) or a section's item (the section)."""
    path = str(data.get("path", ""))
    draft = _edit(session, report_id, lambda d: remove_item(d, path))
    owner = path.rsplit(".elements[", 1)[0] if ".elements[" in path else path.split("[", 1)[0]
    return _edited(draft, owner)


@post("/reports/{report_id:int}/design/move", sync_to_thread=True)
def designer_move(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    """Move an element or item one place up (offset -1) or down (+1); it stays selected."""
    path = str(data.get("path", ""))
    offset = _offset(data.get("offset", ""), path)
    draft = _edit(session, report_id, lambda d: move_item(d, path, offset))
    head, _, index = path.rpartition("[")
    return _edited(draft, f"{head}[{int(index.rstrip(']')) + offset}]")


@post("/reports/{report_id:int}/design/add-band", sync_to_thread=True)
def designer_add_band(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    path = str(data.get("path", ""))
    return _edited(_edit(session, report_id, lambda d: add_band(d, path)), path)


@post("/reports/{report_id:int}/design/remove-band", sync_to_thread=True)
def designer_remove_band(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    path = str(data.get("path", ""))
    return _edited(_edit(session, report_id, lambda d: remove_band(d, path)), "")


@post("/reports/{report_id:int}/design/add-item", sync_to_thread=True)
def designer_add_item(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    """A new parameter, group, sort key or variable at the end of its section, selected."""
    section = str(data.get("path", ""))
    _, schema = drafts.report_source(session, report_id)
    draft = _edit(session, report_id, lambda d: add_item(d, section, source=schema))
    count = len(draft.document.get(section) or [])
    return _edited(draft, f"{section}[{count - 1}]")


@get("/reports/{report_id:int}/design/fields", sync_to_thread=True)
def designer_fields(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    target: FromQuery[str],
    tables: FromQuery[bool] = False,
) -> Template:
    """The field picker for the input `target`: every dotted path from the report's table,
    or with `tables` the source's tables."""
    if tables:
        context = field_picker_context(
            "", drafts.table_list(session, report_id), target, tables=True
        )
    else:
        table, fields = drafts.field_list(session, report_id)
        context = field_picker_context(table, fields, target)
    return Template(template_name=context.template, context=context.variables())


@post("/reports/{report_id:int}/design/yaml", sync_to_thread=True)
def designer_yaml(
    session: NamedDependency[Session], report_id: FromPath[int], data: Form
) -> Template:
    """The YAML tab: the whole text as the draft, validated like any edit."""
    try:
        draft = drafts.replace_draft(session, report_id, str(data.get("definition", "")))
    except DefinitionError as error:  # not YAML, or not a mapping: nothing stored
        status = _status(drafts.open_draft(session, report_id), oob=True)
        return render(
            "designer/_yaml_result.html", YamlResult(status, False, list(error.issues)), 422
        )
    page = YamlResult(_status(draft, oob=True), True, list(draft.issues))
    response = render("designer/_yaml_result.html", page, 422 if draft.issues else 200)
    response.headers.update(CHANGED)
    return response


@post("/reports/{report_id:int}/design/save", sync_to_thread=True)
def designer_save(
    session: NamedDependency[Session],
    thumbnails: NamedDependency[Thumbnails],
    report_id: FromPath[int],
) -> Template:
    """Save the draft as a new version: only when it is valid (else 422, nothing saved).
    A saved version gets its gallery thumbnail rendered in the background."""
    outcome, draft = drafts.save_draft(session, report_id)
    if outcome.saved:
        thumbnails.request(report_id)
    # Saved, the status says "Saved as version N" itself.
    message = "" if outcome.saved else "Fix the problems first: the last valid version is kept."
    return render(
        "designer/_status.html", _status(draft, message=message), 200 if outcome.saved else 422
    )


@post("/reports/{report_id:int}/design/discard", status_code=200, sync_to_thread=True)
def designer_discard(session: NamedDependency[Session], report_id: FromPath[int]) -> Response[str]:
    """Drop the draft; the page reloads on the newest version."""
    drafts.discard_draft(session, report_id)
    return Response(
        "", media_type="text/html", headers={"HX-Redirect": f"/reports/{report_id}/design"}
    )


@get("/reports/{report_id:int}/design/preview", sync_to_thread=True)
def designer_preview(
    session: NamedDependency[Session],
    report_id: FromPath[int],
    designer: FromQuery[str] = "",
    pages: FromQuery[int] = previews.PAGES,
) -> Template | Response[str]:
    """The preview pane: the draft's first pages, or its error in their place.

    A preview superseded by a newer one of the same designer tab is dropped: 204, no swap.
    Runs in a worker thread (the queries and the fill are Python; Typst is a process).
    """
    key = f"report-{report_id}:{designer[:64]}"
    try:
        shown = previews.preview_draft(session, report_id, key, pages)
    except Superseded:
        return Response("", status_code=204, media_type="text/html")
    except NotFound:
        raise
    except QuireError as error:
        message = error.issues[0].message if error.issues else error.kind
        if status_of(error) >= 500:
            message = f"{message} (error {status_of(error)})"
        return render(
            "designer/_preview.html", PreviewPane([], error=message, issues=list(error.issues))
        )
    preview = shown.preview
    page = PreviewPane(
        pages=[f"/previews/{key}.svg" for key in shown.keys],
        rows=preview.rows,
        total_rows=preview.total_rows,
        complete=preview.complete,
    )
    return render("designer/_preview.html", page)


@get("/previews/{name:str}", sync_to_thread=False)
def preview_page_svg(name: FromPath[str]) -> Response[bytes]:
    """One preview page as an SVG image; its URL is its content's hash, so it never changes."""
    return Response(
        previews.page_store.get(name.removesuffix(".svg")),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


# --- helpers --------------------------------------------------------------------------


def _tree_urls(report_id: int) -> TreeUrls:
    base = f"/reports/{report_id}/design"
    return TreeUrls(
        select=f"{base}/select",
        add_element=f"{base}/add-element",
        remove=f"{base}/remove",
        move=f"{base}/move",
        add_band=f"{base}/add-band",
        remove_band=f"{base}/remove-band",
        add_item=f"{base}/add-item",
    )


def _properties_urls(report_id: int) -> PropertiesUrls:
    base = f"/reports/{report_id}/design"
    return PropertiesUrls(save=f"{base}/properties", field_picker=f"{base}/fields")


def _status(draft: Draft, *, oob: bool = False, message: str = "") -> DraftStatus:
    return DraftStatus(
        draft.report_id, draft.version, draft.unsaved, len(draft.issues), message, oob
    )


def _workspace(draft: Draft, selected: str, *, oob: bool = False) -> DesignerWorkspace:
    """The tree and the form of `selected` (the report's own form if that names nothing)."""
    error = DefinitionError(list(draft.issues)) if draft.issues else None
    try:
        properties = properties_context(
            draft.document, selected, _properties_urls(draft.report_id), error
        )
    except EditError:
        selected = ""
        properties = properties_context(
            draft.document, "", _properties_urls(draft.report_id), error
        )
    tree = tree_context(draft.document, selected, _tree_urls(draft.report_id))
    return DesignerWorkspace(tree, properties, _status(draft, oob=oob))


def _edit(
    session: Session, report_id: int, edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> Draft:
    """The draft after `edit`. An `EditError` changes nothing: web.http_errors answers a
    path naming nothing with 404, an edit that cannot apply with 422, each with its message."""
    return drafts.edit_draft(session, report_id, edit)


def _edited(draft: Draft, selected: str) -> Template:
    """The workspace after a tree edit: 200 if the draft is valid, 422 if not (both swap)."""
    response = render(
        "designer/_workspace.html",
        _workspace(draft, selected, oob=True),
        422 if draft.issues else 200,
    )
    response.headers.update(CHANGED)
    return response


def _offset(value: Any, path: str) -> int:
    if str(value) not in ("-1", "1", "+1"):
        raise EditError(f"offset must be -1 (up) or 1 (down), not '{value}'", path)
    return int(value)
