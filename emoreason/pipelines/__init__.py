"""Pipelines: resumable batch captioning and dataset generation."""
