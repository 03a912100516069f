"""`emoreason train face-model`: the recipe that trains the expression CNN (``perception/expression.py``).

The protocol is the field's: fit on the corpus's train split, choose everything (the epoch's checkpoint, the
per-class logit offsets) on its selection split (FER2013 PublicTest, else ``validation``), and evaluate the report
split (FER2013 PrivateTest, else ``test``) once, at the end, for the card. Nothing is chosen by the report split.

Recipe (the defaults; every number is a flag):

- input: 48x48 grey face crops, standardised per image (``expression.standardize``); photos that are not crops get
  ``expression_crop`` (FER2013's framing) from the detector's landmarks, so the model sees what ``analyze`` gives it;
- augmentation, per batch: random affine (rotation +-12 deg, scale 0.88..1.12, shift +-8 %), horizontal flip,
  random erasing of one box (p 0.5, 2..15 % of the area);
- optimiser: AdamW (lr 2e-3, weight decay 0.05), one-cycle schedule (15 % warm-up), batch 128, 60 epochs, label
  smoothing 0.1, an exponential moving average of the weights (decay 0.999); the raw and the averaged weights are both
  evaluated every ``eval_every`` epochs and the better on the selection split is kept;
- class imbalance, on purpose: the loss weighs each class by ``(n_class / n_mean) ** -0.5`` (FER2013's 436
  disgust faces count ~3x), and after training a per-class logit offset ``-tau * log(prior)`` is chosen on the
  selection split: the tau with the best accuracy among those that keep every class's recall >= 0.40, else the
  best mean recall;
- bf16 autocast on a CPU that has AVX512-BF16 (and on CUDA); fp32 otherwise. Seeded (``--seed``).

Then (``fit_fusion``, on by default) the selection split's images go through the analyze pipeline (detection,
crop, model, AUs, rules) and the fusion's two weights are fitted on them (``reasoning.fusion.fit_fusion``); the
report split is read the same way, once (``train/face_model_fusion.py``).

It writes ``expression.safetensors`` (weights + ``bias_offsets``), ``expression.card.json`` (the model card:
data, splits, per-class and overall WAR/UAR on the selection and report splits for the model alone and through
the pipeline - rules only, model only, fused - skipped items, terms, out-of-scope uses) and ``train_log.jsonl``
(one line per evaluated epoch).
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path, atomic_write_json
from emoreason.perception.expression import EXPRESSION_LABELS, INPUT_SIZE, WIDTHS, card_path

logger = logging.getLogger(__name__)

SELECT_SPLITS = ("public_test", "validation", "val")
REPORT_SPLITS = ("private_test", "test")
RECALL_FLOOR = 0.40
TAUS = tuple(round(-0.5 + 0.1 * i, 2) for i in range(21))  # -0.5 .. 1.5


@dataclass
class FaceModelConfig:
    """The recipe's settings (module docstring); ``emoreason train face-model --help`` lists them as flags."""

    data: str
    out: str = "face-model"
    source: str = "auto"
    epochs: int = 60
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    class_weight_power: float = 0.5
    seed: int = 0
    device: str = "auto"
    eval_every: int = 5
    widths: tuple[int, ...] = WIDTHS
    max_per_split: int | None = None  # for quick runs and tests: N items of each split, drawn evenly
    threads: int | None = None
    fit_fusion: bool = True  # then read the selection/report images through the pipeline (face_model_fusion)


@dataclass
class Corpus:
    """Crops (N, 48, 48) uint8 and label indices per split, with what was skipped and why."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)  # the image file of each crop, where there is one
    skipped: Counter = field(default_factory=Counter)  # (split, reason) -> count
    source: str = ""
    license: str = ""


# ---------------------------------------------------------------------------------------------------- the data
def _fer_csv(path: Path, limit: int | None) -> Corpus:
    from emoreason.data_builders import fer2013
    from emoreason.data_builders.base import read_csv

    crops: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    corpus = Corpus(source="fer2013 (csv)", license=fer2013.LICENSE)
    for line, row in read_csv(path, ("emotion", "pixels", "Usage")):
        split = fer2013.SPLITS.get(row["Usage"])
        label = fer2013.LABEL_MAP.get(int(row["emotion"])) if row["emotion"].strip().isdigit() else None
        if split is None or label is None:
            corpus.skipped[(split or row["Usage"], "unknown label")] += 1
            continue
        try:
            pixels = np.array([int(v) for v in row["pixels"].split()], dtype=np.uint8).reshape(INPUT_SIZE, INPUT_SIZE)
        except ValueError:
            corpus.skipped[(split, "corrupt image")] += 1
            logger.warning("%s, line %d: pixels are not 2304 grey levels; skipped", path, line)
            continue
        crops.setdefault(split, []).append(pixels)
        labels.setdefault(split, []).append(EXPRESSION_LABELS.index(label))
    corpus.splits = {s: (np.stack(crops[s]), np.array(labels[s], dtype=np.int64)) for s in crops}
    return _limited(corpus, limit)


def _limited(corpus: Corpus, limit: int | None) -> Corpus:
    """At most ``limit`` items per split, drawn evenly over the split (seed 0), for quick runs."""
    if limit is None:
        return corpus
    rng = np.random.default_rng(0)
    for name, (x, y) in list(corpus.splits.items()):
        if len(y) > limit:
            keep = np.sort(rng.choice(len(y), limit, replace=False))
            corpus.splits[name] = (x[keep], y[keep])
            if name in corpus.paths:
                corpus.paths[name] = [corpus.paths[name][i] for i in keep]
    return corpus


def crop_for_training(path: str, aligned: bool) -> np.ndarray:
    """The model's input for one training image: the whole image for a face crop, else ``expression_crop`` of the
    largest detected face (EmoreasonError when there is none), the same crop ``analyze`` makes."""
    from emoreason.perception.expression import expression_crop, looks_like_face_crop, whole_image_crop
    from emoreason.perception.faces import detect_faces
    from emoreason.perception.images import as_array, load_image

    pixels = as_array(load_image(path))
    if aligned or looks_like_face_crop(pixels):
        return whole_image_crop(pixels)
    faces = detect_faces(pixels, num_faces=4)
    if not faces:
        raise EmoreasonError(f"{path}: no face found")
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    return expression_crop(pixels, face.landmarks)


def _adapter_corpus(root: Path, source_name: str, limit: int | None) -> Corpus:
    from emoreason.data_builders.base import Context, Skip, SkipSample
    from emoreason.data_builders.registry import get_source

    source = get_source(source_name)
    corpus = Corpus(source=source_name, license=source.license)
    if source_name == "folders":
        from emoreason.data_builders.folders import license_of

        corpus.license = license_of(root)
    crops: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[int]] = {}
    files: dict[str, list[str]] = {}
    ctx = Context(root=root)
    for item in source.iter_samples(ctx):
        if isinstance(item, Skip):
            corpus.skipped[(item.split, item.reason)] += 1
            continue
        if item.label not in EXPRESSION_LABELS:
            corpus.skipped[(item.split, f"label outside the 7 basic ({item.label})")] += 1
            continue
        try:
            paths = item.images
            if item.make_images is not None:
                raise EmoreasonError("clips and generated media are not face-model training data")
            if not paths:
                raise EmoreasonError("no image")
            crop = crop_for_training(paths[0], item.aligned)
        except (EmoreasonError, SkipSample, OSError, ValueError) as err:
            reason = "no face" if "no face" in str(err) else "unreadable image"
            corpus.skipped[(item.split, reason)] += 1
            logger.warning("%s: %s; skipped", item.id, err)
            continue
        crops.setdefault(item.split, []).append(crop)
        labels.setdefault(item.split, []).append(EXPRESSION_LABELS.index(item.label))
        files.setdefault(item.split, []).append(paths[0])
    corpus.splits = {s: (np.stack(crops[s]), np.array(labels[s], dtype=np.int64)) for s in crops}
    corpus.paths = files
    return _limited(corpus, limit)


def load_corpus(data: str | os.PathLike[str], source: str = "auto", limit: int | None = None) -> Corpus:
    """Every split of a corpus as crops and labels. ``source`` ``auto``: FER2013's CSV when ``data`` is (or holds)
    ``fer2013.csv``, else class folders (``data_builders/folders.py``); any other registered source by name."""
    root = Path(data).expanduser()
    if not root.exists():
        raise EmoreasonError(f"{root} not found: --data must be a corpus folder (or FER2013's fer2013.csv)")
    if source in ("auto", "fer2013"):
        csv = root if root.is_file() else root / "fer2013.csv"
        if csv.is_file():
            corpus = _fer_csv(csv, limit)
        elif source == "fer2013" and root.is_file():
            raise EmoreasonError(f"{root}: not FER2013's fer2013.csv")
        else:
            corpus = _adapter_corpus(root, "folders", limit)
            corpus.source = "fer2013 (class folders)" if source == "fer2013" else "class folders"
    else:
        corpus = _adapter_corpus(root, source, limit)
    if "train" not in corpus.splits:
        raise EmoreasonError(f"{root}: no train split found (folders Training/ or train/, or a flat <label>/ layout)")
    counts = np.bincount(corpus.splits["train"][1], minlength=len(EXPRESSION_LABELS))
    empty = [EXPRESSION_LABELS[i] for i, n in enumerate(counts) if n == 0]
    if empty:
        logger.warning("no training faces for %s: the model will never read them", ", ".join(empty))
    return corpus


def _select_split(corpus: Corpus, seed: int) -> str:
    """The selection split's name; with none, 10 % of train is held out (seeded) as ``validation``."""
    for name in SELECT_SPLITS:
        if name in corpus.splits:
            return name
    x, y = corpus.splits["train"]
    order = np.random.default_rng(seed).permutation(len(y))
    cut = max(1, len(y) // 10)
    corpus.splits["validation"] = (x[order[:cut]], y[order[:cut]])
    corpus.splits["train"] = (x[order[cut:]], y[order[cut:]])
    if "train" in corpus.paths:
        files = corpus.paths["train"]
        corpus.paths["validation"] = [files[i] for i in order[:cut]]
        corpus.paths["train"] = [files[i] for i in order[cut:]]
    logger.warning("no selection split (PublicTest/validation): holding out 10%% of train (%d faces) to choose", cut)
    return "validation"


# ---------------------------------------------------------------------------------------------------- training
def _augment(x: Any, gen: Any) -> Any:
    """Random affine + flip + erasing on a (N, 1, 48, 48) standardised batch (module docstring)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(12)
    scale = 1.0 / (0.88 + torch.rand(n, generator=gen) * 0.24)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.16  # +-8 % of the side is +-0.16 in [-1, 1] units
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # random erasing: one box per image with p 0.5, zero (the mean after standardisation)
    side = x.shape[-1]
    area = torch.rand(n, generator=gen) * 0.13 + 0.02
    aspect = torch.exp((torch.rand(n, generator=gen) * 2 - 1) * math.log(2))
    h = (torch.sqrt(area * aspect) * side).clamp(1, side).long()
    w = (torch.sqrt(area / aspect) * side).clamp(1, side).long()
    top = (torch.rand(n, generator=gen) * (side - h + 1)).long()
    left = (torch.rand(n, generator=gen) * (side - w + 1)).long()
    rows = torch.arange(side).view(1, side, 1)
    cols = torch.arange(side).view(1, 1, side)
    in_rows = (rows >= top.view(-1, 1, 1)) & (rows < (top + h).view(-1, 1, 1))
    in_cols = (cols >= left.view(-1, 1, 1)) & (cols < (left + w).view(-1, 1, 1))
    box = in_rows & in_cols & (torch.rand(n, generator=gen) < 0.5).view(-1, 1, 1)
    return x.masked_fill(box.unsqueeze(1), 0.0)


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _autocast_dtype(device: Any) -> Any:
    import torch

    if device.type == "cuda":
        return torch.bfloat16
    return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() else None


def predict_logits(network: Any, crops: np.ndarray, device: Any, batch: int = 512) -> np.ndarray:
    """Logits of a network on uint8 crops, averaged with the mirror image (as ``ExpressionModel.logits``)."""
    import torch

    from emoreason.perception.expression import flip_averaged, standardize

    network.eval()
    out = []
    dtype = _autocast_dtype(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(0, len(crops), batch):
            x = standardize(torch.from_numpy(crops[i : i + batch].astype(np.float32)).unsqueeze(1)).to(device)
            out.append(flip_averaged(network, x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(EXPRESSION_LABELS)), dtype=np.float32)


def scores(truth: np.ndarray, pred: np.ndarray, labels: tuple[str, ...] = EXPRESSION_LABELS) -> dict[str, Any]:
    """The one scoring of a labelled split: WAR (accuracy), UAR (mean per-class recall over the classes present),
    per-class recall, confusion matrix (rows truth, columns reading) and the no-reading count. A prediction of -1
    is no reading: it counts as wrong, in the denominators, and in no confusion column."""
    k = len(labels)
    truth, pred = np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    known = pred >= 0
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth[known], pred[known]), 1)
    support = np.bincount(truth, minlength=k)
    hits = np.diag(confusion)
    recall = {labels[i]: round(float(hits[i] / support[i]), 4) for i in range(k) if support[i]}
    return {
        "n": int(len(truth)),
        "war": round(float(hits.sum() / len(truth)) if len(truth) else 0.0, 4),
        "uar": round(float(np.mean(list(recall.values()))) if recall else 0.0, 4),
        "recall": recall,
        "confusion": confusion.tolist(),
        "no_reading": int((~known).sum()),
    }


def choose_offsets(logits: np.ndarray, truth: np.ndarray, prior: np.ndarray) -> tuple[float, np.ndarray]:
    """The per-class logit offsets ``-tau * log(prior)`` chosen on the selection split (module docstring)."""
    log_prior = np.log(np.clip(prior, 1e-6, None))
    best: tuple[tuple[float, ...], float] | None = None
    for tau in TAUS:
        result = scores(truth, (logits - tau * log_prior).argmax(axis=1))
        floor_ok = bool(result["recall"]) and min(result["recall"].values()) >= RECALL_FLOOR
        key = (1.0 if floor_ok else 0.0, result["war"] if floor_ok else result["uar"], -abs(tau))
        if best is None or key > best[0]:
            best = (key, tau)
    tau = best[1] if best else 0.0
    return tau, (-tau * log_prior).astype(np.float32)


def train_face_model(config: FaceModelConfig, progress: Callable[[str], None] | None = None) -> Path:
    """Run the recipe (module docstring); returns the weights file. Raises EmoreasonError for bad data."""
    import torch
    from torch import nn

    from emoreason.perception.expression import build_network, standardize

    say = progress or logger.info
    started = time.time()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    corpus = load_corpus(config.data, config.source, config.max_per_split)
    select = _select_split(corpus, config.seed)
    report = next((s for s in REPORT_SPLITS if s in corpus.splits), None)
    x_train, y_train = corpus.splits["train"]
    counts = np.bincount(y_train, minlength=len(EXPRESSION_LABELS)).astype(np.float64)
    say(f"{corpus.source}: train {len(y_train)}, select ({select}) {len(corpus.splits[select][1])}"
        + (f", report ({report}) {len(corpus.splits[report][1])}" if report else ", no report split"))
    device = _device(config.device)
    dtype = _autocast_dtype(device)
    network = build_network(tuple(config.widths)).to(device).to(memory_format=torch.channels_last)
    ema = torch.optim.swa_utils.AveragedModel(
        network, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay), use_buffers=True
    )
    present = counts > 0
    weights = np.where(present, (counts / max(counts[present].mean(), 1.0)) ** -config.class_weight_power, 0.0)
    weights = weights / weights[present].mean()
    loss_fn = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device), label_smoothing=config.label_smoothing
    )
    steps_per_epoch = max(1, math.ceil(len(y_train) / config.batch_size))
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(config.seed)
    x_all = torch.from_numpy(x_train.astype(np.float32)).unsqueeze(1)
    y_all = torch.from_numpy(y_train)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.jsonl"
    log_path.write_text("", encoding="utf-8")
    best: dict[str, Any] = {"war": -1.0}
    x_sel, y_sel = corpus.splits[select]
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randperm(len(y_all), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2:
                continue
            x = _augment(standardize(x_all[idx]), gen).to(device).contiguous(memory_format=torch.channels_last)
            y = y_all[idx].to(device)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = loss_fn(network(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if schedule.last_epoch < schedule.total_steps - 1:
                schedule.step()
            ema.update_parameters(network)
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            line = {"epoch": epoch, "loss": round(total / max(seen, 1), 4),
                    "minutes": round((time.time() - started) / 60, 2)}
            for name, candidate in (("ema", ema.module), ("raw", network)):
                result = scores(y_sel, predict_logits(candidate, x_sel, device).argmax(axis=1))
                line[f"{name}_war"], line[f"{name}_uar"] = result["war"], result["uar"]
                if result["war"] > best["war"]:
                    best = {"war": result["war"], "epoch": epoch, "weights": name,
                            "state": {k: v.detach().float().cpu().clone() for k, v in candidate.state_dict().items()}}
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
            say(f"epoch {epoch}/{config.epochs}: loss {line['loss']:.3f}, {select} WAR {line['ema_war']:.4f} (EMA) "
                f"{line['raw_war']:.4f} (raw), UAR {line['ema_uar']:.4f} / {line['raw_uar']:.4f} "
                f"({line['minutes']:.1f} min)")
    final = build_network(tuple(config.widths))
    final.load_state_dict(best["state"])
    final.eval()
    cpu = torch.device("cpu")
    select_logits = predict_logits(final, x_sel, cpu)
    prior = counts / counts.sum()
    tau, offsets = choose_offsets(select_logits, y_sel, prior)
    card: dict[str, Any] = {
        "name": "emoreason expression CNN",
        "labels": list(EXPRESSION_LABELS),
        "architecture": {"widths": list(config.widths), "hidden": 256, "input": [INPUT_SIZE, INPUT_SIZE, 1],
                         "parameters": int(sum(p.numel() for p in final.parameters()))},
        "data": {"source": corpus.source, "path_given": str(config.data), "train": int(len(y_train)),
                 "train_per_class": {EXPRESSION_LABELS[i]: int(n) for i, n in enumerate(counts)},
                 "select_split": select, "report_split": report,
                 "skipped": {f"{s}: {r}": n for (s, r), n in sorted(corpus.skipped.items())}},
        "training": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
                     if k not in ("data", "out")}
        | {"chosen_epoch": best["epoch"], "chosen_weights": best["weights"], "tau": tau,
           "bias_offsets": [round(float(v), 4) for v in offsets],
           "autocast": str(dtype) if dtype is not None else "float32",
           "device": str(device),
           "minutes": round((time.time() - started) / 60, 1), "torch": torch.__version__,
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus"},
        "select": {"before_offsets": scores(y_sel, select_logits.argmax(axis=1)),
                   "with_offsets": scores(y_sel, (select_logits + offsets).argmax(axis=1))},
        "terms": corpus.license,
        "out_of_scope": (
            "Reads the visible facial expression of one face crop, not what a person feels. Not for decisions "
            "about people (hiring, policing, credit, health, education), surveillance, or identification. "
            "Trained on web photos of mostly adult faces: accuracy differs across age, skin tone, pose, "
            "occlusion and culture; check it on your own population before relying on it."
        ),
    }
    if report:
        x_rep, y_rep = corpus.splits[report]
        card["report"] = scores(y_rep, (predict_logits(final, x_rep, cpu) + offsets).argmax(axis=1))
        card["report"]["note"] = "evaluated once, after every choice was made on the selection split"
    int8 = calibrate_int8(final, x_train, config.seed, offsets)
    if int8 is not None:
        card["int8"] = int8
    weights_file = out / "expression.safetensors"
    _save(final, offsets, weights_file)
    atomic_write_json(card_path(weights_file), card)
    if config.fit_fusion:
        from emoreason.train.face_model_fusion import fit_and_report

        card = fit_and_report(weights_file, corpus, select, report, say)
    say(f"chose epoch {best['epoch']} and tau {tau} on {select}; "
        f"{select} WAR {card['select']['with_offsets']['war']:.4f} UAR {card['select']['with_offsets']['uar']:.4f}"
        + (f"; {report} WAR {card['report']['war']:.4f} UAR {card['report']['uar']:.4f}" if report else ""))
    return weights_file


INT8_CALIBRATION_CROPS = 2000


def calibrate_int8(network: Any, x_train: np.ndarray, seed: int, offsets: np.ndarray) -> dict[str, Any] | None:
    """The card's ``int8`` block (``perception.expression.int8_calibration``) on ``INT8_CALIBRATION_CROPS``
    training crops drawn with ``seed``: the activation ranges inference quantizes with, and on the same crops
    (``int8_tie_margin``, with the chosen logit ``offsets``) the largest probability change int8 makes and the
    tie margin under which inference reads a crop again in float32. None where torch cannot."""
    from emoreason.perception.expression import fold_batch_norm, int8_calibration, int8_tie_margin

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(x_train), min(INT8_CALIBRATION_CROPS, len(x_train)), replace=False))
    folded = fold_batch_norm(network.eval())
    block = int8_calibration(folded, x_train[pick])
    if block is None:
        return None
    return block | int8_tie_margin(folded, block, x_train[pick], offsets) | {"split": "train", "seed": int(seed)}


def _save(network: Any, offsets: np.ndarray, path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    state = {k: v.detach().float().contiguous() for k, v in network.state_dict().items()}
    state["bias_offsets"] = torch.from_numpy(offsets.astype(np.float32))
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
