"""`/admin/v1/docs`: Swagger UI served from this origin (the package's assets, no CDN, no inline
script) under a Content-Security-Policy that allows nothing from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from zdr.control.api import build_admin_app
from zdr.control.docs import CSP
from zdr.testing.servers import UvicornThread

P = "/admin/v1"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def docs_client() -> Iterator[TestClient]:
    with TestClient(build_admin_app(lambda: None)) as client:   # type: ignore[arg-type]
        yield client


def test_the_docs_page_loads_nothing_from_another_origin(docs_client: TestClient) -> None:
    page = docs_client.get(f"{P}/docs")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(f"{P}/docs/") for s in sources), sources
    assert "//" not in "".join(sources) and "cdn" not in page.text.lower()
    assert re.findall(r"<script>", page.text) == [], "no inline script (the CSP forbids it)"
    assert f'data-openapi="{P}/openapi.json"' in page.text


@pytest.mark.parametrize(("name", "kind"), [
    ("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
    ("favicon.png", "image/png"),
])
def test_swagger_ui_assets_come_from_the_package(docs_client: TestClient, name: str,
                                                 kind: str) -> None:
    asset = docs_client.get(f"{P}/docs/assets/{name}")
    assert asset.status_code == 200 and kind in asset.headers["content-type"]
    assert len(asset.content) > 1000 and asset.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["redoc.standalone.js", "../core.py", "%2e%2e/core.py", "x.js"])
def test_nothing_else_of_the_package_folder_is_served(docs_client: TestClient,
                                                      name: str) -> None:
    answer = docs_client.get(f"{P}/docs/assets/{name}")
    assert answer.status_code == 404 and answer.json()["type"] == "error"


@pytest.mark.browser
def test_swagger_ui_renders_in_a_browser_without_any_other_origin() -> None:
    from playwright.sync_api import sync_playwright

    app = build_admin_app(lambda: None)   # type: ignore[arg-type, return-value]
    with UvicornThread(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            requested: list[str] = []
            problems: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: problems.append(message.text)
                    if message.type == "error" else None)
            page.goto(f"{server.url}{P}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "zdr-gateway admin API" in page.inner_text(".swagger-ui .info .title")
            assert page.locator(".opblock").count() > 20        # the routes are listed
        finally:
            browser.close()
    assert requested and all(url.startswith(server.url) for url in requested), requested
    assert problems == []
