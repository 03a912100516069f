"""emoreason: explainable emotion reasoning with multimodal LLMs.

Faces, FACS Action Units, speech and prosody go in; a ``<think>`` chain of thought and an emotion label come out.
Heavy libraries (torch, transformers, mediapipe, whisper) are imported lazily inside the functions that need them.
"""

from emoreason.errors import EmoreasonError

__version__ = "0.1.0"
__all__ = ["EmoreasonError", "__version__"]
