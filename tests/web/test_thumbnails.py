"""Gallery thumbnails: rendered in the background, cached by what they show, served as PNG."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from web.settings import Settings

Client = TestClient[Any]


def _first_card(client: Client) -> int:
    found = re.search(r'id="report-(\d+)"', client.get("/").text)
    assert found
    return int(found.group(1))


def _wait_for_thumbnail(client: Client, report_id: int, seconds: float = 60) -> str:
    """Poll the gallery until the card shows its image; its URL."""
    deadline = time.monotonic() + seconds
    pattern = re.compile(rf'id="report-{report_id}">\s*<img class="thumb" src="([^"]+)"')
    while time.monotonic() < deadline:
        found = pattern.search(client.get("/").text)
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no thumbnail for report {report_id} after {seconds} s")


def test_a_card_gets_its_thumbnail_once_rendered(client: Client, settings: Settings) -> None:
    report = _first_card(client)
    assert client.get(f"/reports/{report}/thumbnail.png").status_code in (200, 404)
    url = _wait_for_thumbnail(client, report)
    image = client.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    width = int.from_bytes(image.content[16:20], "big")
    assert 200 <= width <= 400
    assert len(list((settings.data_dir / "thumbnails").glob("*.png"))) >= 1


def test_a_saved_change_gets_a_new_thumbnail_and_an_unchanged_one_keeps_it(
    client: Client, csrf: dict[str, str], settings: Settings
) -> None:
    report = _first_card(client)
    first = _wait_for_thumbnail(client, report)
    folder: Path = settings.data_dir / "thumbnails"
    text = client.get(f"/reports/{report}/export.yaml").text
    same = client.post(f"/reports/{report}/definition", data={"definition": text}, headers=csrf)
    assert same.status_code == 200
    assert _wait_for_thumbnail(client, report) == first
    changed = re.sub(r"^title: .*$", "title: Renamed for the thumbnail", text, count=1, flags=re.M)
    saved = client.post(f"/reports/{report}/definition", data={"definition": changed}, headers=csrf)
    assert saved.status_code == 200
    second = _wait_for_thumbnail(client, report)
    assert second != first
    assert client.get(second).content.startswith(b"\x89PNG")
    assert len(list(folder.glob("*.png"))) >= 2


def test_an_unknown_report_has_no_thumbnail(client: Client) -> None:
    response = client.get("/reports/999999/thumbnail.png")
    assert response.status_code == 404


def _slot_until_final(client: Client, report_id: int, seconds: float = 60) -> Any:
    """Poll the card's slot as the gallery does (204 while rendering) until it answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.get(f"/reports/{report_id}/thumbnail-slot")
        if answer.status_code != 204:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"the thumbnail slot of report {report_id} still waits after {seconds} s")


def test_a_card_waits_for_its_thumbnail_and_gets_it_without_a_reload(
    client: Client, settings: Settings
) -> None:
    gallery = client.get("/").text  # the first visit: nothing rendered yet, all asked for
    report = _first_card(client)
    slot = f'hx-get="/reports/{report}/thumbnail-slot" hx-trigger="every 1s"'
    assert slot in gallery
    assert "<img" not in gallery
    answer = _slot_until_final(client, report)
    assert answer.status_code == 200
    found = re.fullmatch(r'<img class="thumb" src="([^"]+)"[^>]*>\s*', answer.text)
    assert found, answer.text
    assert client.get(found.group(1)).content.startswith(b"\x89PNG")
    assert slot not in client.get("/").text  # rendered: the card shows the image at once


def test_a_card_whose_report_cannot_be_previewed_stops_waiting(
    client: Client, csrf: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    copy = tmp_path / "gone.db"
    copy.write_bytes((settings.data_dir / "demo.db").read_bytes())
    source = client.post("/api/sources", json={"name": "Soon gone", "url": f"sqlite:///{copy}"})
    assert source.status_code == 201, source.text
    text = client.get(f"/reports/{_first_card(client)}/export.yaml").text
    report = client.post(
        "/api/reports", json={"definition": text, "source_id": source.json()["id"]}
    )
    assert report.status_code == 201, report.text
    copy.write_bytes(b"")  # an empty database: the report's table is gone
    answer = _slot_until_final(client, report.json()["id"])
    assert answer.status_code == 286  # htmx stops polling
    assert answer.text == ""
