"""Pages for oversight roles (auditors, the leading group, the platform): filled in by the next commit."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ui", include_in_schema=False)
