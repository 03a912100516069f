"""A tiny, learnable emotion dataset in the build-data row format, for training tests, the learning benchmark and
the README's CPU training path (``python -m emoreason.testing.toy_emotions DIR``).

Each label has a solid image colour and a prototype AU pattern, so the label is recoverable from the image and from
the AU text alike. CoTs come from the rule engine (``rules.explain`` with the gold label), as real Exp-CoT data does.
"""

from __future__ import annotations

import random
from pathlib import Path

# label -> (RGB colour, AU intensities)
TOY_LABELS: dict[str, tuple[tuple[int, int, int], dict[str, float]]] = {
    "happiness": ((230, 200, 40), {"AU6": 3.0, "AU12": 3.5}),
    "sadness": ((40, 70, 200), {"AU1": 3.0, "AU15": 3.0}),
    "anger": ((200, 30, 30), {"AU4": 3.5, "AU7": 3.0, "AU23": 3.0}),
    "surprise": ((40, 190, 90), {"AU1": 3.0, "AU2": 3.0, "AU26": 3.5}),
}


def short_cot(aus: dict[str, float], label: str) -> str:
    """A minimal three-section CoT (the full rule-engine CoT is too long for a tiny model to learn on CPU)."""
    from emoreason.facs import au_text

    return (
        f"<think>\nKey observations: {au_text(aus)}.\nOverall interpretation: the face shows {label}.\n"
        f"Conclusion: {label}.\n</think>\n<answer>{label}</answer>"
    )


def toy_rows(
    n: int,
    labels: list[str] | None = None,
    image_dir: str | Path | None = None,
    seed: int = 0,
    images_per_row: int = 1,
    size: int = 56,
    cot: str = "rules",
) -> list[dict]:
    """``n`` rows cycling through ``labels``; images are saved as PNG under ``image_dir`` and referenced by path."""
    from PIL import Image

    from emoreason.reasoning.rules import explain

    labels = labels or list(TOY_LABELS)
    rng = random.Random(seed)
    image_dir = Path(image_dir or "toy_images")
    image_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        colour, aus = TOY_LABELS[label]
        aus = {k: round(min(5.0, max(1.0, v + rng.uniform(-0.4, 0.4))), 1) for k, v in aus.items()}
        paths = []
        for j in range(images_per_row):
            jitter = tuple(max(0, min(255, c + rng.randint(-15, 15))) for c in colour)
            path = image_dir / f"{label}_{i}_{j}.png"
            Image.new("RGB", (size, size), jitter).save(path)
            paths.append(str(path))
        rows.append(
            {
                "id": f"toy-{i}",
                "images": paths,
                "aus": aus,
                "transcript": "",
                "prosody": "",
                "label": label,
                "labels": [label],
                "cot": explain(aus, label=label, label_set="basic").text if cot == "rules" else short_cot(aus, label),
                "meta": {"source": "toy", "split": "train", "group": "a" if i % 2 else "b"},
            }
        )
    return rows


def save_toy_dataset(
    out: str | Path,
    n_train: int = 16,
    n_test: int = 8,
    labels: list[str] | None = None,
    seed: int = 0,
    images_per_row: int = 1,
    cot: str = "rules",
) -> Path:
    """A DatasetDict with train/test splits saved at ``out`` (images under ``out/images``)."""
    from datasets import Dataset, DatasetDict

    out = Path(out)
    images = out.parent / f"{out.name}_images"
    train = toy_rows(n_train, labels, images / "train", seed, images_per_row, cot=cot)
    test = toy_rows(n_test, labels, images / "test", seed + 1, images_per_row, cot=cot)
    for row in test:
        row["meta"]["split"] = "test"
    DatasetDict({"train": Dataset.from_list(train), "test": Dataset.from_list(test)}).save_to_disk(str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m emoreason.testing.toy_emotions DIR [--train N] [--test N]``: the toy dataset, for trying the
    training path end to end on CPU (README "Train on CPU")."""
    import argparse

    prog = "python -m emoreason.testing.toy_emotions"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="output folder (a DatasetDict with train and test splits)")
    parser.add_argument("--train", type=int, default=16, help="train rows")
    parser.add_argument("--test", type=int, default=8, help="test rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from datasets.utils import disable_progress_bars

    disable_progress_bars()  # "Saving the dataset" bars for 24 rows are noise
    print(save_toy_dataset(args.path, args.train, args.test, seed=args.seed, cot="short"))  # noqa: T201


if __name__ == "__main__":
    main()
