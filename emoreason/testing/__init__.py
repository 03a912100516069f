"""Offline factories for tests and benchmarks: tiny VLMs, tiny whisper checkpoints, synthetic media.

Nothing here touches the network. Submodules import heavy libraries only when called.
"""

from typing import Any


def build_tiny_vlm(path: Any, arch: str = "qwen2_5_vl", seed: int = 0) -> Any:
    """A tiny random VLM saved to ``path`` (see :func:`emoreason.testing.vlm.build_tiny_vlm`)."""
    from emoreason.testing.vlm import build_tiny_vlm as build

    return build(path, arch, seed)
