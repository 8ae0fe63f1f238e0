"""Talking to any registered case's workflow directly (workflow tests and sample recorders): its
handle by case id, its state, a decision, a refusal's type, and waiting until it reaches a state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from workflows import registry
from workflows.case import CaseAnswer, CaseFile, DecisionRequest


def handle(client: Client, case_id: str) -> WorkflowHandle:
    kind = registry.by_case_id(case_id)
    assert kind is not None, f"no registered case type for {case_id}"
    return client.get_workflow_handle(kind.workflow_id(case_id))


async def state(client: Client, case_id: str) -> CaseFile:
    return await handle(client, case_id).query("state", result_type=CaseFile)


async def decide(client: Client, case_id: str, req: DecisionRequest) -> CaseAnswer:
    return await handle(client, case_id).execute_update("decide", req, result_type=CaseAnswer)


async def refused(client: Client, case_id: str, req: DecisionRequest) -> str:
    """The refusal's type (Forbidden, Conflict, Invalid) of a decision that must be refused."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await decide(client, case_id, req)
    return err.value.cause.type  # type: ignore[union-attr]


async def until(
    predicate: Callable[[CaseFile], bool], client: Client, case_id: str, tries: int = 100
) -> CaseFile:
    """The case once ``predicate`` holds (polled every 0.1 s); a case not started yet is waited for."""
    seen: object = None
    for _ in range(tries):
        try:
            seen = await state(client, case_id)
            if predicate(seen):
                return seen
        except RPCError as err:
            seen = err
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not reached for {case_id}: last seen {seen}")
