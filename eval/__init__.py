"""Evaluation: deterministic metrics, consistency and temporal evaluators, eval runner (installed as emoreason.eval)."""
