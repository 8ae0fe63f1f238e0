"""The web pages (issue 22): server-rendered HTML under ``/ui``, served by the API's own app.

``install(app)`` mounts the stylesheet and script (``/ui/static``: no CDN, every asset is the
application's), adds the page routers, and makes a refusal on a page a page: sign in when there is
no session (303 to ``/ui/login``), 403 for a form without its CSRF token, the API's refusals (404
for a case one may not see, 403, 409, 422) as readable words — never JSON, never a stack.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ApiError
from api.pages import apply, case, create, oidc, oversight, signin, work
from api.pages.forms import CsrfRefused, Problem, problem_of, validation_problem
from api.pages.render import PAGE_HEADERS, STATIC, language, page
from api.pages.sessions import SignInRequired
from api.pages.words import WORDS, say
from govshare.cases.service import CaseError

PREFIX = "/ui"


def _is_page(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def _problem_page(request: Request, problem: Problem) -> Response:
    lang = language(request)
    return page(
        request,
        "error.html",
        {
            "heading": say(problem.heading_key, lang),
            "message": problem.message,
            "request_id": getattr(request.state, "request_id", ""),
            "back": "/ui/",
            "flash": None,
        },
        status=problem.status,
        title=say(problem.heading_key, lang),
    )


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")
    for module in (signin, oidc, work, case, apply, oversight, create):
        app.include_router(module.router)

    @app.get(PREFIX, include_in_schema=False)
    def pages_root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    api_handlers = dict(app.exception_handlers)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/ui/"
        return RedirectResponse(
            f"/ui/login?next={quote(target, safe='')}", status_code=303, headers=PAGE_HEADERS
        )

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return _problem_page(request, Problem(403, say("error.csrf", language(request)), "csrf"))

    def for_pages(kind: type) -> None:
        fallback = api_handlers.get(kind)

        async def handler(request: Request, exc: Exception) -> Response:
            if not _is_page(request) and fallback is not None:
                return await fallback(request, exc)  # type: ignore[misc]
            lang = language(request)
            if isinstance(exc, RequestValidationError):
                return _problem_page(request, validation_problem(list(exc.errors()), lang))
            if isinstance(exc, StarletteHTTPException):
                status = exc.status_code
                key = f"error.{status}"
                message = say(key, lang) if key in WORDS else str(exc.detail)
                return _problem_page(request, Problem(status, message))
            return _problem_page(request, problem_of(exc, lang))

        app.add_exception_handler(kind, handler)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    for kind in (ApiError, CaseError, RequestValidationError, StarletteHTTPException):
        for_pages(kind)
