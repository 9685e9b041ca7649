"""/docs works without internet: the page and every asset it loads come from this app."""

from __future__ import annotations

import re

import pytest

from tests.support.api_seed import make_client


@pytest.mark.slow
def test_docs_page_loads_its_assets_from_the_app(sqlite_url):
    with make_client(sqlite_url) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]|url: ['"]([^'"]+)['"]""", page.text)
        urls = [a or b for a, b in urls]
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from a CDN
        assert not re.search(r"https?://(?!127\.0\.0\.1)", page.text)
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, url
        js = client.get("/swagger-ui/swagger-ui-bundle.js")
        assert "SwaggerUIBundle" in js.text
        assert client.get("/openapi.json").json()["openapi"].startswith("3.")
