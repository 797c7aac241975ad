"""The admin API's interactive docs at `/admin/v1/docs`, served entirely from this origin.

FastAPI's own docs page loads Swagger UI's script and stylesheet from a CDN. On the origin that
also serves the console, that would let whoever controls the CDN run script beside a signed-in
console session. Here the page loads Swagger UI from the `fastapi-offline` package (served under
`/admin/v1/docs/assets/`) and its start-up script from this module (no inline script), under a
Content-Security-Policy that allows scripts, styles, images and requests from this origin only.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

SWAGGER_ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

START = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
});
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="{docs}/assets/favicon.png">
<link rel="stylesheet" href="{docs}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{docs}/assets/swagger-ui-bundle.js"></script>
<script src="{docs}/start.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI, prefix: str) -> None:
    """Add `{prefix}/docs` (the page), its start-up script and Swagger UI's assets to `app`
    (which must be built with `docs_url=None`)."""
    docs = f"{prefix}/docs"

    @app.get(docs, include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = PAGE.format(title=html.escape(f"{app.title} - docs"),
                           docs=html.escape(root + docs),
                           openapi=html.escape(root + (app.openapi_url or "")))
        return HTMLResponse(page, headers=HEADERS)

    @app.get(f"{docs}/start.js", include_in_schema=False)
    def docs_start() -> Response:
        return Response(START, media_type="text/javascript", headers=HEADERS)

    app.mount(f"{docs}/assets", _Assets(directory=SWAGGER_ASSETS), name="docs-assets")


class _Assets(StaticFiles):
    """Swagger UI's files with the docs page's security headers (and nothing else of the
    package's folder: its ReDoc bundle is not served)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in ASSETS:
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response
