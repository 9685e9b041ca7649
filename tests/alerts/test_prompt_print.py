"""The prompt's HTML printed by headless Chromium: its print stylesheet puts a normal day
on one A4 page (the file is opened from disk, no server needed)."""

from __future__ import annotations

import re
import subprocess

import pytest

from aqcast.alerts.prompt import render_prompt
from tests.alerts.test_prompt_golden import clean_day, summer_ozone_day
from tests.service.api.test_page_browser import _chromium

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("case", "lang"), [(summer_ozone_day, "zh"), (clean_day, "en")])
def test_a_normal_day_prints_on_one_a4_page(case, lang, tmp_path):
    page = tmp_path / "prompt.html"
    page.write_text(render_prompt(case(lang), "html"), encoding="utf-8")
    pdf = tmp_path / "prompt.pdf"
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0 and pdf.exists(), proc.stderr.decode(errors="replace")[-2000:]
    data = pdf.read_bytes()
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    # A4 in points (Chromium writes the size of the @page rule)
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box and abs(float(box[1]) - 595.3) < 1.5 and abs(float(box[2]) - 841.9) < 1.5
