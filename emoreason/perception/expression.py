"""The face expression model: a small CNN that reads the 7 basic expressions from a 48x48 grey face crop.

It is the second evidence channel beside the AUs (``reasoning/fusion.py`` combines them). The weights that ship in
the package (``perception/weights/expression.safetensors``, with its model card ``expression.card.json``) were
trained by ``emoreason train face-model`` (``emoreason/train/face_model.py``, the recipe) on FER2013 Training and
chosen on PublicTest; ``--expression-model PATH`` loads a user's own.

The crop (``expression_crop``) copies FER2013's framing, measured on its Training faces: a square of
``FRAMING_SCALE`` times the landmarks' extent, centred ``FRAMING_RAISE`` of that extent above the landmarks' centre,
eye line level. A face the landmarker misses (a 48x48 thumbnail, a blurred face) is read on the whole image
(``whole_image_crop``), which is how FER-style corpora frame their faces.

Inference runs the network with batch norm folded into the convolutions, the crop and its mirror in one pass, on
one torch thread, and in int8 where the card carries activation ranges (its ``int8`` block, measured by the recipe
on training crops: ``int8_calibration``) and torch has a quantized CPU engine: ~3x faster than float32, and on
FER2013 PublicTest's crops the shipped weights score WAR 0.6851 / UAR 0.6643 in int8 against 0.6849 / 0.6636 in
float32 (the first convolution stays float32: ``FLOAT_FIRST_CONV``). ``EMOREASON_EXPRESSION_INT8=0`` keeps float32.

int8 is an approximation of the network the recipe trained and chose, so where it is close to a tie it is not
trusted: a crop whose two most probable classes are less than the card's ``int8.tie_margin`` apart (twice the
largest probability change int8 made on the recipe's calibration crops: ``int8_tie_margin``) is read again by the
float32 network, and that reading is the one given. Where int8's margin is wider, no change of that size can swap
its top class, so the label is float32's; the near ties (about one FER2013 PublicTest crop in ten for the
shipped weights, tie margin 0.10) cost one float32 pass each.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

# The model's output order (canonical labels, ``labels.normalize_label``); FER2013's 7 classes.
EXPRESSION_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
INPUT_SIZE = 48
WIDTHS = (32, 64, 128, 256)
HIDDEN = 256
# FER2013 framing, measured on 371 Training faces the landmarker found (400 drawn, seed 0): image side / landmark
# extent, median 1.09 (p10 0.94, p90 1.34); the image centre sits 0.04 of its side above the landmarks' centre.
FRAMING_SCALE = 1.1
FRAMING_RAISE = 0.045
WEIGHTS_DIR = Path(__file__).with_name("weights")
DEFAULT_WEIGHTS = WEIGHTS_DIR / "expression.safetensors"
ENV_MODEL = "EMOREASON_EXPRESSION_MODEL"
ENV_INT8 = "EMOREASON_EXPRESSION_INT8"  # "0": run the float32 network even where the card has int8 ranges


def build_network(widths: tuple[int, ...] = WIDTHS, hidden: int = HIDDEN, classes: int = len(EXPRESSION_LABELS)):  # noqa: ANN201 - torch.nn.Module
    """The CNN: four VGG-style stages (two 3x3 conv + batch norm + ReLU, then 2x2 max-pool: 48 -> 3), a hidden
    layer on the flattened 3x3 map, dropout, and the class logits. ~1.8 M parameters with the default widths."""
    from torch import nn

    layers: list[nn.Module] = []
    channels = 1
    for width in widths:
        for _ in range(2):
            conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
            layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.MaxPool2d(2))
    side = INPUT_SIZE // 2 ** len(widths)
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(channels * side * side, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(hidden, classes),
    )


def fold_batch_norm(network: Any) -> Any:
    """An inference copy of a trained network: every conv + batch norm pair folded into one biased conv (the same
    logits to ~1e-5, a quarter less time), in eval mode and channels-last memory (faster convolutions on CPU)."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    modules = list(network)
    i = 0
    while i < len(modules):
        layer = modules[i]
        after = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(layer, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
            scale = after.weight.detach() / torch.sqrt(after.running_var + after.eps)
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                             bias=True)
            conv.weight.data = layer.weight.detach() * scale.view(-1, 1, 1, 1)
            bias = layer.bias.detach() if layer.bias is not None else torch.zeros_like(scale)
            conv.bias.data = after.bias.detach() + (bias - after.running_mean) * scale
            layers.append(conv)
            i += 2
            continue
        layers.append(layer)
        i += 1
    return nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)


def _int8_engine() -> str | None:
    """The quantized CPU engine torch has here (x86, fbgemm or qnnpack), or None: then the float network runs."""
    import torch

    engines = torch.backends.quantized.supported_engines
    return next((e for e in ("x86", "fbgemm", "qnnpack") if e in engines), None)


# The first convolution stays float32 (1 -> 32 channels, ~0.5 % of the network's multiply-adds): quantizing the
# standardised input to 8 bits was the largest error. On FER2013 PublicTest's 3,589 crops the int8 network's label
# agrees with float32's on 98.75 % with it quantized (largest probability change 0.37) and 99.3 % without (0.05).
FLOAT_FIRST_CONV = True


def _int8_plan(network: Any) -> tuple[int, list[tuple[str, list[int]]], list[int]]:
    """How the folded network is cut for int8: the index of the last layer of its float head (the first conv and
    its ReLU), and the quantized blocks after it, each (kind, layer indices): "conv_relu", "linear_relu",
    "linear", or "same" (max pool, flatten: they keep their input's quantization; dropout is left out). The
    output of the head and of every conv/linear block is a quantization point (the third item: their last layer
    indices), measured by :func:`int8_calibration` and keyed by that index."""
    from torch import nn

    layers = list(network)
    head = 1 if FLOAT_FIRST_CONV and isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.ReLU) else -1
    blocks: list[tuple[str, list[int]]] = []
    i = head + 1
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        relu = isinstance(after, nn.ReLU)
        if isinstance(layer, nn.Conv2d) and relu:
            blocks.append(("conv_relu", [i, i + 1]))
            i += 2
        elif isinstance(layer, nn.Linear):
            blocks.append(("linear_relu" if relu else "linear", [i, i + 1] if relu else [i]))
            i += 2 if relu else 1
        elif isinstance(layer, (nn.MaxPool2d, nn.Flatten)):
            blocks.append(("same", [i]))
            i += 1
        elif isinstance(layer, nn.Dropout):
            i += 1
        else:
            raise ValueError(f"no int8 form for layer {i} ({type(layer).__name__})")
    points = ([head] if head >= 0 else []) + [indices[-1] for kind, indices in blocks if kind != "same"]
    return head, blocks, points


def int8_calibration(network: Any, crops: np.ndarray) -> dict[str, Any] | None:
    """The card's ``int8`` block for a folded network: the range of every quantization point (:func:`_int8_plan`)
    over ``crops`` ((N, 48, 48) uint8 training crops) and their mirrors, from which :func:`int8_network` makes
    the int8 network at load. None where torch has no quantized CPU engine."""
    import torch

    if _int8_engine() is None:
        return None
    head, _, points = _int8_plan(network)
    ranges: dict[int, list[float]] = {}
    layers = list(network)
    with torch.inference_mode():
        for i in range(0, len(crops), 256):
            x = standardize(torch.from_numpy(np.asarray(crops[i : i + 256], dtype=np.float32)).unsqueeze(1))
            x = torch.cat([x, torch.flip(x, dims=[3])]).contiguous(memory_format=torch.channels_last)
            for index, layer in enumerate(layers):
                x = layer(x)
                if index in points:
                    low, high = float(x.min()), float(x.max())
                    old = ranges.get(index, [low, high])
                    ranges[index] = [min(old[0], low), max(old[1], high)]
    return {
        "ranges": {str(k): [round(lo, 6), round(hi, 6)] for k, (lo, hi) in sorted(ranges.items())},
        "crops": int(len(crops)),
        "scheme": "per-channel symmetric int8 weights; unsigned 8-bit activations from min/max (7-bit without "
        "VNNI); the first conv in float32",
    }


def int8_tie_margin(network: Any, block: dict[str, Any], crops: np.ndarray, bias: np.ndarray) -> dict[str, float]:
    """How far int8 strays from float32 on ``crops`` ((N, 48, 48) uint8, the calibration crops): the largest change
    of any class probability (offsets ``bias`` applied, crop and mirror averaged, as inference reads) and the
    ``tie_margin`` made from it, twice that rounded up to the next 0.01: a top-two gap of at least that survives
    any change that size, so only narrower ones are read again in float32. {} where there is no int8 network."""
    quantized = int8_network(network, block)
    if quantized is None:
        return {}
    offsets = np.asarray(bias, dtype=np.float32)
    exact = _softmax(_forward(network, crops) + offsets)
    approx = _softmax(_forward(quantized, crops) + offsets)
    change = float(np.abs(exact - approx).max()) if len(crops) else 0.0
    return {"max_probability_change": round(change, 4), "tie_margin": math.ceil(200 * change) / 100}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _forward(network: Any, crops: np.ndarray, flip: bool = True, batch: int = 256) -> np.ndarray:
    """Logits (N, classes) of ``network`` for (N, 48, 48) uint8 grey crops, standardised, averaged with the mirror
    image where ``flip``; in batches of ``batch`` crops, on the caller's torch threads."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, max(len(crops), 1), batch):  # no crops: one empty batch, (0, classes) from the network
            x = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch], dtype=np.float32)).unsqueeze(1)
            x = standardize(x).contiguous(memory_format=torch.channels_last)
            out.append((flip_averaged(network, x) if flip else network(x)).float().numpy())
    return np.concatenate(out)


def _qparams(low: float, high: float, reduce_range: bool) -> tuple[float, int]:
    """Scale and zero point of an unsigned 8-bit activation over [low, high] (as torch's MinMaxObserver)."""
    qmin, qmax = (0, 127) if reduce_range else (0, 255)
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max((high - low) / (qmax - qmin), float(np.finfo(np.float32).eps))
    return scale, int(min(qmax, max(qmin, qmin - round(low / scale))))


def _qweight(weight: Any) -> Any:
    """Per-output-channel symmetric int8 weights (as torch's PerChannelMinMaxObserver, per_channel_symmetric)."""
    import torch

    flat = weight.detach().float().reshape(weight.shape[0], -1)
    amax = torch.maximum(flat.max(dim=1).values, -flat.min(dim=1).values).clamp_min(0.0)
    scales = (amax / 127.5).clamp_min(float(torch.finfo(torch.float32).eps)).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.int64)
    return torch.quantize_per_channel(weight.detach().float().contiguous(), scales, zeros, 0, torch.qint8)


def int8_network(network: Any, block: dict[str, Any]) -> Any | None:
    """The int8 copy of a folded network from its card's ``int8`` block (:func:`int8_calibration`): torch's
    quantized conv/linear modules (fbgemm/x86 or qnnpack kernels) between a float head and a dequantised output.
    None where torch has no quantized CPU engine or the ranges do not fit the network (then it runs float32)."""
    import torch
    from torch import nn

    engine = _int8_engine()
    ranges = block.get("ranges") if isinstance(block, dict) else None
    if engine is None or not isinstance(ranges, dict):
        return None
    try:
        import torch.ao.nn.intrinsic.quantized as nniq
        import torch.ao.nn.quantized as nnq

        head, blocks, points = _int8_plan(network)
    except (ImportError, ValueError) as err:
        logger.warning("no int8 network (%s); using float32", err)
        return None
    if sorted(points) != sorted(int(k) for k in ranges):
        logger.warning("the model card's int8 ranges do not fit its network; using float32")
        return None
    torch.backends.quantized.engine = engine
    # torch 2.14 says on every load that quantized tensor types are deprecated (pytorch#184982); the kernels are
    # there, and where they go this module falls back to float32 (ImportError above, or the check in the test)
    warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                            category=UserWarning)
    vnni = bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)())
    layers = list(network)
    quantized: list[nn.Module] = []
    for kind, indices in blocks:
        layer = layers[indices[0]]
        if kind == "same":
            quantized.append(layer)
            continue
        scale, zero = _qparams(*ranges[str(indices[-1])], reduce_range=not vnni)
        if kind == "conv_relu":
            q = nniq.ConvReLU2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                padding=layer.padding)
        elif kind == "linear_relu":
            q = nniq.LinearReLU(layer.in_features, layer.out_features)
        else:
            q = nnq.Linear(layer.in_features, layer.out_features)
        q.set_weight_bias(_qweight(layer.weight), layer.bias.detach().float())
        q.scale, q.zero_point = scale, zero
        quantized.append(q)
    input_q = _qparams(*ranges[str(head)], reduce_range=not vnni) if head >= 0 else (1.0, 0)
    return _int8_network_class()(nn.Sequential(*layers[: head + 1]), nn.Sequential(*quantized), input_q).eval()


@functools.cache
def _int8_network_class() -> Any:
    """The int8 network's module class, made on first use (this module imports torch lazily)."""
    from torch import nn

    class Int8Network(nn.Module):
        """Float head -> quantize -> int8 blocks -> dequantize: the int8 form of the folded expression network."""

        def __init__(self, head: nn.Module, body: nn.Module, input_q: tuple[float, int]) -> None:
            super().__init__()
            self.head, self.body = head, body
            self.scale, self.zero_point = input_q

        def forward(self, x: Any) -> Any:
            import torch

            x = torch.quantize_per_tensor(self.head(x), self.scale, self.zero_point, torch.quint8)
            return self.body(x).dequantize()

    return Int8Network


def flip_averaged(network: Any, x: Any) -> Any:
    """Logits of a (N, 1, H, W) batch averaged with its mirror image, in one forward pass of 2N (the one rule of
    test-time flipping, used by inference and by the training recipe's evaluation)."""
    import torch

    n = x.shape[0]
    both = torch.cat([x, torch.flip(x, dims=[3])]).contiguous(memory_format=torch.channels_last)
    out = network(both)
    return (out[:n] + out[n:]) / 2.0


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread for a few small crops: a 2N x 48 x 48 batch gains little from more, and the
    pipelines keep the other core busy with the landmarker (the next photo's first pass, the next frames), where
    torch's thread pool would contend with it (measured: 3.0 ms on one thread against 4.4-7.6 ms on two, with
    another process busy)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def standardize(batch: Any) -> Any:
    """Per-image standardisation (zero mean, unit variance) of a (N, 1, H, W) float tensor in 0..255: the model
    sees contrast, not exposure, so grey FER crops and colour photos read alike."""
    flat = batch.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1).clamp_min(1.0).view(-1, 1, 1, 1)
    return (batch - mean) / std


@dataclass
class ExpressionModel:
    """A loaded expression model: the network, its labels, the per-class logit offsets chosen on the selection
    split (``bias``, added before the softmax), and where it came from."""

    network: Any
    labels: tuple[str, ...]
    bias: np.ndarray
    path: Path
    card: dict[str, Any] = field(default_factory=dict)
    precision: str = "float32"  # "int8" where the card has int8 ranges and torch can quantize (int8_network)
    exact: Any = None  # with int8: the float32 network, which reads again the crops int8 finds near a tie
    tie_margin: float = 0.0  # with int8: top-two probability gaps under this are read again by ``exact``
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def logits(self, crops: np.ndarray, flip: bool = True) -> np.ndarray:
        """Raw logits (N, classes) of ``network`` for (N, 48, 48) uint8 grey crops; ``flip`` averages with the
        mirror image."""
        with self._lock, one_thread():
            return _forward(self.network, crops, flip)

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes), with the selection split's logit offsets applied; with int8, the crops
        whose two most probable classes are under ``tie_margin`` apart are read again in float32 (``exact``)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        probs = _softmax(self.logits(crops) + self.bias)
        if self.exact is not None and self.tie_margin > 0 and probs.shape[1] > 1:
            top = np.sort(probs, axis=1)
            near = np.flatnonzero(top[:, -1] - top[:, -2] < self.tie_margin)
            if len(near):
                with self._lock, one_thread():
                    probs[near] = _softmax(_forward(self.exact, np.asarray(crops)[near]) + self.bias)
        return probs

    def read(self, crops: list[np.ndarray]) -> list[dict[str, float]]:
        """One ``{label: probability}`` dict per crop (rounded to 4 places; they sum to 1 up to rounding)."""
        if not crops:
            return []
        probs = self.probabilities(np.stack(crops))
        return [{lab: round(float(p), 4) for lab, p in zip(self.labels, row, strict=True)} for row in probs]


def card_path(weights: Path) -> Path:
    """The model card beside a weights file: ``expression.safetensors`` -> ``expression.card.json``."""
    return weights.with_name(weights.name.removesuffix(".safetensors") + ".card.json")


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    chosen = path or os.environ.get(ENV_MODEL) or DEFAULT_WEIGHTS
    p = Path(chosen).expanduser()
    if p.is_dir():
        p = p / DEFAULT_WEIGHTS.name
    if not p.is_file():
        hint = (
            "reinstall emoreason (the default weights ship in the package)"
            if p == DEFAULT_WEIGHTS
            else "give the .safetensors file that `emoreason train face-model` wrote (or drop --expression-model "
            "to use the shipped one)"
        )
        raise EmoreasonError(f"expression model {p} not found: {hint}")
    return p


def load_expression_model(path: str | os.PathLike[str] | None = None) -> ExpressionModel:
    """Load an expression model (default: the shipped weights). A missing, truncated or wrong-shaped file raises
    EmoreasonError naming the file and what to do."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = _resolve(path)
    card: dict[str, Any] = {}
    card_file = card_path(weights)
    if card_file.is_file():
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except ValueError as err:
            raise EmoreasonError(f"{card_file}: not a JSON model card ({err}); rewrite it or remove it") from err
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise EmoreasonError(
            f"{weights}: not a readable safetensors file ({err}); it may be truncated - retrain with "
            "`emoreason train face-model` or copy it again"
        ) from err
    arch = card.get("architecture", {})
    labels = tuple(card.get("labels", EXPRESSION_LABELS))
    network = build_network(tuple(arch.get("widths", WIDTHS)), int(arch.get("hidden", HIDDEN)), len(labels))
    try:
        network.load_state_dict({k: v.float() for k, v in state.items() if k != "bias_offsets"})
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise EmoreasonError(
            f"{weights}: the weights do not fit the expression network ({first}); it is not a file written by "
            "`emoreason train face-model` for this version, or its card does not match it"
        ) from err
    network = fold_batch_norm(network.eval())
    precision, exact, tie_margin = "float32", None, 0.0
    if card.get("int8") and os.environ.get(ENV_INT8, "1") != "0":
        quantized = int8_network(network, card["int8"])
        if quantized is not None:
            # a card without a measured tie margin (written before it was) re-reads nothing: plain int8
            network, precision, exact = quantized, "int8", network
            tie_margin = float(card["int8"].get("tie_margin", 0.0))
    offsets = state.get("bias_offsets")
    bias = offsets.float().numpy() if offsets is not None else np.zeros(len(labels), dtype=np.float32)
    if bias.shape != (len(labels),):
        raise EmoreasonError(f"{weights}: bias_offsets has shape {tuple(bias.shape)}, expected ({len(labels)},)")
    return ExpressionModel(network, labels, bias.astype(np.float32), weights, card, precision, exact, tie_margin)


_CACHE: dict[str, ExpressionModel] = {}
_CACHE_LOCK = threading.Lock()


def get_expression_model(path: str | os.PathLike[str] | None = None) -> ExpressionModel:
    """The expression model for ``path`` (None: the shipped one), loaded once per process."""
    key = str(_resolve(path))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_expression_model(key)
        return _CACHE[key]


def _grey(pixels: np.ndarray) -> np.ndarray:
    """uint8 grey (ITU-R 601 luma, as Pillow's "L") of a grey, RGB or RGBA array."""
    import cv2

    if pixels.ndim == 2:
        return pixels
    code = cv2.COLOR_RGBA2GRAY if pixels.shape[2] == 4 else cv2.COLOR_RGB2GRAY
    return cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.uint8), code)


def expression_crop(pixels: np.ndarray, landmarks: Any, size: int = INPUT_SIZE) -> np.ndarray:
    """The model's input for a face with landmarks: a ``size`` x ``size`` grey crop in FER2013's framing (module
    docstring), eye line level. Parts outside the image repeat the border, as a tight crop's edge does. The colour
    square is warped first and made grey at its small size (both steps are linear: the same crop to rounding, and
    no grey copy of a whole 12 MP photo per face)."""
    from emoreason.perception.crops import _square, warp_square

    center, side, cos, sin = _square(landmarks, 0.0)
    side *= FRAMING_SCALE
    center = center + np.array([sin, -cos]) * (FRAMING_RAISE * side / FRAMING_SCALE)
    return _grey(warp_square(np.asarray(pixels), center, side, cos, sin, size, replicate=True)[0])


def whole_image_crop(pixels: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The model's input for a face crop without landmarks: the centred square of the image, grey, resized."""
    import cv2

    grey = _grey(np.asarray(pixels))
    h, w = grey.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    square = grey[y0 : y0 + s, x0 : x0 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(square), (size, size), interpolation=interp)


def looks_like_face_crop(pixels: np.ndarray) -> bool:
    """Whether an image with no face found can still be read as one face crop: small and near-square, as the
    48x48 (FER2013) to 100x100 (RAF-DB aligned) corpora frame their faces. A larger photo with no face found is
    ``no_face``: reading the whole of it would name an emotion for a face nobody saw."""
    h, w = np.asarray(pixels).shape[:2]
    shaped = max(h, w) <= MAX_CROP_SIDE and min(h, w) >= MIN_CROP_SIDE and max(h, w) / max(1, min(h, w)) <= 1.25
    return shaped and has_texture(pixels)


def has_texture(pixels: np.ndarray) -> bool:
    """Whether an image has any contrast at all (grey std >= ``MIN_CROP_CONTRAST``): a blank or solid-colour image
    is never read as a face, whatever its shape."""
    return float(_grey(np.asarray(pixels)).std()) >= MIN_CROP_CONTRAST


MAX_CROP_SIDE = 128
MIN_CROP_SIDE = 24
MIN_CROP_CONTRAST = 8.0


def entropy(probs: dict[str, float]) -> float:
    """Normalised entropy of a probability dict, 0 (certain) .. 1 (uniform)."""
    values = [p for p in probs.values() if p > 0]
    if len(probs) < 2:
        return 0.0
    return -sum(p * math.log(p) for p in values) / math.log(len(probs))


OFF = ("none", "off")


def model_for(option: str | os.PathLike[str] | None) -> ExpressionModel | None:
    """The expression model an option names: None -> ``$EMOREASON_EXPRESSION_MODEL``, else the shipped one;
    ``"none"``/``"off"`` -> no model (the rules read alone); else a path. A bad file raises EmoreasonError naming it.
    The CLI sets the variable from ``--expression-model``, so worker processes (caption, serve) use the same."""
    option = option if option is not None else os.environ.get(ENV_MODEL)
    if option is not None and str(option).lower() in OFF:
        return None
    return get_expression_model(option)


def fusion_card(model: ExpressionModel | None) -> dict[str, float]:
    """The fusion weights in the model's card (``reasoning.fusion``), {} without a model or a fitted block."""
    return dict(model.card.get("fusion", {})) if model is not None else {}


def crop_face(pixels: np.ndarray) -> Any:
    """A :class:`~emoreason.schema.Face` for an image read as one face crop with no landmarks: the whole image is
    the box, there are no AUs, and the quality says so (``no_landmarks``)."""
    from emoreason.perception.readings import quality_text
    from emoreason.schema import Face

    h, w = np.asarray(pixels).shape[:2]
    face = Face(box=(0.0, 0.0, float(w), float(h)), landmarks=[], quality=["no_landmarks"])
    face.quality_text = quality_text(face.quality, face)
    return face


def has_landmarks(face: Any) -> bool:
    return face.landmarks is not None and len(face.landmarks) >= 468


def read_expressions(model: ExpressionModel, pixels: np.ndarray, faces: list[Any]) -> None:
    """Fill ``face.expression`` for every face of one image, in one batch: ``expression_crop`` where the face has
    landmarks, the whole image where it has none."""
    if not faces:
        return
    crops = [expression_crop(pixels, f.landmarks) if has_landmarks(f) else whole_image_crop(pixels) for f in faces]
    for face, probs in zip(faces, model.read(crops), strict=True):
        face.expression = probs


def forget(path: str | os.PathLike[str] | None = None) -> None:
    """Drop a cached model (all of them with no ``path``), so a rewritten card or file is read again."""
    with _CACHE_LOCK:
        if path is None:
            _CACHE.clear()
        else:
            _CACHE.pop(str(_resolve(path)), None)
