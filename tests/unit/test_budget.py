"""The invocation's budget: read from the Lambda context, kept ambient, seen by worker threads."""

from __future__ import annotations

import math

from slipway import budget
from slipway.budget import MIN_RESERVE_SECONDS, SAFETY_SECONDS, Budget
from slipway.workers import Crew, parallel_map


class Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_budget_of_context_keeps_a_reserve_before_the_deadline() -> None:
    spent = Budget.of(Context(120_000))

    assert spent.remaining() == 120 - SAFETY_SECONDS
    assert spent.reserve == (120 - SAFETY_SECONDS) * 0.1
    assert spent.work_remaining() == spent.remaining() - spent.reserve


def test_budget_of_context_keeps_time_by_the_contexts_clock() -> None:
    context = Context(120_000)
    spent = Budget.of(context)

    context.millis = 30_000  # the invocation's time ran on, however fast this machine is

    assert spent.remaining() == 30 - SAFETY_SECONDS
    assert spent.work_remaining() == 30 - SAFETY_SECONDS - spent.reserve
    assert spent.reserve == (120 - SAFETY_SECONDS) * 0.1, "the reserve is set once, from the whole invocation"


def test_budget_of_short_invocation_keeps_the_minimum_reserve_but_never_more_than_half() -> None:
    assert Budget.of(Context(12_000)).reserve == MIN_RESERVE_SECONDS
    assert Budget.of(Context(1_500)).reserve == (1.5 - SAFETY_SECONDS) / 2


def test_budget_without_deadline_never_runs_out() -> None:
    assert budget.current().remaining() == math.inf
    assert budget.current().work_remaining() == math.inf


def test_budget_running_is_seen_by_worker_threads_and_ends_with_the_block() -> None:
    short = Budget.seconds(30.0)
    seen: list[Budget] = []

    with budget.running(short):
        parallel_map(lambda _: seen.append(budget.current()), range(4), workers=4)
        with Crew(2) as crew:
            crew.spawn(lambda: seen.append(budget.current()))

    assert seen == [short] * 5
    assert budget.current() is budget.UNLIMITED
