"""Tokens issued to users (``govshare tokens issue``, ``govshare.core.users.issue_token``) over HTTP:
one acts as its user — the department, the role, the user's identity as the person — until it
expires, is revoked, or its user is disabled (then 401 ``invalid_token``, saying which)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from api_helpers import auth
from sqlmodel import Session

from govshare.core import users


def new_user(api, *, department: str | None = "rsj", roles: tuple[str, ...] = ("consumer",)) -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    with Session(api.engine) as session:
        users.create_user(
            session,
            username=username,
            display_name="测试用户",
            department=department,
            roles=list(roles),
            password="a long enough password",
        )
    return username


def issue(api, username: str, role: str = "consumer", **kwargs) -> tuple[str, int]:
    with Session(api.engine) as session:
        token, credential = users.issue_token(session, username=username, role=role, **kwargs)
        assert credential.id is not None
        return token, credential.id


async def me(api, token: str):
    return await api.http.get("/me", headers=auth(token))


def assert_refused(response, detail_zh: str, detail_en: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "invalid_token"
    assert (body["detail_zh"], body["detail_en"]) == (detail_zh, detail_en)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_issued_token_acts_as_its_user(api):
    username = new_user(api, roles=("consumer", "provider"))
    token, _ = issue(api, username, "provider", label="接口")
    response = await me(api, token)
    assert response.status_code == 200, response.text
    body = response.json()
    with Session(api.engine) as session:
        user = users.get_user(session, username)
    assert (body["department"], body["role"], body["party_kind"]) == ("rsj", "provider", "department_person")
    assert (body["person"], body["person_name"]) == (user.person_id, "测试用户")
    assert body["label"] == f"user:{username} 接口"


async def test_a_citizen_users_token(api):
    username = new_user(api, department=None, roles=("citizen",))
    token, _ = issue(api, username, "citizen")
    body = (await me(api, token)).json()
    assert (body["department"], body["role"], body["party_kind"]) == ("", "citizen", "person")


async def test_an_expired_token_is_refused(api):
    username = new_user(api)
    token, _ = issue(api, username, days=1, now=datetime.now(UTC) - timedelta(days=1, seconds=1))
    assert_refused(await me(api, token), "访问令牌已过期", "the bearer token has expired")
    fresh, _ = issue(api, username, days=1)  # the user's other tokens are not touched
    assert (await me(api, fresh)).status_code == 200


async def test_a_revoked_token_is_refused(api):
    username = new_user(api)
    token, token_id = issue(api, username)
    assert (await me(api, token)).status_code == 200
    with Session(api.engine) as session:
        assert users.revoke_token(session, token_id) is True
    assert_refused(await me(api, token), "访问令牌已被吊销", "the bearer token has been revoked")


async def test_a_disabled_users_tokens_are_refused_until_enabled(api):
    username = new_user(api)
    token, _ = issue(api, username)
    with Session(api.engine) as session:
        users.disable_user(session, username)
    assert_refused(
        await me(api, token), "访问令牌所属用户已停用", "the bearer token's user has been disabled"
    )
    with Session(api.engine) as session:
        users.enable_user(session, username)
    assert (await me(api, token)).status_code == 200


async def test_a_dropped_role_takes_its_tokens_along(api):
    username = new_user(api, roles=("consumer", "provider"))
    consumer, _ = issue(api, username, "consumer")
    provider, _ = issue(api, username, "provider")
    with Session(api.engine) as session:
        users.set_roles(session, username, ["consumer"])
    assert (await me(api, consumer)).status_code == 200
    assert_refused(await me(api, provider), "访问令牌已被吊销", "the bearer token has been revoked")


async def test_demo_tokens_without_user_or_expiry_still_work(api):
    assert (await me(api, "demo-rsj-consumer")).status_code == 200
    assert (await me(api, "demo-citizen")).status_code == 200
