"""Part D analyses: the MLP VAE's latent space (D1) and a 10-component GMM on latents (D2).

The GMM is fitted on the latent means of a fixed, seeded subset of the training set; each cluster
is mapped to one digit by the Hungarian assignment that maximises agreement on those training
points, and the mapped predictions are scored on the whole test set. Results are cached on disk
keyed by the checkpoint's sha256 (core.cache).
"""
from __future__ import annotations

import numpy as np
import torch

from core import data, models
from core.analysis import encode
from core.cache import cached
from core.models import checkpoints

N_COMPONENTS = 10
GMM_SEED = 0
FIT_POINTS = 20_000  # training images whose latents the GMM is fitted on
LATENT_MODELS = {name: models.title(name) for name in ("mlp_vae", "vae16")}


def hungarian_mapping(clusters, labels, k: int = N_COMPONENTS) -> np.ndarray:
    """mapping[c] = the digit assigned to cluster c: the one-to-one assignment maximising the
    number of points whose cluster maps to their label (scipy's linear_sum_assignment)."""
    from scipy.optimize import linear_sum_assignment

    clusters, labels = np.asarray(clusters), np.asarray(labels)
    if clusters.shape != labels.shape:
        raise ValueError(f"clusters {clusters.shape} and labels {labels.shape} differ in shape")
    counts = np.zeros((k, k), dtype=np.int64)  # counts[cluster, digit]
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    mapping = np.empty(k, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def scores(predicted, labels) -> dict:
    """Accuracy and macro precision/recall/F1 in % (sklearn.metrics), and per-digit rows."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    predicted, labels = np.asarray(predicted), np.asarray(labels)
    p, r, f, support = precision_recall_fscore_support(labels, predicted, labels=range(10), zero_division=0)
    macro = precision_recall_fscore_support(labels, predicted, average="macro", zero_division=0)
    pct = lambda v: float(100 * v)  # plain floats: the cache is read with weights_only=True
    return {"accuracy": pct(accuracy_score(labels, predicted)), "precision": pct(macro[0]),
            "recall": pct(macro[1]), "f1": pct(macro[2]),
            "per_digit": [{"digit": d, "precision %": pct(p[d]), "recall %": pct(r[d]),
                           "F1 %": pct(f[d]), "test images": int(support[d])} for d in range(10)]}


def fit_gmm(z_fit, labels_fit, seed: int = GMM_SEED):
    """GaussianMixture (full covariances) on z_fit and its Hungarian cluster -> digit mapping."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(N_COMPONENTS, covariance_type="full", n_init=2, random_state=seed)
    gmm.fit(np.asarray(z_fit, dtype=np.float64))
    return gmm, hungarian_mapping(gmm.predict(np.asarray(z_fit, dtype=np.float64)), labels_fit)


def fit_subset(n: int = FIT_POINTS, seed: int = GMM_SEED) -> torch.Tensor:
    return data.seeded_subset(60_000, n, seed)


def gmm_on(name: str) -> dict:
    """The D2 result for model `name` (cached): GMM parameters, mapping, test latents/clusters/scores."""
    def compute():
        model = checkpoints.load(name)
        x_tr, y_tr = data.load_mnist("train")
        x_te, y_te = data.load_mnist("test")
        idx = fit_subset()
        z_fit, z_test = encode(model, x_tr[idx]), encode(model, x_te)
        gmm, mapping = fit_gmm(z_fit.numpy(), y_tr[idx].numpy())
        clusters = gmm.predict(z_test.double().numpy())
        s = scores(mapping[clusters], y_te.numpy())
        return {"means": torch.tensor(gmm.means_), "covariances": torch.tensor(gmm.covariances_),
                "weights": torch.tensor(gmm.weights_), "mapping": torch.tensor(mapping),
                "test_latents": z_test, "test_labels": y_te, "test_clusters": torch.tensor(clusters),
                "accuracy": s["accuracy"], "precision": s["precision"], "recall": s["recall"],
                "f1": s["f1"], "per_digit": s["per_digit"]}

    params = {"k": N_COMPONENTS, "seed": GMM_SEED, "fit": FIT_POINTS, "v": 1}
    return cached(f"d2-gmm-{name}", compute, depends_on=[name], params=params)


def gmm_if_available(name: str) -> dict | None:
    """gmm_on(name), or None while checkpoints/<name>.pt does not exist (e.g. vae16 not trained yet)."""
    return gmm_on(name) if checkpoints.path(name).exists() else None


def where_digit_goes(result: dict, digit: int, top: int = 2) -> list[tuple[int, float]]:
    """The `top` digits whose components take most of `digit`'s test images, with the share (%)
    of its images each one takes: [(named digit, %), ...], largest first."""
    labels = np.asarray(result["test_labels"])
    named = np.asarray(result["mapping"])[np.asarray(result["test_clusters"])][labels == digit]
    counts = np.bincount(named, minlength=N_COMPONENTS)
    order = np.argsort(-counts, kind="stable")[:top]
    return [(int(d), float(100 * counts[d] / max(len(named), 1))) for d in order]


def components_per_digit(result: dict) -> dict[int, int]:
    """How many mixture components have each digit as the majority of their test points."""
    labels, clusters = np.asarray(result["test_labels"]), np.asarray(result["test_clusters"])
    counts = {d: 0 for d in range(N_COMPONENTS)}
    for c in np.unique(clusters):
        counts[int(np.bincount(labels[clusters == c], minlength=N_COMPONENTS).argmax())] += 1
    return counts


def score_rows(results: dict) -> list[dict]:
    """D2 table: one row per latent space ({name: gmm_on result or None})."""
    rows = []
    for name, r in results.items():
        label = f"{LATENT_MODELS.get(name, name)} (`{name}`)"
        if r is None:
            rows.append({"latent space": label, "accuracy %": f"not available: checkpoints/{name}.pt "
                         f"is missing (train it with `{checkpoints.train_command(name)}`)"})
            continue
        rows.append({"latent space": label, "dims": int(r["test_latents"].shape[1]),
                     "accuracy %": r["accuracy"], "precision %": r["precision"],
                     "recall %": r["recall"], "F1 %": r["f1"]})
    return rows


# --- D1 views -----------------------------------------------------------------------------------

def prior_samples(model, n: int = 20, seed: int = 0) -> torch.Tensor:
    """Decoded draws z ~ N(0, I) from the prior: [n,1,28,28]."""
    z = torch.randn(n, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        return model.decode(z)
