"""Slipway's local sandbox: AWS resources in moto, shaped after template.yaml.

Only the demo and the tests use this package; it is not part of the Lambda package.
moto's known gaps are bridged here (see ``bridge``), never in the product code.
"""
