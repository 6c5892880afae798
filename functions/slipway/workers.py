"""The worker threads one invocation fans its AWS calls out on.

Each task runs in a copy of the submitting thread's context, so that the invocation's
budget (``slipway.budget``) reaches the AWS calls made on the workers.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``fn`` over ``items`` on up to ``workers`` threads, results in order (one item: no thread)."""
    items = list(items)
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [submit(pool, fn, item) for item in items]
        return [future.result() for future in futures]


def submit(pool: ThreadPoolExecutor, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """``pool.submit`` in a copy of this thread's context (one copy per task: a context runs in one thread)."""
    context = contextvars.copy_context()
    return pool.submit(context.run, functools.partial(fn, *args, **kwargs))


class _Joined:
    """A context whose exit waits for every task (when nothing failed inside it) and then closes."""

    def join(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.join()
        finally:
            self.close()


class Crew(_Joined):
    """A thread pool whose tasks may start more tasks; ``join`` waits until every one is done.

    A task's exception is kept and raised by ``join`` (after the others finished), so no
    failure is swallowed and no task is abandoned half way.
    """

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers))
        self._pending = 0
        self._done = threading.Condition()
        self._errors: list[BaseException] = []

    def spawn(self, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
        with self._done:
            self._pending += 1
        submit(self._pool, self._run, functools.partial(fn, *args, **kwargs))

    def _run(self, task: Callable[[], object]) -> None:
        try:
            task()
        except BaseException as error:  # noqa: BLE001 - kept and raised by join(): nothing is lost
            with self._done:
                self._errors.append(error)
        finally:
            with self._done:
                self._pending -= 1
                self._done.notify_all()

    def join(self) -> None:
        with self._done:
            while self._pending:
                self._done.wait()
            if self._errors:
                raise self._errors[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Crews(_Joined):
    """A crew per key, made on first use (Slipway's: one per account and Region, so that one place's wait
    for ECS tokens holds up no other's). ``join`` waits for every crew made so far."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._crews: dict[object, Crew] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: object) -> Crew:
        with self._lock:
            if key not in self._crews:
                self._crews[key] = Crew(self._workers)
            return self._crews[key]

    def join(self) -> None:
        with self._lock:
            crews = list(self._crews.values())
        for crew in crews:
            crew.join()

    def close(self) -> None:
        with self._lock:
            crews = list(self._crews.values())
        for crew in crews:
            crew.close()
