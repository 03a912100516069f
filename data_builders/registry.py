"""The source registry: a plain dict from the name on the command line to its :class:`~data_builders.base.Source`."""

from __future__ import annotations

from emoreason.data_builders import (
    affectnet,
    bp4d,
    ckplus,
    dfew,
    disfa,
    emer,
    fer2013,
    ferplus,
    folders,
    mafw,
    manifest,
    rafdb,
)
from emoreason.data_builders.base import Source
from emoreason.errors import EmoreasonError
from emoreason.labels import is_canonical

SOURCES: dict[str, Source] = {
    "rafdb": Source(
        "rafdb", rafdb.iter_basic, "RAF-DB basic expressions (7 labels), train/test", rafdb.LICENSE, rafdb.CITATION
    ),
    "rafdb-compound": Source(
        "rafdb-compound",
        rafdb.iter_compound,
        "RAF-DB compound expressions (11 labels), train/test",
        rafdb.LICENSE,
        rafdb.CITATION,
        label_set="compound",
    ),
    "fer2013": Source("fer2013", fer2013.iter_samples, "FER2013 (48x48 grey faces, 7 labels)", fer2013.LICENSE,
                      fer2013.CITATION),
    "ferplus": Source("ferplus", ferplus.iter_samples, "FERPlus: FER2013 images with 10 crowd votes (8 labels)",
                      ferplus.LICENSE, ferplus.CITATION),
    "affectnet": Source("affectnet", affectnet.iter_samples, "AffectNet manually annotated (8 labels, valence, "
                        "arousal)", affectnet.LICENSE, affectnet.CITATION),
    "ckplus": Source("ckplus", ckplus.iter_samples, "CK+ posed sequences: peak frames with FACS coding",
                     ckplus.LICENSE, ckplus.CITATION, has_aus=True),
    "disfa": Source("disfa", disfa.iter_samples, "DISFA spontaneous video: per-frame AU intensities (no emotion "
                    "labels)", disfa.LICENSE, disfa.CITATION, has_aus=True),
    "bp4d": Source("bp4d", bp4d.iter_samples, "BP4D-Spontaneous: per-frame AU occurrence (no emotion labels)",
                   bp4d.LICENSE, bp4d.CITATION, has_aus=True),
    "dfew": Source("dfew", dfew.iter_samples, "DFEW movie clips (7 labels), official 5-fold split", dfew.LICENSE,
                   dfew.CITATION),
    "mafw": Source("mafw", mafw.iter_samples, "MAFW clips (11 classes incl. anxiety, helplessness, "
                   "disappointment)", mafw.LICENSE, mafw.CITATION, label_set="open"),
    "emer": Source("emer", emer.iter_samples, "EMER: MER2023 clips with transcript and human explanation",
                   emer.LICENSE, emer.CITATION, label_set="open"),
    "manifest": Source("manifest", manifest.iter_samples, "your own CSV/JSONL manifest (path,label[,aus]"
                       "[,transcript])", manifest.LICENSE, manifest.CITATION, label_set="open", root_is_file=True),
    "folders": Source("folders", folders.iter_samples, "class folders: <label>/*.jpg or <split>/<label>/*.jpg "
                      "(FER2013's Training/PublicTest/PrivateTest)", folders.LICENSE, folders.CITATION),
}  # fmt: skip


def get_source(name: str) -> Source:
    """The registered source called ``name``; an unknown name raises an error listing the valid ones."""
    if name not in SOURCES:
        raise EmoreasonError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")
    return SOURCES[name]


# Each corpus's label numbering -> canonical label: the adapters own the maps (``<corpus>.LABEL_MAP``); this is
# their registry, in the README table's order. DISFA and BP4D code AUs only and have no emotion labels.
DATASET_LABEL_MAPS: dict[str, dict[int | str, str]] = {
    "rafdb": rafdb.LABEL_MAP,
    "rafdb-compound": rafdb.COMPOUND_LABEL_MAP,
    "fer2013": fer2013.LABEL_MAP,
    "affectnet": affectnet.LABEL_MAP,
    "ckplus": ckplus.LABEL_MAP,
    "dfew": dfew.LABEL_MAP,
    "ferplus": ferplus.LABEL_MAP,
    "mafw": mafw.LABEL_MAP,
    "emer": emer.LABEL_MAP,
}

# Where each source's label values live (the README table's second column).
LABEL_FIELDS: dict[str, str] = {
    "rafdb": "`EmoLabel/list_patition_label.txt` label",
    "rafdb-compound": "`compound/EmoLabel/list_patition_label.txt` label",
    "fer2013": "`fer2013.csv` `emotion`",
    "ferplus": "`fer2013new.csv` vote column (majority)",
    "affectnet": "`training.csv`/`validation.csv` `expression` (8-10 skipped)",
    "ckplus": "`Emotion/*_emotion.txt`",
    "dfew": "`EmoLabel_DataSplit/*/set_N.csv` `label`",
    "mafw": "`set_N/{train,test}.txt` / `single_label.txt` class",
    "emer": "`gt-eng.csv` `emotions`",
}


def label_table() -> str:
    """The README table of every source's label values -> emoreason labels, generated from DATASET_LABEL_MAPS."""
    lines = ["| source | label values in | value → emoreason label |", "|---|---|---|"]
    for name, table in DATASET_LABEL_MAPS.items():
        pairs = " · ".join(f"{k} → {v}" + ("" if is_canonical(v) else " (open)") for k, v in table.items())
        lines.append(f"| {name} | {LABEL_FIELDS.get(name, '')} | {pairs} |")
    for name in ("disfa", "bp4d", "manifest"):
        note = (
            "any emotion word, via `labels.normalize_label`"
            if name == "manifest"
            else ("no emotion labels (AUs only): `label` = rule-engine reading, `meta.label_source` = rules")
        )
        lines.append(f"| {name} | n/a | {note} |")
    return "\n".join(lines)
