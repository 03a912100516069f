"""Reasoning: prompts, the one output parser, and reasoner backends (rules, hf, openai, vllm)."""
