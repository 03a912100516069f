"""Evaluation: deterministic metrics, consistency and temporal evaluators, the eval runner.

Installed as ``emoreason.eval``: ``metrics``, ``consistency``, ``temporal``, ``runner``, ``report``.
"""
