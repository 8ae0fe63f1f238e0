"""People who sign in (issue 22): users, their passwords, the tokens issued to them, the demo users.

Pure database functions on a sqlmodel ``Session`` (no HTTP): the sign-in pages, the API and
``govshare users|tokens|departments`` (``govshare/ops/users_cli.py``) build on them. Every function
that changes something commits; a refusal is a :class:`UserError` (a ``ValueError``) whose message is
Chinese first, English beside it, and nothing is written.

A user is a person of a department holding one or more roles there (a clerk, a reviewer, a head, an
auditor), or a party acting for itself (role ``citizen``, no department: a citizen, a company).
Every user is a party identity (``user_account.person_id``): what the engine records as the person
who claimed or decided a task.

Passwords are kept only as Argon2id hashes (argon2-cffi's ``PasswordHasher``, the library's
defaults: RFC 9106's low-memory profile); :func:`authenticate` re-hashes a password whose stored hash
has older parameters. Tokens issued to a user are stored only as their keyed digest
(:func:`govshare.core.tokens.token_digest`, HMAC-SHA256 under the server's ``TOKEN_HASH_KEY``: the
scheme the API's lookup uses), expire, and name the user: the API refuses one whose user is disabled.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from govshare.core import seed, tokens
from govshare.core.models import (
    Credential,
    Department,
    PartyIdentity,
    UserAccount,
    WebSession,
    new_party_id,
)

log = structlog.get_logger("govshare.core.users")

#: Every role a user (and a token) may hold: the API's ``api.deps.ALL_ROLES`` (a test keeps them equal).
ROLES: tuple[str, ...] = (
    "consumer",
    "provider",
    "platform",
    "leading_group",
    "coordinator",
    "government_office",
    "auditor",
    "principal_head",
    "citizen",
)
#: The role of a user without department (a citizen, a legal person, an organisation acting for itself).
CITIZEN_ROLE = "citizen"
PARTY_KINDS: tuple[str, ...] = ("person", "legal_person", "organisation")
ID_TYPES: tuple[str, ...] = ("resident_id", "unified_social_credit_code", "passport", "other")

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DEPARTMENT_CODE_PATTERN = re.compile(r"^[a-z0-9]{2,32}$")
MIN_PASSWORD_LENGTH = 10
#: Longer is refused: hashing a megabyte-long "password" is work for nothing.
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "gs_"
MIN_TOKEN_DAYS, MAX_TOKEN_DAYS = 1, 366

#: The demo users' password (public, like the demo tokens: settings refuse the demo in production).
DEMO_PASSWORD = "govshare-demo"

_hasher = PasswordHasher()  # Argon2id with the library's defaults


class UserError(ValueError):
    """A refusal: ``zh`` and ``en`` say why; ``str()`` is both, Chinese first."""

    def __init__(self, zh: str, en: str, code: str = "invalid") -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.code = code


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite: naive UTC


# -- passwords -----------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (``$argon2id$…``, salt and parameters included)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False also for a hash that is not Argon2."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    """Refuse a new password shorter than :data:`MIN_PASSWORD_LENGTH` characters (or absurdly long)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"密码至少 {MIN_PASSWORD_LENGTH} 个字符",
            f"a password must have at least {MIN_PASSWORD_LENGTH} characters",
            code="weak_password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(
            f"密码不得超过 {MAX_PASSWORD_LENGTH} 个字符",
            f"a password may have at most {MAX_PASSWORD_LENGTH} characters",
            code="weak_password",
        )


#: The hash of a random password nobody kept, made with argon2-cffi 25.1's defaults (m=64 MiB, t=3,
#: p=4): verifying against it costs what verifying a user's password costs.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$Lo74XHfCpbxcjDZSFB8MIA$2g/dqHfPo7te70L4AmAEUVWZf+/EtoGvFjeMxqpiL+o"
)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash nobody knows the password of, verified against when there is no user (or no password),
    so that a sign-in with an unknown username takes as long as with a real one. Made anew (once per
    process) only if the library's defaults moved away from those :data:`_DUMMY_HASH` was made with."""
    if _hasher.check_needs_rehash(_DUMMY_HASH):  # pragma: no cover - another argon2-cffi release
        return _hasher.hash(secrets.token_urlsafe(24))
    return _DUMMY_HASH


def authenticate(session: Session, username: str, password: str) -> UserAccount | None:
    """The user whose password this is, or None: unknown username, wrong password, disabled user,
    user without password (OIDC only). Every case verifies one Argon2 hash (a dummy one when there
    is no usable hash), so the time taken does not tell which usernames exist. A stored hash with
    older parameters is replaced by one with the current ones (committed)."""
    name = normalize_username(username) if isinstance(username, str) else ""
    password = password if isinstance(password, str) else ""
    user = session.exec(select(UserAccount).where(UserAccount.username == name)).first() if name else None
    if user is None or not user.password_hash or len(password) > MAX_PASSWORD_LENGTH:
        verify_password(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not verify_password(user.password_hash, password):
        return None
    if user.disabled_at is not None:
        return None
    if _needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
        session.refresh(user)
        log.info("password_rehashed", user=user.username)
    return user


def _needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):  # pragma: no cover - verified just before
        return False


# -- departments ---------------------------------------------------------------------------------
def create_department(
    session: Session, code: str, name_zh: str, name_en: str = "", *, now: datetime | None = None
) -> Department:
    """A new department (code: 2–32 lowercase letters or digits, e.g. ``fgw``); committed."""
    code = (code or "").strip()
    if not DEPARTMENT_CODE_PATTERN.match(code):
        raise UserError(
            f"部门代码“{code}”无效:应为 2–32 位小写字母或数字",
            f"invalid department code '{code}': 2–32 lowercase letters or digits",
        )
    name_zh, name_en = (name_zh or "").strip(), (name_en or "").strip()
    if not name_zh:
        raise UserError("部门中文名称不能为空", "a department needs a Chinese name")
    if session.get(Department, code) is not None:
        raise UserError(f"部门 {code} 已存在", f"department {code} exists already", code="exists")
    department = Department(code=code, name_zh=name_zh, name_en=name_en, created_at=now or _utcnow())
    session.add(department)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise UserError(f"部门 {code} 已存在", f"department {code} exists already", code="exists") from None
    session.refresh(department)
    return department


def list_departments(session: Session) -> list[Department]:
    return list(session.exec(select(Department).order_by(col(Department.code))).all())


# -- users ---------------------------------------------------------------------------------------
def normalize_username(username: str) -> str:
    return username.strip().lower()


def _check_username(username: str) -> str:
    name = normalize_username(username or "")
    if not USERNAME_PATTERN.match(name):
        raise UserError(
            f"用户名“{username}”无效:应为 2–64 位小写字母、数字或 . _ -,以字母或数字开头",
            f"invalid username '{username}': 2–64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit",
        )
    return name


def check_roles(roles: Iterable[str], department: str | None) -> list[str]:
    """The roles, de-duplicated in order, if they are valid and fit the user: a department user holds
    one or more department roles (never ``citizen``); a user without department holds ``citizen``
    only."""
    wanted = list(dict.fromkeys(r.strip() for r in roles if r and r.strip()))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise UserError(
            f"未知角色 {', '.join(unknown)}(可选:{', '.join(ROLES)})",
            f"unknown role {', '.join(unknown)} (roles: {', '.join(ROLES)})",
        )
    if not wanted:
        raise UserError("用户至少需要一个角色", "a user needs at least one role")
    if department is None and wanted != [CITIZEN_ROLE]:
        raise UserError(
            "无部门的用户(公民、法人等)只能持有 citizen 角色",
            "a user without department (a citizen, a legal person) holds the role citizen only",
        )
    if department is not None and CITIZEN_ROLE in wanted:
        raise UserError(
            "部门用户不能持有 citizen 角色", "a user of a department may not hold the role citizen"
        )
    return wanted


def get_user(session: Session, username: str) -> UserAccount | None:
    return session.exec(
        select(UserAccount).where(UserAccount.username == normalize_username(username or ""))
    ).first()


def _require_user(session: Session, username: str) -> UserAccount:
    user = get_user(session, username)
    if user is None:
        raise UserError(f"没有用户 {username}", f"no user {username}", code="not_found")
    return user


def _new_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    department: str | None,
    roles: Sequence[str],
    password_hash: str | None,
    kind: str,
    id_type: str,
    id_number: str,
    person_id: str | None,
    now: datetime,
) -> UserAccount:
    """Validate and add (flushed, not committed) a user and, unless ``person_id`` names one, its
    identity."""
    name = _check_username(username)
    display_name = (display_name or "").strip()
    if not display_name:
        raise UserError("用户姓名(显示名)不能为空", "a user needs a display name")
    department = (department or "").strip() or None
    if department is not None and session.get(Department, department) is None:
        raise UserError(f"未知部门 {department}", f"unknown department {department}", code="not_found")
    wanted = check_roles(roles, department)
    if get_user(session, name) is not None:
        raise UserError(f"用户 {name} 已存在", f"user {name} exists already", code="exists")
    if person_id is not None:
        identity = session.get(PartyIdentity, person_id)
        if identity is None:
            raise UserError(f"未知身份 {person_id}", f"unknown identity {person_id}", code="not_found")
        if identity.department != department:
            raise UserError(
                f"身份 {person_id} 所属部门({identity.department or '无'})与用户的部门"
                f"({department or '无'})不一致",
                f"identity {person_id} belongs to {identity.department or 'no department'}, "
                f"the user to {department or 'no department'}",
            )
        taken = session.exec(select(UserAccount.username).where(UserAccount.person_id == person_id)).first()
        if taken is not None:
            raise UserError(
                f"身份 {person_id} 已属于用户 {taken}",
                f"identity {person_id} is user {taken}'s already",
                code="exists",
            )
    else:
        if kind not in PARTY_KINDS:
            raise UserError(
                f"未知当事人类别 {kind}(可选:{', '.join(PARTY_KINDS)})",
                f"unknown party kind {kind} ({', '.join(PARTY_KINDS)})",
            )
        if department is not None and kind != "person":
            raise UserError("部门用户须为自然人(kind person)", "a user of a department is a person")
        if id_type not in ID_TYPES:
            raise UserError(
                f"未知证件类型 {id_type}(可选:{', '.join(ID_TYPES)})",
                f"unknown ID type {id_type} ({', '.join(ID_TYPES)})",
            )
        person_id = new_party_id()
        session.add(
            PartyIdentity(
                id=person_id,
                kind=kind,
                name=display_name,
                id_type=id_type,
                id_number=(id_number or "").strip(),
                department=department,
                created_at=now,
            )
        )
        session.flush()  # the identity before the user that references it (no ORM relationships)
    user = UserAccount(
        username=name,
        display_name=display_name,
        department_code=department,
        person_id=person_id,
        roles=wanted,
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now if password_hash else None,
    )
    session.add(user)
    session.flush()
    return user


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    department: str | None = None,
    roles: Sequence[str],
    password: str | None = None,
    kind: str = "person",
    id_type: str = "other",
    id_number: str = "",
    person_id: str | None = None,
    now: datetime | None = None,
) -> UserAccount:
    """A new user (committed) and its party identity — or, with ``person_id``, linked to that
    existing identity (which must belong to the same department and to no other user). Without a
    password the user cannot sign in with one (until :func:`set_password`; OIDC)."""
    if password is not None:
        check_new_password(password)
    at = now or _utcnow()
    try:
        user = _new_user(
            session,
            username=username,
            display_name=display_name,
            department=department,
            roles=roles,
            password_hash=hash_password(password) if password is not None else None,
            kind=kind,
            id_type=id_type,
            id_number=id_number,
            person_id=person_id,
            now=at,
        )
        session.commit()
    except UserError:
        session.rollback()
        raise
    except IntegrityError:  # another process made the same username at the same instant
        session.rollback()
        raise UserError(f"用户 {username} 已存在", f"user {username} exists already", code="exists") from None
    session.refresh(user)
    log.info("user_created", user=user.username, department=user.department_code or "", roles=user.roles)
    return user


def _end_web_sessions(session: Session, user: UserAccount, now: datetime, roles: Iterable[str] | None = None):
    query = select(WebSession).where(WebSession.user_id == user.id, col(WebSession.ended_at).is_(None))
    if roles is not None:
        query = query.where(col(WebSession.role).in_(list(roles)))
    for web in session.exec(query).all():
        web.ended_at = now
        session.add(web)


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    end_sessions: bool = True,
    now: datetime | None = None,
) -> UserAccount:
    """Give the user a new password (committed); by default its signed-in browsers are signed out."""
    check_new_password(password)
    user = _require_user(session, username)
    at = now or _utcnow()
    user.password_hash = hash_password(password)
    user.password_changed_at = at
    session.add(user)
    if end_sessions:
        _end_web_sessions(session, user, at)
    session.commit()
    session.refresh(user)
    log.info("password_set", user=user.username)
    return user


def disable_user(session: Session, username: str, *, now: datetime | None = None) -> UserAccount:
    """Disable the user (committed): it cannot sign in, its browsers are signed out, and the API
    refuses its tokens until :func:`enable_user`. Disabling a disabled user changes nothing."""
    user = _require_user(session, username)
    if user.disabled_at is None:
        at = now or _utcnow()
        user.disabled_at = at
        session.add(user)
        _end_web_sessions(session, user, at)
        session.commit()
        session.refresh(user)
        log.info("user_disabled", user=user.username)
    return user


def enable_user(session: Session, username: str) -> UserAccount:
    """Enable a disabled user again (committed): its password and unexpired, unrevoked tokens work."""
    user = _require_user(session, username)
    if user.disabled_at is not None:
        user.disabled_at = None
        session.add(user)
        session.commit()
        session.refresh(user)
        log.info("user_enabled", user=user.username)
    return user


def set_roles(
    session: Session, username: str, roles: Sequence[str], *, now: datetime | None = None
) -> UserAccount:
    """Replace the user's roles (committed). Its tokens and signed-in browsers acting in a role it
    no longer holds are revoked / signed out."""
    user = _require_user(session, username)
    wanted = check_roles(roles, user.department_code)
    dropped = [r for r in user.roles if r not in wanted]
    at = now or _utcnow()
    user.roles = wanted
    session.add(user)
    if dropped:
        for credential in session.exec(
            select(Credential).where(
                Credential.user_id == user.id,
                col(Credential.role).in_(dropped),
                col(Credential.revoked_at).is_(None),
            )
        ).all():
            credential.revoked_at = at
            session.add(credential)
        _end_web_sessions(session, user, at, roles=dropped)
    session.commit()
    session.refresh(user)
    log.info("user_roles_set", user=user.username, roles=wanted, dropped=dropped)
    return user


def list_users(session: Session, department: str | None = None) -> list[UserAccount]:
    """Users by department (citizens last) and username; only ``department``'s with one."""
    query = select(UserAccount)
    if department is not None:
        query = query.where(UserAccount.department_code == department)
    users = session.exec(query).all()
    return sorted(users, key=lambda u: (u.department_code is None, u.department_code or "", u.username))


# -- tokens --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenInfo:
    """A credential as lists show it: never the token (which is not stored), nor its hash."""

    id: int
    username: str | None  # None: a department's own token (demo tokens, tokens made before users)
    department: str | None
    person: str | None
    role: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active | expired | revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or _utcnow()):
            return "expired"
        return "active"

    def to_dict(self, now: datetime | None = None) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "department": self.department,
            "person": self.person,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "state": self.state(now),
        }


def _info(credential: Credential, username: str | None) -> TokenInfo:
    assert credential.id is not None
    return TokenInfo(
        id=credential.id,
        username=username,
        department=credential.department_code,
        person=credential.person_id,
        role=credential.role,
        label=credential.label,
        created_at=_aware(credential.created_at),
        expires_at=_aware(credential.expires_at) if credential.expires_at else None,
        revoked_at=_aware(credential.revoked_at) if credential.revoked_at else None,
    )


def issue_token(
    session: Session,
    *,
    username: str,
    role: str,
    days: int = 90,
    label: str = "",
    now: datetime | None = None,
) -> tuple[str, Credential]:
    """A new bearer token for the user acting in ``role`` (one of its roles), valid ``days`` days
    (1–366); committed. Returns the token — shown this once, only its keyed digest is stored — and its
    credential. The label always names the user (``user:<username>``, then ``label``): logs show it."""
    user = _require_user(session, username)
    if user.disabled_at is not None:
        raise UserError(f"用户 {user.username} 已停用", f"user {user.username} is disabled", code="disabled")
    if role not in user.roles:
        raise UserError(
            f"用户 {user.username} 不持有角色 {role}(其角色:{', '.join(user.roles)})",
            f"user {user.username} does not hold the role {role} (roles: {', '.join(user.roles)})",
        )
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_TOKEN_DAYS <= days <= MAX_TOKEN_DAYS:
        raise UserError(
            f"有效期应为 {MIN_TOKEN_DAYS}–{MAX_TOKEN_DAYS} 天,而非 {days}",
            f"a token is valid {MIN_TOKEN_DAYS}–{MAX_TOKEN_DAYS} days, not {days}",
        )
    at = now or _utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    label = " ".join((label or "").split())
    credential = Credential(
        token_sha256=tokens.token_digest(token),
        hash_scheme=tokens.KEYED,
        department_code=user.department_code,
        person_id=user.person_id,
        role=role,
        label=f"user:{user.username}" + (f" {label}" if label else ""),
        created_at=at,
        user_id=user.id,
        expires_at=at + timedelta(days=days),
    )
    session.add(credential)
    session.commit()
    session.refresh(credential)
    log.info("token_issued", user=user.username, role=role, credential_id=credential.id, days=days)
    return token, credential


def list_tokens(session: Session, username: str | None = None) -> list[TokenInfo]:
    """The credentials (every one, or the user's), oldest first — without token or hash."""
    query = select(Credential, UserAccount.username).outerjoin(
        UserAccount,
        UserAccount.id == Credential.user_id,  # type: ignore[arg-type]
    )
    if username is not None:
        user = _require_user(session, username)
        query = query.where(Credential.user_id == user.id)
    rows = session.exec(query.order_by(col(Credential.id))).all()
    return [_info(credential, name) for credential, name in rows]


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> bool:
    """Revoke the credential ``token_id`` (committed): True, or False if it was revoked already
    (its first revocation stays)."""
    credential = session.get(Credential, token_id)
    if credential is None:
        raise UserError(f"没有编号为 {token_id} 的令牌", f"no token {token_id}", code="not_found")
    if credential.revoked_at is not None:
        return False
    credential.revoked_at = now or _utcnow()
    session.add(credential)
    session.commit()
    log.info("token_revoked", credential_id=token_id)
    return True


# -- the demo users ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoUser:
    """A demo user. ``person_id`` names the demo identity it is (a head, the citizen, the company);
    None: a new identity of its own (a clerk). ``department_name_zh`` is printed beside it."""

    username: str
    display_name: str
    department: str | None
    roles: tuple[str, ...]
    department_name_zh: str = ""
    person_id: str | None = None


#: A clerk's name per demo department (its code in :data:`govshare.core.seed.DEPARTMENTS`).
CLERK_NAMES: dict[str, str] = {
    "bdb": "刘洋",
    "gaj": "陈静",
    "scjgj": "李娜",
    "rsj": "张伟",
    "mzj": "杨帆",
    "lgo": "赵敏",
    "sjj": "黄磊",
    "jxw": "周婷",
    "szfb": "吴强",
    "wjw": "徐丽",
    "jyj": "孙杰",
    "zrzyj": "马超",
    "zjj": "朱琳",
    "ybj": "胡军",
    "sfj": "郭静怡",
    "sthjj": "何鹏",
    "swj": "林霞",
}
#: The second clerk of one department (two clerks of one department: claiming a task matters).
SECOND_CLERK = ("scjgj", "scjgj-clerk2", "王芳", ("provider",))
#: The demo users ``govshare run`` prints (the rest: one clerk per department, ``<code>-clerk``).
KEY_DEMO_USERS: tuple[str, ...] = (
    "rsj-clerk",
    "bdb-clerk",
    "scjgj-clerk",
    "scjgj-clerk2",
    "gaj-clerk",
    "gaj-head",
    "lgo-clerk",
    "sjj-clerk",
    "liming",
    "company",
)


def demo_users(platform_department: str = "bdb") -> list[DemoUser]:
    """The demo users: one clerk per demo department holding all its demo roles, a second provider
    clerk of 市市场监督管理局, a user per demo principal head (its identity), the citizen 李明 and the
    company. ``bdb`` stands for ``platform_department``."""
    users: list[DemoUser] = []
    names: dict[str, str] = {}
    for code, name_zh, _name_en, roles in seed.DEPARTMENTS:
        department = platform_department if code == "bdb" else code
        names[department] = name_zh
        users.append(
            DemoUser(f"{department}-clerk", CLERK_NAMES.get(code, "张伟"), department, tuple(roles), name_zh)
        )
        if code == SECOND_CLERK[0]:
            _, username, display, second_roles = SECOND_CLERK
            users.append(DemoUser(username, display, department, second_roles, name_zh))
    for party in seed.demo_parties(platform_department):
        if party.role == seed.HEAD_ROLE and party.department is not None:
            users.append(
                DemoUser(
                    f"{party.department}-head",
                    party.name,
                    party.department,
                    (seed.HEAD_ROLE,),
                    names.get(party.department, ""),
                    person_id=party.id,
                )
            )
    for party_id, username, what in (
        ("P-DEMO-CITIZEN", "liming", "公民"),
        ("P-DEMO-COMPANY", "company", "法人"),
    ):
        party = next(p for p in seed.PARTIES if p.id == party_id)
        users.append(DemoUser(username, party.name, None, (CITIZEN_ROLE,), what, person_id=party.id))
    return users


def seed_demo_users(session: Session, now: datetime, platform_department: str = "bdb") -> list[DemoUser]:
    """Add the demo users that are missing (:func:`demo_users`), password :data:`DEMO_PASSWORD`;
    committed. Never changes a user that is there (a changed password stays). A user is skipped
    while its department or its identity does not exist. Returns the demo users present.

    The new users share one hash of the demo password (one salt): the password is public anyway,
    and a first start pays for one Argon2 hash instead of twenty-odd."""
    wanted = demo_users(platform_department)
    present = set(session.exec(select(UserAccount.username)).all())
    missing = [u for u in wanted if u.username not in present]
    if missing:
        departments = set(session.exec(select(Department.code)).all())
        identities = set(
            session.exec(
                select(PartyIdentity.id).where(
                    col(PartyIdentity.id).in_([u.person_id for u in missing if u.person_id])
                )
            ).all()
        )
        linked = set(session.exec(select(UserAccount.person_id)).all())
        addable = [
            u
            for u in missing
            if (u.department is None or u.department in departments)
            and (u.person_id is None or (u.person_id in identities and u.person_id not in linked))
        ]
        if addable:
            password_hash = hash_password(DEMO_PASSWORD)
            added, skipped = [], []
            try:
                for user in addable:
                    try:
                        _new_user(
                            session,
                            username=user.username,
                            display_name=user.display_name,
                            department=user.department,
                            roles=user.roles,
                            password_hash=password_hash,
                            kind="person",
                            id_type="other",
                            id_number="",
                            person_id=user.person_id,
                            now=now,
                        )
                        added.append(user.username)
                    except UserError as err:  # refused before anything was added: the operator's data
                        skipped.append(f"{user.username}: {err.en}")  # contradicts it (e.g. a moved head)
                session.commit()
                if added:
                    log.info("demo_users_seeded", users=added)
                if skipped:
                    log.warning("demo_users_skipped", users=skipped)
            except IntegrityError:
                session.rollback()
                log.info("demo_users_raced", note="another process seeded them first")
        present = set(session.exec(select(UserAccount.username)).all())
    return [u for u in wanted if u.username in present]


def demo_users_present(session: Session, platform_department: str = "bdb") -> list[DemoUser]:
    """The demo users that exist (what ``govshare run`` prints), without adding any."""
    present = set(session.exec(select(UserAccount.username)).all())
    return [u for u in demo_users(platform_department) if u.username in present]
