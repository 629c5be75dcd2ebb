"""/docs and /redoc from assets inside an installed package: FastAPI's defaults load Swagger UI and ReDoc
from a CDN, which leaves both pages blank on a machine with no internet, and this service runs on those."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
FAVICON = "/favicon.ico"
# ReDoc's sidebar still asks a CDN for its maker's logo (and hides it when that fails): the pages may load
# nothing from elsewhere, so no request leaves the machine even where a network exists.
SAME_ORIGIN_ONLY = {"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:"}


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(SAME_ORIGIN_ONLY)
    return page


def install(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect page and /redoc; call with FastAPI(docs_url=None, redoc_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _same_origin_only(get_swagger_ui_html(
            openapi_url=app.openapi_url, title=title, oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
        ))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _same_origin_only(get_redoc_html(
            openapi_url=app.openapi_url, title=title, redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=FAVICON, with_google_fonts=False))
