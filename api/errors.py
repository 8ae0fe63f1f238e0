"""One error shape for every 4xx/5xx: RFC 9457 problem details (``application/problem+json``).

Every refusal carries ``type``, ``title``, ``status``, ``detail``, ``instance`` plus ``code`` (stable,
for programs), ``detail_zh`` and ``detail_en`` (both always present), ``request_id`` and, for
validation errors, ``errors: [{loc, msg}]``. ``title`` and ``detail`` are Chinese (zh-CN) unless the
request prefers English (``Accept-Language: en…``): the users are Chinese civil servants, the
operators may not be.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.methods import allowed_methods
from api.requests import DATE_IN_PAST, DATE_OUT_OF_RANGE, INVALID_CHARACTERS
from api.responses import PendingOut
from govshare.cases.service import CaseError, workflow_id_for

log = structlog.get_logger("govshare.api")

PROBLEM_JSON = "application/problem+json"

#: Titles per status, zh-CN first. A problem's ``title`` does not change between occurrences of the
#: same problem type (RFC 9457 §3.1.4); the ``detail`` explains this occurrence.
_TITLES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "Bad request"),
    401: ("未认证", "Unauthorized"),
    403: ("无权操作", "Forbidden"),
    404: ("未找到", "Not found"),
    405: ("不支持该请求方法", "Method not allowed"),
    409: ("与案件当前状态冲突", "Conflict with the case's current state"),
    413: ("请求体过大", "Request body too large"),
    415: ("不支持的内容类型", "Unsupported media type"),
    422: ("请求内容无效", "Unprocessable request"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("服务器内部错误", "Internal server error"),
    503: ("服务暂时不可用", "Service unavailable"),
}

_DEFAULT_DETAIL: dict[int, tuple[str, str]] = {
    400: ("请求格式有误", "The request is malformed"),
    401: ("缺少或无效的访问令牌", "Missing or invalid bearer token"),
    403: ("当前身份无权执行此操作", "Your department or role may not do this"),
    404: ("请求的资源不存在", "The requested resource does not exist"),
    405: ("该路径不支持此请求方法", "This path does not support this method"),
    413: ("请求体超过大小限制", "The request body exceeds the size limit"),
    415: ("请以 application/json 提交", "Send the body as application/json"),
    429: ("请求过于频繁,请稍后重试", "Too many requests; retry later"),
    500: (
        "服务器内部错误,已记录,请凭请求编号联系运维",
        "Internal error; it has been logged — quote the request id to the operators",
    ),
    503: ("服务暂时不可用,请稍后重试", "The service is temporarily unavailable; retry later"),
}

_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where the error is, e.g. ['body', 'purpose'] / 出错位置")
    msg: str = Field(description="What is wrong / 错误说明")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is returned (问题详情)."""

    type: str = Field(examples=["urn:govshare:problem:forbidden"])
    title: str = Field(examples=["无权操作"])
    status: int = Field(examples=[403])
    detail: str = Field(examples=["当前步骤应由 市政务服务和大数据管理局(platform) 办理"])
    instance: str = Field(examples=["/applications/SA-20261123-7K3Q9X/decisions"])
    code: str = Field(examples=["forbidden"], description="Stable machine-readable code / 错误代码")
    detail_zh: str
    detail_en: str
    request_id: str = ""
    errors: list[FieldError] | None = None


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, input checks, visibility)."""

    def __init__(
        self,
        status: int,
        detail_zh: str,
        detail_en: str,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail_en)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.detail_zh = detail_zh
        self.detail_en = detail_en
        self.errors = errors
        self.headers = headers or {}


def unauthorized(detail_zh: str, detail_en: str, code: str = "unauthorized") -> ApiError:
    # RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
    return ApiError(
        401, detail_zh, detail_en, code=code, headers={"WWW-Authenticate": 'Bearer realm="govshare"'}
    )


def prefers_english(accept_language: str | None) -> bool:
    """True when the client's best-ranked language of zh/en is English; Chinese otherwise."""
    if not accept_language:
        return False
    best: tuple[float, int, str] | None = None
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = tag.split("-", 1)[0]
        if lang in ("zh", "en") and q > 0:
            candidate = (q, -index, lang)
            if best is None or candidate > best:
                best = candidate
    return best is not None and best[2] == "en"


class ProblemResponse(JSONResponse):
    """A problem is always renderable: text echoed from the request (a path, a field name) that holds
    a lone surrogate is written as its JSON escape instead of failing to encode (a 500)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def problem_response(
    *,
    status: int,
    instance: str,
    accept_language: str | None,
    request_id: str = "",
    code: str | None = None,
    detail_zh: str | None = None,
    detail_en: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    code = code or _CODES.get(status, "error")
    default_zh, default_en = _DEFAULT_DETAIL.get(status, ("请求未能处理", "The request could not be handled"))
    detail_zh = detail_zh or default_zh
    detail_en = detail_en or default_en
    title_zh, title_en = _TITLES.get(status, ("错误", "Error"))
    english = prefers_english(accept_language)
    body: dict[str, Any] = {
        "type": f"urn:govshare:problem:{code}",
        "title": title_en if english else title_zh,
        "status": status,
        "detail": detail_en if english else detail_zh,
        "instance": instance,
        "code": code,
        "detail_zh": detail_zh,
        "detail_en": detail_en,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response_headers = {"Content-Language": "en" if english else "zh-CN", **(headers or {})}
    return ProblemResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=response_headers)


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "") or ""


def _for_request(request: Request, **kwargs: Any) -> JSONResponse:
    return problem_response(
        instance=request.url.path,
        accept_language=request.headers.get("accept-language"),
        request_id=_request_id(request),
        **kwargs,
    )


def _loc(loc: Any) -> list[str | int]:
    # A key may itself be unstorable text (an unknown field "\ud800"): shown escaped, never a 500.
    return [part if isinstance(part, int) else printable(str(part)) for part in loc]


def printable(text: str) -> str:
    """``text`` with lone surrogates as ``\\ud800``-style escapes, so it can be encoded as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _for_request(
        request,
        status=exc.status,
        code=exc.code,
        detail_zh=exc.detail_zh,
        detail_en=exc.detail_en,
        errors=exc.errors,
        headers=exc.headers,
    )


def retry_after_s(request: Request) -> int:
    """The ``Retry-After`` seconds of a 503 (settings ``API_RETRY_AFTER_S``)."""
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "api_retry_after_s", 2))


async def _case_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CaseError)
    headers = {}
    if exc.status >= 500:
        log.warning("case_service_unavailable", error=str(exc))
        headers["Retry-After"] = str(retry_after_s(request))
    return _for_request(
        request,
        status=exc.status,
        code=exc.code,
        detail_zh=exc.detail_zh,
        detail_en=exc.detail_en,
        errors=exc.errors or None,
        headers=headers,
    )


def _is_lock_error(exc: BaseException) -> bool:
    """SQLite's 'database is locked' / 'database table is locked' (another process holds the write
    lock past the busy timeout), PostgreSQL's lock_not_available (a lock_timeout)."""
    orig = getattr(exc, "orig", None)
    text = str(orig or exc).lower()
    return "is locked" in text or type(orig).__name__ == "LockNotAvailable"


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    """The database did not answer in time — no pooled connection free within the pool timeout, or
    the write lock held elsewhere past the busy timeout — or is unreachable: 503 + Retry-After, the
    request changed nothing (its transaction rolled back), so retrying is safe."""
    busy = isinstance(exc, SQLAlchemyTimeoutError) or _is_lock_error(exc)
    log.warning(
        "database_busy" if busy else "database_unavailable",
        error=str(getattr(exc, "orig", None) or exc).splitlines()[0][:300],
        error_type=type(exc).__name__,
        method=request.method,
        path=request.url.path,
    )
    seconds = retry_after_s(request)
    if busy:
        zh = f"数据库繁忙(等待连接或写锁超时),本次请求未作任何修改,请 {seconds} 秒后重试"
        en = (
            "the database is busy (no connection or write lock in time); nothing was changed — "
            f"retry in {seconds} s"
        )
    else:
        zh = f"数据库暂时不可用,本次请求未作任何修改,请 {seconds} 秒后重试"
        en = f"the database is unavailable; nothing was changed — retry in {seconds} s"
    return _for_request(
        request,
        status=503,
        code="database_busy" if busy else "database_unavailable",
        detail_zh=zh,
        detail_en=en,
        headers={"Retry-After": str(seconds)},
    )


#: Validation error types of our own (api.requests) → their zh/en description; such a refusal carries
#: the type as its ``code`` (when it is the only kind of error in the request).
_OWN_KINDS = {
    INVALID_CHARACTERS: (
        "请求内容含有无法保存的字符(空字符 U+0000 或孤立的代理项)",
        "The request holds characters that cannot be stored (NUL or a lone surrogate)",
    ),
    DATE_OUT_OF_RANGE: (
        "日期超出允许范围(2000-01-01 至 2100-12-31,北京时间)",
        "A date outside 2000-01-01 … 2100-12-31 (Asia/Shanghai)",
    ),
    DATE_IN_PAST: ("日期不能早于当前时间", "A date that must be in the future is not"),
}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": _loc(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
    malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
    if malformed:
        zh, en, code = "请求体不是合法的 JSON", "The request body is not valid JSON", "malformed_json"
    elif len(kinds := {e.get("type") for e in exc.errors()}) == 1 and (kind := kinds.pop()) in _OWN_KINDS:
        # One of our own refusals throughout: its own stable code, and a detail saying what it is.
        fields = "、".join(".".join(str(p) for p in e["loc"][1:] or e["loc"]) for e in errors)
        label_zh, label_en = _OWN_KINDS[kind]
        zh, en, code = f"{label_zh}:{fields}", f"{label_en}: {fields.replace('、', ', ')}", kind
    else:
        fields = "、".join(".".join(str(p) for p in e["loc"][1:] or e["loc"]) for e in errors)
        zh = f"请求内容未通过校验:{fields}"
        en = f"The request failed validation: {fields.replace('、', ', ')}"
        code = "validation_failed"
    return _for_request(request, status=422, code=code, detail_zh=zh, detail_en=en, errors=errors)


#: Why FastAPI could not read a JSON body (its bare 400 "There was an error parsing the body"): the
#: same refusal as any other body that is not JSON (RFC 8259 §8.1: JSON text is UTF-8).
_UNREADABLE_JSON: dict[type[BaseException], str] = {
    UnicodeDecodeError: "JSON decode error: the body is not UTF-8",
    RecursionError: "JSON decode error: nested too deeply",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and (cause := type(exc.__cause__)) in _UNREADABLE_JSON:
        return _for_request(
            request,
            status=422,
            code="malformed_json",
            detail_zh="请求体不是合法的 JSON",
            detail_en="The request body is not valid JSON",
            errors=[{"loc": ["body"], "msg": _UNREADABLE_JSON[cause]}],
        )
    detail_zh = detail_en = None
    # Framework 404/405 carry generic English texts; keep ours. Anything more specific is passed on.
    if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed"):
        detail_en = exc.detail
        detail_zh = _DEFAULT_DETAIL.get(status, (exc.detail, ""))[0]
    if status == 404 and detail_en is None:
        detail_zh = f"路径 {request.url.path} 不存在"
        detail_en = f"No such path: {request.url.path}"
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="govshare"')
    if status == 405:
        # Every method the path accepts, not only the first matching route's (RFC 9110 §15.5.6).
        headers["Allow"] = allowed_methods(request.scope, fallback=headers.get("Allow", ""))
    return _for_request(request, status=status, detail_zh=detail_zh, detail_en=detail_en, headers=headers)


class OutcomePending(Exception):
    """A create, decision or withdrawal handed to its case whose outcome did not come back within
    ``API_SETTLE_TIMEOUT_S`` (``case_service.CasePending``): answered 202 with the case id, Location,
    Retry-After and the Idempotency-Key to retry with — never a 500 for a write that will succeed."""

    def __init__(
        self,
        *,
        case_id: str,
        operation: str,
        idempotency_key: str | None,
        waited_s: float,
        started: bool = True,
    ) -> None:
        super().__init__(f"{operation} on {case_id} pending")
        self.case_id = case_id
        self.operation = operation
        self.idempotency_key = idempotency_key
        self.waited_s = waited_s
        #: A create whose start Temporal did not confirm (the engine did not answer): 503, not 202.
        self.started = started


_WHAT = {
    "application": ("申请", "application"),
    "rectification_order": ("整改通知", "rectification order"),
    "complaint": ("投诉", "complaint"),
    "catalog_update": ("目录更新", "catalog update"),
    "decision": ("办理决定", "decision"),
    "withdrawal": ("撤回申请", "withdrawal"),
    "clock_change": ("期限调整", "clock change"),
    "note": ("记录", "note"),
    "data_objection": ("数据疑义", "data objection"),
    "dispute": ("共享争议", "dispute"),
    "open_data_application": ("有条件开放数据申请", "conditional open-data application"),
    "open_catalog_correction": ("开放目录更正申请", "open catalog correction"),
}


#: Acts on an existing case; every other operation is a create (the case's first task had not opened
#: in time), whatever its case type.
_ACTS = frozenset({"decision", "withdrawal", "clock_change", "note"})


def case_path(case_id: str) -> str:
    """Where a case is read: an application at its own resource, every case at ``/cases``."""
    return f"/applications/{case_id}" if case_id.startswith("SA-") else f"/cases/{case_id}"


def _pending_texts(exc: OutcomePending, retry_s: int) -> tuple[str, str]:
    case_id, key, waited = exc.case_id, exc.idempotency_key, f"{exc.waited_s:g}"
    where = f"GET {case_path(case_id)}"
    if exc.operation not in _ACTS:
        what_zh, what_en = _WHAT.get(exc.operation, ("案件", "case"))
        zh = (
            f"案件 {case_id} 已创建并交给流程引擎,但 {waited} 秒内第一个办理环节尚未开启(可能暂无工作进程"
            f"运行,或数据库繁忙);{what_zh}不会丢失。"
        )
        en = (
            f"Case {case_id} was created and handed to the workflow engine, but its first task did not "
            f"open within {waited} s (no worker running, or the database busy); the {what_en} is not lost. "
        )
        if key is not None:
            zh += (
                f"请在 {retry_s} 秒后以相同内容和幂等键 Idempotency-Key: {key} 重新提交以取得该案件(不会创建"
                f"第二个案件),或查询 {where}(处理完成前可能返回 404)。"
            )
            en += (
                f"Send the same request again with Idempotency-Key: {key} after {retry_s} s to get the case "
                f"(no second case is created), or read {where} (404 until it has been processed)."
            )
        else:
            zh += (
                f"请勿重复提交:不带幂等键的重复提交会创建另一个案件。请在 {retry_s} 秒后查询 {where}(处理完成"
                "前可能返回 404);需要重试的提交请附带 Idempotency-Key。"
            )
            en += (
                f"Do not send it again: a retry without an Idempotency-Key opens another case. Read {where} "
                f"after {retry_s} s (404 until it has been processed); send an Idempotency-Key with any "
                "request you may retry."
            )
        return zh, en
    what_zh, what_en = _WHAT.get(exc.operation, ("请求", "request"))
    zh = (
        f"{what_zh}已提交给案件 {case_id},但 {waited} 秒内未得到结果(可能暂无工作进程运行,或数据库繁忙);"
        f"尚未确认,稍后可能生效。请在 {retry_s} 秒后以相同内容和幂等键 Idempotency-Key: {key} 重新提交,"
        f"即可得到其结果(不会重复办理);也可查询 {where}。"
    )
    en = (
        f"The {what_en} was handed to case {case_id}, but no outcome came back within {waited} s (no worker "
        "running, or the database busy); it is not confirmed yet and may still take effect. Send the same "
        f"request again with Idempotency-Key: {key} after {retry_s} s to get its outcome (it is never "
        f"applied twice), or read {where}."
    )
    return zh, en


def _start_unconfirmed(request: Request, exc: OutcomePending, retry_s: int) -> JSONResponse:
    """A write the engine did not confirm (it did not answer, or went away with the request sent):
    503, with the case id and the key under which a retry is taken at most once."""
    case_id, key, waited = exc.case_id, exc.idempotency_key, f"{exc.waited_s:g}"
    if exc.operation != "application":
        # A decision, clock change or withdrawal sent when the engine went away: taken or not, unknown.
        what_zh, what_en = _WHAT.get(exc.operation, ("请求", "request"))
        zh = (
            f"流程引擎暂时不可用,案件 {case_id} 的{what_zh}是否已办理尚未确认。"
            f"请在 {retry_s} 秒后以相同内容和幂等键 Idempotency-Key: {key} 重新提交,"
            "即可得到其结果(不会重复办理)。"
        )
        en = (
            f"The workflow engine became unavailable; whether the {what_en} on case {case_id} was taken is "
            f"not confirmed. Send the same request again with Idempotency-Key: {key} after {retry_s} s to "
            "get its outcome (it is never applied twice)."
        )
    else:
        zh = f"流程引擎未在 {waited} 秒内确认受理案件 {case_id}(可能暂时不可用),无法确定是否已创建。"
        en = (
            f"The workflow engine did not confirm case {case_id} within {waited} s (it may be unavailable); "
            "whether it was created is not known. "
        )
        if key is not None:
            zh += f"请在 {retry_s} 秒后以相同内容和幂等键 Idempotency-Key: {key} 重新提交(至多创建一个案件)。"
            en += f"Send the same request again with Idempotency-Key: {key} after {retry_s} s (one case)."
        else:
            zh += f"请在 {retry_s} 秒后查询 GET {case_path(case_id)},确认未创建后再提交。"
            en += f"Read GET {case_path(case_id)} after {retry_s} s; submit again only if it does not exist."
    headers = {"Retry-After": str(retry_s)}
    if key is not None:
        headers["Idempotency-Key"] = key
    log.warning(
        "write_unconfirmed",
        operation=exc.operation,
        case_id=case_id,
        idempotency_key=key,
        waited_s=exc.waited_s,
    )
    return _for_request(
        request,
        status=503,
        code="engine_unavailable",
        detail_zh=zh,
        detail_en=en,
        headers=headers,
        extra={"case_id": case_id, "idempotency_key": key},
    )


async def _outcome_pending(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OutcomePending)
    retry_s = retry_after_s(request)
    if not exc.started:
        return _start_unconfirmed(request, exc, retry_s)
    zh, en = _pending_texts(exc, retry_s)
    english = prefers_english(request.headers.get("accept-language"))
    location = case_path(exc.case_id)
    body = PendingOut(
        operation=exc.operation,
        case_id=exc.case_id,
        workflow_id=workflow_id_for(exc.case_id),
        location=location,
        idempotency_key=exc.idempotency_key,
        retry_after_s=retry_s,
        detail=en if english else zh,
        detail_zh=zh,
        detail_en=en,
        request_id=_request_id(request),
    )
    headers = {
        "Location": location,
        "Retry-After": str(retry_s),
        "Content-Language": "en" if english else "zh-CN",
    }
    if exc.idempotency_key is not None:
        headers["Idempotency-Key"] = exc.idempotency_key
    log.warning(
        "outcome_pending",
        operation=exc.operation,
        case_id=exc.case_id,
        idempotency_key=exc.idempotency_key,
        waited_s=exc.waited_s,
    )
    return JSONResponse(body.model_dump(), status_code=202, headers=headers)


def pending_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` entry of a 202 pending answer."""
    return {
        202: {
            "model": PendingOut,
            "description": "Outcome pending: retry with the Idempotency-Key given / 结果待定,可凭幂等键重试",
        }
    }


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(CaseError, _case_error)
    app.add_exception_handler(OutcomePending, _outcome_pending)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Pool timeout (sqlalchemy.exc.TimeoutError) and OperationalError (locked, unreachable): 503.
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_busy)
    app.add_exception_handler(OperationalError, _database_busy)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the problem shape for the given statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        title_zh, title_en = _TITLES.get(status, ("错误", "Error"))
        out[status] = {
            "model": Problem,
            "description": f"{title_en} / {title_zh}",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
