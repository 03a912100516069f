"""Review: people accept, reject and correct rows (a build-data or synth dataset, or chat and API analyses); their
decisions become a reviewed dataset and preference pairs for ``train dpo`` (``store``, ``export``, ``card``)."""
