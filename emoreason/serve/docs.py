"""API docs that work offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with their scripts served from the
``fastapi-offline`` package (part of the serve extra) instead of a CDN. Without that package ``/docs`` is a small
self-contained page listing the endpoints from ``/openapi.json``, and says how to get the full UI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

FALLBACK = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>emoreason API</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:960px;margin:24px auto;padding:0 16px;color:#1d2330}
code,pre{background:#f3f4f7;border-radius:4px;padding:1px 4px}pre{padding:8px;overflow:auto;font-size:13px}
h2{font-size:16px;margin:22px 0 4px}.m{font-weight:700;color:#2456c9;margin-right:6px}</style></head><body>
<h1>emoreason API</h1><p>The interactive Swagger UI needs the <code>fastapi-offline</code> package
(<code>pip install 'emoreason[serve]'</code>); this page lists the endpoints from
<a href="/openapi.json">/openapi.json</a>, which is the full machine-readable description.</p><div id="ops"></div>
<script>const spec = __SPEC__; const out = [];
for (const [path, ops] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(ops)) {
  const esc = (t) => String(t ?? "").replace(/[&<>]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"})[c]);
  out.push(`<h2><span class="m">${method.toUpperCase()}</span><code>${esc(path)}</code></h2>
  <p>${esc(op.summary)}</p><pre>${esc(op.description || "")}</pre>`); }
document.getElementById("ops").innerHTML = out.join("");</script></body></html>"""


def assets_folder() -> Path | None:
    """The folder of fastapi-offline's Swagger UI and ReDoc files, or None when it is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def add_docs(app: Any) -> None:
    """Add /docs, /redoc and /docs/assets to an app made with ``docs_url=None, redoc_url=None``."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    folder = assets_folder()
    if folder is None:

        @app.get("/docs", include_in_schema=False)
        def bare_docs() -> HTMLResponse:
            spec = json.dumps(app.openapi()).replace("</", "<\\/")
            return HTMLResponse(FALLBACK.replace("__SPEC__", spec))

        return
    app.mount("/docs/assets", StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the online validator
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            redoc_js_url="/docs/assets/redoc.standalone.js",
            redoc_favicon_url="/docs/assets/favicon.png",
            with_google_fonts=False,
        )
