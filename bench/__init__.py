"""Slipway's benchmarks: fan-out against ecs-deploy and a raw boto3 loop, cold start, memory, burst,
and rollouts through ECS's request throttling with Lambda's limits.

Run ``python -m bench`` (or ``make bench``); ``python -m bench --quick`` for a smaller run.
Everything runs against a moto server on 127.0.0.1 in a process of its own
(``bench.server``), with the sandbox's bridges over moto's gaps installed there: as
with AWS, the server's work does not share an interpreter (and a GIL) with the clients
it answers.

The benchmarks measure this working tree's ``functions/``, whatever the venv has
installed: like Lambda's ``/var/task``, ``functions/`` goes first on ``sys.path`` here
and in every child process (``FUNCTIONS_PATH``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
FUNCTIONS_PATH = f"{FUNCTIONS}:{ROOT}"  # PYTHONPATH of the children: the code, and bench itself

if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
