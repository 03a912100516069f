"""Training: LoRA SFT, GRPO with label-based rewards, the data-synthesis loop, export and model cards."""
