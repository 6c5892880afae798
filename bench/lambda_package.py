"""Only what the Lambda package ships: refuse the rest of this venv in a measured process.

This venv holds the dev tools too (moto, SAM CLI, cfn-lint) and with them awscrt and
pyOpenSSL, which botocore picks up when they are importable and Lambda does not have.
A process that measures the functions refuses the top-level modules of every
distribution outside the dependency closure of ``functions/requirements.txt``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bench import FUNCTIONS

REQUIREMENTS = FUNCTIONS / "requirements.txt"
ENV = "SLIPWAY_BENCH_NOT_IN_PACKAGE"  # comma-separated top-level modules to refuse


def closure() -> set[str]:
    """Canonical names of the distributions ``functions/requirements.txt`` pulls in, extras included."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    pending = [Requirement(line) for line in lines if line]
    seen: dict[str, set[str]] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in seen[name] or {""}):
                pending.append(dependency)
    return set(seen)


def outside() -> list[str]:
    """Top-level modules installed here whose distributions the Lambda package does not ship."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    allowed = closure()
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if module != "slipway" and not any(canonicalize_name(d) in allowed for d in dists)
    )


class _NotInPackage:
    """A meta path finder that refuses the given top-level modules, as if not installed."""

    def __init__(self, refused: frozenset[str]) -> None:
        self._refused = refused

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] in self._refused:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda package)", name=name)
        return None


def refuse_from_environment() -> int:
    """In a measured child: refuse what ``ENV`` lists; returns how many modules."""
    refused = frozenset(filter(None, os.environ.get(ENV, "").split(",")))
    if refused:
        sys.meta_path.insert(0, _NotInPackage(refused))
    return len(refused)
