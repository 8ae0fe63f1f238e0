"""The API docs pages, served offline: Swagger UI at ``/docs``, ReDoc at ``/redoc``.

FastAPI's own docs pages load their script and stylesheet from a public CDN, so on a network without
internet (as government networks are) they stay blank. Here the same pages load the files shipped in
the ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2 dist bundles, with FastAPI's favicon),
mounted under ``/docs/static``. Nothing the pages request leaves the machine: both pages also carry
a Content-Security-Policy that lets the browser load only from this origin, which stops the one
outside image left in the ReDoc bundle (the "API docs by Redocly" logo in its menu footer, which
then simply hides itself) and anything a future bundle might add.

``create_app`` builds ``FastAPI(docs_url=None, redoc_url=None)`` and calls :func:`install_docs`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"

#: The dist files: swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png.
STATIC_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")

#: Same origin only. Inline script/style: FastAPI's page starts Swagger UI inline, and both UIs set
#: styles at run time; ``blob:`` workers: ReDoc's search. "Try it out" calls this same origin.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect, ``/redoc`` and the static files they load to ``app``."""
    missing = [name for name in ASSETS if not (STATIC_DIR / name).is_file()]
    if missing:  # a fastapi-offline release that moved its files: fail at startup, not with a blank page
        raise RuntimeError(f"fastapi-offline lacks {', '.join(missing)} in {STATIC_DIR}")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def prefix(request: Request) -> str:
        # Behind a proxy that mounts the API under a path (uvicorn --root-path), links keep working.
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        response = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=app.title,
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=(root + oauth2_redirect_url) if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        response.headers["Content-Security-Policy"] = CSP
        return response

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        response = get_redoc_html(
            openapi_url=root + openapi_url,
            title=app.title,
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
        response.headers["Content-Security-Policy"] = CSP
        return response
