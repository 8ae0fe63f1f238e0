"""Data freshness (Hubei 17, Luzhou 23; issue 19): an entry whose refresh is overdue is a breach told to
its provider once per missed period; entries not yet due cost nothing and are not touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from activities.catalog import FreshnessActivities
from govshare.core import catalog
from govshare.core.db import init_schema, make_engine
from govshare.core.models import Department, Notification, Resource
from workflows.contracts import FreshnessSweepRequest


def entry(rid: str, period: str) -> dict:
    return {
        "id": rid,
        "name_zh": f"测试资源{rid}",
        "provider_department": "gaj",
        "share_type": "conditional",
        "kind": "departmental",
        "fields": ["a"],
        "sharing_modes": ["online_query"],
        "update_period": period,
    }


def test_an_overdue_refresh_is_told_once_per_missed_period(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    init_schema(engine)
    long_ago = datetime.now(UTC) - timedelta(days=40)
    with Session(engine) as session:
        session.add(Department(code="gaj", name_zh="市公安局", created_at=long_ago))
        session.flush()
        catalog.publish(
            session,
            [entry("gaj-monthly", "monthly"), entry("gaj-yearly", "yearly"), entry("gaj-none", "none")],
            department="gaj",
            now=long_ago,
        )
        session.commit()
    sweep = FreshnessActivities(engine).sweep_freshness
    first = sweep(FreshnessSweepRequest(profile_id="hubei"))
    assert (first.overdue, first.notified) == (1, 1)  # the monthly one only
    again = sweep(FreshnessSweepRequest(profile_id="hubei"))
    assert (again.overdue, again.notified) == (1, 0)  # told once for that period
    with Session(engine) as session:
        (notice,) = session.exec(select(Notification).where(Notification.kind == "refresh_overdue")).all()
        assert notice.recipient_department == "gaj" and "gaj-monthly" in notice.text_zh
        assert "第17条" in notice.text_zh and "31(2)" in notice.text_zh
        # Refreshed: due again a month on, nothing overdue.
        catalog.record_refresh(session, "gaj-monthly", "gaj", "已更新", datetime.now(UTC))
        session.commit()
        due = session.get(Resource, "gaj-monthly").next_refresh_due
        assert (due if due.tzinfo else due.replace(tzinfo=UTC)) > datetime.now(UTC) + timedelta(days=25)
    assert sweep(FreshnessSweepRequest(profile_id="hubei")).overdue == 0
