"""The end-to-end harness: `quire serve` as a subprocess, Debian's Chromium through Playwright.

- `live_server` (session): `quire serve` on a free port with a fresh data dir under the
  session's temporary folder, its output captured to `server.log` there. The first start
  creates the app database, the demo SQLite source and the gallery of `examples/`.
- `browser` (session): Chromium at `/usr/bin/chromium` (or `QUIRE_CHROMIUM`), headless,
  driven by Playwright (sync API). Without that Chromium the tests skip, saying why, unless
  `QUIRE_REQUIRE_BROWSER=1`: then they fail.
- `page` (each test): a new context and page whose relative URLs go to the live server.
- `api` (session): an httpx client of the server's JSON API, to set up and follow runs.

A failed test leaves a screenshot of its page, the page's console and the server log in
`e2e-artifacts/` at the top of the repository; the failure report names the files.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from e2e.helpers import ROOT, add_example_report

ARTIFACTS = ROOT / "e2e-artifacts"
CHROMIUM = Path(os.environ.get("QUIRE_CHROMIUM", "/usr/bin/chromium"))
# From shared/WEB.md: no sandbox (root in a container), no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 90.0  # the first start builds the demo database and the app database
EXPECT_TIMEOUT_MS = 15_000  # every expect(); runs wait longer, explicitly
RUN_TIMEOUT_MS = 60_000  # a run's end, on a loaded 2-core machine
# About 300,000 order lines: a run that lasts many seconds (so it can be paused, resumed and
# cancelled by hand) and is estimated above the run form's confirmation size (200,000).
BIG_ORDERS = 60_000
BIG_TITLE = "Big sales by region"


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]


@dataclass
class PageLog:
    """What the page said in its console, and the errors it raised."""

    lines: list[str] = field(default_factory=list)


def pytest_configure(config: pytest.Config) -> None:
    # Only this session's failures: stale screenshots would mislead.
    if not hasattr(config, "workerinput"):
        shutil.rmtree(ARTIFACTS, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The gallery's tests first: they are a new user's first visit, when no thumbnail
    is rendered yet (the other tests pass in any order)."""
    items.sort(key=lambda item: item.path.name != "test_gallery.py")


def _require_browser() -> None:
    """Skip (or, with QUIRE_REQUIRE_BROWSER=1, fail) when there is no browser to drive."""
    if CHROMIUM.is_file():
        return
    reason = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set QUIRE_CHROMIUM)"
    if os.environ.get("QUIRE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (QUIRE_REQUIRE_BROWSER=1 requires it)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"quire serve exited with {server.returncode}:\n{_tail(log)}")
        try:
            # Not the gallery: its first visit is the tests' to make (thumbnails).
            if httpx.get(url + "/runs", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a starting process: there is no event to wait for
    pytest.fail(f"quire serve did not answer within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _require_browser()
    base = tmp_path_factory.mktemp("quire-e2e")
    data_dir, log = base / "data", base / "server.log"
    port = _free_port()
    # Nothing of the caller's QUIRE_* settings (a token, an app database URL) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    command = [sys.executable, "-m", "engine.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        yield LiveServer(url, data_dir, log, server)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


@pytest.fixture(scope="session")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def big_report(api: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> int:
    """A source of `BIG_ORDERS` orders (made as bench/runs.py makes its big one) and the
    grouped example on it, titled `BIG_TITLE`: its id."""
    from engine.demo_data import generate_demo

    database = tmp_path_factory.mktemp("big") / "big.db"
    generate_demo(f"sqlite:///{database}", orders=BIG_ORDERS)
    return add_example_report(api, database, "sales_by_region.yaml", BIG_TITLE)


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, page_log: PageLog) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("console", lambda m: page_log.lines.append(f"{m.type}: {m.text}"))
    new_page.on("pageerror", lambda e: page_log.lines.append(f"pageerror: {e}"))
    yield new_page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, keep the page's screenshot and console and the server log, and say
    where they are in the test's report (its section "e2e artifacts")."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    server = funcargs.get("live_server")
    if report.failed and isinstance(server, LiveServer):
        saved = _keep_artifacts(f"{item.name}-{report.when}", server, funcargs)
        report.sections.append(("e2e artifacts", "\n".join(saved)))
    return report


def _keep_artifacts(name: str, server: LiveServer, funcargs: dict[str, object]) -> list[str]:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    saved = []
    page = funcargs.get("page")
    if isinstance(page, Page) and not page.is_closed():
        shot = ARTIFACTS / f"{stem}.png"
        try:
            page.screenshot(path=shot, full_page=True)
            saved.append(f"screenshot: {shot} (page {page.url})")
        except Exception as error:  # a crashed page: say so, keep the rest
            saved.append(f"no screenshot: {error}")
    console = funcargs.get("page_log")
    if isinstance(console, PageLog):
        path = ARTIFACTS / f"{stem}.console.txt"
        path.write_text("\n".join(console.lines) + "\n")
        saved.append(f"browser console: {path}")
    server_log = ARTIFACTS / f"{stem}.server.log"
    shutil.copyfile(server.log, server_log)
    saved.append(f"server log: {server_log}")
    return saved
