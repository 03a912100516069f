"""Write OpenFace 2.0 CSVs in the real format (``RecorderCSV.cpp``: ", " between every header name and value).

Used by tests and examples; the values outside the AU and meta columns are filler.
"""

from __future__ import annotations

from pathlib import Path

from emoreason.perception.openface import AU_C, AU_R


def openface_header(layout: str = "sequence") -> list[str]:
    """The full column list OpenFace 2.2 writes (gaze, 56 eye landmarks, pose, 68 landmarks 2D+3D, PDM, AUs)."""
    meta = {
        "sequence": ["frame", "face_id", "timestamp", "confidence", "success"],
        "legacy": ["frame", "timestamp", "confidence", "success"],
        "image": ["face", "confidence"],
    }[layout]
    cols = meta + ["gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z"]
    cols += ["gaze_angle_x", "gaze_angle_y"]
    for axis in ("x", "y", "X", "Y", "Z"):
        cols += [f"eye_lmk_{axis}_{i}" for i in range(56)]
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    for axis in ("x", "y", "X", "Y", "Z"):
        cols += [f"{axis}_{i}" for i in range(68)]
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    cols += [f"AU{n:02d}_r" for n in AU_R] + [f"AU{n:02d}_c" for n in AU_C]
    return cols


def openface_row(header: list[str], meta: dict[str, float], aus_r: dict[int, float], aus_c: set[int]) -> str:
    values = []
    for name in header:
        if name in meta:
            values.append(f"{meta[name]:g}")
        elif name.startswith("AU") and name.endswith("_r"):
            values.append(f"{aus_r.get(int(name[2:4]), 0.0):.2f}")
        elif name.startswith("AU") and name.endswith("_c"):
            values.append(f"{1.0 if int(name[2:4]) in aus_c else 0.0:.1f}")
        elif name.startswith("x_"):
            values.append(f"{meta.get('cx', 100.0) + int(name[2:]) % 7:.1f}")
        elif name.startswith("y_"):
            values.append(f"{meta.get('cy', 120.0) + int(name[2:]) % 5:.1f}")
        else:
            values.append("0.123456")
    return ", ".join(values)


def write_csv(path: Path, layout: str, rows: list[tuple[dict[str, float], dict[int, float], set[int]]]) -> Path:
    header = openface_header(layout)
    lines = [", ".join(header)] + [openface_row(header, *row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
