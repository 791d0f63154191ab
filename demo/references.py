"""What the demo sets beside the assignment's denoisers, all from the scoreboard: the judges that read
every output as a digit (core.denoising.judge), and the two reference columns, the best classical filter
tuned on validation images (core.denoising.baselines.best_filter, BM3D left out: 1-2 s per image), with
the clipping correction where it won the validation (corrected for the noise level actually added), and
the learned denoising net (checkpoint `dncnn`).

The references only run on the noises they were tuned or trained for: the filters on Gaussian noise
and salt and pepper, the net on Gaussian noise (it never saw impulses or holes). For an erasure no
reference column is shown: a filter cannot invent a missing stroke, that is MAP's job.
"""
from __future__ import annotations

import warnings

import torch

REFERENCE_NOISES = {"filter": ("gaussian", "salt_pepper"), "dncnn": ("gaussian",)}


def load_judge(directory=None, name: str | None = None):
    """One of the scoreboard's judges (frozen; default the first), or None with a warning if it is
    not shipped."""
    from core.denoising import judge
    from core.models import checkpoints

    try:
        return judge.load(name or judge.NAME, directory=directory)
    except (checkpoints.CheckpointError, OSError) as exc:
        warnings.warn(f"no judge classifier {name or judge.NAME} ({exc}): outputs are shown without a reading",
                      stacklevel=2)
        return None


def classical_filter(table: dict | None = None):
    """fn(noisy, kind, level) -> (x_hat, name): the filter with the best validation PSNR at the
    tuned level nearest to `level` for this noise (core.denoising.baselines), its clipping
    correction (where tuned in) made for `level` itself."""
    from core.denoising import baselines

    table = table or baselines.tuned()
    chosen: dict = {}

    def run(noisy: torch.Tensor, kind: str, level: float):
        key = (kind, min(table[kind]["median"], key=lambda k: abs(float(k) - level)))
        if key not in chosen:  # the same few (noise, level) pairs come back request after request
            chosen[key] = baselines.best_filter(level, kind, table=table)[:2]
        method, params = chosen[key]
        x_hat = baselines.apply(method, noisy.float(), noise_level=level if params.get("declip") else None, **params)
        return x_hat, baselines.describe(method, params)

    return run


def load_references(directory=None) -> dict:
    """{name: fn(noisy, kind, level) -> (x_hat, what)} for the reference columns that are shipped."""
    from core.models import checkpoints

    refs = {}
    try:
        refs["filter"] = classical_filter()
    except (FileNotFoundError, KeyError, ValueError) as exc:
        warnings.warn(f"no tuned classical filters ({exc}): that reference column is left out", stacklevel=2)
    try:
        net = checkpoints.load("dncnn", directory)
    except (checkpoints.CheckpointError, OSError) as exc:
        warnings.warn(f"no learned denoiser ({exc}): that reference column is left out", stacklevel=2)
    else:
        refs["dncnn"] = lambda noisy, kind, level: (net.denoise(noisy), "DnCNN, trained on Gaussian noise")
    return refs
