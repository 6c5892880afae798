"""The ECS adapter of each place Slipway reaches, made on first use.

Slipway's own account answers with the function's credentials, in any Region. Another
account answers through its target role: assumed once per account per invocation (the
session is fresh for every invocation, and every place of that account shares it), and
never for an account outside TargetAccounts, which Admission refuses before any call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from slipway import budget
from slipway.aws.ecs import EcsAdapter
from slipway.aws.sts import TargetRoles
from slipway.places import Place

MakeAdapter = Callable[[Place, dict[str, str] | None], EcsAdapter]


class Accounts:
    """Adapters per place: home's kept for the process, other accounts' for the invocation."""

    def __init__(self, home: Place, roles: TargetRoles, make: MakeAdapter) -> None:
        self._home = home
        self._roles = roles
        self._make = make
        self._kept: dict[Place, EcsAdapter] = {}
        # per account: the invocation it was assumed in, its credentials, and an adapter per Region
        self._assumed: dict[str, _Assumed] = {}
        self._accounts: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def reach(self, place: Place) -> EcsAdapter:
        """The adapter of ``place``; AwsError (AssumeRole's) when its account's role cannot be assumed."""
        if place.account == self._home.account:
            with self._lock:
                if place not in self._kept:
                    self._kept[place] = self._make(place, None)
                return self._kept[place]
        invocation = budget.current()
        with self._lock:
            lock = self._accounts.setdefault(place.account, threading.Lock())
        with lock:  # one AssumeRole per account, even when many workers reach it at once; accounts apart
            assumed = self._assumed.get(place.account)
            if assumed is None or assumed.invocation is not invocation:
                assumed = _Assumed(invocation, self._roles.assume(place.account).client_arguments())
                self._assumed[place.account] = assumed
            if place.region not in assumed.adapters:
                assumed.adapters[place.region] = self._make(place, assumed.credentials)
            return assumed.adapters[place.region]


@dataclass
class _Assumed:
    invocation: budget.Budget
    credentials: dict[str, str]
    adapters: dict[str, EcsAdapter] = field(default_factory=dict)
