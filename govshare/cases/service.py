"""Talking to case workflows from outside (the API, the CLI, tests).

Create → start the workflow; decide / withdraw → a workflow Update, so the caller gets an immediate
accept or a refusal with its reason; detail → the projection (or a query). Temporal errors are turned
into ``CaseError``s carrying the HTTP status the API answers with, so no Temporal type leaks out.

Every wait for a case to answer is bounded (``settle_timeout_s``, ``API_SETTLE_TIMEOUT_S``). Past it —
no worker polling, the app DB locked under the worker — the request is neither lost nor refused: the
workflow was started, or the Update sent, and will be taken when a worker runs it. That is
:class:`CasePending`, which the API answers 202 with the case id and the key to retry with. Updates
carry an explicit id (the API derives it from the request's Idempotency-Key): Temporal applies an
Update id once and answers a repeat with the first outcome, also after the case has closed, so a
retry of a pending decision gets that decision's answer and never applies it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from regulations import load_profile, profile_digest
from regulations.roles import unplayed_roles
from regulations.schema import CaseType, Profile
from workflows import registry
from workflows.case import (
    ERROR_CONFLICT,
    ERROR_FORBIDDEN,
    ERROR_INVALID,
    Actor,
    CaseAnswer,
    CaseFile,
    ClaimRequest,
    ClockRequest,
    DecisionRequest,
    NoteRequest,
    ResourceSnapshot,
    TaskBrief,
    WithdrawRequest,
)
from workflows.contracts import CaseStart, LinkedCaseType
from workflows.engine import attributes, signing
from workflows.legacy.shapes import CaseState

log = structlog.get_logger("govshare.cases.service")


class CaseError(Exception):
    """A refusal with the HTTP status the API answers with and a Chinese-first message."""

    status = 400
    code = "bad_request"

    def __init__(
        self, detail_zh: str, detail_en: str = "", errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail_en or detail_zh)
        self.detail_zh = detail_zh
        self.detail_en = detail_en or detail_zh
        #: Each problem found (a change set's entries against the catalog's rules …), as the API lists them.
        self.errors = list(errors or [])


class CaseNotFound(CaseError):
    status, code = 404, "case_not_found"


class CaseForbidden(CaseError):
    status, code = 403, "forbidden"


class CaseConflict(CaseError):
    status, code = 409, "conflict"


class CaseInvalid(CaseError):
    status, code = 422, "invalid_decision"


class EngineUnavailable(CaseError):
    status, code = 503, "engine_unavailable"


class RequestMismatch(CaseError):
    """A create whose case id names a case started by another request (an Idempotency-Key reused
    for a different body): the case is not this request's, so it is neither answered nor started."""

    status, code = 422, "idempotency_key_reused"


@dataclass
class StartReport:
    """What :func:`start_case` found, for a caller that needs more than the answer."""

    #: Temporal confirmed the start (or that the workflow id was already started).
    started: bool = False
    #: The workflow id was already started — a retry of the same request: answered with that case.
    existing: bool = False
    #: When the existing workflow was started (known when the start checked its request tag).
    existing_since: datetime | None = None


class CasePending(Exception):
    """The case did not answer within the wait; what was asked is with Temporal and will be taken
    when a worker runs the case (or, for an Update a worker has not yet seen, be lost with a server
    restart — a retry with the same update id is then applied once). Not a refusal: the API answers
    202 with the case id; the client retries with the same key, or reads the case."""

    def __init__(self, case_id: str, operation: str, waited_s: float | None, *, started: bool = True) -> None:
        super().__init__(f"case {case_id}: {operation} pending after {waited_s} s")
        self.case_id = case_id
        self.operation = operation
        self.waited_s = waited_s
        #: For a create: whether Temporal confirmed the start. False: it may or may not have started
        #: (the frontend did not answer) — only a retry under the same case id is then safe.
        self.started = started


#: Raised by the bound (TimeoutError) or by the SDK for an Update RPC that timed out or was cancelled
#: (WorkflowUpdateRPCTimeoutOrCancelledError, an RPCTimeoutOrCancelledError): the outcome is unknown.
_NO_ANSWER = (TimeoutError, RPCTimeoutOrCancelledError)


def _pending(
    case_id: str, operation: str, waited_s: float | None, err: BaseException, *, started: bool = True
) -> CasePending:
    log.warning(
        "case_outcome_pending",
        case_id=case_id,
        workflow_id=workflow_id_for(case_id),
        operation=operation,
        waited_s=waited_s,
        started=started,
        error=type(err).__name__,
    )
    return CasePending(case_id, operation, waited_s, started=started)


_BY_TYPE = {ERROR_FORBIDDEN: CaseForbidden, ERROR_CONFLICT: CaseConflict, ERROR_INVALID: CaseInvalid}


def kind_of(case_id: str) -> registry.CaseKind:
    """The registered case type a case id belongs to (its prefix); 404 for none."""
    kind = registry.by_case_id(case_id)
    if kind is None:
        raise CaseNotFound(f"未找到案件 {case_id}", f"no case {case_id}")
    return kind


def workflow_id_for(case_id: str) -> str:
    """Workflow ids are business keys (``SharingApplication:SA-20261123-7K3Q9X``)."""
    return kind_of(case_id).workflow_id(case_id)


#: The letters of a case id's suffix: no 0/O, 1/I to misread on the phone (32 of them: 5 bits each).
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _prefix(case_type: str) -> str:
    kind = registry.by_case_type(case_type)
    if kind is None:
        raise CaseInvalid(f"未知的案件类型 {case_type}", f"unknown case type {case_type}")
    return kind.prefix


def case_id_for_key(case_type: str, owner: str, key: str, day: date, *, scope: str = "") -> str:
    """The case id a create under Idempotency-Key ``key`` from ``owner`` (the department) names.

    ``SA-20261123-7K3Q9X``: the date for people (a clerk reads it on the phone), then a digest of
    (scope, case type, department, key). The same key and day give the same id, hence the same
    workflow id, so a retry reaches the case the first attempt started (Temporal's reject-duplicate
    policy) — whichever replica answers it and whether or not the database took the key. Another
    department's key never names this case (a collision of suffixes is refused by the request check
    in :func:`start_case`, not answered). ``scope`` is the deployment's (its task queue): two
    deployments sharing one Temporal namespace, each with its own database, never derive the same id.
    """
    digest = hashlib.sha256(f"{scope}\n{case_type}\n{owner}\n{key}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    suffix = "".join(_ID_ALPHABET[(number >> (5 * i)) & 31] for i in range(6))
    return f"{_prefix(case_type)}-{day:%Y%m%d}-{suffix}"


def linked_types(profile: Profile, rules: CaseType) -> dict[str, LinkedCaseType]:
    """The case types a case may start — its ladder's rungs, its decisions, its waiting steps, and
    theirs in turn (a case a rung starts carries the ladder on) — pinned at its start like its own
    rules. A case type this deployment has not registered is not pinned: nothing starts it."""
    pinned: dict[str, LinkedCaseType] = {}
    todo = _targets(rules)
    while todo:
        target = todo.pop()
        if target in pinned or target not in profile.case_types or registry.by_case_type(target) is None:
            continue
        pinned[target] = registry.linked_type(target, profile.case_types[target])
        todo += _targets(profile.case_types[target])
    return pinned


def _targets(rules: CaseType) -> list[str]:
    found = [r.starts_case for r in rules.escalation if r.starts_case]
    for step in rules.steps.values():
        found += [step.waits_on] if step.waits_on else []
        found += [a.starts_case for a in step.actions.values() if a.starts_case]
    return found


def escalation_type() -> LinkedCaseType:
    """How a case starts the escalation that climbs its ladder (its rules come from the ladder)."""
    return registry.linked_type(registry.ESCALATION.case_type, None)


def check_directory(profile: Profile, case_type: str, directory: dict[str, str]) -> None:
    """A rung or a decision whose role no department plays is refused before the case starts (422),
    naming the role and the rung, never a breach that finds nobody to act."""
    missing = unplayed_roles(
        profile, directory, [case_type, *linked_types(profile, profile.case_types[case_type])]
    )
    if missing:
        raise CaseInvalid(
            "角色目录不完整,以下角色没有部门承担:" + ";".join(missing),
            "the role directory is incomplete: " + "; ".join(missing),
        )


def check_parties(kind: registry.CaseKind, inp: Any) -> None:
    """A role some step needs with nobody to play it is refused before the case starts (422), never a
    workflow stuck at that step. The case type names its own parties (its registry entry)."""
    parties = kind.parties_of(inp)
    # A party is a department, or a person who is not one (a citizen, a company).
    missing = sorted(inp.case.rules.roles_needed() - {p.role for p in parties if p.department or p.person})
    if missing:
        raise CaseInvalid(
            f"以下角色没有办理方:{'、'.join(missing)}", f"no party plays the role(s): {', '.join(missing)}"
        )
    # A quorum larger than the parties who can answer could never be reached: refused the same way.
    for step_id in sorted(inp.case.rules.reachable_steps()):
        step = inp.case.rules.steps[step_id]
        able = {
            (p.department, p.person) for p in parties if p.role in step.roles and (p.department or p.person)
        }
        if step.assign == "each" and step.join == "quorum" and (step.quorum or 0) > len(able):
            raise CaseInvalid(
                f"环节“{step.name_zh}”须{step.quorum}方一致,但只有{len(able)}方办理({step.actor})",
                f"step {step_id} needs a quorum of {step.quorum}, but only {len(able)} "
                f"party(ies) play {step.actor}",
            )


def new_case_input(
    kind: registry.CaseKind,
    *,
    case_id: str,
    profile_id: str,
    submitted_at: datetime,
    submitted_by: Actor,
    platform_department: str,
    fields: dict[str, Any],
    department_names: dict[str, str] | None = None,
    directory: dict[str, str] | None = None,
    parties: list | None = None,
    counts_from: datetime | None = None,
    person_names: dict[str, str] | None = None,
    links: list | None = None,
) -> Any:
    """A case's input: the profile pinned (its rules for this case type, version and digest) into the
    start, and the fields its create route checked, put together by the case type (registry)."""
    profile = load_profile(profile_id)
    rules = profile.case_types.get(kind.case_type)
    if rules is None:
        raise CaseInvalid(
            f"规范 {profile_id} 未定义{kind.name_zh}流程",
            f"profile {profile_id} has no {kind.name_en.lower()}",
        )
    start = CaseStart(
        case_id=case_id,
        profile_id=profile.id,
        profile_version=profile.version,
        profile_digest=profile_digest(profile.id),
        profile_name_zh=profile.title_zh or profile.name_zh,
        deadline_cutoff=profile.deadline_cutoff,
        rules=rules,
        submitted_at=submitted_at,
        submitted_by=submitted_by,
        platform_department=platform_department,
        annex_titles_zh=dict(profile.annex_titles_zh),
        department_names=dict(department_names or {}),
        person_names=dict(person_names or {}),
        linked_types=linked_types(profile, rules),
        # The platform's department is also a setting (PLATFORM_DEPARTMENT): the directory's row,
        # when it has one, wins.
        directory={"platform": platform_department, **(directory or {})} if directory is not None else {},
        escalation_type=escalation_type(),
        parties=list(parties or []),
        counts_from=counts_from,
        links=list(links or []),
    )
    if directory is not None:
        check_directory(profile, kind.case_type, start.directory)
    return kind.build(start, fields)


def resource_snapshot(resource: Any) -> ResourceSnapshot:
    """A catalog entry (``govshare.core.models.Resource``) as an application pins it at its start."""
    return ResourceSnapshot(
        id=resource.id,
        version=resource.version,
        name_zh=resource.name_zh,
        name_en=resource.name_en,
        provider_department=resource.provider_department,
        share_type=resource.share_type,
        controlled_parameters=resource.controlled_parameters,
        sharing_modes=list(resource.sharing_modes),
        legal_basis=resource.legal_basis,
        fields=list(resource.fields),
    )


def _translate(err: Exception) -> CaseError:
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in _BY_TYPE:
            details = cause.details[0] if cause.details else {}
            zh = details.get("zh", cause.message) if isinstance(details, dict) else cause.message
            problems = details.get("problems") if isinstance(details, dict) else None
            return _BY_TYPE[cause.type](zh, cause.message, problems)
        return CaseConflict("案件未能处理该请求", f"the case refused the request: {cause}")
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return CaseNotFound("未找到案件或案件已结束", "no such open case")
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return EngineUnavailable("流程引擎暂时不可用,请稍后重试", "the workflow engine is unavailable")
    raise err


#: The memo entry holding the request a case was started for (:func:`start_case`'s ``request_tag``).
REQUEST_MEMO = "govshare_request"


async def start_case(
    client: Client,
    task_queue: str,
    kind: registry.CaseKind,
    inp: Any,
    *,
    summary: str = "",
    settle_timeout_s: float | None = None,
    request_tag: str | None = None,
    report: StartReport | None = None,
) -> CaseAnswer:
    """Start a case of any registered type and return once its first tasks are open (or it closed by
    rule); CasePending if that takes longer than ``settle_timeout_s`` (the workflow id is the case's:
    a retry with the same case id never starts a second one).

    ``request_tag`` names the request (the API: a digest of the department and the body) and is kept
    in the workflow's memo; a start that finds its workflow id already started by a request with
    another tag raises :class:`RequestMismatch` instead of answering with that case. ``report``, if
    given, is filled with whether the start was confirmed and whether the case already existed.
    """
    check_parties(kind, inp)
    summary = summary or kind.start_summary(inp)
    progress = report if report is not None else StartReport()
    try:
        async with asyncio.timeout(settle_timeout_s):
            return await _start_and_settle(client, task_queue, kind, inp, summary, progress, request_tag)
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _translate(err) from err
    except _NO_ANSWER as err:
        raise _pending(inp.case.case_id, "create", settle_timeout_s, err, started=progress.started) from err


#: (server, namespace) → when the case search attributes were last found missing; once found
#: registered, they are taken as registered for the life of the process.
_ATTRIBUTES_REGISTERED: dict[tuple[str, str], bool] = {}
_ATTRIBUTES_MISSING_SINCE: dict[tuple[str, str], float] = {}
#: How long a "not registered" answer is believed before the server is asked again.
ATTRIBUTES_RECHECK_S = 60.0


async def attributes_registered(client: Client) -> bool:
    """Whether the server has the case search attributes (``workflows/engine/attributes.py``)
    registered with their types. A server that cannot say (the time-skipping test server) has not."""
    where = (client.service_client.config.target_host, client.namespace)
    if _ATTRIBUTES_REGISTERED.get(where):
        return True
    loop = asyncio.get_running_loop()
    missing_since = _ATTRIBUTES_MISSING_SINCE.get(where)
    if missing_since is not None and loop.time() - missing_since < ATTRIBUTES_RECHECK_S:
        return False
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        present = {name: type_name(value) for name, value in listed.custom_attributes.items()}
        found = all(present.get(name) == kind for name, kind in attributes.TYPE_NAMES.items())
    except RPCError as err:
        log.info("search_attributes_unknown", error=str(err))
        found = False
    if found:
        _ATTRIBUTES_REGISTERED[where] = True
    else:
        _ATTRIBUTES_MISSING_SINCE[where] = loop.time()
        log.warning(
            "search_attributes_not_registered",
            note="cases will not be findable by GovshareCaseType etc. in Temporal; see README",
        )
    return found


def type_name(value: int) -> str:
    """Temporal's name for an indexed-value type (``INDEXED_VALUE_TYPE_KEYWORD`` → ``Keyword``)."""
    raw = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_")
    return {"KEYWORD_LIST": "KeywordList"}.get(raw, raw.capitalize())


def _initial_attributes(kind: registry.CaseKind, inp: Any):  # -> TypedSearchAttributes
    start = inp.case
    return attributes.initial(
        {
            attributes.CASE_TYPE.name: kind.case_type,
            attributes.PROFILE.name: start.profile_id,
            attributes.STATUS.name: "in_progress",
            attributes.DEPARTMENT.name: sorted({p.department for p in kind.parties_of(inp) if p.department}),
            attributes.OVERDUE.name: False,
        }
    )


async def _start_and_settle(
    client: Client,
    task_queue: str,
    kind: registry.CaseKind,
    inp: Any,
    summary: str,
    progress: StartReport,
    request_tag: str | None,
) -> CaseAnswer:
    workflow_id = kind.workflow_id(inp.case.case_id)
    inp.case.search_attributes = await attributes_registered(client)
    try:
        handle = await client.start_workflow(
            kind.workflow_type,
            # Signed last: who submitted it, for this workflow id (issue 23; the engine checks it).
            signing.sign(inp, workflow_id, signing.START, signing.current_key()),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # What an operator reads in the Temporal UI's list of cases.
            static_summary=summary or None,
            memo={REQUEST_MEMO: request_tag} if request_tag else None,
            # Found in Temporal's own lists from the start; the case keeps them up to date.
            search_attributes=_initial_attributes(kind, inp) if inp.case.search_attributes else None,
        )
    except WorkflowAlreadyStartedError:
        # A retried create (same Idempotency-Key, hence the same case id): answer with the case
        # that the first attempt started, never start a second one — if it was started for this
        # very request. (A case started before request tags existed has none: taken as the same.)
        handle = client.get_workflow_handle(workflow_id)
        if request_tag:
            description = await handle.describe()
            progress.existing_since = description.start_time
            first = await description.memo_value(REQUEST_MEMO, None)
            if first is not None and first != request_tag:
                raise RequestMismatch(
                    f"案件 {inp.case.case_id} 是为另一份内容不同的请求创建的",
                    f"case {inp.case.case_id} was started for a different request",
                ) from None
        progress.existing = True
    progress.started = True
    try:
        return await handle.execute_update("settled", result_type=CaseAnswer)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # A case decided by rule at entry (not_shared, Luzhou/Jiangsu unconditional) may complete
        # before the Update reaches it; it is then closed, with no open task. (Its result is read
        # as plain data: a retried create may find a case the first generation ran.)
        done = await handle.result()
        return CaseAnswer(
            case_id=done["case_id"],
            status=done["status"],
            result=done.get("result", ""),
            revision=done["revision"],
        )


def _handle(client: Client, case_id: str) -> WorkflowHandle:
    return client.get_workflow_handle(workflow_id_for(case_id))


async def _update(
    client: Client,
    case_id: str,
    name: str,
    arg: object = None,
    result_type: type = CaseAnswer,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
):
    """Send Update ``name``. The frozen first generation answers with its whole CaseState; that is
    turned into the same CaseAnswer the current engine gives, so callers see one shape."""
    handle = _handle(client, case_id)
    if arg is not None and signing.signable(arg):
        # The actor and the request, signed for this case and Update (issue 23): the engine refuses
        # an Update that did not come through here. A retry is signed anew (same update id).
        arg = signing.sign(arg, handle.id, name, signing.current_key())
    args = [] if arg is None else [arg]
    legacy = generation == 1 and result_type is CaseAnswer
    try:
        async with asyncio.timeout(settle_timeout_s):
            result = await handle.execute_update(
                name, args=args, id=update_id, result_type=CaseState if legacy else result_type
            )
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise _translate(err) from err
    except _NO_ANSWER as err:
        raise _pending(case_id, name, settle_timeout_s, err) from err
    return answer_of_state(result) if legacy else result


def answer_of_state(state: CaseState) -> CaseAnswer:
    """A first-generation CaseState as the CaseAnswer of the current engine."""
    return CaseAnswer(
        case_id=state.case_id,
        status=state.status,
        result=state.result,
        revision=state.revision,
        open_tasks=[
            TaskBrief(
                task_id=t.task_id,
                step=t.step,
                name_zh=t.name_zh,
                name_en=t.name_en,
                assignee=t.assignee,
                status=t.status,
                due_at=t.deadline.due_at if t.deadline else None,
                working_days=t.deadline.working_days if t.deadline else None,
                article=t.article,
            )
            for t in state.tasks
            if t.status == "open"
        ],
    )


async def decide(
    client: Client,
    case_id: str,
    request: DecisionRequest,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
) -> CaseAnswer:
    """The decision, as Update ``update_id`` (a repeat of the id answers the first outcome)."""
    return await _update(
        client,
        case_id,
        "decide",
        request,
        update_id=update_id,
        settle_timeout_s=settle_timeout_s,
        generation=generation,
    )


async def withdraw(
    client: Client,
    case_id: str,
    request: WithdrawRequest,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
) -> CaseAnswer:
    return await _update(
        client,
        case_id,
        "withdraw",
        request,
        update_id=update_id,
        settle_timeout_s=settle_timeout_s,
        generation=generation,
    )


async def adjust_clock(
    client: Client,
    case_id: str,
    request: ClockRequest,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
) -> CaseAnswer:
    """An extension, suspension or resume of one task's clock (second-generation cases only)."""
    if generation == 1:
        raise CaseConflict(
            "该案件由旧版流程办理,不支持调整期限",
            "this case runs on the first-generation engine: no clock changes",
        )
    return await _update(
        client, case_id, "adjust_clock", request, update_id=update_id, settle_timeout_s=settle_timeout_s
    )


async def note(
    client: Client,
    case_id: str,
    request: NoteRequest,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
) -> CaseAnswer:
    """A note on a running case (second-generation cases only)."""
    if generation == 1:
        raise CaseConflict(
            "该案件由旧版流程办理,不支持添加记录", "this case runs on the first-generation engine: no notes"
        )
    return await _update(
        client, case_id, "note", request, update_id=update_id, settle_timeout_s=settle_timeout_s
    )


async def claim(
    client: Client,
    case_id: str,
    request: ClaimRequest,
    *,
    update_id: str | None = None,
    settle_timeout_s: float | None = None,
    generation: int = 2,
) -> CaseAnswer:
    """Claim an open task for one person of its assignee (签收), or release the claim
    (``request.release``; second-generation cases only: the frozen first generation has no claims)."""
    if generation == 1:
        raise CaseInvalid(
            "该案件由旧版流程办理,不支持签收待办",
            "this case runs on the first-generation engine: no task claims",
        )
    return await _update(
        client, case_id, "claim", request, update_id=update_id, settle_timeout_s=settle_timeout_s
    )


async def replan_deadlines(client: Client, case_id: str) -> bool:
    """Ask the case to recompute a provisional deadline; True if it moved."""
    return await _update(client, case_id, "replan_deadlines", result_type=bool)


async def query_state(client: Client, case_id: str, *, generation: int = 2) -> CaseFile | CaseState:
    """The case as its workflow holds it: a CaseFile (a first-generation case: its CaseState)."""
    try:
        return await _handle(client, case_id).query(
            "state", result_type=CaseState if generation == 1 else CaseFile
        )
    except RPCError as err:
        raise _translate(err) from err
