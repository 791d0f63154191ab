""""Is it still the same digit?": the scoreboard's two judges, classifiers apart from the A4 one.

    from core.denoising import judge
    labels, confidences = judge.read(images)          # the first judge; images [N,1,28,28] in [0, 1]
    readings = judge.read_all(images)                  # {judge name: labels [N]} for every judge
    kept = judge.same_digit(outputs, true_labels)      # bool [N] (name=... for another judge)
    judge.agree({"judge": True, "judge_mlp": False})   # None: the judges disagree

The judges (`core.models.judge`, checkpoints `judge` and `judge_mlp`) are of two families, a small
convnet and a multilayer perceptron, each trained in its own run from its own seed with noise
(Gaussian over a range of levels including none, salt-and-pepper), pose (rotation, shift, scale),
stroke, blur and contrast augmentation, and each reads a contrast-normalised image, so noisy
inputs, smooth or faint denoised outputs are read alike; the A4 classifier (spec_classifier) saw
only clean digits. An identity verdict is stated only where both judges agree (`agree`).
`accuracy_table()` measures them.
"""
from __future__ import annotations

import torch

from core import data
from core.models import checkpoints

NAMES = ("judge", "judge_mlp")
NAME = NAMES[0]
SHORT = {"judge": "convnet", "judge_mlp": "MLP"}   # how tables and sentences name each judge
_MODELS: dict = {}


def load(name: str = NAME, directory=None):
    """The judge model, loaded once per (name, folder) and frozen."""
    key = (name, str(directory))
    if key not in _MODELS:
        model = checkpoints.load(name, directory)
        for p in model.parameters():
            p.requires_grad_(False)
        _MODELS[key] = model
    return _MODELS[key]


def read(images, name: str = NAME) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels [N] int64, confidences [N] in (0, 1]: the softmax probability of that label)."""
    from core.denoising.denoise import as_images

    return load(name).read(as_images(images, "images"))


def read_all(images, names=NAMES) -> dict[str, torch.Tensor]:
    """{judge name: labels [N]}: what every judge reads."""
    return {name: read(images, name)[0] for name in names}


def same_digit(images, labels, name: str = NAME) -> torch.Tensor:
    """bool [N]: does the judge read each image as its true label?"""
    labels = torch.as_tensor(labels)
    got, _ = read(images, name)
    if got.shape != labels.shape:
        raise ValueError(f"{len(got)} images but labels of shape {tuple(labels.shape)}")
    return got == labels


def agree(verdicts: dict):
    """The common verdict of every judge ({name: verdict}), or None where they disagree."""
    values = list(verdicts.values())
    if not values:
        raise ValueError("no judge gave a verdict")
    return values[0] if all(v == values[0] for v in values) else None


def same_augmentation(*configs) -> bool:
    """Do these judges' configs share every setting of what they read and how they were augmented
    (core.models.judge.ReaderConfig), so that one description of their training holds for all?"""
    from dataclasses import asdict, fields

    from core.models.judge import ReaderConfig

    shared = [f.name for f in fields(ReaderConfig)]
    first, *rest = (asdict(c) for c in configs)
    return all(all(c[k] == first[k] for k in shared) for c in rest)


def agreement(readings: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool [N]: do all judges read each image as the same digit?"""
    first, *rest = readings.values()
    same = torch.ones_like(first, dtype=torch.bool)
    for other in rest:
        same &= other == first
    return same


# Test conditions of the judge's own accuracy table (noise on top of the transformed digit).
NOISE_LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
TRANSFORMS = ("rotate", "shift", "thin", "thick")


def transform(x: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """The out-of-distribution test digits: rotated by +-20 degrees (sign drawn per image), shifted
    by 4 px along one axis (direction drawn per image), or strokes thinned (2x2 erosion) or
    thickened (3x3 dilation). Deterministic from `seed`."""
    from core.models.judge import affine, thicken, thin

    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    if kind == "clean":
        return x
    if kind == "rotate":
        sign = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
        return affine(x, 20.0 * sign, torch.zeros(n, 2)).clamp(0, 1)
    if kind == "shift":
        directions = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0], [0.0, -4.0]])
        return affine(x, torch.zeros(n), directions[torch.randint(0, 4, (n,), generator=gen)]).clamp(0, 1)
    if kind == "thin":
        return thin(x)
    if kind == "thick":
        return thicken(x)
    raise ValueError(f"unknown transform {kind!r}; choose clean or one of {', '.join(TRANSFORMS)}")


# Fainter, greyer renderings of the test digits (offset + gain * x): the contrast a judge must not read.
FAINT = ((0.3, 0.0), (0.2, 0.3), (0.5, 0.2))


def accuracy_table(names=NAMES, n: int | None = None) -> list[dict]:
    """Each judge's test accuracy (%) on clean digits, at each noise level (project noise, seed 0),
    salt-and-pepper (10 % of pixels), each transform and each faint rendering (FAINT); beside it
    the A4 classifier's, and how often the judges read the same digit."""
    x, y = data.load_mnist("test")
    if n:
        x, y = x[:n], y[:n]
    models = {SHORT.get(name, name): load(name) for name in names}
    try:
        a4 = checkpoints.load("spec_classifier")
    except checkpoints.CheckpointError:
        a4 = None
    from core.models.judge import salt_pepper

    conditions = {"clean": x}
    conditions.update({f"noise {s}": data.add_noise(x, s) for s in NOISE_LEVELS})
    torch.manual_seed(0)
    conditions["salt-and-pepper 10 %"] = salt_pepper(x, torch.full((len(x),), 0.1))
    conditions.update({t: transform(x, t) for t in TRANSFORMS})
    conditions.update({f"faint: {b:g} + {a:g} x": b + a * x for a, b in FAINT})
    rows = []
    for cond, images in conditions.items():
        row, readings = {"test set": cond}, {}
        for label, model in models.items():
            readings[label] = model.read(images)[0]
            row[f"{label} judge (%)"] = float((readings[label] == y).float().mean() * 100)
        if a4 is not None:
            with torch.no_grad():
                pred = torch.cat([a4(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
            row["A4 classifier (%)"] = float((pred == y).float().mean() * 100)
        if len(readings) > 1:
            row["judges agree (%)"] = float(agreement(readings).float().mean() * 100)
        rows.append(row)
    return rows
