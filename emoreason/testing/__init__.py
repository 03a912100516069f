"""Offline factories for tests and benchmarks: tiny VLMs, tiny whisper checkpoints, synthetic media.

Nothing here touches the network. Submodules import heavy libraries only when called.
"""
