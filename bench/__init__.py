"""Slipway's benchmarks: fan-out against ecs-deploy and a raw boto3 loop, cold start, memory, burst.

Run ``python -m bench`` (or ``make bench``); ``python -m bench --quick`` for a smaller run.
Everything runs against a moto server on 127.0.0.1 inside this process, so the sandbox's
bridges over moto's gaps (``sandbox.bridge.install_ecs_deployments``) apply.
"""
