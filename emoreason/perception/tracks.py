"""Face tracks across video frames: association, per-track AU time series, resting-face baseline, peak frames.

MediaPipe's VIDEO mode already smooths landmarks between frames, but it has no identities. Faces are linked to
tracks greedily by a similarity that is box IoU, or, after a miss, the distance between the predicted and the
detected centre relative to the face size, so a track survives a face that is lost for up to ``max_miss`` seconds
(a turn of the head, an occlusion, a missed detection). Greedy matching equals Hungarian matching for the few,
well-separated faces of real footage and needs no extra dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emoreason.facs import bilateral
from emoreason.schema import Face

Box = tuple[float, float, float, float]  # x, y, w, h

BASELINE_PERCENTILE = 10.0
# A baseline is subtracted only up to this intensity: it removes a resting face's offsets (a slight habitual
# frown, a detector bias) without erasing an expression held for the whole clip.
BASELINE_CAP = 1.5
MIN_BASELINE_FRAMES = 8


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


@dataclass
class _Live:
    id: int
    box: Box
    time: float
    velocity: tuple[float, float] = (0.0, 0.0)

    def predicted(self, t: float) -> Box:
        dt = min(t - self.time, 1.0)
        x, y, w, h = self.box
        return x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h


class FaceTracker:
    """Assigns stable ``track_id`` values to the faces of successive frames."""

    def __init__(self, max_miss: float = 1.0, min_iou: float = 0.1, max_centre_dist: float = 1.0):
        self.max_miss = max_miss
        self.min_iou = min_iou
        self.max_centre_dist = max_centre_dist  # in face widths
        self.live: list[_Live] = []
        self.next_id = 1

    def _similarity(self, track: _Live, box: Box, t: float) -> float:
        pred = track.predicted(t)
        overlap = iou(pred, box)
        if overlap >= self.min_iou:
            return 1.0 + overlap
        (px, py), (cx, cy) = _centre(pred), _centre(box)
        size = max(1.0, math.sqrt(pred[2] * pred[3]), math.sqrt(box[2] * box[3]))
        dist = math.hypot(px - cx, py - cy) / size
        scale = max(pred[2], box[2]) / max(1.0, min(pred[2], box[2]))
        if dist <= self.max_centre_dist and scale < 2.0:
            return 1.0 - dist / (self.max_centre_dist + 1e-9)
        return -1.0

    def update(self, faces: list[Face], t: float) -> list[Face]:
        """Set ``track_id`` on each face of the frame at time ``t`` (seconds, increasing) and return them."""
        self.live = [tr for tr in self.live if t - tr.time <= self.max_miss]
        pairs = sorted(
            (
                (self._similarity(tr, f.box, t), ti, fi)
                for ti, tr in enumerate(self.live)
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        used_t, used_f = set(), set()
        for sim, ti, fi in pairs:
            if sim < 0 or ti in used_t or fi in used_f:
                continue
            used_t.add(ti)
            used_f.add(fi)
            tr, face = self.live[ti], faces[fi]
            dt = t - tr.time
            if dt > 0:
                (ox, oy), (nx, ny) = _centre(tr.box), _centre(face.box)
                vx, vy = (nx - ox) / dt, (ny - oy) / dt
                tr.velocity = (0.5 * tr.velocity[0] + 0.5 * vx, 0.5 * tr.velocity[1] + 0.5 * vy)
            tr.box, tr.time = face.box, t
            face.track_id = tr.id
        for fi, face in enumerate(faces):
            if fi not in used_f:
                self.live.append(_Live(self.next_id, face.box, t))
                face.track_id = self.next_id
                self.next_id += 1
        return faces


@dataclass
class AUSeries:
    """One track's AU intensities over time, stored compactly (float32 rows over a shared AU key list)."""

    track: int
    keys: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    # per frame: (quality flags, quality text, uncertain AUs) of the reading (perception.readings.read_face)
    quality: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=list)
    # per frame: the rule engine's label (pipelines.windows.frame_label)
    labels: list[str] = field(default_factory=list)
    # per frame: the face model's probabilities (perception.expression.EXPRESSION_LABELS order), when it ran
    expression: list[np.ndarray | None] = field(default_factory=list)

    def add(
        self,
        t: float,
        aus: dict[str, float],
        box: Box,
        quality: tuple[tuple[str, ...], str, tuple[str, ...]] = ((), "", ()),
        label: str = "",
        expression: dict[str, float] | None = None,
    ) -> None:
        for key in aus:
            if key not in self.keys:
                self.keys.append(key)
        self.quality.append(quality)
        self.labels.append(label)
        self.expression.append(np.array(list(expression.values()), np.float32) if expression else None)
        self.times.append(float(t))
        self.rows.append(np.array([aus.get(k, 0.0) for k in self.keys], np.float32))
        self.boxes.append(tuple(round(float(v), 1) for v in box))  # type: ignore[arg-type]

    def matrix(self) -> np.ndarray:
        """(frames, keys) array; rows recorded before a key first appeared read 0 for it."""
        out = np.zeros((len(self.rows), len(self.keys)), np.float32)
        for i, row in enumerate(self.rows):
            out[i, : row.size] = row
        return out

    def baseline(self, percentile: float = BASELINE_PERCENTILE, cap: float = BASELINE_CAP) -> dict[str, float]:
        """The resting face: a low percentile per AU over the track, capped at ``cap`` (see BASELINE_CAP)."""
        if len(self.rows) < MIN_BASELINE_FRAMES:
            return {}
        low = np.percentile(self.matrix(), percentile, axis=0)
        return {k: round(float(min(v, cap)), 3) for k, v in zip(self.keys, low, strict=True) if v > 0.05}

    def mean_expression(self, indices: list[int], labels: tuple[str, ...]) -> dict[str, float]:
        """The face model's probabilities averaged over frames ``indices`` ({} where it did not run)."""
        rows = [self.expression[i] for i in indices if i < len(self.expression) and self.expression[i] is not None]
        if not rows:
            return {}
        mean = np.mean(rows, axis=0)
        return {label: round(float(p), 4) for label, p in zip(labels, mean, strict=True)}

    def relative(self, index: int, baseline: dict[str, float]) -> dict[str, float]:
        """AUs of frame ``index`` minus the baseline, clipped at 0, rounded; zero entries dropped."""
        row = self.rows[index]
        out = {}
        for k, v in zip(self.keys, row, strict=False):
            rel = float(v) - baseline.get(k, 0.0)
            if rel >= 0.05:
                out[k] = round(min(5.0, rel), 2)
        return out

    def frames_between(self, start: float, end: float) -> list[int]:
        """Indices of frames with ``start <= t < end``."""
        import bisect

        return list(range(bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)))


def expressiveness(aus: dict[str, float]) -> float:
    """How strongly a frame is expressing: the sum of per-AU intensities (sides merged). Picks peak frames."""
    return float(sum(bilateral(aus).values()))
