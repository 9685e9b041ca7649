"""The duty officers' page as a person sees it: served by uvicorn, opened in headless
Chromium (no JavaScript needed), checked in the rendered DOM and a screenshot."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from lxml import html as lxml_html

from tests.support.api_seed import CRITICAL, DAY, NOW, seed

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}; CI installs Debian's chromium")
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_url):
    import uvicorn

    from aqcast.service.api.app import create_app
    from aqcast.service.settings import Settings

    seed(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, env="development"), clock=lambda: NOW)
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _chromium_run(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, timeout=90, check=False)


def test_page_in_headless_chromium(server, tmp_path):
    proc = _chromium_run(f"{server}/", tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    doc = lxml_html.fromstring(proc.stdout.decode("utf-8"))
    assert doc.findtext(".//title").startswith("空气质量工作提示")
    assert doc.findtext(".//h1") == "空气质量工作提示"
    critical = doc.xpath('//section[@id="critical"]//span[@class="big"]')[0].text_content()
    assert critical.strip() == f"{CRITICAL:.0f}"
    svg = doc.xpath('//*[local-name()="svg"]')
    assert len(svg) == 1
    assert svg[0].xpath('.//*[local-name()="polyline"]')
    assert svg[0].xpath('.//*[local-name()="line"][@class="critical"]')
    body_text = doc.text_content()
    assert "PM2.5" in body_text and "橙色预警" in body_text
    switch = doc.xpath('//a[@class="lang"]')[0]
    assert switch.get("href") == "?lang=en" and switch.text_content() == "English"


def test_english_page_and_screenshot(server, tmp_path):
    proc = _chromium_run(f"{server}/prompt/{DAY}?lang=en", tmp_path, "--dump-dom")
    assert proc.returncode == 0
    doc = lxml_html.fromstring(proc.stdout.decode("utf-8"))
    assert doc.findtext(".//h1") == "Air quality work prompt"
    shot = tmp_path / "page.png"
    proc = _chromium_run(
        f"{server}/",
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1100,1600",
        "--hide-scrollbars",
    )
    assert proc.returncode == 0 and shot.exists()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a drawn page, not blank
    if os.environ.get("AQCAST_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["AQCAST_KEEP_SCREENSHOT"])
