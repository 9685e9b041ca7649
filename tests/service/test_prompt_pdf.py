"""The prompt as an A4 PDF (fpdf2 with the Noto CJK font of Debian's fonts-noto-cjk)."""

from __future__ import annotations

import json
import os
import re
from datetime import date

import pytest
from typer.testing import CliRunner

from aqcast.service import forecasts as stored_forecasts
from aqcast.service.prompt_pdf import BODY_FONTS, PdfFontMissingError, find_font, prompt_pdf
from tests.alerts.test_prompt_golden import clean_day, summer_ozone_day, winter_orange_day
from tests.support.forecasts import make_forecast


@pytest.fixture
def cjk_font():
    if find_font(BODY_FONTS) is None:
        if os.environ.get("CI"):
            pytest.fail("no CJK font: .ci/run installs fonts-noto-cjk")
        pytest.skip("no CJK font here (apt-get install fonts-noto-cjk)")


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


@pytest.mark.parametrize(
    ("case", "lang"), [(summer_ozone_day, "zh"), (clean_day, "en"), (winter_orange_day, "zh")]
)
@pytest.mark.slow
def test_a_normal_day_prints_on_one_a4_page(cjk_font, case, lang):
    pdf = prompt_pdf(case(lang))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert _pages(pdf) == 1
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 in points
    assert re.search(rb"/BaseFont /[A-Z]+\+NotoSerifCJKSC\b", pdf)  # the SC face, embedded


def test_without_a_font_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("AQCAST_PDF_FONT", raising=False)
    with pytest.raises(PdfFontMissingError, match="fonts-noto-cjk"):
        prompt_pdf(clean_day("zh"), dirs=[tmp_path])
    monkeypatch.setenv("AQCAST_PDF_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(PdfFontMissingError, match="none.ttf: no such font file"):
        prompt_pdf(clean_day("zh"))


def _fake_models(monkeypatch, d: date):
    fc = make_forecast(d, [60, 70, 80])
    monkeypatch.setattr(
        stored_forecasts, "load_forecast", lambda engine, day: fc if day == d else None
    )


@pytest.mark.slow
def test_cli_writes_the_pdf_to_a_file(cjk_font, sqlite_url, monkeypatch, tmp_path):
    from aqcast.service.cli import app

    d = date(2015, 10, 20)
    _fake_models(monkeypatch, d)
    runner = CliRunner()
    no_file = runner.invoke(app, ["prompt", "--date", d.isoformat(), "--format", "pdf"])
    assert no_file.exit_code != 0 and "--output" in no_file.output
    out = tmp_path / "prompt.pdf"
    ok = runner.invoke(
        app, ["prompt", "--date", d.isoformat(), "--format", "pdf", "--output", str(out)]
    )
    assert ok.exit_code == 0, ok.output
    assert f"wrote {out}" in ok.output and _pages(out.read_bytes()) == 1
    as_json = runner.invoke(app, ["prompt", "--date", d.isoformat(), "--format", "json"])
    assert json.loads(as_json.output)["preview"] is True


def test_cli_without_a_font_says_so_in_one_line(sqlite_url, monkeypatch, tmp_path):
    from aqcast.service.cli import app

    d = date(2015, 10, 20)
    _fake_models(monkeypatch, d)
    monkeypatch.setenv("AQCAST_PDF_FONT", str(tmp_path / "missing.ttc"))
    out = tmp_path / "p.pdf"
    r = CliRunner().invoke(
        app, ["prompt", "--date", d.isoformat(), "--format", "pdf", "--output", str(out)]
    )
    assert r.exit_code == 2 and "missing.ttc: no such font file" in r.output
    assert "Traceback" not in r.output and not out.exists()


@pytest.mark.slow
def test_api_serves_the_published_prompt_as_pdf(cjk_font, sqlite_url):
    from aqcast.alerts.campaign import load_campaign
    from aqcast.alerts.prompt import build_prompt
    from aqcast.service.store import engine_for, session_scope
    from aqcast.service.tables import AlertEvent
    from tests.support.api_seed import DAY, make_client, seed

    keys = seed(sqlite_url)
    fc = make_forecast(DAY, [130, 90, 80], o3_mda8=[195, 150, 120])
    prompts = {
        lang: build_prompt(fc, "district", load_campaign(), lang=lang) for lang in ("zh", "en")
    }
    with session_scope(engine_for(sqlite_url)) as s:
        ev = s.get(AlertEvent, "evt_prompt_0615")
        ev.payload = {"prompt": json.loads(json.dumps(prompts, default=str))}
    with make_client(sqlite_url) as client:
        r = client.get(f"/v1/prompts/{DAY}?format=pdf", headers={"X-API-Key": keys.officer})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF-") and _pages(r.content) == 1
        by_accept = client.get(
            f"/v1/prompts/{DAY}?lang=en",
            headers={"X-API-Key": keys.officer, "Accept": "application/pdf"},
        )
        assert by_accept.headers["content-type"] == "application/pdf"
