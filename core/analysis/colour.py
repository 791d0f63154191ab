"""Part C analyses (C1-C4): denoising metrics, t-SNE of latents, interpolation, epoch snapshots.

Expensive results (test-set outputs, t-SNE) are cached on disk (core.cache), keyed by the
checkpoint's sha256, so a second execution of the chapter only reads small files.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import checkpoints, data, metrics, models
from ..cache import cached
from ..reference import reference
from . import batched, encode

C_MODELS = {name: models.title(name) for name in ("c_ae", "c_ae_dropout", "c_vae")}
# reference key prefix of each model that has reference values (core.reference, C3)
C3_KEYS = {"c_ae": "c3_ae", "c_ae_dropout": "c3_dropout"}
TSNE_POINTS, TSNE_SEED, TSNE_ITER = 1500, 0, 500  # sized for the chapter's cold-run budget
INTERPOLATION_DIGITS = (2, 7)  # the first test image of each; two classes that look different


# --- data and models --------------------------------------------------------------------------

def test_set():
    """(noisy, clean, y) of the coloured noisy test split (core.data.colour)."""
    return data.load_colour_noisy("test")


def available(names=C_MODELS) -> list[str]:
    return [n for n in names if checkpoints.path(n).exists()]


def denoise(model, noisy: torch.Tensor) -> torch.Tensor:
    return batched(model, noisy, batch_size=1000)


# --- C3: SNR and MSE ---------------------------------------------------------------------------

def denoising_metrics(name: str) -> dict:
    """Mean per-image test MSE and SNR (dB) of `name`'s output vs the clean image (cached)."""
    def compute():
        noisy, clean, _ = test_set()
        out = denoise(checkpoints.load(name), noisy)
        return {"mse": float(metrics.mse(out, clean).mean()), "snr": float(metrics.snr(out, clean).mean())}

    return cached(f"c3-metrics-{name}", compute, depends_on=[name])


def noisy_input_metrics() -> dict:
    """The same numbers for the noisy input itself: what 'doing nothing' scores."""
    noisy, clean, _ = test_set()
    return {"mse": float(metrics.mse(noisy, clean).mean()), "snr": float(metrics.snr(noisy, clean).mean())}


def metrics_rows() -> list[dict]:
    """C3 table: one row per trained model (+ the noisy input), with reference values beside."""
    base = noisy_input_metrics()
    rows = [{"model": "noisy input (no model)", "SNR dB": base["snr"], "ref. SNR dB": "",
             "MSE": base["mse"], "ref. MSE": ""}]
    for name in available():
        m, key = denoising_metrics(name), C3_KEYS.get(name)
        rows.append({"model": f"{C_MODELS[name]} (`{name}`)", "SNR dB": m["snr"],
                     "ref. SNR dB": reference(f"{key}_snr") if key else "—",
                     "MSE": m["mse"], "ref. MSE": reference(f"{key}_mse") if key else "—"})
    return rows


def summary() -> dict:
    """Our values for the C3 reference keys (models without a checkpoint are left out)."""
    values = {}
    for name, key in C3_KEYS.items():
        if checkpoints.path(name).exists():
            m = denoising_metrics(name)
            values[f"{key}_snr"], values[f"{key}_mse"] = m["snr"], m["mse"]
    return values


# --- C4: snapshots, t-SNE, interpolation --------------------------------------------------------

def snapshot_rows(name: str, epochs=None) -> dict:
    """{row label: [6,3,28,28]}: noisy input, the output after each (or the chosen) epoch, clean target."""
    from ..models.colour import SNAPSHOT_DIGITS

    ckpt = checkpoints.load_checkpoint(name)
    snaps = ckpt["snapshots"]
    if not snaps:
        raise ValueError(f"checkpoint {name} has no per-epoch snapshots; retrain it with the current code")
    noisy, clean, y = test_set()
    idx = torch.stack([(y == d).nonzero()[0, 0] for d in SNAPSHOT_DIGITS])
    epochs = epochs or range(1, len(snaps) + 1)
    rows = {"noisy": noisy[idx]}
    rows.update({f"epoch {e}": snaps[e - 1] for e in epochs})
    rows["clean"] = clean[idx]
    return rows


def tsne_subset(n: int = TSNE_POINTS, seed: int = TSNE_SEED) -> torch.Tensor:
    """Fixed, seeded indices of the test images embedded by t-SNE."""
    return data.seeded_subset(10_000, n, seed)


def tsne(name: str, dims: int = 2, n: int = TSNE_POINTS, seed: int = TSNE_SEED) -> dict:
    """t-SNE of `name`'s latent codes (VAE: means) of a fixed test subset: {"embedding", "labels"}."""
    def compute():
        from sklearn.manifold import TSNE

        noisy, _, y = test_set()
        idx = tsne_subset(n, seed)
        z = encode(checkpoints.load(name), noisy[idx]).numpy()
        emb = TSNE(n_components=dims, perplexity=30, init="pca", max_iter=TSNE_ITER,
                   random_state=seed).fit_transform(z)
        return {"embedding": torch.tensor(emb, dtype=torch.float32), "labels": y[idx]}

    return cached(f"c4-tsne{dims}d-{name}", compute, depends_on=[name],
                  params={"n": n, "seed": seed, "iter": TSNE_ITER})


def interpolation(names=None, digits=INTERPOLATION_DIGITS, steps: int = 9) -> dict:
    """{row label: [steps,3,28,28]}: decoded linear interpolations between the codes of the first
    test images of two digits, per model, and a plain pixel cross-fade of the clean images."""
    noisy, clean, y = test_set()
    ia, ib = (int((y == d).nonzero()[0, 0]) for d in digits)
    t = torch.linspace(0, 1, steps)[:, None]
    rows = {}
    for name in names or available():
        model = checkpoints.load(name)
        with torch.inference_mode():
            za, zb = model.encode(noisy[[ia, ib]])  # [2, 64]
            rows[name] = model.decode((1 - t) * za + t * zb)
    rows["pixel fade"] = (1 - t[:, :, None, None]) * clean[ia] + t[:, :, None, None] * clean[ib]
    return rows


def epoch_rows(names=None) -> dict:
    """Noisy input, each model's output after its first and last epoch, clean target: {label: [6,...]}."""
    rows = {}
    for name in names or available():
        r = snapshot_rows(name)
        if not rows:
            rows["noisy"] = r["noisy"]
        epochs = [k for k in r if k.startswith("epoch")]
        for k in (epochs[0], epochs[-1]):
            rows[f"{name}, {k}"] = r[k]
        clean = r["clean"]
    rows["clean"] = clean
    return rows


def histories(names=None) -> dict:
    """{model title: training history} for the curves of C2."""
    return {C_MODELS[n]: checkpoints.load_checkpoint(n)["history"] for n in names or available()}


def neighbour_purity(embedding, labels, k: int = 10) -> dict[int, float]:
    """Per digit: the mean share (%) of each point's k nearest neighbours in the embedding that
    have its digit (sklearn NearestNeighbors). 10 % is what a random layout gives."""
    from sklearn.neighbors import NearestNeighbors

    emb, y = np.asarray(embedding), np.asarray(labels)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(emb).kneighbors(emb)
    same = (y[idx[:, 1:]] == y[:, None]).mean(1)  # column 0 is the point itself
    return {int(d): float(100 * same[y == d].mean()) for d in np.unique(y)}


def tsne_all(dims: int = 2, names=None) -> dict:
    """{model title: (embedding, labels)} of every trained C model."""
    out = {}
    for name in names or available():
        t = tsne(name, dims)
        out[C_MODELS[name]] = (t["embedding"], t["labels"])
    return out
