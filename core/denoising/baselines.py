"""Classical denoisers of the scoreboard, each tuned on a VALIDATION split of training images.

    from core.denoising import baselines
    out = baselines.apply("nlm", x_noisy, h=0.3, patch_size=5)    # [N,1,28,28] -> [N,1,28,28]
    name, params, fn = baselines.best_filter(0.5)                # the best tuned filter at noise 0.5
    out = fn(x_noisy)

Filters: Gaussian, median, non-local means, total variation (Chambolle), wavelet shrinkage
(scikit-image), BM3D (the `bm3d` package), and blur + background removal (a Gaussian blur, then
the grey the clipped noise leaves on the black background is subtracted and the rest stretched
back to [0, 1]). Every tunable parameter is chosen per noise level by validation PSNR on
`VAL_N` training images (randperm seed `VAL_SEED`, noise seed `VAL_NOISE_SEED`: the same split as
the MAP study of core.analysis.vae), never on test images. The choice is written, with the grid
and its PSNRs, by

    python -m core.denoising.baselines --tune        # -> results/baselines.json (about 15 min, BM3D most)
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy import ndimage
from tqdm.auto import tqdm

from core import data, metrics
from core.models import checkpoints
from core.paths import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "results"
TUNED_FILE = RESULTS_DIR / "baselines.json"
LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
SP_AMOUNTS = (0.05, 0.1, 0.2, 0.3)   # salt-and-pepper: fraction of pixels hit
VAL_N, VAL_SEED, VAL_NOISE_SEED = 200, 2024, 1
BM3D_VAL_N = 8                       # BM3D costs ~2 s per 28x28 image: tuned on the first 8
# The per-image scikit-image filters (10-100 ms per image and grid point) use the first 100.
VAL_N_SLOWER = {"nlm": 100, "tv": 100, "wavelet": 100}
SLOW = ("bm3d",)


# --- the filters (numpy per image, batched here) ---------------------------------------------------

def _per_image(fn, x: torch.Tensor) -> torch.Tensor:
    arr = x.detach().float().cpu().numpy().astype(np.float64)
    out = np.stack([fn(a[0])[None] for a in arr])
    return torch.from_numpy(out).float().clamp(0, 1)


def gaussian(x, width):
    arr = ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, width, width), mode="constant")
    return torch.from_numpy(arr).clamp(0, 1)


def median(x, size):
    return torch.from_numpy(ndimage.median_filter(x.numpy(), size=(1, 1, size, size), mode="constant"))


def nlm(x, h, patch_size=5, patch_distance=6):
    from skimage.restoration import denoise_nl_means

    return _per_image(lambda a: denoise_nl_means(a, h=h, patch_size=patch_size, patch_distance=patch_distance,
                                                 fast_mode=True), x)


def tv(x, weight):
    from skimage.restoration import denoise_tv_chambolle

    return _per_image(lambda a: denoise_tv_chambolle(a, weight=weight), x)


def wavelet(x, sigma, rule="BayesShrink"):
    from skimage.restoration import denoise_wavelet

    return _per_image(lambda a: denoise_wavelet(a, sigma=sigma, mode="soft", method=rule,
                                                rescale_sigma=True), x)


def bm3d(x, sigma_psd):
    import bm3d as _bm3d

    # profile "np" (the package default); "refilter" fails on images this small.
    return _per_image(lambda a: _bm3d.bm3d(a, sigma_psd=sigma_psd, profile="np"), x)


def blur_bg(x, width, background):
    """Gaussian blur, then subtract the background grey and stretch [background, 1] to [0, 1]."""
    blurred = torch.from_numpy(ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, width, width), mode="constant"))
    return ((blurred - background) / (1 - background)).clamp(0, 1)


FILTERS = {"gaussian": gaussian, "median": median, "nlm": nlm, "tv": tv, "wavelet": wavelet,
           "bm3d": bm3d, "blur_bg": blur_bg}
LABELS = {"gaussian": "Gaussian filter", "median": "median filter", "nlm": "non-local means",
          "tv": "total variation", "wavelet": "wavelet shrinkage", "bm3d": "BM3D",
          "blur_bg": "blur + background removal"}


def grid(method: str, level: float) -> list[dict]:
    """The parameter grid searched for `method` at noise `level` (a std, or a salt-and-pepper
    amount); level-relative where the parameter is a noise scale."""
    s = level
    grids = {
        "gaussian": [{"width": w} for w in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)],
        "median": [{"size": k} for k in (2, 3, 4, 5)],
        "nlm": [{"h": round(f * s, 4), "patch_size": p} for f in (0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.2, 1.6)
                for p in (3, 5)],
        "tv": [{"weight": w} for w in (0.01, 0.02, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.6)],
        "wavelet": [{"sigma": round(f * s, 4), "rule": m} for f in (0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5)
                    for m in ("BayesShrink", "VisuShrink")],
        "bm3d": [{"sigma_psd": round(f * s, 4)} for f in (0.2, 0.35, 0.6, 1.0, 1.5)],
        "blur_bg": [{"width": w, "background": round(b * s, 4)} for w in (0.5, 0.75, 1.0, 1.5)
                    for b in (0.0, 0.2, 0.4, 0.6, 0.8)],
    }
    if method not in grids:
        raise ValueError(f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}")
    return grids[method]


def apply(method: str, x: torch.Tensor, **params) -> torch.Tensor:
    """Filter images [N,1,28,28] in [0, 1] with `method` and `params`."""
    if method not in FILTERS:
        raise ValueError(f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}")
    from core.denoising.denoise import as_images

    return FILTERS[method](as_images(x).contiguous(), **params)


# --- noise types ----------------------------------------------------------------------------------

def corrupt(x: torch.Tensor, noise: str, level: float, seed: int) -> torch.Tensor:
    """"gaussian": the project's convention (data.add_noise); "salt_pepper": a fraction `level` of
    pixels set to 0 or 1 (half each), seeded."""
    if noise == "gaussian":
        return data.add_noise(x, level, seed=seed)
    if noise == "salt_pepper":
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))
        x = torch.where(u < level / 2, torch.zeros_like(x), x)
        return torch.where((u >= level / 2) & (u < level), torch.ones_like(x), x)
    raise ValueError(f"unknown noise {noise!r}; choose gaussian or salt_pepper")


def validation_set(n: int = VAL_N):
    x, _ = data.load_mnist("train")
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(VAL_SEED))[:n]]


# --- tuning ---------------------------------------------------------------------------------------

def tune(levels=LEVELS, noise: str = "gaussian", methods=tuple(FILTERS), n: int = VAL_N,
         bm3d_n: int = BM3D_VAL_N, progress: bool = True) -> dict:
    """{method: {str(level): {"params", "psnr", "grid": [[params, psnr], ...]}}} by validation PSNR."""
    clean = validation_set(n)
    out = {}
    jobs = [(m, lvl) for m in methods for lvl in levels]
    for method, level in tqdm(jobs, desc=f"tuning ({noise})", disable=not progress):
        c = clean[:bm3d_n] if method in SLOW else clean[:VAL_N_SLOWER.get(method, n)]
        noisy = corrupt(c, noise, level, VAL_NOISE_SEED)
        scored = [(p, float(metrics.psnr(apply(method, noisy, **p), c).mean())) for p in grid(method, level)]
        best = max(scored, key=lambda ps: ps[1])
        out.setdefault(method, {})[str(level)] = {"params": best[0], "psnr": best[1], "n": len(c),
                                                 "grid": [[p, v] for p, v in scored]}
    return out


def tune_all(write: bool = True, bm3d_n: int = BM3D_VAL_N, methods=tuple(FILTERS), levels=None) -> dict:
    """Tune every filter (or `methods` at `levels`, merged into the existing file: the grid
    searched is recorded with each choice)."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if levels or tuple(methods) != tuple(FILTERS):
        result = json.loads(TUNED_FILE.read_text())
        part = tune(levels or LEVELS, "gaussian", methods=methods, bm3d_n=bm3d_n)
        for m, per in part.items():
            result["gaussian"].setdefault(m, {}).update(per)
        result["seconds"] = round(result["seconds"] + time.perf_counter() - t0, 1)
        if write:
            checkpoints.write_json(result, TUNED_FILE)
        return result
    result = {"gaussian": tune(LEVELS, "gaussian", bm3d_n=bm3d_n),
              "salt_pepper": tune(SP_AMOUNTS, "salt_pepper", methods=tuple(m for m in FILTERS if m not in SLOW)),
              "validation": f"{VAL_N} training images (randperm seed {VAL_SEED}), noise seed {VAL_NOISE_SEED}; "
                            f"NLM, TV and wavelet on the first 100, BM3D on the first {bm3d_n}",
              "command": "python -m core.denoising.baselines --tune", "seconds": round(time.perf_counter() - t0, 1)}
    if write:
        checkpoints.write_json(result, TUNED_FILE)
    return result


_TUNED: dict = {}


def tuned(target=None) -> dict:
    """The tuning written by `python -m core.denoising.baselines --tune` (read once)."""
    target = target or TUNED_FILE
    if target not in _TUNED:
        if not target.exists():
            raise FileNotFoundError(f"{target} is missing; run `python -m core.denoising.baselines --tune`")
        _TUNED[target] = json.loads(target.read_text())
    return _TUNED[target]


def params_for(method: str, level: float, noise: str = "gaussian", table: dict | None = None) -> dict:
    """The tuned parameters of `method` at the tuned level nearest to `level`."""
    per = (table or tuned())[noise][method]
    nearest = min(per, key=lambda k: abs(float(k) - level))
    return dict(per[nearest]["params"])


def best_filter(level: float, noise: str = "gaussian", exclude=SLOW, table: dict | None = None):
    """(method, params, fn) of the classical filter with the best validation PSNR at the tuned
    level nearest to `level`; fn(x_noisy [N,1,28,28]) -> [N,1,28,28]. BM3D is excluded by default
    (2 s per image: not for interactive use); pass exclude=() to allow it."""
    table = table or tuned()
    per_method = {m: v for m, v in table[noise].items() if m not in exclude}
    if not per_method:
        raise ValueError("every filter is excluded")
    levels = next(iter(per_method.values()))
    nearest = min(levels, key=lambda k: abs(float(k) - level))
    method = max(per_method, key=lambda m: per_method[m][nearest]["psnr"])
    params = dict(per_method[method][nearest]["params"])
    return method, params, lambda x: apply(method, x, **params)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tune the classical denoisers on validation images.")
    parser.add_argument("--tune", action="store_true", help=f"run the tuning and write {TUNED_FILE}")
    parser.add_argument("--bm3d-n", type=int, default=BM3D_VAL_N, help="validation images for BM3D")
    parser.add_argument("--methods", nargs="+", default=list(FILTERS), choices=FILTERS,
                        help="retune only these (Gaussian noise), merged into the existing file")
    parser.add_argument("--levels", type=float, nargs="+", help="retune only at these levels (merged)")
    parser.add_argument("--dry-run", action="store_true", help="a tiny tuning (8 images, two levels), not written")
    args = parser.parse_args(argv)
    if args.dry_run:
        res = tune((0.3, 0.5), n=8, bm3d_n=1)
        for m, per in res.items():
            print(m, {k: v["params"] for k, v in per.items()})
        return
    if not args.tune:
        parser.print_help()
        return
    res = tune_all(bm3d_n=args.bm3d_n, methods=tuple(args.methods), levels=args.levels)
    for noise in ("gaussian", "salt_pepper"):
        for m, per in res[noise].items():
            print(noise, m, {k: (v["params"], round(v["psnr"], 2)) for k, v in per.items()})
    print(f"wrote {TUNED_FILE} ({res['seconds']} s)")


if __name__ == "__main__":
    main()
