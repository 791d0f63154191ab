"""Seed spread: is a difference the model, or the luck of one training run?

The spec AE, the A4 classifier and the 16-D VAE are shipped with two extra seeds each
(`core.models.EXTRA_SEEDS`: registry entries `<base>_seed10`, `<base>_seed20`, same configs). The
base checkpoint stays the seed of record: every figure uses it. This module reruns the A3/A4
measurements on every seed (cached per checkpoint hash, like the base ones) and gives the A8
scoreboard a way to do the same for the assignment's denoisers:

    from core.analysis import seeds
    rows = seeds.over_seeds(lambda den: my_rows(den), keys=("method", "level"))

`over_seeds` builds one `core.denoising.denoise.Denoisers` per seed (spec AE seed i with 16-D VAE seed i),
calls the function with it, and returns one row per key with `<value>_mean`, `<value>_sd` and
`<value>_seeds` (the per-seed values, seed of record first).
"""
from __future__ import annotations

import math

import numpy as np

from core.models import EXTRA_SEEDS, checkpoints, seed_family

AE, CLASSIFIER, VAE = "spec_ae", "spec_classifier", "vae16"
# A gap to the reference counts as "within seed spread" when it is at most this many standard
# deviations of our seeds (with 3 seeds the sd is itself uncertain: a factor ~2 either way).
WITHIN_SDS = 2.0


def available(base: str, directory=None) -> list[str]:
    """The names of `base`'s seed family that have a checkpoint, seed of record first."""
    return [n for n in seed_family(base) if checkpoints.path(n, directory).exists()]


def missing(base: str, directory=None) -> list[str]:
    return [n for n in seed_family(base) if not checkpoints.path(n, directory).exists()]


def seed_of(name: str) -> int:
    """The seed a checkpoint was actually trained with (after any collapse retries)."""
    return int(checkpoints.manifest().get(name, {}).get("seed", checkpoints.load_checkpoint(name)["seed"]))


def precision_of(name: str) -> str:
    """"bf16-autocast" or "fp32" as recorded by the engine; checkpoints from before the engine
    recorded it were trained on a CPU without native bf16, where the engine trains in fp32."""
    return checkpoints.manifest().get(name, {}).get("precision") or "fp32 (not recorded; no native bf16 then)"


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN for a single value) along axis 0."""
    v = np.asarray(values, dtype=float)
    sd = v.std(axis=0, ddof=1) if len(v) > 1 else np.full(v.shape[1:], np.nan)
    return v.mean(axis=0), sd


def knn_spread(base: str = AE) -> dict:
    """A3 on every seed: per-digit latent 1-NN accuracy [seeds, 10] (%), their mean and sd, the
    mean-of-digits and overall accuracy per seed."""
    from core.analysis import latent as L

    names = available(base)
    runs = [L.latent_knn(n) for n in names]
    per_digit = np.stack([r["per_digit"] for r in runs])
    mean, sd = mean_sd(per_digit)
    return {"names": names, "per_digit": per_digit, "mean": mean, "sd": sd,
            "digit_mean": np.array([r["mean"] for r in runs]), "overall": np.array([r["overall"] for r in runs])}


def classifier_spread(base: str = CLASSIFIER) -> dict:
    """A4 on every seed: test accuracy (%) per seed, mean and sd."""
    from core.analysis import latent as L

    names = available(base)
    acc = np.array([L.classifier_results(n)["accuracy"] for n in names])
    mean, sd = mean_sd(acc)
    return {"names": names, "accuracy": acc, "mean": float(mean), "sd": float(sd)}


def gap_to_reference(values, reference) -> dict:
    """Per quantity: our mean over seeds minus the reference, that gap in units of our seeds' sd,
    and whether it is within WITHIN_SDS sd ("within seed spread") or the reference lies inside the
    range of our seeds. values: [seeds, k]; reference: [k]."""
    v, ref = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    mean, sd = mean_sd(v)
    gap = mean - ref
    in_sds = np.where(sd > 0, np.abs(gap) / np.where(sd > 0, sd, 1), np.inf)
    inside = (v.min(0) <= ref) & (ref <= v.max(0))
    return {"gap": gap, "in_sds": in_sds, "within": (in_sds <= WITHIN_SDS) | inside, "inside_range": inside}


def knn_rows(spread: dict, reference) -> list[dict]:
    """A3 table over seeds: per digit the reference, our seed of record, mean ± sd, min-max and
    the gap in sd."""
    gap = gap_to_reference(spread["per_digit"], reference)
    measured = len(spread["per_digit"]) > 1  # one seed has no spread to compare with
    rows = []
    for d in range(spread["per_digit"].shape[1]):
        col = spread["per_digit"][:, d]
        rows.append({"digit": str(d), "reference": float(reference[d]), "seed of record": float(col[0]),
                     f"mean ± sd ({len(col)} seeds)": pm(spread["mean"][d], spread["sd"][d]),
                     "min-max": f"{col.min():.1f}-{col.max():.1f}",
                     "gap / sd": f"{gap['in_sds'][d]:.1f}" if measured else "n/a",
                     "within spread": ("yes" if gap["within"][d] else "no") if measured else "n/a (one seed)"})
    return rows


def pm(mean: float, sd: float, digits: int = 1) -> str:
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{mean:.{digits}f}"


# --- the A8 denoisers per seed (for the scoreboard) ----------------------------------------------

def denoiser_pairs(directory=None) -> list[tuple[str, str]]:
    """(spec AE, 16-D VAE) checkpoint names per seed index, seed of record first; only pairs whose
    two checkpoints both exist."""
    pairs = zip(seed_family(AE), seed_family(VAE))
    return [(a, v) for a, v in pairs
            if checkpoints.path(a, directory).exists() and checkpoints.path(v, directory).exists()]


def denoisers(ae: str, vae: str, directory=None):
    """A `core.denoising.denoise.Denoisers` on a given pair of checkpoints (MAP keeps the validated defaults
    chosen for the seed of record: the other seeds are not re-tuned)."""
    from core.denoising.denoise import Denoisers, MapDefaults

    return Denoisers(checkpoints.load(ae, directory), checkpoints.load(vae, directory),
                     defaults=MapDefaults.read(directory))


def over_seeds(fn, keys=("method", "level"), directory=None) -> list[dict]:
    """fn(den) -> list of row dicts, run once per seed pair (`denoiser_pairs`). Rows are grouped by
    `keys`; every other numeric field becomes `<field>_mean`, `<field>_sd` (ddof 1) and
    `<field>_seeds` (per-seed values, seed of record first). `seeds` lists the pairs used."""
    pairs = denoiser_pairs(directory)
    if not pairs:
        raise checkpoints.CheckpointError(f"no (spec AE, 16-D VAE) checkpoint pair found; train them with "
                                          f"`python -m core.training {' '.join(seed_family(AE) + seed_family(VAE))}`")
    per_seed = [fn(denoisers(a, v, directory)) for a, v in pairs]
    return aggregate(per_seed, keys, [f"{a}+{v}" for a, v in pairs])


def aggregate(per_seed: list[list[dict]], keys=("method", "level"), labels=None) -> list[dict]:
    """Rows of several runs (one list per seed) merged per `keys` into mean/sd/per-seed values."""
    groups: dict[tuple, list[dict]] = {}
    for rows in per_seed:
        for row in rows:
            groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, rows in groups.items():
        merged = dict(zip(keys, key))
        fields = [f for f in rows[0] if f not in keys and isinstance(rows[0][f], (int, float))]
        for f in fields:
            vals = [float(r[f]) for r in rows]
            mean, sd = mean_sd(vals)
            merged.update({f"{f}_mean": float(mean), f"{f}_sd": float(sd), f"{f}_seeds": vals})
        merged["seeds"] = list(labels or range(len(rows)))[:len(rows)]
        out.append(merged)
    return out


def manifest_rows(bases=tuple(EXTRA_SEEDS)) -> list[dict]:
    """One row per shipped seed: model, seed actually used, precision, headline test metric."""
    entries = checkpoints.manifest()
    rows = []
    for base in bases:
        for i, name in enumerate(seed_family(base)):
            e = entries.get(name)
            rows.append({"model": name, "role": "seed of record" if i == 0 else "extra seed",
                         "seed": e["seed"] if e else "not trained", "retries": len(e["attempts"]) if e else "",
                         "precision": precision_of(name) if e else "",
                         "test metric": f"{e['metric_name']} {e['metrics'][e['metric_name']]:.5g}" if e else ""})
    return rows


# --- sentences for the A3/A4 text (computed, so they follow the weights) -------------------------

def _seed_list(names: list[str]) -> str:
    return ", ".join(f"{n} (seed {seed_of(n)}, {precision_of(n)})" for n in names)


def knn_spread_text(spread: dict, reference) -> str:
    """What A3's seed spread says, in words: how many digits' gaps to the reference are within it."""
    names = spread["names"]
    if len(names) < 2:
        return (f"Only the seed of record is trained so far (missing: {', '.join(missing(AE))}; "
                f"python -m core.training {' '.join(missing(AE))}), so the spread is not measured yet.")
    gap = gap_to_reference(spread["per_digit"], reference)
    within = [d for d in range(len(reference)) if gap["within"][d]]
    outside = [d for d in range(len(reference)) if not gap["within"][d]]
    dm_mean, dm_sd = mean_sd(spread["digit_mean"])
    text = (f"Over {len(names)} seeds ({_seed_list(names)}) the mean over digits is "
            f"{pm(dm_mean, dm_sd)} % (reference {float(np.mean(reference)):.1f} %), and a single digit's "
            f"accuracy moves by up to {float(np.max(spread['per_digit'].max(0) - spread['per_digit'].min(0))):.1f} "
            f"points from one seed to another (sd {float(np.min(spread['sd'])):.1f} to {float(np.max(spread['sd'])):.1f}). ")
    if not outside:
        return text + ("Every digit's gap to the reference is within that spread: the per-digit "
                       "differences are what another training run gives, not a different model.")
    return text + (f"The reference is within that spread for digit{'s' if len(within) != 1 else ''} "
                   f"{', '.join(map(str, within)) or 'none'}; for {', '.join(map(str, outside))} the gap is "
                   f"larger than a change of seed makes here, so it comes from the model or its training "
                   f"(the reference's architecture and run are not known), not from chance.")


def classifier_spread_text(spread: dict, reference: float) -> str:
    names = spread["names"]
    if len(names) < 2:
        return (f"Only the seed of record is trained so far (missing: {', '.join(missing(CLASSIFIER))}), "
                "so the seed spread is not measured yet.")
    lo, hi = float(spread["accuracy"].min()), float(spread["accuracy"].max())
    return (f"Over {len(names)} seeds ({_seed_list(names)}) the test accuracy is "
            f"{pm(spread['mean'], spread['sd'], 2)} % (range {lo:.2f}-{hi:.2f} %): the gap of "
            f"{spread['mean'] - reference:.2f} points to the reference is "
            f"{'well beyond' if abs(spread['mean'] - reference) > 3 * spread['sd'] else 'within'} the seed spread.")
