"""Which modalities an Evidence carries (face, speech, prosody), and the same Evidence with one of them removed.

The one home of these two rules: the prompt says which modalities are present (``reasoning.prompts``), and
modality attribution (``emoreason.eval.attribution``: ``eval --ablate``, ``analyze``/``caption
--explain-modalities``) removes one at a time.

- face: a face image or measured Action Units (``images``, ``aus``), unless ``meta["face"]`` is False
  (a speech-only video window). Removing it leaves a speech-only Evidence: no images, AUs, AU text, AU changes or
  face quality flags, ``au_text`` "No face visible." and ``meta["face"] = False`` (what pipelines/video.py writes
  for a window with no face, so every backend reads it the same way).
- speech: a transcript (``transcript``); removing it empties the transcript.
- prosody: how it is said (``prosody``); removing it empties the prosody text.
"""

from __future__ import annotations

from emoreason.errors import EmoreasonError
from emoreason.schema import Evidence

MODALITIES: tuple[str, ...] = ("face", "speech", "prosody")
NO_FACE_TEXT = "No face visible."


def has_face(evidence: Evidence) -> bool:
    """True when the Evidence shows a face (an image or AUs) and is not marked speech-only (``meta["face"]``).

    AU text alone is not a face: a row with no AUs still renders "No action units above the presence threshold".
    """
    if evidence.meta.get("face", True) is False:
        return False
    return bool(evidence.images or evidence.aus)


def present_modalities(evidence: Evidence) -> list[str]:
    """The modalities the Evidence carries, in :data:`MODALITIES` order.

    >>> present_modalities(Evidence(id="x", aus={"AU12": 3.0}, transcript="great"))
    ['face', 'speech']
    >>> present_modalities(Evidence(id="y", au_text="No action units above the presence threshold."))
    []
    """
    present = {"face": has_face(evidence), "speech": bool(evidence.transcript.strip()),
               "prosody": bool(evidence.prosody.strip())}  # fmt: skip
    return [m for m in MODALITIES if present[m]]


def parse_modalities(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"face,speech"`` -> ``["face", "speech"]``; ``"all"`` is every modality. Unknown names raise EmoreasonError.

    >>> parse_modalities("speech, face"), parse_modalities("all")
    (['face', 'speech'], ['face', 'speech', 'prosody'])
    """
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {n.strip().lower() for n in items if n.strip()}
    if "all" in names:
        return list(MODALITIES)
    unknown = sorted(names - set(MODALITIES))
    if unknown:
        raise EmoreasonError(f"unknown modality {', '.join(unknown)}; choose from: {', '.join(MODALITIES)} (or all)")
    return [m for m in MODALITIES if m in names]


def without_modality(evidence: Evidence, modality: str) -> Evidence:
    """A copy of the Evidence with one modality removed (the original is not changed).

    >>> ev = without_modality(Evidence(id="x", aus={"AU12": 3.0}, au_text="AU12", transcript="great"), "face")
    >>> ev.aus, ev.au_text, ev.meta["face"], present_modalities(ev)
    ({}, 'No face visible.', False, ['speech'])
    """
    if modality == "face":
        update = {"images": [], "aus": {}, "au_text": NO_FACE_TEXT, "au_changes": "", "quality": [],
                  "quality_text": "", "uncertain_aus": [], "meta": {**evidence.meta, "face": False}}  # fmt: skip
    elif modality == "speech":
        update = {"transcript": ""}
    elif modality == "prosody":
        update = {"prosody": ""}
    else:
        raise EmoreasonError(f"unknown modality {modality!r}; choose from: {', '.join(MODALITIES)}")
    return evidence.model_copy(update=update)
