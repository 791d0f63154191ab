"""B1-B6 analyses: PCA vs AEs, hidden sizes, sparsity, denoising, manifold walks, upsampling.

Everything reads shipped checkpoints (`core.models.fc`, `core.models.upsampling`); nothing trains.
The only expensive pieces, the PCA error curve over 1..100 components and the PCA(30) fit, are
cached (core.cache), keyed by the MNIST files' digests and the sklearn version.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from core import data, metrics
from core.analysis import batched, reconstruct
from core.analysis.reference import reference
from core.cache import cached
from core.models import checkpoints

STANDARD = ("fc64", "fc128", "fc256")          # B2: plain FC AEs by hidden size
FC_MODELS = STANDARD + ("sparse_ae", "dae")
UPSAMPLING = ("unpool", "unpool_tconv", "tconv")  # B6
B1_AE = "fc64"        # the AE compared with PCA-30 in B1: the smallest code (64 numbers vs 30)
NOISE_LEVELS = (0.3, 0.5, 0.8, 0.9)             # B4


@functools.lru_cache(maxsize=None)
def model(name: str):
    """A shipped model in eval mode (loaded once per process)."""
    return checkpoints.load(name)


@functools.lru_cache(maxsize=None)
def ckpt(name: str) -> dict:
    return checkpoints.load_checkpoint(name)


def test_mse(name: str) -> float:
    """The recorded fp32 test MSE of a shipped model (the DAE's: denoising at noise 0.5)."""
    return float(ckpt(name)["metrics"]["mse"])


# --- B1: PCA ---------------------------------------------------------------------------------

def _flat(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).double().numpy()


def fit_pca(x_train: torch.Tensor, n_components: int = 30, seed: int = 0):
    """sklearn PCA on flattened images [N,1,28,28] (centred on the training mean)."""
    from sklearn.decomposition import PCA

    if not 1 <= n_components <= min(len(x_train), x_train[0].numel()):
        raise ValueError(f"n_components must be in 1..{min(len(x_train), x_train[0].numel())}, "
                         f"not {n_components}")
    return PCA(n_components=n_components, random_state=seed).fit(_flat(x_train))


def pca_reconstruct(pca, x: torch.Tensor) -> torch.Tensor:
    """Project onto the components and back: [N,1,28,28], NOT clipped (PCA knows no [0, 1])."""
    rec = pca.inverse_transform(pca.transform(_flat(x)))
    return torch.from_numpy(rec).float().view_as(x)


def pca_mse_curve(pca, x: torch.Tensor) -> np.ndarray:
    """Test MSE of PCA with k = 1..n_components components, from one fit with the most.

    Components are orthonormal, so the residual with k components is the centred energy minus the
    energy of the first k coordinates: mse[k-1] = (|x - mean|^2 - sum_{j<=k} c_j^2) / D, averaged.
    """
    xc = _flat(x) - pca.mean_
    coords = xc @ pca.components_.T                      # [N, K]
    total = (xc ** 2).sum(1, keepdims=True)              # [N, 1]
    residual = total - np.cumsum(coords ** 2, axis=1)    # [N, K]
    return residual.mean(0) / xc.shape[1]


def _data_params(**extra) -> dict:
    import sklearn

    return {"mnist": data.SHA256, "sklearn": sklearn.__version__, **extra}


def pca_results(max_components: int = 100) -> dict:
    """{"k": [1..K], "mse": test MSE per k, "pca30_mse": PCA(30)'s own test MSE}, cached, keyed by
    the MNIST file digests, the sklearn version and K (the weights play no part)."""
    def compute():
        x_train, _ = data.load_mnist("train")
        x_test, _ = data.load_mnist("test")
        curve = pca_mse_curve(fit_pca(x_train, max_components), x_test)
        pca30_mse = float(metrics.mse(pca_reconstruct(pca30(), x_test), x_test).mean())
        return {"k": list(range(1, max_components + 1)), "mse": curve.tolist(), "pca30_mse": pca30_mse}

    return cached("b1-pca-curve", compute, params=_data_params(components=max_components))


@functools.lru_cache(maxsize=None)
def pca30():
    """sklearn PCA(30) fitted on the training images; the fitted object is cached (pickled) because
    the fit is the slowest step of the chapter and it needs the same one every render."""
    return cached("b1-pca30", lambda: fit_pca(data.load_mnist("train")[0], 30), params=_data_params(), fmt="pickle")


def background_stats(recon: torch.Tensor, clean: torch.Tensor, tol: float = 0.05) -> dict:
    """On pixels that are exactly 0 in the clean image: mean |output| and the share with
    |output| > tol (what makes a background look grey rather than black)."""
    mask = clean == 0
    if not mask.any():
        raise ValueError("the clean images have no zero (background) pixels")
    vals = recon[mask].abs()
    return {"mean_abs": float(vals.mean()), "share_above": float((vals > tol).float().mean()),
            "min": float(recon.min()), "max": float(recon.max())}


def b1_table(x_test: torch.Tensor) -> list[dict]:
    """Test MSE of PCA-30 and every FC AE, with the number of code values each keeps."""
    rows = [{"model": "PCA, 30 components", "code size": 30, "test MSE": pca_results()["pca30_mse"]}]
    for name in FC_MODELS:
        m = model(name)
        mse = float(metrics.mse(reconstruct(m, x_test), x_test).mean())  # clean input for all
        rows.append({"model": name, "code size": m.cfg.hidden, "test MSE": mse})
    return rows


# --- B2 / B3: random inputs, activations, filters ---------------------------------------------

def random_inputs(n: int = 10, seed: int = 0) -> torch.Tensor:
    """Pure noise images, uniform in [0, 1]: [n,1,28,28]."""
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def activation_stats(m, x: torch.Tensor) -> dict:
    """Mean hidden activation over images and units, share of (unit, image) pairs that are active,
    and the per-unit mean activation [hidden] (to pick and sort units)."""
    h = batched(m.encode, x)
    return {"mean": float(h.mean()), "active": float((h > 0).float().mean()),
            "per_unit": h.mean(0), "dead_units": int((h.max(0).values == 0).sum())}


def top_units(per_unit: torch.Tensor, k: int = 8) -> torch.Tensor:
    """The k hidden units with the largest mean activation (dead units show only init noise)."""
    return per_unit.argsort(descending=True)[:k]


def encoder_filters(m, units) -> torch.Tensor:
    """Encoder weights of `units` as 28x28 images: [len(units), 28, 28]."""
    return m.filters()[torch.as_tensor(units)]


def smoothness(filters: torch.Tensor, border: int = 4) -> float:
    """Mean correlation of each 28x28 filter with itself shifted by one pixel (right, and down),
    inside the central (28 - 2 border)^2 region (the border keeps its initial noise: MNIST's edge
    pixels are always 0): near 1 for large smooth blobs, near 0 for pixel-scale speckle."""
    f = torch.as_tensor(filters).float().reshape(len(filters), 28, 28)[:, border:28 - border, border:28 - border]

    def corr(a, b):
        a, b = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
        return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)

    return float(((corr(f[:, :, :-1], f[:, :, 1:]) + corr(f[:, :-1], f[:, 1:])) / 2).mean())


def one_sign_share(kernels: torch.Tensor, dominance: float = 0.75) -> float:
    """Share of kernels [n,k,k] whose entries of one sign hold at least `dominance` of the
    kernel's absolute weight: a kernel that mostly adds (or mostly removes) ink."""
    w = torch.as_tensor(kernels).flatten(1)
    pos, total = w.clamp_min(0).sum(1), w.abs().sum(1).clamp_min(1e-12)
    return float((torch.maximum(pos, total - pos) / total >= dominance).float().mean())


def reads(images: torch.Tensor, labels) -> np.ndarray:
    """The A4 classifier's reading of images (reconstructions, outputs): [N] digits."""
    from core.analysis.latent import classifier_reading

    return classifier_reading(images)["digit"]


def identity_kept(images: torch.Tensor, labels) -> float:
    """% of images the A4 classifier reads as their true label (a proxy for "still that digit")."""
    return float(100 * (reads(images, labels) == np.asarray(labels)).mean())


def b3_table(x_test: torch.Tensor) -> list[dict]:
    refs = {"fc64": "b3_mean_act_64", "fc128": "b3_mean_act_128", "fc256": "b3_mean_act_256",
            "sparse_ae": "b3_mean_act_sparse"}
    rows = []
    for name in ("sparse_ae",) + STANDARD:
        s = activation_stats(model(name), x_test)
        rows.append({"model": name, "hidden": model(name).cfg.hidden, "mean activation": s["mean"],
                     "reference": reference(refs[name]), "active share": s["active"],
                     "dead units": s["dead_units"], "test MSE": test_mse(name)})
    return rows


def random_input_rows(x_test: torch.Tensor, names=STANDARD, n: int = 1000, seed: int = 0) -> list[dict]:
    """What the AEs make of pure noise: the outputs' spread (per-pixel std across inputs, averaged
    over pixels) for n noise images vs n real test images, and how far each noise output is from
    its nearest real test-image reconstruction (small: the output is a digit-like image)."""
    noise, real = random_inputs(n, seed), x_test[:n]
    rows = []
    for name in names:
        m = model(name)
        out_noise, out_real = reconstruct(m, noise), reconstruct(m, real)
        nearest = torch.cdist(out_noise.flatten(1), out_real.flatten(1)).min(1).values ** 2 / 784
        act_noise, act_real = batched(m.encode, noise), batched(m.encode, real)
        rows.append({"model": name, "output spread, noise in": float(out_noise.std(0).mean()),
                     "output spread, digits in": float(out_real.std(0).mean()),
                     "code spread, noise in": float(act_noise.std(0).mean()),
                     "code spread, digits in": float(act_real.std(0).mean()),
                     "mean output pixel, noise in": float(out_noise.mean()),
                     "MSE to nearest digit output": float(nearest.mean())})
    return rows


# --- B4: denoising ---------------------------------------------------------------------------

def denoise_table(x_test: torch.Tensor, levels=NOISE_LEVELS, names=STANDARD + ("dae",)) -> list[dict]:
    """Mean MSE and PSNR (vs the clean image) per model and noise level; "noisy input" = no model.
    Every model sees the same noisy images (data.add_noise's fixed seed)."""
    rows = []
    for level in levels:
        noisy = data.add_noise(x_test, level)
        outputs = {"noisy input": noisy, **{n: reconstruct(model(n), noisy) for n in names}}
        for name, out in outputs.items():
            rows.append({"noise": level, "model": name,
                         "MSE": float(metrics.mse(out, x_test).mean()),
                         "PSNR dB": float(metrics.psnr(out, x_test).mean())})
    return rows


def denoise_examples(x: torch.Tensor, levels=NOISE_LEVELS, names=("fc128", "dae")) -> dict:
    """{"<level> noisy": images, "<level> <model>": outputs, ...} for an image figure."""
    rows = {}
    for level in levels:
        noisy = data.add_noise(x, level)
        rows[f"{level} noisy"] = noisy
        rows.update({f"{level} {n}": reconstruct(model(n), noisy) for n in names})
    return rows


def pivot(rows: list[dict], value: str, index: str = "model", column: str = "noise") -> list[dict]:
    """rows of (index, column, value) -> one row per index with a column per `column` value."""
    out: dict = {}
    for r in rows:
        out.setdefault(r[index], {index: r[index]})[f"{column} {r[column]}"] = r[value]
    return list(out.values())


# --- B5: manifold ----------------------------------------------------------------------------

@torch.no_grad()
def manifold_walks(m, x: torch.Tensor, steps=(0, 1, 2, 3, 4, 5, 6), seed: int = 0,
                   code_std: torch.Tensor | None = None) -> dict:
    """Walk away from one image x [1,1,28,28] along ONE random direction, in two spaces.

    pixel:  x + t * u, u a random unit vector in the 784-D pixel space, t in `steps`, clipped to [0, 1]
    latent: decode(z + t * s * v), v a random unit vector in the code space, s = |z| / 12 so that
            t = 6 moves the code by half its length; clamped at 0 (the ReLU code is non-negative).
            With `code_std` (per-unit std of real codes, [d]) v is shaped by it before normalising,
            so the walk follows how digit codes vary and leaves dead units (never trained to
            decode anything) alone.
    For every image the table gives its pixel distance to x and its distance to the AE's
    manifold, RMSE(image, AE(image)): how far it is from anything the AE reproduces.
    """
    if x.shape != (1, 1, 28, 28):
        raise ValueError(f"manifold_walks takes one image [1,1,28,28], got {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(seed)
    t = torch.tensor(steps, dtype=torch.float32).view(-1, 1, 1, 1)
    u = torch.randn(x.shape, generator=gen)
    pixel = (x + t * u / u.norm()).clamp(0, 1)
    z = m.encode(x)
    v = torch.randn(z.shape, generator=gen)
    if code_std is not None:
        v = v * code_std.view(1, -1)
    scale = z.norm() / 12
    latent = m.decode((z + t.view(-1, 1) * scale * v / v.norm()).clamp(min=0))
    rows = []
    for kind, images in (("pixel", pixel), ("latent", latent)):
        off = metrics.mse(m(images), images).sqrt()
        dist = (images - x).flatten(1).norm(dim=1)
        for i, step in enumerate(steps):
            rows.append({"walk": kind, "step": step, "distance to x": float(dist[i]),
                         "RMSE to AE(image)": float(off[i])})
    return {"pixel": pixel, "latent": latent, "rows": rows}


def code_std(m, x: torch.Tensor) -> torch.Tensor:
    """Per-unit standard deviation of the codes of images x: [d]."""
    return batched(m.encode, x).std(0)


def walk_table(m, xs: torch.Tensor, steps=(0, 1, 2, 3, 4, 5, 6), seeds=(0, 1, 2),
               code_std: torch.Tensor | None = None) -> list[dict]:
    """manifold_walks' rows averaged over several start images xs [n,1,28,28] and directions."""
    acc: dict = {}
    for i in range(len(xs)):
        for seed in seeds:
            for r in manifold_walks(m, xs[i:i + 1], steps, seed, code_std)["rows"]:
                key = (r["walk"], r["step"])
                a = acc.setdefault(key, {"walk": r["walk"], "step": r["step"], "distance to x": 0.0,
                                         "RMSE to AE(image)": 0.0})
                a["distance to x"] += r["distance to x"] / (len(xs) * len(seeds))
                a["RMSE to AE(image)"] += r["RMSE to AE(image)"] / (len(xs) * len(seeds))
    return list(acc.values())


def interp_walk(rows: list[dict], walk: str, distance: float) -> float:
    """A walk's RMSE-to-AE(image) at a given pixel distance from x (linear interpolation)."""
    pts = sorted((r["distance to x"], r["RMSE to AE(image)"]) for r in rows if r["walk"] == walk)
    if not pts:
        raise ValueError(f"no rows for walk {walk!r}")
    return float(np.interp(distance, [p[0] for p in pts], [p[1] for p in pts]))


# --- B6: upsampling --------------------------------------------------------------------------

def b6_table(x_test: torch.Tensor, n_free: int = 2000) -> list[dict]:
    """Test MSE per variant (recorded, whole test set), with the MSE of decoding the code alone
    (no encoder indices; on the first `n_free` test images, to keep the chapter fast) beside it."""
    rows = []
    for name in UPSAMPLING:
        m, c = model(name), ckpt(name)
        free = batched(lambda x: m.decode(m.encode(x)), x_test[:n_free])  # window top-lefts
        rows.append({"variant": name, "test MSE": test_mse(name),
                     "reference": reference(f"b6_mse_{name}"),
                     "MSE without indices": float(metrics.mse(free, x_test[:n_free]).mean()),
                     "parameters": sum(p.numel() for p in m.parameters()),
                     "epochs": c["epoch"], "train s": round(c["train_seconds"])})
    return rows


def same_sign_share(kernels: torch.Tensor) -> float:
    """Share of kernels [n,k,k] whose entries all have one sign: a learned upsampling kernel
    that is single-signed paints a uniform patch, i.e. acts like nearest-neighbour upsampling."""
    w = kernels.flatten(1)
    return float(((w > 0).all(1) | (w < 0).all(1)).float().mean())


def histories(names=UPSAMPLING) -> dict:
    return {n: ckpt(n)["history"] for n in names}


# --- index page --------------------------------------------------------------------------------

def summary() -> dict[str, float]:
    """Our value for each B reference key; reads recorded metrics and the cached PCA curve."""
    out = {"b1_pca30_mse": pca_results()["pca30_mse"], "b1_ae_mse": test_mse(B1_AE),
           "b3_mean_act_sparse": float(ckpt("sparse_ae")["metrics"]["mean_act"])}
    for h in (64, 128, 256):
        out[f"b3_mean_act_{h}"] = float(ckpt(f"fc{h}")["metrics"]["mean_act"])
    for name in UPSAMPLING:
        out[f"b6_mse_{name}"] = test_mse(name)
    return out
