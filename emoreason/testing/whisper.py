"""A tiny, randomly initialised whisper checkpoint in whisper's own format, for tests (no download).

``whisper.load_model(path)`` loads it like an official checkpoint; the tokenizer comes from the tiktoken files
bundled in the whisper package, so nothing touches the network.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


def make_tiny_whisper(
    path: str | Path, seed: int = 0, n_text_ctx: int = 64, state: int = 32, say: str | None = " hello"
) -> Path:
    """Save ``{"dims", "model_state_dict"}`` for a 1-layer, ``state``-wide multilingual whisper (~2 M params).

    With ``say``, the decoder's final layer norm is pinned so every step's logits favour that word's first token:
    the random model then "transcribes" any audio as that word repeated up to the token cap, which lets tests check
    text, segments and word timestamps end to end. ``say=None`` keeps the decoder fully random.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    torch.manual_seed(seed)
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,  # fixed by whisper's 30 s windows
        n_audio_state=state,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,  # multilingual vocabulary: language detection works
        n_text_ctx=n_text_ctx,
        n_text_state=state,
        n_text_head=2,
        n_text_layer=1,
    )
    model = Whisper(dims)
    with torch.no_grad():  # whisper allocates the decoder's positions with torch.empty (a checkpoint fills them):
        model.decoder.positional_embedding.normal_(0.0, 0.02)  # uninitialised memory made the tiny model flaky
    if say:
        token = get_tokenizer(multilingual=True).encode(say)[0]
        with torch.no_grad():
            emb = model.decoder.token_embedding.weight
            model.decoder.ln.weight.zero_()
            model.decoder.ln.bias.copy_(emb[token] / emb[token].norm() * 50.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path
