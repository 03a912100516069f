"""Dataset builders: one module per source corpus plus CoT synthesis (installed as emoreason.data_builders)."""
