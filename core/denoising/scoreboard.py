"""The denoising scoreboard (A8): every denoiser on the same noisy test digits, with PSNR, SSIM,
"is it still the same digit?" read by two independent judges (core.denoising.judge) and their
agreement, and ms per image on one thread.

    python -m core.denoising.scoreboard --n 200 --levels 0.3 0.5 --json   # compute and print rows (JSON list)
    python -m core.denoising.scoreboard --write                           # the full artifact -> results/scoreboard.json

Methods: the assignment's denoisers (AE, VAE bottleneck, MAP, clipping-aware MAP), the learned
reference `dncnn`, and the classical filters of core.denoising.baselines with their validated
parameters: each filter as tuned (the clipping correction is one of its options) and, as
`<filter>_plain`, its best setting without the correction. MAP's beta per level is chosen here on
the validation split of training images (the same split, grid and budget as the A8 study in
core.analysis.vae), never on test images. Test images: a seeded subset of the test set (randperm
seed 0, as the A8 table), noise from data.add_noise with seed data.NOISE_SEED; BM3D runs on the
first `bm3d_n` of them (about 1-2 s per image); every row also reports its means on that subset
(`psnr_sub`, `identity_sub`) and the artifact keeps per-image PSNR and readings, for paired
comparisons. Out of distribution: the same on test digits rotated, shifted, thinned or thickened
(core.denoising.judge.transform) before the noise. Rows and records: core.denoising.board_io.

The artifact is keyed by the sha256 of every checkpoint it used and of the baselines' tuning;
`load_artifact()` refuses a stale one, naming the command that recomputes it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from tqdm.auto import tqdm

from core import data, metrics
from core.denoising import baselines, denoise, judge
from core.denoising.board_io import (  # noqa: F401
    CHUNK,
    PROBE_N,
    StaleArtifact,
    add_result,
    digits,
    empty_result,
    identity_record,
    key,
    lookup,
    paired,
    probe_entry,
    refuse_stale,
    rows,
    spread,
)
from core.denoising.defaults import MapDefaults
from core.models import checkpoints

LEVELS = (0.1, 0.2, 0.3, 0.5, 0.8)
TEST_N, TEST_SEED, BM3D_N = 1000, 0, 50
OOD_LEVELS, OOD_N, OOD_BM3D_N = (0.3, 0.5), 300, 20
CONDITIONS = ("rotate", "shift", "thin", "thick")
JUDGE_N = 2000       # the judges' own accuracy table: the first 2,000 test digits
# Best of restarts of a non-convex search: another CPU's floating-point order can move single images
# by dB, so their probe is compared as means over the first CHUNK images (tests/probes.py).
NONCONVEX = ("map", "map_clip")
BETAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
BETA_STEPS = 30      # the validation run of beta: 30 L-BFGS steps from the encoder's mean (as A8)
DENOISERS = ("ae", "vae", "map", "map_clip")
FILTERS = tuple(baselines.FILTERS)
PLAIN = tuple(f"{m}_plain" for m in FILTERS)   # each filter's best setting without the clipping correction
SLOW = tuple(m for m in FILTERS + PLAIN if m.removesuffix("_plain") in baselines.SLOW)
METHODS = ("noisy", *DENOISERS, "dncnn", *FILTERS, *PLAIN)
LABELS = {"noisy": "noisy input", "ae": "AE (spec, 2-D)", "vae": "VAE bottleneck (16-D)", "map": "MAP",
          "map_clip": "clipping-aware MAP", "dncnn": "DnCNN (learned reference)", **baselines.LABELS,
          **{f"{m}_plain": f"{label}, uncorrected" for m, label in baselines.LABELS.items()}}
ARTIFACT = baselines.RESULTS_DIR / "scoreboard.json"
COMMAND = "python -m core.denoising.scoreboard --write"


class Context:
    """What the methods need, loaded once: the AE/VAE denoisers, dncnn, tuned parameters, judges."""

    def __init__(self, ae: str = denoise.AE_NAME, vae: str = denoise.VAE_NAME, levels=LEVELS,
                 betas: dict | None = None, interpolate: bool = False, judges=judge.NAMES):
        self.names = {"ae": ae, "vae": vae, "dncnn": "dncnn"}
        self.judges = tuple(judges)
        self.den = denoise.Denoisers(checkpoints.load(ae), checkpoints.load(vae), defaults=MapDefaults.read())
        self.dncnn = checkpoints.load("dncnn")
        self.tuned = baselines.tuned()
        self.levels, self._betas, self.interpolate = tuple(levels), betas, interpolate

    @property
    def betas(self) -> dict:
        """MAP's beta per level, validated on first use (only runs that include MAP pay for it)."""
        if self._betas is None:
            self._betas = map_betas(self.den, self.levels, checkpoints.sha256(checkpoints.path(self.names["vae"])),
                                    self.interpolate)
        return self._betas

    def run(self, method: str, noisy: torch.Tensor, level: float) -> torch.Tensor:
        return self.estimate(method, noisy, level)[0]

    def filter_params(self, method: str, level: float) -> dict:
        """The tuned setting a filter row runs (`<filter>_plain`: the best one without the correction)."""
        return baselines.params_for(method.removesuffix("_plain"), level, table=self.tuned,
                                    plain=method.endswith("_plain"))

    def estimate(self, method: str, noisy: torch.Tensor, level: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(denoised [N,1,28,28], MAP's final objective per image [N], or None for the other methods)."""
        if method == "noisy":
            return noisy, None
        if method in ("ae", "vae"):
            return self.den(method, noisy).x_hat, None
        if method in NONCONVEX:
            clip = method == "map_clip"
            beta = self.betas[method][str(level)]
            parts = [self.den("map", noisy[i:i + CHUNK], beta=beta, noise_level=level, clip_aware=clip)
                     for i in range(0, len(noisy), CHUNK)]
            return torch.cat([p.x_hat for p in parts]), torch.cat([p.loss_history[-1] for p in parts])
        if method == "dncnn":
            return self.dncnn.denoise(noisy), None
        return baselines.run_tuned(method.removesuffix("_plain"), noisy, level, table=self.tuned,
                                   plain=method.endswith("_plain")), None


def map_betas(den: denoise.Denoisers, levels=LEVELS, vae_sha: str | None = None, interpolate: bool = False) -> dict:
    """{"map": {level: beta}, "map_clip": {...}}: the best beta of BETAS by validation PSNR.

    The A8 study (core.analysis.vae, recorded in checkpoints/denoise_defaults.json) ran exactly
    this search on the same validation images: where it did, for these very weights (`vae_sha`),
    its choice is reused instead of recomputed. interpolate=True: at a level the study did not
    cover, its choices interpolated log-linearly (MapDefaults.beta_for) instead of a new search."""
    clean = baselines.validation_set()
    out = {"map": {}, "map_clip": {}}
    defaults = MapDefaults.read()
    saved = defaults.record
    if vae_sha and saved.get("vae16_sha256") == vae_sha and tuple(saved.get("grids", {}).get("betas", ())) == BETAS:
        for method, key in (("map", "beta_by_noise"), ("map_clip", "beta_by_noise_clip")):
            out[method].update({str(lv): saved[key][str(lv)] for lv in levels if str(lv) in saved.get(key, {})})
    for level in levels:
        if all(str(level) in out[m] for m in out):
            continue
        if interpolate and out["map"]:
            out["map"][str(level)] = defaults.beta_for(level)
            out["map_clip"][str(level)] = defaults.beta_for(level, clip_aware=True)
            continue
        noisy = data.add_noise(clean, level, seed=baselines.VAL_NOISE_SEED)
        with torch.inference_mode():
            init = den.vae.encode(noisy).clone()
        for method in out:
            psnr = [float(metrics.psnr(denoise.map_estimate(
                den.vae.decode, noisy, beta=b, steps=BETA_STEPS, restarts=1, init=init,
                noise_std=level if method == "map_clip" else None).x_hat, clean).mean()) for b in BETAS]
            out[method][str(level)] = BETAS[max(range(len(BETAS)), key=psnr.__getitem__)]
    return out


def test_digits(n: int, condition: str = "clean"):
    """(clean [n,1,28,28], labels [n]): the seeded test subset, transformed for OOD conditions."""
    x, y = data.load_mnist("test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(TEST_SEED))[:n]
    return judge.transform(x[idx], condition).contiguous(), y[idx]


def evaluate(ctx: Context, clean, labels, level: float, methods=METHODS, condition: str = "clean",
             bm3d_n: int = BM3D_N, progress: bool = False) -> dict:
    """Rows (one per method) and per-image records (core.denoising.board_io) for one condition and level."""
    noisy = data.add_noise(clean, level, seed=data.NOISE_SEED)
    out, done = empty_result(), {}
    for method in tqdm(methods, desc=f"{condition} {level}", leave=False, disable=not progress):
        k = min(bm3d_n, len(clean)) if method in SLOW else len(clean)
        if k == 0:
            continue
        # A filter whose best setting is uncorrected anyway: its plain row is the same run.
        same = (method.removesuffix("_plain") if method.endswith("_plain") and
                ctx.filter_params(method, level) == ctx.filter_params(method.removesuffix("_plain"), level) else None)
        if same in done and len(done[same][0]) == k:
            est, objective, ms = done[same]
        else:
            if method not in SLOW:
                ctx.estimate(method, noisy[:1], level)  # warm-up (lazy imports, first-call set-up): not timed
            t0 = time.perf_counter()
            est, objective = ctx.estimate(method, noisy[:k], level)
            ms = (time.perf_counter() - t0) * 1000 / k
        done[method] = (est, objective, ms)
        psnr, ssim = metrics.psnr(est, clean[:k]), metrics.ssim(est, clean[:k])
        readings = {j: judge.read(est, j)[0] for j in ctx.judges}
        s = min(bm3d_n, k)
        out["rows"].append({"method": method, "level": level, "condition": condition, "n": k,
                            "psnr": float(psnr.mean()), "psnr_se": float(psnr.std() / k ** 0.5) if k > 1 else 0.0,
                            "ssim": float(ssim.mean()), **identity_record(readings, labels[:k], s),
                            "ms_per_image": ms, "psnr_sub": float(psnr[:s].mean()), "n_sub": s})
        name = key(condition, method, level)
        out["reads"][name] = {j: digits(r) for j, r in readings.items()}
        out["psnr_values"][name] = [round(v * 100) for v in psnr.tolist()]
        out["probe"][name] = probe_entry(psnr, {j: r == labels[:k] for j, r in readings.items()}, ssim, objective)
    return out


def run(n: int = TEST_N, levels=LEVELS, methods=METHODS, conditions=("clean",), bm3d_n: int = BM3D_N,
        ctx: Context | None = None, progress: bool = True) -> dict:
    """{"rows", "reads", "psnr_values", "probe"} over conditions x levels, on one thread (ms/image comparable)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ctx = ctx or Context(levels=levels)
        out = empty_result()
        for condition in conditions:
            clean, labels = test_digits(n, condition)
            for level in levels:
                add_result(out, evaluate(ctx, clean, labels, level, methods, condition, bm3d_n, progress))
        return out
    finally:
        torch.set_num_threads(threads)


# --- the artifact ---------------------------------------------------------------------------------

def fingerprint(ae: str = denoise.AE_NAME, vae: str = denoise.VAE_NAME, variants=()) -> dict:
    """sha256 of every input the artifact depends on: checkpoints and the baselines' tuning."""
    names = [ae, vae, *judge.NAMES, "dncnn", *[n for pair in variants for n in pair]]
    out = {name: checkpoints.sha256(checkpoints.path(name)) for name in dict.fromkeys(names)}
    out["results/baselines.json"] = checkpoints.sha256(baselines.TUNED_FILE)
    d = MapDefaults.read()
    out["map_budget"] = f"{d.steps} steps x {d.restarts} restarts"
    return out


_WORKER: dict = {}


def _init_worker(ae, vae, betas):
    torch.set_num_threads(1)
    _WORKER["ctx"] = Context(ae, vae, betas=betas)


def _task(task):
    n, level, methods, condition, bm3d_n = task
    clean, labels = test_digits(n, condition)
    return evaluate(_WORKER["ctx"], clean, labels, level, methods, condition, bm3d_n)


def run_parallel(tasks: list[tuple], ae: str, vae: str, betas: dict, jobs: int = 2) -> dict:
    """run() over (n, level, methods, condition, bm3d_n) tasks in `jobs` one-thread processes."""
    import importlib
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # The importable module's functions, not __main__'s (`python -m core.denoising.scoreboard`), as in core.training.train.
    module = importlib.import_module("core.denoising.scoreboard")
    out = empty_result()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=module._init_worker, initargs=(ae, vae, betas)) as pool:
        # Slowest first (BM3D-heavy tasks), so the two workers finish together.
        order = sorted(tasks, key=lambda t: -t[4] * ("bm3d" in t[2]))
        for part in tqdm(pool.map(module._task, order), total=len(order), desc="scoreboard tasks"):
            add_result(out, part)
    place = {(c, lv): i for i, (c, lv) in enumerate((t[3], t[1]) for t in tasks)}
    out["rows"].sort(key=lambda r: (place[(r["condition"], r["level"])], METHODS.index(r["method"])))
    return out


def write(n: int = TEST_N, bm3d_n: int = BM3D_N, ood_n: int = OOD_N, ood_bm3d_n: int = OOD_BM3D_N,
          variants=(), target=None, jobs: int = 2, interpolate: bool = False) -> dict:
    """Compute everything the A8 chapter shows and write it atomically to results/scoreboard.json,
    in `jobs` one-thread worker processes. variants: extra (ae, vae) checkpoint pairs (other
    seeds): their AE/VAE/MAP rows go to "variant_rows", tagged with the pair."""
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    fp = fingerprint(variants=variants)  # before the run: an input changed meanwhile then shows as stale
    ctx = Context(interpolate=interpolate)
    betas = ctx.betas
    tasks = [(n, lv, METHODS, "clean", bm3d_n) for lv in LEVELS]
    tasks += [(ood_n, lv, METHODS, c, ood_bm3d_n) for c in CONDITIONS for lv in OOD_LEVELS]
    res = run_parallel(tasks, ctx.names["ae"], ctx.names["vae"], betas, jobs)
    variant_rows = []
    for ae, vae in variants:
        vctx = Context(ae, vae, interpolate=interpolate)
        part = run_parallel([(n, lv, DENOISERS, "clean", bm3d_n) for lv in LEVELS], ae, vae, vctx.betas, jobs)
        variant_rows += [{**r, "checkpoints": f"{ae}+{vae}"} for r in part["rows"]]
    labels = {c: digits(test_digits(n if c == "clean" else ood_n, c)[1]) for c in ("clean", *CONDITIONS)}
    artifact = {
        "fingerprint": fp, "command": COMMAND, "judges": list(judge.NAMES),
        "params": {"n": n, "levels": LEVELS, "bm3d_n": bm3d_n, "ood_n": ood_n, "ood_levels": OOD_LEVELS,
                   "ood_bm3d_n": ood_bm3d_n, "conditions": CONDITIONS, "chunk": CHUNK,
                   "test_subset": f"test images, randperm seed {TEST_SEED}", "noise_seed": data.NOISE_SEED,
                   "threads": 1, "beta_interpolated": interpolate},
        "map_betas": betas, "rows": res["rows"], "variant_rows": variant_rows, "labels": labels,
        "reads": res["reads"], "psnr_values": res["psnr_values"], "probe": res["probe"],
        "judge_accuracy": judge.accuracy_table(n=JUDGE_N), "seconds": round(time.perf_counter() - t0, 1),
    }
    checkpoints.write_json(artifact, target or ARTIFACT)
    return artifact


def load_artifact(target=None, check: bool = True) -> dict:
    """The shipped scoreboard; with check=True a StaleArtifact error if any checkpoint, the
    baselines' tuning or the MAP budget differs from what it was computed with."""
    target = target or ARTIFACT
    if not target.exists():
        raise StaleArtifact(f"{target} is missing: compute it with `{COMMAND}`")
    artifact = json.loads(target.read_text())
    if check:
        variants = {tuple(r["checkpoints"].split("+")) for r in artifact.get("variant_rows", [])}
        refuse_stale(artifact["fingerprint"], lambda: fingerprint(variants=sorted(variants)), target, COMMAND)
    return artifact


def main(argv=None):
    parser = argparse.ArgumentParser(description="The denoising scoreboard (PSNR, SSIM, identity, ms/image).")
    parser.add_argument("--n", type=int, default=TEST_N, help="test images (a seeded subset)")
    parser.add_argument("--levels", type=float, nargs="+", default=list(LEVELS), help="noise levels")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD",
                        help=f"methods: {', '.join(METHODS)}")
    parser.add_argument("--conditions", nargs="+", default=["clean"], choices=("clean", *CONDITIONS),
                        help="test digits as they are (clean) or transformed (out of distribution)")
    parser.add_argument("--bm3d-n", type=int, default=BM3D_N, help="BM3D runs on the first N images")
    parser.add_argument("--ae", default=denoise.AE_NAME, help="AE checkpoint (e.g. another seed)")
    parser.add_argument("--vae", default=denoise.VAE_NAME, help="16-D VAE checkpoint (e.g. another seed)")
    parser.add_argument("--variants", nargs="*", default=[], metavar="AE:VAE",
                        help="with --write: extra checkpoint pairs (other seeds) for the assignment's denoisers")
    parser.add_argument("--ood-n", type=int, default=OOD_N, help="with --write: test images per OOD condition")
    parser.add_argument("--ood-bm3d-n", type=int, default=OOD_BM3D_N, help="with --write: BM3D images per OOD condition")
    parser.add_argument("--interpolate-beta", action="store_true",
                        help="at levels the A8 study did not cover, interpolate its beta instead of searching")
    parser.add_argument("--jobs", type=int, default=2, help="with --write: worker processes (one thread each)")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    parser.add_argument("--write", action="store_true", help=f"compute the full artifact -> {ARTIFACT}")
    parser.add_argument("--dry-run", action="store_true", help="8 images, one level, no BM3D (plumbing check)")
    args = parser.parse_args(argv)
    try:
        if args.write:
            variants = [tuple(v.split(":")) for v in args.variants]
            if any(len(v) != 2 for v in variants):
                parser.error("--variants takes AE:VAE pairs")
            art = write(args.n, args.bm3d_n, args.ood_n, args.ood_bm3d_n, variants=variants, jobs=args.jobs,
                        interpolate=args.interpolate_beta)
            print(f"wrote {ARTIFACT} in {art['seconds']} s")
            return
        if args.dry_run:
            args.n, args.levels = 8, [0.5]
            args.methods = [m for m in args.methods if m not in SLOW]
        res = run(args.n, args.levels, args.methods, args.conditions, args.bm3d_n,
                  Context(args.ae, args.vae, args.levels), progress=not args.json)
    except (checkpoints.CheckpointError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")
    keys = ("method", "level", "condition", "n", "psnr", "ssim", "identity", "agreement", "ms_per_image")
    out = [{k: r[k] for k in keys} for r in res["rows"]]
    if args.json:
        print(json.dumps(out))
    else:
        for r in out:
            ids = " / ".join(f"{100 * v:5.1f}" for v in r["identity"].values())
            print(f"{r['condition']:6} {r['level']:4} {r['method']:12} n={r['n']:4}  PSNR {r['psnr']:6.2f}  "
                  f"SSIM {r['ssim']:.3f}  identity {ids} % ({' / '.join(judge.SHORT.get(j, j) for j in r['identity'])}), "
                  f"judges agree {100 * r['agreement']:5.1f} %  {r['ms_per_image']:8.2f} ms/img")


if __name__ == "__main__":
    main()
