"""Classical denoisers of the scoreboard, each tuned on a VALIDATION split of training images.

    from core.denoising import baselines
    out = baselines.apply("nlm", x_noisy, h=0.3, patch_size=5)               # [N,1,28,28] -> [N,1,28,28]
    out = baselines.apply("nlm", x_noisy, noise_level=0.5, declip=True, h=0.3)  # clipping-corrected
    name, params, fn = baselines.best_filter(0.5)      # the best tuned filter at noise 0.5
    out = fn(x_noisy)

Filters: Gaussian, median, non-local means, total variation (Chambolle), wavelet shrinkage
(scikit-image), BM3D (the `bm3d` package), and blur + background removal (a Gaussian blur, then
the grey the clipped noise leaves on the black background is subtracted and the rest stretched
back to [0, 1]).

Clipping correction (`declip=True`, Gaussian noise of known sigma only): the noisy images are
clipped to [0, 1], so a filter that averages them estimates E[clip(x + n)], not x: a black
background comes out grey (about 0.4 sigma). The standard remedy for clipped observations (Foi
2009, "Clipped noisy images: heteroskedastic modeling and practical denoising") inverts that
expectation, a monotone function of x for a known sigma (core.denoising.denoise.expected_clipped),
on the filter's output: `declipped`. It is an option of every filter, tuned like its other parameters.

Every tunable parameter, the correction included, is chosen per noise level by validation PSNR on
training images (randperm seed `VAL_SEED`, noise seed `VAL_NOISE_SEED`: the split of the MAP study
of core.analysis.vae, extended), never on test images: the first `VAL_N_FOR[method]` of them. With
each choice the tuning records how stable it is: the paired standard error of its lead over the
runner-up, and `regret_bound_db`, the largest amount by which any other setting of the grid could
plausibly beat it (paired mean difference + 2 standard errors). Written, with the grid and its
PSNRs, by

    python -m core.denoising.baselines --tune        # -> results/baselines.json (BM3D: about an hour)
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
COMMAND = "python -m core.denoising.baselines --tune"
LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
SP_AMOUNTS = (0.05, 0.1, 0.2, 0.3)   # salt-and-pepper: fraction of pixels hit
VAL_N, VAL_SEED, VAL_NOISE_SEED = 200, 2024, 1
# Validation images per filter (the first n of the split), as many as its cost allows: enough that
# every choice is stable to a few hundredths of a dB (`regret_bound_db` in the tuning file says so).
# BM3D costs 1-2 s per 28x28 image and grid point, NL-means and TV 5-50 ms, the rest about 1 ms.
VAL_N_FOR = {"gaussian": 1000, "median": 1000, "blur_bg": 1000, "wavelet": 1000, "nlm": 500, "tv": 500,
             "bm3d": 100}
SLOW = ("bm3d",)
STABLE_DB = 0.1   # a choice is stable if no other grid setting can plausibly beat it by more than this


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
        "gaussian": [{"width": w} for w in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)],
        "median": [{"size": k} for k in (2, 3, 4, 5, 6)],
        "nlm": [{"h": round(f * s, 4), "patch_size": p} for f in (0.15, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.85,
                                                                  1.0, 1.3) for p in (3, 5)],
        "tv": [{"weight": w} for w in (0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.18, 0.25, 0.4, 0.6, 1.0)],
        "wavelet": [{"sigma": round(f * s, 4), "rule": m} for f in (0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
                    for m in ("BayesShrink", "VisuShrink")],
        "bm3d": [{"sigma_psd": round(f * s, 4)} for f in (0.25, 0.35, 0.5, 0.6, 0.7, 0.85, 1.0, 1.2)],
        "blur_bg": [{"width": w, "background": round(b * s, 4)} for w in (0.5, 0.75, 1.0, 1.25, 1.5)
                    for b in (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)],
    }
    if method not in grids:
        raise ValueError(f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}")
    return grids[method]


def declipped(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """The clean value x in [0, 1] with E[clip(x + n, 0, 1)] = y for n ~ N(0, sigma^2), elementwise.

    That expectation rises monotonically from about 0.4 sigma at x = 0 to 1 - 0.4 sigma at x = 1,
    so it is inverted by interpolating a fine table of it (a filter's output below its value at 0
    maps to 0, above its value at 1 to 1). numpy's interp on a 4001-point table: exact to a few
    1e-4 and far cheaper than a root search per pixel."""
    if sigma <= 0:
        return y
    from core.denoising.denoise import expected_clipped

    g = torch.linspace(0, 1, 4001, dtype=torch.float64)
    table = expected_clipped(g, float(sigma)).numpy()
    return torch.from_numpy(np.interp(y.double().numpy(), table, g.numpy())).float()


def apply(method: str, x: torch.Tensor, noise_level: float | None = None, declip: bool = False,
          **params) -> torch.Tensor:
    """Filter images [N,1,28,28] in [0, 1] with `method` and `params`; declip=True (needs the
    Gaussian noise level `noise_level`) corrects the output for the clipping of the noise."""
    if method not in FILTERS:
        raise ValueError(f"unknown filter {method!r}; choose one of {', '.join(FILTERS)}")
    if declip and not noise_level:
        raise ValueError("declip=True needs the Gaussian noise level (noise_level=...)")
    from core.denoising.denoise import as_images

    out = FILTERS[method](as_images(x).contiguous(), **params)
    return declipped(out, noise_level) if declip else out


def describe(method: str, params: dict) -> str:
    """'non-local means (h 0.2, patch_size 5, clipping-corrected)': how a table or the demo names a tuned filter."""
    parts = [f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
             for k, v in params.items() if k != "declip"]
    if params.get("declip"):
        parts.append("clipping-corrected")
    return f"{LABELS[method]} ({', '.join(parts)})" if parts else LABELS[method]


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

def _paired(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error) of the per-image difference a - b."""
    d = (a - b).double()
    return float(d.mean()), float(d.std() / len(d) ** 0.5) if len(d) > 1 else float("inf")


def summarise(scored: list[tuple[dict, torch.Tensor]]) -> dict:
    """The choice among (params, per-image PSNR) settings scored on the same images, with how
    stable it is: its lead over the runner-up (paired, with its standard error), `regret_bound_db`
    (max over the other settings of their paired mean difference to it + 2 standard errors: how
    much any of them could plausibly beat it by), and, where the grid holds both, the best
    setting without the clipping correction and the correction's paired gain over it."""
    means = [float(v.mean()) for _, v in scored]
    order = sorted(range(len(scored)), key=lambda i: -means[i])
    best, psnr = scored[order[0]]
    out = {"params": best, "psnr": means[order[0]], "n": len(psnr),
           "grid": [[p, round(m, 4)] for (p, _), m in zip(scored, means)]}
    if len(order) > 1:
        runner, runner_psnr = scored[order[1]]
        lead, se = _paired(psnr, runner_psnr)
        regret = max(m + 2 * s for m, s in (_paired(v, psnr) for i, (_, v) in enumerate(scored) if i != order[0]))
        out.update(runner_up=runner, lead_db=lead, lead_se=se, regret_bound_db=max(regret, 0.0))
    plain = [i for i in order if not scored[i][0].get("declip")]
    if plain and len(plain) < len(order):
        p_params, p_psnr = scored[plain[0]]
        gain, gain_se = _paired(psnr, p_psnr)
        out["plain"] = {"params": p_params, "psnr": means[plain[0]], "declip_gain_db": gain, "declip_gain_se": gain_se}
    return out


def tune_one(method: str, level: float, noise: str = "gaussian", n: int | None = None) -> dict:
    """Every grid setting of `method` at `level` (each also clipping-corrected, for Gaussian noise)
    on the first VAL_N_FOR[method] validation images (at most n), summarised by `summarise`."""
    k = min(VAL_N_FOR.get(method, VAL_N), n or 10 ** 9)
    clean = validation_set(k)
    noisy = corrupt(clean, noise, level, VAL_NOISE_SEED)
    scored = []
    for p in grid(method, level):
        out = apply(method, noisy, **p)  # filtered once, scored plain and corrected
        scored.append(({**p, "declip": False} if noise == "gaussian" else p, metrics.psnr(out, clean)))
        if noise == "gaussian":
            scored.append(({**p, "declip": True}, metrics.psnr(declipped(out, level), clean)))
    return summarise(scored)


def _tune_job(job):
    torch.set_num_threads(1)
    method, level, noise, n = job
    return job, tune_one(method, level, noise, n)


def tune(levels=LEVELS, noise: str = "gaussian", methods=tuple(FILTERS), n: int | None = None,
         progress: bool = True, jobs: int = 1, on_result=None) -> dict:
    """{method: {str(level): summarise(...)}} by validation PSNR, in `jobs` one-thread processes
    (slowest first); on_result(method, level, entry) is called as each finishes (to save it)."""
    todo = sorted([(m, lvl, noise, n) for m in methods for lvl in levels], key=lambda j: j[0] not in SLOW)
    out: dict = {}
    if jobs > 1:
        import importlib
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        module = importlib.import_module("core.denoising.baselines")  # not __main__'s functions
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(module._tune_job, j) for j in todo]
            results = (f.result() for f in as_completed(futures))
            for job, entry in tqdm(results, total=len(todo), desc=f"tuning ({noise})", disable=not progress):
                out.setdefault(job[0], {})[str(job[1])] = entry
                if on_result:
                    on_result(job[0], job[1], entry)
    else:
        for job in tqdm(todo, desc=f"tuning ({noise})", disable=not progress):
            entry = tune_one(*job)
            out.setdefault(job[0], {})[str(job[1])] = entry
            if on_result:
                on_result(job[0], job[1], entry)
    return {m: dict(sorted(out[m].items(), key=lambda kv: float(kv[0]))) for m in methods if m in out}


def validation_note() -> str:
    per = ", ".join(f"{LABELS[m]} {k}" for m, k in VAL_N_FOR.items())
    return (f"the first n of the training images in randperm seed {VAL_SEED} order (n per filter: {per}), "
            f"noise seed {VAL_NOISE_SEED}")


def tune_all(write: bool = True, methods=tuple(FILTERS), levels=None, jobs: int = 1, target=None) -> dict:
    """Tune every filter (Gaussian noise with and without the clipping correction, and
    salt-and-pepper), or `methods` at `levels` merged into the existing file. Each finished
    (method, level) is written at once (atomically), so a long run keeps what it has done."""
    target = target or TUNED_FILE
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    partial = bool(levels) or tuple(methods) != tuple(FILTERS)
    result = json.loads(target.read_text()) if partial and target.exists() else {"gaussian": {}, "salt_pepper": {}}
    spent = result.get("seconds", 0.0)

    def save(noise):
        def on_result(method, level, entry):
            result[noise].setdefault(method, {})[str(level)] = entry
            result[noise][method] = dict(sorted(result[noise][method].items(), key=lambda kv: float(kv[0])))
            result.update(validation=validation_note(), command=COMMAND, stable_db=STABLE_DB,
                          seconds=round(spent + time.perf_counter() - t0, 1))
            if write:
                checkpoints.write_json(result, target)
        return on_result

    tune(levels or LEVELS, "gaussian", methods=methods, jobs=jobs, on_result=save("gaussian"))
    if not partial:
        tune(SP_AMOUNTS, "salt_pepper", methods=tuple(m for m in FILTERS if m not in SLOW), jobs=jobs,
             on_result=save("salt_pepper"))
    _TUNED.pop(target, None)
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


def params_for(method: str, level: float, noise: str = "gaussian", table: dict | None = None,
               plain: bool = False) -> dict:
    """The tuned parameters of `method` at the tuned level nearest to `level` (plain=True: the best
    setting without the clipping correction)."""
    entry = _nearest((table or tuned())[noise][method], level)
    return dict(entry["plain"]["params"] if plain and "plain" in entry else entry["params"])


def _nearest(per_level: dict, level: float) -> dict:
    return per_level[min(per_level, key=lambda k: abs(float(k) - level))]


def run_tuned(method: str, x: torch.Tensor, level: float, noise: str = "gaussian", table: dict | None = None,
              plain: bool = False) -> torch.Tensor:
    """`method` with its tuned parameters at the level nearest to `level`; a clipping correction
    uses `level` itself (the noise actually present)."""
    params = params_for(method, level, noise, table, plain)
    return apply(method, x, noise_level=level if params.get("declip") else None, **params)


def best_filter(level: float, noise: str = "gaussian", exclude=SLOW, table: dict | None = None):
    """(method, params, fn) of the classical filter with the best validation PSNR at the tuned
    level nearest to `level`; fn(x_noisy [N,1,28,28]) -> [N,1,28,28] (clipping-corrected for
    noise `level` where that won the validation). BM3D is excluded by default (1-2 s per image:
    not for interactive use); pass exclude=() to allow it."""
    table = table or tuned()
    per_method = {m: v for m, v in table[noise].items() if m not in exclude}
    if not per_method:
        raise ValueError("every filter is excluded")
    method = max(per_method, key=lambda m: _nearest(per_method[m], level)["psnr"])
    params = params_for(method, level, noise, table)
    return method, params, lambda x: run_tuned(method, x, level, noise, table)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tune the classical denoisers on validation images.")
    parser.add_argument("--tune", action="store_true", help=f"run the tuning and write {TUNED_FILE}")
    parser.add_argument("--methods", nargs="+", default=list(FILTERS), choices=FILTERS,
                        help="retune only these (Gaussian noise), merged into the existing file")
    parser.add_argument("--levels", type=float, nargs="+", help="retune only at these levels (merged)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (one thread each)")
    parser.add_argument("--dry-run", action="store_true",
                        help="a tiny tuning (8 images, two levels, no BM3D), printed, not written")
    args = parser.parse_args(argv)
    if args.dry_run:
        res = tune((0.3, 0.5), methods=[m for m in args.methods if m not in SLOW], n=8, progress=False)
        for m, per in res.items():
            print(m, {k: v["params"] for k, v in per.items()})
        return
    if not args.tune:
        parser.print_help()
        return
    res = tune_all(methods=tuple(args.methods), levels=args.levels, jobs=args.jobs)
    for noise in ("gaussian", "salt_pepper"):
        for m, per in res[noise].items():
            print(noise, m, {k: (v["params"], round(v["psnr"], 2), round(v.get("regret_bound_db", 0), 3))
                             for k, v in per.items()})
    print(f"wrote {TUNED_FILE} ({res['seconds']} s)")


if __name__ == "__main__":
    main()
