"""The pages in-process, on SQLite and on PostgreSQL (issue 22): sessions, CSRF, who sees what.

Driven through ``httpx.ASGITransport`` against the suite's running system (a real worker and
Temporal dev server). The browser tests (``test_pages_browser.py``) show the same flows in Chromium;
these pin the rules at the door: a session is a row the server ends, every form needs its session's
CSRF token and this site's origin, a page shows only what the API would show the same person.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import System
from sqlmodel import Session, col, select

from govshare.core import users
from govshare.core.models import AccessEvent, Task, UserAccount, WebSession

PASSWORD = "govshare-demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


def client(api: System) -> httpx.AsyncClient:
    """A browser of its own (its own cookie jar) on the same app as ``api.http``."""
    return httpx.AsyncClient(transport=api.http._transport, base_url="http://govshare.test")


async def sign_in(api: System, username: str, password: str = PASSWORD) -> tuple[httpx.AsyncClient, str]:
    """A client signed in as ``username`` through the sign-in form; returns it and its CSRF token."""
    http = client(api)
    form = await http.get("/ui/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    response = await http.post(
        "/ui/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/ui/"},
    )
    assert response.status_code == 303, response.text
    inbox = await http.get("/ui/")
    assert inbox.status_code == 200, inbox.text
    return http, CSRF.search(inbox.text).group(1)  # type: ignore[union-attr]


def new_user(api: System, *roles: str, department: str = "rsj") -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    with Session(api.engine) as session:
        users.create_user(
            session,
            username=username,
            display_name="测试用户",
            department=department,
            roles=list(roles),
            password=PASSWORD,
        )
    return username


async def test_pages_answer_with_security_headers_and_a_safe_cookie(api: System) -> None:
    http, _ = await sign_in(api, "rsj-clerk")
    page = await http.get("/ui/")
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    # The sign-in's cookie: HttpOnly, SameSite=Lax; not Secure on a development machine.
    http2 = client(api)
    form = await http2.get("/ui/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    response = await http2.post(
        "/ui/login", data={"username": "rsj-clerk", "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["set-cookie"].lower()
    assert "govshare_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie.split("govshare_session=")[1].split(",")[0]
    # No assets from elsewhere: every script and stylesheet is the application's own.
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text):
        assert url.startswith("/ui/static/"), url
        assert (await http.get(url)).status_code == 200
    await http.aclose()
    await http2.aclose()


async def test_sign_in_refuses_wrong_passwords_forms_without_token_and_pauses(api: System) -> None:
    username = new_user(api, "consumer")
    http = client(api)
    form = await http.get("/ui/login")
    token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    wrong = await http.post(
        "/ui/login", data={"username": username, "password": "x" * 12, "csrf_token": token}
    )
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    # The sign-in form's own token: a post without it (another site's form) is refused.
    other = client(api)
    forged = await other.post(
        "/ui/login", data={"username": username, "password": PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403 and "govshare_session" not in forged.headers.get("set-cookie", "")
    # After the limit of failures the username pauses, even with the right password. (Each answer
    # draws the form again with a new token, as a browser would show it.)
    token = CSRF.search(wrong.text).group(1)  # type: ignore[union-attr]
    for _ in range(api.settings.web_login_max_failures - 1):
        again = await http.post(
            "/ui/login", data={"username": username, "password": "y" * 12, "csrf_token": token}
        )
        assert again.status_code == 401
        token = CSRF.search(again.text).group(1)  # type: ignore[union-attr]
    paused = await http.post(
        "/ui/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert paused.status_code == 429 and "分钟后再试" in paused.text
    await http.aclose()
    await other.aclose()


async def test_next_never_leaves_the_site(api: System) -> None:
    http = client(api)
    for target in ("https://evil.example/", "//evil.example/ui", "/docs", "/ui\\@evil"):
        form = await http.get("/ui/login")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        response = await http.post(
            "/ui/login",
            data={"username": "rsj-clerk", "password": PASSWORD, "csrf_token": token, "next": target},
        )
        assert response.status_code == 303 and response.headers["location"] == "/ui/", target
    await http.aclose()


async def test_signing_out_ends_the_session_on_the_server(api: System) -> None:
    http, csrf = await sign_in(api, "rsj-clerk")
    cookie = http.cookies.get("govshare_session")
    out = await http.post("/ui/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login?out=1"
    # The old cookie, replayed by someone who kept it, opens nothing.
    replay = client(api)
    replay.cookies.set("govshare_session", cookie or "")
    after = await replay.get("/ui/")
    assert after.status_code == 303 and after.headers["location"].startswith("/ui/login")
    with Session(api.engine) as session:
        row = session.exec(select(WebSession).order_by(col(WebSession.id).desc())).first()
        assert row is not None and row.ended_at is not None
    await http.aclose()
    await replay.aclose()


@pytest.mark.parametrize("how", ["expired", "idle", "disabled"])
async def test_a_session_ends_when_it_expires_idles_or_its_user_is_disabled(api: System, how: str) -> None:
    username = new_user(api, "consumer")
    http, _ = await sign_in(api, username)
    with Session(api.engine) as session:
        user = session.exec(select(UserAccount).where(UserAccount.username == username)).one()
        web = session.exec(select(WebSession).where(WebSession.user_id == user.id)).one()
        past = datetime.now(UTC) - timedelta(minutes=api.settings.web_session_idle_minutes + 1)
        if how == "expired":
            web.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        elif how == "idle":
            web.last_seen_at = past
        else:
            user.disabled_at = datetime.now(UTC)
            session.add(user)
        session.add(web)
        session.commit()
    response = await http.get("/ui/")
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/login"), how
    await http.aclose()


async def test_every_form_needs_its_sessions_token_and_this_sites_origin(api: System) -> None:
    case = await api.apply()
    case_id = case["id"]
    http, csrf = await sign_in(api, "rsj-clerk")
    posts: list[tuple[str, dict[str, Any]]] = [
        ("/ui/logout", {}),
        ("/ui/role", {"role": "consumer"}),
        (f"/ui/cases/{case_id}/decide", {"action": "accept", "task_id": f"{case_id}/1"}),
        (f"/ui/cases/{case_id}/withdraw", {"reason": "不再需要"}),
        (f"/ui/cases/{case_id}/tasks/1/extension", {"working_days": "3", "reason": "需要时间"}),
        (f"/ui/cases/{case_id}/tasks/1/claim", {}),
        ("/ui/catalog/scjgj-legal-entity-basic/apply", {"purpose": "核验", "reason": "依法"}),
        ("/ui/notifications/1/read", {}),
    ]
    for path, data in posts:
        missing = await http.post(path, data=data)
        assert missing.status_code == 403 and "安全校验" in missing.text, (path, missing.status_code)
        wrong = await http.post(path, data={**data, "csrf_token": "not-the-token"})
        assert wrong.status_code == 403, path
        foreign = await http.post(
            path, data={**data, "csrf_token": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403, path
    # Nothing happened: the case is as it was, still at its first task, not withdrawn.
    after = await api.get_case("demo-rsj-consumer", case_id)
    assert after["status"] == "in_progress" and len(after["timeline"]) == 1
    # Still signed in (the refused sign-out did nothing).
    assert (await http.get("/ui/")).status_code == 200
    await http.aclose()


async def test_a_case_page_is_for_its_parties_and_oversight_only(api: System) -> None:
    case = await api.apply()
    case_id = case["id"]
    party, _ = await sign_in(api, "rsj-clerk")
    page = await party.get(f"/ui/cases/{case_id}")
    assert page.status_code == 200 and case_id in page.text
    outsider, _ = await sign_in(api, "mzj-clerk")
    hidden = await outsider.get(f"/ui/cases/{case_id}")
    assert hidden.status_code == 404 and "未找到" in hidden.text and "Traceback" not in hidden.text
    citizen, _ = await sign_in(api, "liming")
    assert (await citizen.get(f"/ui/cases/{case_id}")).status_code == 404
    auditor, _ = await sign_in(api, "sjj-clerk")
    assert (await auditor.get(f"/ui/cases/{case_id}")).status_code == 200
    # The read is in the access log, as the person who read it.
    api.http._transport.app.state.access_log.flush()  # type: ignore[attr-defined]
    with Session(api.engine) as session:
        reads = session.exec(
            select(AccessEvent).where(
                AccessEvent.subject_id == case_id, AccessEvent.path == f"/ui/cases/{case_id}"
            )
        ).all()
    assert {r.department for r in reads} >= {"rsj", "sjj"}, reads
    assert all(r.user.startswith("user:") for r in reads)
    for http in (party, outsider, citizen, auditor):
        await http.aclose()


async def test_a_decision_from_the_page_names_the_person_and_lists_in_done(api: System) -> None:
    case = await api.apply()
    case_id = case["id"]
    http, csrf = await sign_in(api, "bdb-clerk")
    page = await http.get(f"/ui/cases/{case_id}")
    key = FORM_KEY.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": csrf, "form_key": key, "task_id": f"{case_id}/1", "action": "accept"}
    first = await http.post(f"/ui/cases/{case_id}/decide", data=form)
    assert first.status_code == 303 and first.headers["location"].endswith("?done=accept")
    # A double click sends the same form again: one decision, not a second one (nor a 409).
    again = await http.post(f"/ui/cases/{case_id}/decide", data=form)
    assert again.status_code == 303, again.text
    view = await api.get_case("demo-rsj-consumer", case_id)
    decided = [t for t in view["timeline"] if t["decision"]]
    assert len(decided) == 1
    assert decided[0]["decision"]["actor"]["person_name"] == "刘洋"
    with Session(api.engine) as session:
        task = session.get(Task, f"{case_id}/1")
        assert task is not None and task.decided_by.startswith("P-")
    done = await http.get("/ui/done")
    assert case_id in done.text
    await http.aclose()


async def test_a_refused_decision_is_shown_as_words_with_the_status(api: System) -> None:
    case = await api.apply()
    case_id = case["id"]
    await api.decide("demo-bdb-platform", case_id, "platform_check", "accept")
    http, csrf = await sign_in(api, "scjgj-clerk")
    page = await http.get(f"/ui/cases/{case_id}")
    key = FORM_KEY.search(page.text).group(1)  # type: ignore[union-attr]
    view = await api.get_case("demo-rsj-consumer", case_id)
    task_id = view["open_tasks"][0]["task_id"]
    no_reason = await http.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf_token": csrf, "form_key": key, "task_id": task_id, "action": "refuse"},
    )
    assert no_reason.status_code == 422
    assert "必须说明理由" in no_reason.text and "第" in no_reason.text
    # Not the provider's task any more once someone decided it: 409, someone acted first.
    await api.decide(
        "demo-scjgj-provider", case_id, "provider_authorization", "refuse", reason="超出履职需要"
    )
    stale = await http.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf_token": csrf, "form_key": key, "task_id": task_id, "action": "refuse", "reason": "x"},
    )
    assert stale.status_code == 409 and "已有人先行办理" in stale.text
    # Not the clerk's role: the platform's task is refused 403 with words.
    other = await api.apply()
    forbidden = await http.post(
        f"/ui/cases/{other['id']}/decide",
        data={"csrf_token": csrf, "form_key": key, "task_id": f"{other['id']}/1", "action": "accept"},
    )
    assert forbidden.status_code in (403, 404), forbidden.status_code
    assert "Traceback" not in forbidden.text and "<html" in forbidden.text
    await http.aclose()


async def test_a_user_with_several_roles_switches_between_them(api: System) -> None:
    http, csrf = await sign_in(api, "scjgj-clerk")  # provider and consumer of 市场监管局
    assert "提供部门" in (await http.get("/ui/")).text
    switched = await http.post("/ui/role", data={"csrf_token": csrf, "role": "consumer"})
    assert switched.status_code == 303
    assert 'value="consumer" selected' in (await http.get("/ui/")).text
    # A role the user does not hold changes nothing.
    await http.post("/ui/role", data={"csrf_token": csrf, "role": "platform"})
    assert 'value="consumer" selected' in (await http.get("/ui/")).text
    await http.aclose()


async def test_the_pages_speak_english_when_asked(api: System) -> None:
    http, _ = await sign_in(api, "rsj-clerk")
    switch = await http.get("/ui/lang", params={"to": "en", "next": "/ui/mine"})
    assert switch.status_code == 303 and switch.headers["location"] == "/ui/mine"
    page = await http.get("/ui/mine")
    assert '<html lang="en">' in page.text and "My applications" in page.text
    off_site = await http.get("/ui/lang", params={"to": "zh", "next": "https://evil.example/"})
    assert off_site.headers["location"] == "/ui/"
    await http.aclose()


async def test_an_extension_asked_on_the_page_is_approved_by_the_head_on_the_page(api: System) -> None:
    """Luoyang 19: the provider's clerk asks for 5 more working days; the department's principal head
    finds the approval in the inbox and approves it on the case page; the task's due date moves."""
    response = await api.http.post(
        "/data-objections",
        json={
            "resource_id": "gaj-household-members",
            "records": ["户号 4103020001"],
            "fields": ["members"],
            "problem": "家庭成员信息缺少新生儿",
            "evidence": "出生医学证明",
            "profile": "luoyang",
        },
        headers={"Authorization": "Bearer demo-rsj-consumer"},
    )
    assert response.status_code == 201, response.text
    case = response.json()
    (task,) = case["open_tasks"]
    clerk, csrf = await sign_in(api, "gaj-clerk")
    page = await clerk.get(f"/ui/cases/{case['id']}")
    key = FORM_KEY.search(page.text).group(1)  # type: ignore[union-attr]
    asked = await clerk.post(
        f"/ui/cases/{case['id']}/tasks/{task['seq']}/extension",
        data={"csrf_token": csrf, "form_key": key, "working_days": "5", "reason": "需调取历史档案"},
    )
    assert asked.status_code == 303, asked.text
    head, head_csrf = await sign_in(api, "gaj-head")
    inbox = await head.get("/ui/")
    assert f'data-case="{case["id"]}"' in inbox.text
    view = await api.get_case("demo-rsj-consumer", case["id"])
    approval = next(t for t in view["open_tasks"] if t["assignee"]["role"] == "principal_head")
    head_page = await head.get(f"/ui/cases/{case['id']}")
    assert 'value="approve"' in head_page.text
    head_key = FORM_KEY.search(head_page.text).group(1)  # type: ignore[union-attr]
    approved = await head.post(
        f"/ui/cases/{case['id']}/decide",
        data={
            "csrf_token": head_csrf,
            "form_key": head_key,
            "task_id": approval["task_id"],
            "action": "approve",
        },
    )
    assert approved.status_code == 303, approved.text
    after = await api.get_case("demo-rsj-consumer", case["id"])
    extended = next(t for t in after["open_tasks"] if t["task_id"] == task["task_id"])
    assert extended["due_at"] > task["due_at"]
    entry = extended["clock"][-1]
    assert entry["kind"] == "extension" and entry["approved_by"]["person_name"] == "市公安局主要负责人"
    # A second extension is refused with the article, shown on the page (once only, art. 19).
    again = await clerk.post(
        f"/ui/cases/{case['id']}/tasks/{task['seq']}/extension",
        data={"csrf_token": csrf, "form_key": key, "working_days": "2", "reason": "再延"},
    )
    assert again.status_code == 409 and "第" in again.text
    for http in (clerk, head):
        await http.aclose()


async def test_the_inbox_filters_by_type_step_and_overdue(api: System) -> None:
    first = await api.apply()
    http, _ = await sign_in(api, "bdb-clerk")
    everything = await http.get("/ui/")
    assert f'data-case="{first["id"]}"' in everything.text
    same_type = await http.get("/ui/", params={"case_type": "sharing_application", "step": "platform_check"})
    assert f'data-case="{first["id"]}"' in same_type.text
    other_type = await http.get("/ui/", params={"case_type": "complaint"})
    assert f'data-case="{first["id"]}"' not in other_type.text
    overdue = await http.get("/ui/", params={"overdue": "1"})
    assert f'data-case="{first["id"]}"' not in overdue.text  # due in 5 working days: not overdue
    await http.aclose()
