""""Is it still the same digit?": the scoreboard's judge, a classifier apart from the A4 one.

    from core.denoising import judge
    labels, confidences = judge.read(images)      # images [N,1,28,28] (or [28,28]) in [0, 1]
    kept = judge.same_digit(outputs, true_labels)  # bool [N]

The judge (`core.models.judge.Judge`, checkpoint `judge`) is a small convnet trained with noise
(Gaussian over a range of levels including none, salt-and-pepper) and pose augmentation (rotation,
shift, scale, thinner and thicker strokes), so it reads noisy inputs and denoised outputs alike;
the A4 classifier (spec_classifier) saw only clean digits. `accuracy_table()` measures it.
"""
from __future__ import annotations

import torch

from core import data
from core.models import checkpoints

NAME = "judge"
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


def same_digit(images, labels, name: str = NAME) -> torch.Tensor:
    """bool [N]: does the judge read each image as its true label?"""
    labels = torch.as_tensor(labels)
    got, _ = read(images, name)
    if got.shape != labels.shape:
        raise ValueError(f"{len(got)} images but labels of shape {tuple(labels.shape)}")
    return got == labels


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


def accuracy_table(name: str = NAME, n: int | None = None) -> list[dict]:
    """The judge's test accuracy (%) on clean digits, at each noise level (project noise, seed 0),
    salt-and-pepper (10 % of pixels) and each transform; beside it the A4 classifier's."""
    x, y = data.load_mnist("test")
    if n:
        x, y = x[:n], y[:n]
    models = {"judge": load(name)}
    try:
        models["A4 classifier"] = checkpoints.load("spec_classifier")
    except checkpoints.CheckpointError:
        pass
    from core.models.judge import salt_pepper

    conditions = {"clean": x}
    conditions.update({f"noise {s}": data.add_noise(x, s) for s in NOISE_LEVELS})
    torch.manual_seed(0)
    conditions["salt-and-pepper 10 %"] = salt_pepper(x, torch.full((len(x),), 0.1))
    conditions.update({t: transform(x, t) for t in TRANSFORMS})
    rows = []
    for cond, images in conditions.items():
        row = {"test set": cond}
        for label, model in models.items():
            with torch.no_grad():
                pred = torch.cat([model(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])
            row[f"{label} (%)"] = float((pred == y).float().mean() * 100)
        rows.append(row)
    return rows
