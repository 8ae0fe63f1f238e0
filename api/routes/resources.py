"""The catalog (政务信息资源目录), minimal and read-only until the catalog workflows exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session, col, select

from api.deps import CurrentCaller, EngineDep
from api.errors import problem_responses
from api.responses import DepartmentRef, ResourceList, ResourceOut
from govshare.core.models import Department, Resource

router = APIRouter(prefix="/resources", tags=["resources"])


@router.get(
    "",
    response_model=ResourceList,
    summary="The resource catalog",
    description="政务信息资源目录:资源名称、提供部门、共享类型(无条件/有条件/不予共享)、是否需要管控参数、字段、共享方式、不予共享的法律依据。\n\n"
    "Read-only. Every authenticated department may read the catalog.",
    responses=problem_responses(401, 422),
)
def list_resources(
    caller: CurrentCaller,
    engine: EngineDep,
    provider: Annotated[str | None, Query(max_length=64, description="Only this provider department")] = None,
    share_type: Annotated[
        str | None, Query(max_length=16, description="unconditional | conditional | not_shared")
    ] = None,
) -> ResourceList:
    query = select(Resource, Department).join(
        Department,
        Department.code == Resource.provider_department,  # type: ignore[arg-type]
    )
    if provider is not None:
        query = query.where(Resource.provider_department == provider)
    if share_type is not None:
        query = query.where(Resource.share_type == share_type)
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(Resource.id))).all()
    items = [
        ResourceOut.from_row(
            resource, DepartmentRef(code=dept.code, name_zh=dept.name_zh, name_en=dept.name_en)
        )
        for resource, dept in rows
    ]
    return ResourceList(items=items, total=len(items))
