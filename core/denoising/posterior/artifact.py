"""results/posterior.json: the validation study, the test measurement and the misspecification
AUROCs, keyed by the sha256 of the weights and settings it used (stale ones are refused).

    python -m core.denoising.posterior --write      # validation study, then the test run (~30 min, 2 jobs)
    python -m core.denoising.posterior --show       # the shipped artifact's table (refused if stale)
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from core import paths
from core.denoising.posterior import claims, evaluate, study
from core.denoising.posterior.diagnostics import auroc

ARTIFACT = paths.PROJECT_ROOT / "results" / "posterior.json"
COMMAND = "python -m core.denoising.posterior --write"
LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
TEST_N = 1000
OOD_LEVELS, OOD_N = (0.3, 0.5), 200
DIGIT_SHIFTS = ("rotate", "shift", "thin", "thick")   # the scoreboard's transformed test digits
NON_DIGITS = ("letters", "patches")
TASK_N = 250          # images per worker task (a multiple of evaluate.CHUNK)


def fingerprint() -> dict:
    """Every input the artifact depends on: the VAE, the judges, MAP's defaults, this code's grid."""
    from core.denoising.defaults import MapDefaults
    from core.denoising.denoise import VAE_NAME
    from core.models import checkpoints

    out = {name: checkpoints.sha256(checkpoints.path(name)) for name in (VAE_NAME, *evaluate.judges())}
    out["checkpoints/denoise_defaults.json"] = checkpoints.sha256(MapDefaults.path())
    out["grid"] = "; ".join(study.label(s) for s in study.GRID)
    return out


def load_artifact(target=None, check: bool = True) -> dict:
    """The shipped measurement; a StaleArtifact error naming COMMAND if it is missing or any
    input differs from what it was computed with (check=False: read it anyway)."""
    from core.denoising.scoreboard import StaleArtifact, refuse_stale

    target = Path(target or ARTIFACT)
    if not target.exists():
        raise StaleArtifact(f"{target} is missing: compute it with `{COMMAND}`")
    artifact = json.loads(target.read_text())
    if check:
        refuse_stale(artifact["fingerprint"], fingerprint, target, COMMAND)
    return artifact


# --- worker processes (one thread each) -------------------------------------------------------------

_WORKER: dict = {}


def _init_worker():
    from core.denoising.denoise import Denoisers

    torch.set_num_threads(1)
    _WORKER["den"] = Denoisers.load()


def _images(condition: str, n: int):
    from core.denoising.posterior import nondigits
    from core.denoising.scoreboard import test_digits

    if condition in NON_DIGITS:
        return nondigits.SETS[condition](n), torch.full((n,), -1)
    return test_digits(n, condition)


def _study_task(level):
    return study.run(_WORKER["den"], levels=(level,), progress=False)


def _eval_task(task):
    condition, level, start, stop, settings, quantiles = task
    clean, labels = _images(condition, stop)
    per = evaluate.measure(_WORKER["den"], clean[start:], labels[start:], level, settings,
                           claims.ModelError(torch.tensor(quantiles)))
    return condition, level, start, per


def _pool(jobs: int):
    import importlib
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    module = importlib.import_module("core.denoising.posterior.artifact")
    return module, ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=module._init_worker)


def write(jobs: int = 2, test_n: int = TEST_N, ood_n: int = OOD_N, target=None) -> dict:
    """The validation study and choice, the model error, then every test measurement -> ARTIFACT."""
    from tqdm.auto import tqdm

    from core.denoising.denoise import Denoisers

    t0 = time.perf_counter()
    torch.set_num_threads(1)
    fp = fingerprint()  # before the run: an input changed meanwhile then shows as stale
    module, pool = _pool(jobs)
    with pool:
        parts = list(tqdm(pool.map(module._study_task, study.LEVELS), total=len(study.LEVELS), desc="validation"))
        val = {**parts[0], "rows": [r for p in parts for r in p["rows"]], "levels": list(study.LEVELS)}
        cal = [p.get("calibration_ece") for p in parts if p.get("calibration_ece")]
        val["calibration_ece"] = {k: sum(c[k] for c in cal) / len(cal) for k in cal[0]} if cal else {}
        choice = study.choose(val)
        settings = study.settings_of(choice)
        error = claims.ModelError.fit(Denoisers.load())
        q = error.quantiles.tolist()
        tasks = [("clean", lv, a, min(a + TASK_N, test_n), settings, q) for lv in LEVELS for a in range(0, test_n, TASK_N)]
        tasks += [(c, lv, a, min(a + TASK_N, ood_n), settings, q) for c in ("clean", *DIGIT_SHIFTS, *NON_DIGITS)
                  for lv in OOD_LEVELS for a in range(0, ood_n, TASK_N) if c != "clean"]
        results = list(tqdm(pool.map(module._eval_task, tasks), total=len(tasks), desc="test"))
    merged: dict = {}
    for condition, level, start, per in sorted(results, key=lambda r: (r[0], r[1], r[2])):
        merged.setdefault((condition, level), []).append(per)
    per_set = {key: {k: torch.cat([p[k] for p in ps]) for k in ps[0]} for key, ps in merged.items()}
    names = evaluate.judges()
    rows = [evaluate.summary(per, lv, c, names) for (c, lv), per in per_set.items() if c not in NON_DIGITS]
    rows += [{"method": "posterior_mean", "condition": c, "level": lv, "n": len(per["misfit"]),
              "ms_per_image": 1000 * float(per["seconds"].mean())} for (c, lv), per in per_set.items() if c in NON_DIGITS]
    misfits = {f"{c}|{lv}": [round(v, 3) for v in per["misfit"].tolist()] for (c, lv), per in per_set.items()}
    aurocs = [{"set": c, "level": lv, "n": len(per_set[(c, lv)]["misfit"]), "n_digits": ood_n,
               "auroc": auroc(per_set[("clean", lv)]["misfit"][:ood_n], per_set[(c, lv)]["misfit"])}
              for c in (*DIGIT_SHIFTS, *NON_DIGITS) for lv in OOD_LEVELS]
    per_image = {f"clean|{lv}": {k: [round(v, 4) for v in per_set[("clean", lv)][k].tolist()]
                                 for k in (f"conf_{kind}_{j}" for kind in ("posterior", "vote", "input") for j in names)}
                 for lv in LEVELS}
    per_image.update({f"clean|{lv}|bits": {k: "".join("1" if v else "0" for v in per_set[("clean", lv)][k].tolist())
                                           for k in (f"right_{kind}_{j}" for kind in ("posterior", "vote", "input")
                                                     for j in names)} for lv in LEVELS})
    artifact = {"fingerprint": fp, "command": COMMAND,
                "params": {"levels": LEVELS, "n": test_n, "ood_levels": OOD_LEVELS, "ood_n": ood_n,
                           "chunk": evaluate.CHUNK, "draws": evaluate.DRAWS, "interval_level": evaluate.LEVEL,
                           "bins": evaluate.BINS, "judges": list(names), "threads": 1,
                           "settings": asdict(settings), "noise_seed": 0,
                           "test_subset": "core.denoising.scoreboard.test_digits (randperm seed 0)"},
                "validation": val, "choice": choice, "model_error": q, "rows": rows, "auroc": aurocs,
                "misfit": misfits, "per_image": per_image,
                "probe": evaluate.probe(per_set[("clean", 0.5)], names),
                "seconds": round(time.perf_counter() - t0, 1)}
    from core.models import checkpoints

    checkpoints.write_json(artifact, Path(target or ARTIFACT))
    return artifact
