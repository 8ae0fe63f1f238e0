"""The catalog register (政务信息资源目录): search and browse, entries and their versions, bulk import
and export of a department's catalog, and providers' data refreshes.

Reads are open to every authenticated department (the catalog is what every application points at).
Writes: an import by the platform (any department's rows) or by a provider (its own department's
rows only, and only entries that are its own); a refresh by the provider that owns the entry.
Catalog-update *cases* (a department's change set, approved by the platform) are
``api/routes/catalog_updates.py``; both publish through ``govshare.core.catalog.publish``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.deps import Caller, CurrentCaller, EngineDep, Offset, SettingsDep, caller_with_roles, run_db
from api.errors import ApiError, problem_response, problem_responses
from api.requests import CatalogEntryIn, RefreshCreate
from api.responses import (
    DepartmentRef,
    ImportProblemOut,
    ImportReport,
    ImportRowOut,
    ResourceList,
    ResourceOut,
    ResourceRefreshOut,
    ResourceVersionList,
    ResourceVersionOut,
    as_aware,
)
from govshare.core import catalog, catalog_lists
from govshare.core.models import Department, Resource, ResourceVersion
from regulations import Profile, ProfileError, load_profile
from regulations.catalog_rules import check_entry, citation_zh

log = structlog.get_logger("govshare.api")

router = APIRouter(prefix="/resources", tags=["resources"])

ImportCaller = Annotated[Caller, Depends(caller_with_roles("provider", "platform"))]
ProviderCaller = Annotated[Caller, Depends(caller_with_roles("provider"))]
ResourceId = Annotated[str, Path(min_length=1, max_length=64, description="Resource id / 资源代码")]
#: Rows an import may hold (the body is at most 1 MB anyway).
MAX_IMPORT_ROWS = 5000
EXPORT_BATCH = 1000


def _not_found(resource_id: str) -> ApiError:
    return ApiError(
        404, f"目录中没有资源 {resource_id}", f"no catalog resource {resource_id}", code="resource_not_found"
    )


def _refs(session: Session, codes: set[str]) -> dict[str, DepartmentRef]:
    if not codes:
        return {}
    rows = session.exec(select(Department).where(col(Department.code).in_(sorted(codes)))).all()
    return {d.code: DepartmentRef(code=d.code, name_zh=d.name_zh, name_en=d.name_en) for d in rows}


def _out(rows: list[Resource], refs: dict[str, DepartmentRef]) -> list[ResourceOut]:
    return [
        ResourceOut.from_row(
            row, refs.get(row.provider_department, DepartmentRef(code=row.provider_department))
        )
        for row in rows
    ]


# --------------------------------------------------------------------------------------------------
# GET /resources — search and browse
# --------------------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=ResourceList,
    summary="Search and browse the resource catalog",
    description="政务信息资源目录:按名称、摘要、分类全文检索(中文按字词片段匹配:“人口”“基础信息”均可检索到“人口基础信息”;"
    "英文和资源代码按词前缀匹配),可按提供部门、共享类型、资源类型、状态筛选,分页。名称命中者排在前面。\n\n"
    "Every authenticated department may read the catalog. `q` matches Chinese by substring (every "
    "character bigram of the query must occur) and English words and ids by prefix; hits in the name "
    "come first, then by id. Without `q`: every entry matching the filters, by id. `provider` is the "
    "former name of `department`.",
    responses=problem_responses(401, 422),
)
def list_resources(
    caller: CurrentCaller,
    engine: EngineDep,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=100, description="Search text / 检索词")] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="Only this provider department")
    ] = None,
    provider: Annotated[
        str | None, Query(max_length=64, description="Same as department (older name)")
    ] = None,
    share_type: Annotated[Literal["unconditional", "conditional", "not_shared"] | None, Query()] = None,
    kind: Annotated[Literal["basic", "thematic", "departmental"] | None, Query()] = None,
    status: Annotated[
        Literal["published", "withdrawn", "all"], Query(description="published (default) | withdrawn | all")
    ] = "published",
    limit: Annotated[int, Query(ge=1, le=200, description="Page size (1–200)")] = 50,
) -> ResourceList:
    if department is not None and provider is not None and department != provider:
        raise ApiError(
            422,
            "department 与 provider 不一致(二者同义,请只给一个)",
            "department and provider differ (they are the same filter: give one)",
            errors=[{"loc": ["query", "provider"], "msg": "differs from department"}],
        )
    with Session(engine) as session:
        rows, total = catalog.search(
            session,
            q,
            department=department if department is not None else provider,
            share_type=share_type,
            kind=kind,
            status=None if status == "all" else status,
            limit=limit,
            offset=offset,
        )
        refs = _refs(session, {row.provider_department for row in rows})
        return ResourceList(items=_out(rows, refs), total=total, limit=limit, offset=offset)


# --------------------------------------------------------------------------------------------------
# GET /resources/export — a department's catalog as CSV or JSON
# --------------------------------------------------------------------------------------------------


def _export_batches(engine: Engine, department: str | None) -> Iterator[list[dict[str, Any]]]:
    """The published entries by id, a batch at a time, each read in a short session of its own."""
    after = ""
    while True:
        query = select(Resource).where(Resource.status == "published", col(Resource.id) > after)
        if department is not None:
            query = query.where(Resource.provider_department == department)
        with Session(engine) as session:
            rows = session.exec(query.order_by(col(Resource.id)).limit(EXPORT_BATCH)).all()
            batch = [catalog.entry_data(row) for row in rows]
        if not batch:
            return
        yield batch
        after = batch[-1]["id"]


def _export_csv(engine: Engine, department: str | None) -> Iterator[str]:
    yield "\ufeff"  # a BOM: spreadsheet programs then read the file as UTF-8
    header = True
    for batch in _export_batches(engine, department):
        text = catalog.write_csv(batch)
        yield text if header else text.split("\r\n", 1)[1]
        header = False
    if header:
        yield catalog.write_csv([])


def _export_json(engine: Engine, department: str | None) -> Iterator[str]:
    yield "["
    first = True
    for batch in _export_batches(engine, department):
        for entry in batch:
            yield ("\n" if first else ",\n") + json.dumps(entry, ensure_ascii=False)
            first = False
    yield "\n]\n"


@router.get(
    "/export",
    summary="Export a department's catalog (CSV or JSON)",
    description="导出目录(已发布条目,按资源代码排序):`format=csv` 为带表头的 CSV(UTF-8,列表字段以 `|` 连接),"
    "`format=json` 为 JSON 数组;均可原样导入。不指定部门时导出全部目录。\n\n"
    "The published entries of `department` (every department when omitted), by id: CSV with a header "
    "row (list fields joined by `|`) or a JSON array — both read back by `POST /resources/import`.",
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The catalog"},
        **problem_responses(401, 404, 422),
    },
)
def export_resources(
    caller: CurrentCaller,
    engine: EngineDep,
    department: Annotated[str | None, Query(max_length=64, description="Provider department")] = None,
    format: Annotated[Literal["csv", "json"], Query(description="csv | json")] = "json",
) -> Response:
    if department is not None:
        with Session(engine) as session:
            if session.get(Department, department) is None:
                raise ApiError(
                    404, f"没有部门 {department}", f"no department {department}", code="department_not_found"
                )
    name = f"catalog-{department or 'all'}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return StreamingResponse(
            _export_csv(engine, department), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(_export_json(engine, department), media_type="application/json", headers=headers)


# --------------------------------------------------------------------------------------------------
# POST /resources/import — a department's catalog, validated row by row, all or nothing
# --------------------------------------------------------------------------------------------------


def _bad_body(zh: str, en: str, code: str, loc: list[str | int] | None = None) -> ApiError:
    return ApiError(422, zh, en, code=code, errors=[{"loc": loc or ["body"], "msg": en}])


def _read_rows(content_type: str, body: bytes) -> list[Any]:
    """The rows of an import body: a JSON array, or CSV with a header row."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            rows = json.loads(body)
        except (ValueError, RecursionError):
            raise _bad_body(
                "请求体不是合法的 JSON", "The request body is not valid JSON", "malformed_json"
            ) from None
        if not isinstance(rows, list):
            raise _bad_body(
                "请求体应为目录条目的 JSON 数组", "The body must be a JSON array of entries", "not_an_array"
            )
        return rows
    if media in ("text/csv", "application/csv"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_body("CSV 须为 UTF-8 编码", "The CSV must be UTF-8 encoded", "not_utf8") from None
        try:
            return catalog.read_csv(text)
        except catalog.CatalogError as err:
            raise _bad_body(err.detail_zh, err.detail_en, err.code) from None
    raise ApiError(
        415,
        "请以 application/json(条目数组)或 text/csv 提交目录",
        "Send the catalog as application/json (an array of entries) or text/csv",
    )


def _profile(profile_id: str) -> Profile:
    try:
        return load_profile(profile_id)
    except ProfileError as err:
        raise ApiError(
            422,
            f"未知的规范配置 {profile_id}",
            f"unknown profile {profile_id}: {err}",
            code="unknown_profile",
            errors=[{"loc": ["query", "profile"], "msg": str(err)}],
        ) from None


def _import(
    session: Session, caller: Caller, raw_rows: list[Any], profile: Profile, dry_run: bool
) -> tuple[ImportReport, list[dict[str, Any]]]:
    """Check every row (form, the profile's rules, departments, ownership), then publish all of them
    or none; returns the report and the ``errors`` of a rejection."""
    now = datetime.now(UTC)
    entries: list[dict[str, Any]] = []
    problems: list[ImportProblemOut] = []

    def reject(row: int, entry_id: str, field: str, rule: str, article: str, zh: str, en: str) -> None:
        problems.append(
            ImportProblemOut(
                row=row,
                id=entry_id,
                field=field,
                rule=rule,
                article=article,
                citation_zh=citation_zh(profile, article) if article else "",
                message_zh=zh,
                message_en=en,
            )
        )

    for number, raw in enumerate(raw_rows, start=1):
        entry, unreadable = catalog.parse_row(raw)
        entries.append(entry)
        entry_id = entry.get("id", "")
        for p in unreadable:
            reject(number, entry_id, p.field, p.rule, "", p.message_zh, p.message_en)
        for v in check_entry(profile, entry):
            reject(number, entry_id, v.field, v.rule, v.article, v.message_zh, v.message_en)

    ids = [e.get("id", "") for e in entries]
    existing = {
        row.id: row
        for row in session.exec(select(Resource).where(col(Resource.id).in_(sorted(set(ids) - {""}))))
    }
    departments = {e.get("provider_department", "") for e in entries} - {""}
    known = set(session.exec(select(Department.code).where(col(Department.code).in_(sorted(departments)))))
    # Authorization before anything else: a provider acts on its own department's entries only.
    if caller.role != "platform":
        foreign: list[dict[str, Any]] = []
        for number, entry in enumerate(entries, start=1):
            current = existing.get(entry.get("id", ""))
            dept = entry.get("provider_department", "")
            if dept and dept != caller.department:
                foreign.append({"loc": ["body", number, "provider_department"], "msg": f"department {dept}"})
            elif current is not None and current.provider_department != caller.department:
                foreign.append(
                    {"loc": ["body", number, "id"], "msg": f"entry of {current.provider_department}"}
                )
        if foreign:
            raise ApiError(
                403,
                f"提供部门只能导入本部门({caller.department_name_zh})的目录条目;"
                f"{len(foreign)} 行属于其他部门",
                f"a provider imports its own department's entries only; {len(foreign)} rows belong to others",
                code="not_own_department",
                errors=foreign,
            )
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        entry_id, dept = entry.get("id", ""), entry.get("provider_department", "")
        if dept and dept not in known:
            reject(
                number,
                entry_id,
                "provider_department",
                "unknown_department",
                "",
                f"没有部门 {dept}",
                f"no department {dept}",
            )
        current = existing.get(entry_id)
        if current is not None and dept and current.provider_department != dept:
            reject(
                number,
                entry_id,
                "provider_department",
                "provider_changed",
                "",
                f"资源 {entry_id} 属于 {current.provider_department},导入不能改变提供部门",
                f"resource {entry_id} belongs to {current.provider_department}; an import cannot move it",
            )
        if entry_id and entry_id in seen:
            reject(
                number,
                entry_id,
                "id",
                "duplicate_id",
                "",
                f"资源代码与第 {seen[entry_id]} 行重复",
                f"same id as row {seen[entry_id]}",
            )
        seen.setdefault(entry_id, number)

    rejected = {p.row for p in problems}
    accepted: list[ImportRowOut] = []
    for number, entry in enumerate(entries, start=1):
        current = existing.get(entry.get("id", ""))
        if current is None:
            change, version = "new", 1
        elif current.status == "published" and catalog.entry_data(current) == catalog.normalize_entry(entry):
            change, version = "unchanged", current.version
        else:
            change, version = "changed", current.version + 1
        if number not in rejected:
            accepted.append(ImportRowOut(row=number, id=entry.get("id", ""), change=change, version=version))
    written = False
    if not problems and not dry_run:
        try:
            versions = catalog.publish(session, entries, department=caller.department, now=now)
            # The entries a department provides are on its responsibility list (Luoyang 13-14).
            catalog_lists.sync_responsibilities(session, caller.department, versions, now)
        except catalog.CatalogError as err:  # the checks above leave none; a race might
            raise ApiError(409, err.detail_zh, err.detail_en, code=err.code) from None
        session.commit()
        written = True
    report = ImportReport(
        profile=profile.id,
        dry_run=dry_run,
        written=written,
        rows=len(entries),
        accepted=accepted,
        rejected_rows=len(rejected),
        rejected=problems,
    )
    errors = [{"loc": ["body", p.row, p.field], "msg": f"{p.rule}: {p.message_en}"} for p in problems]
    return report, errors


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import a department's catalog (CSV or JSON), all or nothing",
    description="批量导入目录:请求体为条目的 JSON 数组(`application/json`)"
    "或带表头的 CSV(`text/csv`,列表字段以 `|` 连接)。"
    "逐行按所适用规范(`profile`,默认为本部署的)校验:"
    "不予共享须有法律依据(湖北第八条(一)、江苏第十一条(一));"
    "洛阳有条件共享亦须(第二十五条(一));"
    "基础信息资源的基础信息项须无条件共享(湖北第八条(二)、洛阳第二十五条(二)、泸州第二十二条)等。"
    "任何一行不合格则全部不写入(422,附逐行报告:行号、字段、规则、条款、中英文说明);"
    "`dry_run=true` 只校验不写入(200)。"
    "平台可导入任何部门的条目;提供部门只能导入本部门的条目(否则 403)。已有且未变的条目不产生新版本。\n\n"
    "Each row is checked under the profile's rules; if any row is rejected nothing is written (422 with "
    "the report under `report`); `dry_run=true` writes nothing and answers 200 with the report. A new id "
    "is published as version 1, a changed entry as version n+1, an unchanged one makes no version. The "
    "platform imports any department's rows, a provider only its own (403 otherwise).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": CatalogEntryIn.model_json_schema()}
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    responses={**problem_responses(401, 403, 413, 415, 422)},
)
async def import_resources(
    request: Request,
    caller: ImportCaller,
    engine: EngineDep,
    settings: SettingsDep,
    dry_run: Annotated[bool, Query(description="Check only, write nothing / 仅校验")] = False,
    profile: Annotated[
        str | None, Query(max_length=32, description="Regulation profile id (default: the deployment's)")
    ] = None,
) -> Any:
    profile_obj = _profile(profile or settings.default_profile)
    rows = _read_rows(request.headers.get("content-type", ""), await request.body())
    if not rows:
        raise _bad_body("导入内容没有任何条目", "The import holds no entries", "empty_import")
    if len(rows) > MAX_IMPORT_ROWS:
        raise _bad_body(
            f"一次最多导入 {MAX_IMPORT_ROWS} 条",
            f"at most {MAX_IMPORT_ROWS} entries per import",
            "too_many_rows",
        )
    try:
        report, errors = await run_db(engine, _import, caller, rows, profile_obj, dry_run)
    except IntegrityError:
        raise ApiError(
            409,
            "目录在导入期间被修改(并发的导入或目录更新),未写入任何条目,请重试",
            "the catalog changed during the import (a concurrent import or update); "
            "nothing was written — retry",
            code="catalog_changed",
        ) from None
    log.info(
        "catalog_import",
        rows=report.rows,
        rejected_rows=report.rejected_rows,
        written=report.written,
        dry_run=dry_run,
        profile=report.profile,
    )
    if report.rejected and not dry_run:
        return problem_response(
            status=422,
            instance=request.url.path,
            accept_language=request.headers.get("accept-language"),
            request_id=getattr(request.state, "request_id", "") or "",
            code="import_rejected",
            detail_zh=f"{report.rejected_rows} 行未通过校验,未写入任何条目(见 report)",
            detail_en=f"{report.rejected_rows} rows rejected; nothing was written (see report)",
            errors=errors,
            extra={"report": report.model_dump(mode="json")},
        )
    return JSONResponse(report.model_dump(mode="json"))


# --------------------------------------------------------------------------------------------------
# GET /resources/{id}, its versions
# --------------------------------------------------------------------------------------------------


@router.get(
    "/{resource_id}",
    response_model=ResourceOut,
    summary="A catalog entry",
    description="目录条目的当前版本及其全部字段。\n\nThe entry as currently published, every field.",
    responses=problem_responses(401, 404, 422),
)
def get_resource(caller: CurrentCaller, engine: EngineDep, resource_id: ResourceId) -> ResourceOut:
    with Session(engine) as session:
        row = session.get(Resource, resource_id)
        if row is None:
            raise _not_found(resource_id)
        return _out([row], _refs(session, {row.provider_department}))[0]


def _version_out(row: ResourceVersion) -> ResourceVersionOut:
    return ResourceVersionOut(
        resource_id=row.resource_id,
        version=row.version,
        change=row.change,
        published_at=as_aware(row.published_at),  # type: ignore[arg-type]
        published_by=row.published_by,
        case_id=row.case_id,
        data=dict(row.data),
    )


@router.get(
    "/{resource_id}/versions",
    response_model=ResourceVersionList,
    summary="A catalog entry's history",
    description="目录条目的全部已发布版本(新版本在前);已发布的版本不再改变。\n\n"
    "Every published version, newest first; a published version never changes.",
    responses=problem_responses(401, 404, 422),
)
def list_versions(caller: CurrentCaller, engine: EngineDep, resource_id: ResourceId) -> ResourceVersionList:
    with Session(engine) as session:
        if session.get(Resource, resource_id) is None:
            raise _not_found(resource_id)
        rows = catalog.history(session, resource_id)
        items = [_version_out(row) for row in rows]
    return ResourceVersionList(resource_id=resource_id, items=items, total=len(items))


@router.get(
    "/{resource_id}/versions/{version}",
    response_model=ResourceVersionOut,
    summary="One version of a catalog entry",
    description="目录条目的某一版本(申请所锁定的版本可据此查阅)。\n\n"
    "One published version (an application pins one).",
    responses=problem_responses(401, 404, 422),
)
def get_version(
    caller: CurrentCaller,
    engine: EngineDep,
    resource_id: ResourceId,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
) -> ResourceVersionOut:
    with Session(engine) as session:
        row = catalog.get_version(session, resource_id, version)
        if row is None:
            raise ApiError(
                404,
                f"资源 {resource_id} 没有第 {version} 版",
                f"resource {resource_id} has no version {version}",
                code="version_not_found",
            )
        return _version_out(row)


# --------------------------------------------------------------------------------------------------
# POST /resources/{id}/refreshes — the provider records a data refresh
# --------------------------------------------------------------------------------------------------


@router.post(
    "/{resource_id}/refreshes",
    status_code=201,
    response_model=ResourceRefreshOut,
    summary="Record a data refresh of an entry",
    description="提供部门登记其已按更新周期更新共享数据(湖北第十七条、泸州第二十三条),并据更新周期计算下次应更新时间。"
    "仅该条目的提供部门可登记(其他部门 403)。\n\n"
    "The provider that owns the entry records that it refreshed the data; the next refresh falls due "
    "one update period later. Others: 403; a withdrawn entry: 409.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def record_refresh(
    caller: ProviderCaller,
    engine: EngineDep,
    resource_id: ResourceId,
    body: Annotated[RefreshCreate | None, Body()] = None,
) -> ResourceRefreshOut:
    note = body.note if body is not None else ""
    with Session(engine) as session:
        row = session.get(Resource, resource_id)
        if row is None:
            raise _not_found(resource_id)
        if row.provider_department != caller.department:
            raise ApiError(
                403,
                f"只有提供部门 {row.provider_department} 可以登记该资源的数据更新",
                f"only the provider {row.provider_department} records refreshes of this entry",
                code="not_owner",
            )
        try:
            refresh = catalog.record_refresh(session, resource_id, caller.department, note, datetime.now(UTC))
        except catalog.CatalogError as err:
            raise ApiError(409, err.detail_zh, err.detail_en, code=err.code) from None
        session.commit()
        return ResourceRefreshOut(
            id=refresh.id or 0,
            resource_id=resource_id,
            refreshed_at=as_aware(refresh.refreshed_at),  # type: ignore[arg-type]
            department=refresh.department,
            note=refresh.note,
            next_refresh_due=as_aware(row.next_refresh_due),
        )
