"""Part C analyses (C1-C4): denoising metrics, t-SNE of latents, interpolation, epoch snapshots.

Expensive results (test-set outputs, t-SNE) are cached on disk (core.cache), keyed by the
checkpoint's sha256, so a second execution of the chapter only reads small files; the slowest
(t-SNE, C3's scores) also ship in results/cache/ (`python -m core.analysis.colour --ship`), so a
fresh clone reads them too.
"""
from __future__ import annotations

import numpy as np
import torch

from core import data, metrics, models, paths
from core.analysis import batched, encode
from core.analysis.reference import reference
from core.cache import cached, may_ship, ship
from core.data.colour import NOISE_SEED
from core.data.corruptions import DEFAULT_NOISE_LEVEL as NOISE_LEVEL
from core.models import checkpoints

C_MODELS = {name: models.title(name) for name in ("c_ae", "c_ae_dropout", "c_vae")}
# reference key prefix of each model that has reference values (core.analysis.reference, C3)
C3_KEYS = {"c_ae": "c3_ae", "c_ae_dropout": "c3_dropout"}
TSNE_SEED, TSNE_ITER = 0, 500  # t-SNE embeds every test image (openTSNE; FFT gradients in 2-D)
# C3 at several noise levels: the reference does not state its level. The models are trained at
# NOISE_LEVEL (0.5, the project's default) and evaluated on the same clean test images at each.
C3_LEVELS = (0.1, 0.2, 0.3, 0.5)
INTERPOLATION_DIGITS = (2, 7)  # the first test image of each; two classes that look different


# --- data and models --------------------------------------------------------------------------

def test_set():
    """(noisy, clean, y) of the coloured noisy test split (core.data.colour)."""
    return data.load_colour_noisy("test")


def available(names=C_MODELS) -> list[str]:
    return [n for n in names if checkpoints.path(n).exists()]


def denoise(model, noisy: torch.Tensor) -> torch.Tensor:
    return batched(model, noisy, batch_size=1000)


# --- C3: SNR and MSE at several noise levels ------------------------------------------------------

def noisy_at(level: float) -> torch.Tensor:
    """The clean test images with noise of `level` (the test split's noise seed: at NOISE_LEVEL
    this is exactly the test split's noisy input)."""
    return data.add_noise(test_set()[1], level, seed=NOISE_SEED["test"])


def _scores(out: torch.Tensor, clean: torch.Tensor) -> dict:
    return {"mse": float(metrics.mse(out, clean).mean()), "snr": float(metrics.snr(out, clean).mean())}


def _c3_job(name: str) -> dict:
    """The arguments of `core.cache.cached` for C3's scores of one model: shared by
    `denoising_metrics` and `ship_results`."""
    def compute():
        model, clean = checkpoints.load(name), test_set()[1]
        return {str(lv): _scores(denoise(model, noisy_at(lv)), clean) for lv in C3_LEVELS}

    return dict(tag=f"c3-levels-{name}", compute=compute, depends_on=[name], params={"levels": C3_LEVELS})


def denoising_metrics(name: str, level: float | None = None) -> dict:
    """Mean per-image test MSE and SNR (dB) of `name`'s output vs the clean image, on inputs at
    noise `level` (default: the training level). All C3 levels are computed and cached together,
    and read from the committed copy `ship_results` makes while the weights are those it used."""
    level = NOISE_LEVEL if level is None else level
    if level not in C3_LEVELS:
        raise ValueError(f"noise level {level} is not one of C3's {C3_LEVELS}")
    return cached(**_c3_job(name), shipped=True)[str(level)]


def noisy_input_metrics(level: float | None = None) -> dict:
    """The same numbers for the noisy input itself: what 'doing nothing' scores."""
    return _scores(noisy_at(NOISE_LEVEL if level is None else level), test_set()[1])


def matches_reference(name: str, level: float) -> bool | None:
    """Whether `name` matches or beats its C3 reference at `level` (SNR at least, MSE at most the
    reference's); None for a model without reference values."""
    key = C3_KEYS.get(name)
    if key is None:
        return None
    m = denoising_metrics(name, level)
    return m["snr"] >= reference(f"{key}_snr") and m["mse"] <= reference(f"{key}_mse")


def matching_levels(name: str) -> list[float]:
    """The C3 noise levels at which `name` matches or beats its reference values."""
    return [lv for lv in C3_LEVELS if matches_reference(name, lv)]


def summary_level() -> float:
    """The noise level of the index's C3 comparison: the highest level at which every model with
    reference values matches or beats them (the reference does not state its level); if there is
    none, the training level."""
    names = [n for n in C3_KEYS if checkpoints.path(n).exists()]
    common = [lv for lv in C3_LEVELS if names and all(matches_reference(n, lv) for n in names)]
    return max(common) if common else NOISE_LEVEL


def metrics_rows() -> list[dict]:
    """C3 table: per noise level, the noisy input's own scores, then one row per trained model,
    with reference values beside and whether the model matches or beats them."""
    rows = []
    for level in C3_LEVELS:
        base = noisy_input_metrics(level)
        rows.append({"noise": level, "model": "noisy input (no model)", "SNR dB": base["snr"], "ref. SNR dB": "",
                     "MSE": base["mse"], "ref. MSE": "", "matches ref.": ""})
        for name in available():
            m, key = denoising_metrics(name, level), C3_KEYS.get(name)
            ok = matches_reference(name, level)
            rows.append({"noise": level, "model": f"{C_MODELS[name]} (`{name}`)", "SNR dB": m["snr"],
                         "ref. SNR dB": reference(f"{key}_snr") if key else "—",
                         "MSE": m["mse"], "ref. MSE": reference(f"{key}_mse") if key else "—",
                         "matches ref.": "—" if ok is None else ("yes" if ok else "no")})
    return rows


def summary() -> dict:
    """Our values for the C3 reference keys at `summary_level()` (models without a checkpoint
    are left out)."""
    values, level = {}, summary_level()
    for name, key in C3_KEYS.items():
        if checkpoints.path(name).exists():
            m = denoising_metrics(name, level)
            values[f"{key}_snr"], values[f"{key}_mse"] = m["snr"], m["mse"]
    return values


def summary_notes() -> dict:
    """{reference key: under which condition our value was measured}, for the index table."""
    level = summary_level()
    note = f"ours at input noise {level:g} (the reference does not state its level; trained at {NOISE_LEVEL:g})"
    return {f"{key}_{m}": note for key in C3_KEYS.values() for m in ("snr", "mse")}


# --- C4: snapshots, t-SNE, interpolation --------------------------------------------------------

def snapshot_rows(name: str, epochs=None) -> dict:
    """{row label: [6,3,28,28]}: noisy input, the output after each (or the chosen) epoch, clean target."""
    from core.models.colour import SNAPSHOT_DIGITS

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


def tsne_embedding(z: np.ndarray, dims: int = 2, seed: int = TSNE_SEED, n_iter: int = TSNE_ITER) -> np.ndarray:
    """openTSNE (perplexity 30, PCA initialisation): FFT-interpolated gradients in 2-D, which make
    10,000 points take seconds; Barnes-Hut in 3-D, where the FFT method does not apply."""
    from openTSNE import TSNE

    method = "fft" if dims <= 2 else "bh"
    return np.asarray(TSNE(n_components=dims, perplexity=30, initialization="pca", n_iter=n_iter,
                           negative_gradient_method=method, random_state=seed, n_jobs=1,
                           verbose=False).fit(np.ascontiguousarray(z, dtype=np.float64)))


def _tsne_job(name: str, dims: int, seed: int) -> dict:
    """The arguments of `core.cache.cached` for one t-SNE: shared by `tsne` and `ship_results`."""
    def compute():
        noisy, _, y = test_set()
        z = encode(checkpoints.load(name), noisy).numpy()
        return {"embedding": torch.tensor(tsne_embedding(z, dims, seed), dtype=torch.float32), "labels": y}

    return dict(tag=f"c4-tsne{dims}d-{name}", compute=compute, depends_on=[name],
                params={"n": "all", "seed": seed, "iter": TSNE_ITER, "impl": "openTSNE"})


def tsne(name: str, dims: int = 2, seed: int = TSNE_SEED) -> dict:
    """t-SNE of `name`'s latent codes (VAE: means) of every test image: {"embedding", "labels"}.
    Read from the committed copy made by `ship_results` while the weights are those it was made from
    (2-D for every C model, 3-D for c_ae: minutes of CPU, more than a chapter's time budget)."""
    return cached(**_tsne_job(name, dims, seed), shipped=True)


SHIPPED_TSNE = [(name, 2) for name in C_MODELS] + [("c_ae", 3)]  # what chapter C shows


def shipped_jobs() -> list[dict]:
    """Chapter C's results too slow for its time budget: the t-SNE embeddings (minutes) and C3's
    scores at four noise levels (over a minute)."""
    return ([_tsne_job(name, dims, TSNE_SEED) for name, dims in SHIPPED_TSNE]
            + [_c3_job(name) for name in C_MODELS])


def ship_results() -> list:
    """Compute those results for the current weights into results/cache/
    (`python -m core.analysis.colour --ship`; `make train` runs it). Returns the paths."""
    return [ship(**job) for job in shipped_jobs()]


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


# --- computed facts behind the chapter's sentences ----------------------------------------------

def stroke_saturation(images: torch.Tensor, threshold: float = 0.3) -> float:
    """Mean HSV saturation (max - min) / max over the stroke pixels (brightest channel above
    `threshold`) of [N,3,H,W] images: 1 for the clean digits' pure hues, 0 for grey."""
    hi, lo = images.float().amax(1), images.float().amin(1)
    stroke = hi > threshold
    return float(((hi - lo) / hi.clamp_min(1e-6))[stroke].mean()) if stroke.any() else float("nan")


def snapshot_snr(name: str) -> dict:
    """SNR (dB) of the stored per-epoch outputs of the snapshot images against their clean
    versions: {"noisy": the inputs' own SNR, "epochs": [one value per epoch]}."""
    rows = snapshot_rows(name)
    clean = rows["clean"]
    epochs = [float(metrics.snr(v, clean).mean()) for k, v in rows.items() if k.startswith("epoch")]
    return {"noisy": float(metrics.snr(rows["noisy"], clean).mean()), "epochs": epochs}


def read_as_digits(images: torch.Tensor) -> list[int]:
    """What the A4 classifier (`spec_classifier`, grey MNIST) reads in coloured images, given
    their brightest channel (the grey digit, for a saturated full-brightness hue)."""
    model = checkpoints.load("spec_classifier")
    with torch.inference_mode():
        return model(images.float().amax(1, keepdim=True)).argmax(1).tolist()


def final_curves(name: str) -> dict:
    """Last-epoch train and validation (else test) MSE of `name`'s history."""
    h = checkpoints.load_checkpoint(name)["history"]
    split = "val" if h.get("val") else "test"
    return {"train": h["train"]["mse"][-1], "held_out": h[split]["mse"][-1], "split": split}


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Part C analyses.")
    parser.add_argument("--ship", action="store_true",
                        help="compute chapter C's t-SNE embeddings and C3 scores for the current weights into results/cache/")
    args = parser.parse_args(argv)
    if not args.ship:
        parser.error("nothing to do: pass --ship")
    if not may_ship("chapter C's results"):   # weights trained elsewhere are not the ones the report shows
        return
    for target in ship_results():
        print(target.relative_to(paths.PROJECT_ROOT))


if __name__ == "__main__":
    main()
