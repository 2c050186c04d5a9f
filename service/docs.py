"""The API documentation pages, served without internet: ``/docs`` (Swagger UI) and ``/redoc``.

FastAPI's own pages load Swagger UI and Redoc from a CDN, so on a closed network they stay
blank. Here the pages are FastAPI's (``get_swagger_ui_html``, ``get_redoc_html``, its documented
way to self-host the assets) and the assets come from the ``fastapi-offline`` package (MIT; it
ships Swagger UI 5, Apache-2.0, and Redoc, MIT), mounted at ``ASSETS``: nothing of either page
is fetched from anywhere but this service. Swagger UI's validator badge, which would ask
``validator.swagger.io``, is turned off, and Redoc does not load Google fonts.

The pages need no API key (the OpenAPI document is public too); the calls made from Swagger UI's
"Try it out" carry the key given under "Authorize", as any client's do.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the Swagger UI and Redoc assets are served (the ``static`` folder of ``fastapi_offline``).
ASSETS = "/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")
DOCS = "/docs"
REDOC = "/redoc"


class _Assets(StaticFiles):
    """The assets folder, named in the access log and the metrics by its mount's path (a mount
    sets no route of its own in the request's scope: the line would say ``(unmatched)``)."""

    route = None

    async def __call__(self, scope, receive, send) -> None:
        scope.setdefault("route", self.route)
        await super().__call__(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and the assets they load to ``app``, which was made with
    ``docs_url=None, redoc_url=None`` (so that FastAPI adds no CDN pages of its own)."""
    assets = _Assets(packages=[ASSETS_PACKAGE])
    app.mount(ASSETS, assets, name="docs-assets")
    assets.route = app.routes[-1]
    # no badge fetched from validator.swagger.io
    parameters = {**swagger_ui_default_parameters, "validatorUrl": None}

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=root + app.openapi_url,
                                   title=f"{app.title} {app.version}: API",
                                   swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
                                   swagger_ui_parameters=parameters)

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=root + app.openapi_url,
                              title=f"{app.title} {app.version}: API",
                              redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
                              with_google_fonts=False)


__all__ = ["ASSETS", "DOCS", "REDOC", "install"]
