"""What the demo computes for one request, without any UI: a drawing -> the 28x28 the models see ->
noise -> the three denoisers and the reference columns (PSNR against the clean input, latency, the
judges' reading) -> the drawing's place on the 2-D latent map. The models load once (`Engine.load`).
Every statement of which digit an image is (a reading named, "≠ your 7", MAP's other restarts) holds
only where every judge names that digit, each at or above its calibrated threshold (demo/judging.py).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core import metrics
from core.data import DEFAULT_NOISE_LEVEL
from core.denoising.denoise import METHODS, Denoisers
from demo import references
from demo.inputs import InputError, preprocess
from demo.judging import Judging, Reading
from demo.latent_map import LatentMap
from demo.noise import MAX_SEED, corrupt, noise_kind, parse_number
from demo.references import REFERENCE_NOISES

# Why the assignment's AE and VAE bottleneck fail on noise, shown under their outputs.
NOTES = {"ae": "Trained on clean digits only: noise pushes its 2-D code off the digits it knows.",
         "vae": "Trained on clean digits only: it encodes the noise too, so its mean lands between digits."}
MAX_ALTERNATIVES = 3   # MAP's answer and at most two restarts that the judges read as other digits


@dataclass
class MethodResult:
    x_hat: torch.Tensor   # [1,1,28,28]
    psnr: float           # dB against the clean input
    ms: float             # wall time of the denoiser call
    reading: Reading | None = None   # the judges' (digit, confidence, sure, judges) for x_hat
    what: str = ""        # for a reference: which filter / net it was


@dataclass
class Comparison:
    clean: torch.Tensor                  # [1,1,28,28]
    noisy: torch.Tensor                  # [1,1,28,28]
    mask: torch.Tensor | None
    noisy_psnr: float
    results: dict[str, MethodResult]     # method -> result: the three denoisers, then references
    loss_history: np.ndarray | None      # MAP objective per step [steps+1]
    z_path: torch.Tensor | None          # MAP latent path [steps+1, d]
    warnings: list[str]
    settings: dict
    clean_reading: Reading | None = None
    alternatives: list[MethodResult] = field(default_factory=list)  # other MAP restarts, other digits
    unsure_below: dict[str, float] | None = None   # each judge's calibrated threshold (None: no judge)
    posterior: object | None = None      # core.denoising.posterior.single.DrawingPosterior (sd, draws, digits, flag)
    # What the posterior still needs when the comparison was made without it (Engine.finish_posterior).
    pending: dict | None = field(default=None, repr=False)

    def differs(self, key: str) -> bool:
        """Do the judges read output `key` as another digit than the clean drawing? Only when every
        judge is sure of both, each naming the same digit: where they disagree or are unsure (of the
        drawing or the output) there is no verdict to state."""
        r, clean = self.results[key].reading, self.clean_reading
        return bool(r and clean and clean.sure and r.sure and r.digit != clean.digit)

    def numbers(self) -> dict:
        """Plain numbers for the API / JSON output: each reading's combined verdict ("sure",
        "unsure", "disagree"; digit and confidence: see demo.judging.Reading) and every judge's own."""
        def reading(r):
            if r is None:
                return None
            return {"digit": r.digit, "confidence": round(r.confidence, 3), "sure": r.sure, "verdict": r.verdict,
                    "judges": {j.name: {"digit": j.digit, "confidence": round(j.confidence, 3), "sure": j.sure}
                               for j in r.judges}}

        out = {"noisy_psnr": round(self.noisy_psnr, 3), "clean_reading": reading(self.clean_reading),
               "judges_unsure_below": self.unsure_below}
        for m, r in self.results.items():
            out[m] = {"psnr": round(r.psnr, 3), "ms": round(r.ms, 2), "reading": reading(r.reading),
                      "differs": self.differs(m)}
        out["map_alternatives"] = [{"psnr": round(a.psnr, 3), "reading": reading(a.reading)} for a in self.alternatives]
        if self.posterior is not None:
            p = self.posterior
            out["posterior_extra"] = {"digit_probabilities": {k: round(v, 4) for k, v in p.label_probs.items()},
                                      "misfit": round(p.misfit, 3), "misfit_threshold": p.threshold,
                                      "flagged": p.flagged, "max_sd": round(float(p.std.max()), 4),
                                      "ms": round(p.ms, 2)}
        out["total_ms"] = round(sum(self.results[m].ms for m in ("ae", "vae", "map") if m in self.results), 2)
        return {**out, **self.settings}


def _psnr(estimate: torch.Tensor, clean: torch.Tensor) -> float:
    # Capped so an exact copy prints as a number, not 120 dB from the epsilon.
    return min(float(metrics.psnr(estimate, clean)[0]), 99.0)


def impulse_mask(noisy: torch.Tensor) -> torch.Tensor:
    """Salt-and-pepper's robust likelihood: a pixel at exactly 0 or 1 that its 3x3 median disagrees
    with by more than half the range is an impulse, and is treated as missing (mask 0); MAP then
    fits only the pixels the noise left alone instead of bending the digit towards the impulses."""
    med = F.pad(noisy, (1, 1, 1, 1)).unfold(2, 3, 1).unfold(3, 3, 1).flatten(-2).median(-1).values
    extreme = (noisy == 0) | (noisy == 1)
    return (~(extreme & ((noisy - med).abs() > 0.5))).to(noisy.dtype)


class Engine:
    """The loaded models plus everything the demo needs per request. Loaded once, shared by requests.
    MAP's settings are the denoiser's single-image policy (`denoisers.defaults`)."""

    def __init__(self, denoisers, latent_map=None, *, max_beta=None, max_steps=None,
                 judging: Judging | None = None, references=None, posterior: bool = True,
                 posterior_artifact: dict | None = None, misfit_calibration: dict | None = None):
        self.denoisers = denoisers
        self.latent_map = latent_map
        self.methods = (*METHODS, "posterior") if posterior else METHODS
        self.defaults = denoisers.defaults
        policy = self.defaults.settings(single_image=True)
        self.default_beta, self.default_steps, self.default_restarts = policy.beta, policy.steps, policy.restarts
        self.judging = judging          # every reading of a digit (demo/judging.py), or None: a judge not shipped
        self.references = references or {}   # name -> fn(noisy, kind, level) -> (x_hat, what)
        # The posterior through the VAE prior, started at MAP's restarts. results/posterior.json says
        # which digit-posterior form to show; the misfit warning's threshold comes from its calibration
        # on validation digits (core.denoising.posterior.single; None: shown without a warning).
        self.with_posterior, self.posterior_artifact = posterior, posterior_artifact
        self.misfit_calibration = misfit_calibration
        # Generous ranges around the defaults; beyond them the sliders would only burn CPU.
        self.max_beta = max_beta if max_beta is not None else self.default_beta * 100
        self.max_steps = max_steps if max_steps is not None else max(200, 4 * self.default_steps)

    @classmethod
    def load(cls, directory=None, with_map: bool = True, posterior: bool = True) -> "Engine":
        denoisers = Denoisers.load(directory)
        latent_map = LatentMap.load(directory, path_decoder=denoisers.vae.decode) if with_map else None
        return cls(denoisers, latent_map, judging=Judging.load(directory),
                   references=references.load_references(directory), posterior=posterior,
                   posterior_artifact=_posterior_artifact() if posterior else None,
                   misfit_calibration=_misfit_calibration(denoisers) if posterior else None)

    def beta_for(self, noise_type="Gaussian", level=None) -> float:
        """MAP's default beta: for Gaussian noise the one validated per level for the clipping-aware
        objective (the demo's MAP for Gaussian noise), else the overall default."""
        try:
            gaussian = noise_kind(noise_type) == "gaussian"
            level = parse_number(level, "Noise level", 0, 1) if level is not None else None
        except InputError:
            gaussian = False
        return self.defaults.settings(level if gaussian else None, clip_aware=gaussian,
                                      single_image=True).beta

    def beta_table(self) -> dict[str, float]:
        """beta per Gaussian level on a 0.05 grid (the UI's slider steps), for the browser to show."""
        return {f"{v:.2f}": self.beta_for("Gaussian", v) for v in np.round(np.arange(0, 1.0001, 0.05), 2)}

    def check_map_settings(self, beta, steps, noise_type="Gaussian", level=None) -> tuple[float, int]:
        if beta is None:
            beta = self.beta_for(noise_type, level)
        else:
            beta = parse_number(beta, "MAP beta", 0, self.max_beta)
        steps = self.default_steps if steps is None else parse_number(steps, "MAP steps", 1, self.max_steps, integer=True)
        return beta, steps

    def read(self, x: torch.Tensor) -> list[Reading] | None:
        """The judges' reading per image (None: no judging)."""
        return None if self.judging is None else self.judging.read(x)

    def _map(self, noisy, kind, level, mask, beta, steps, seed):
        """MAP with the likelihood that fits the noise: clipping-aware for Gaussian, impulses as
        missing pixels for salt and pepper, the erasure's mask for the erasures. Every restart is
        kept (for the alternatives)."""
        from core.denoising import denoise

        noise_std = float(level) if kind == "gaussian" and level > 0 else None
        if kind == "salt_pepper":
            mask = impulse_mask(noisy)
        vae = self.denoisers.vae
        with torch.inference_mode():
            init = vae.encode(noisy).float().clone()
        out = denoise.map_estimate(vae.decode, noisy, beta=beta, steps=steps, restarts=self.default_restarts,
                                   mask=mask, seed=seed, init=init, noise_std=noise_std, all_restarts=True)
        out.params["mask"] = mask
        return out

    def _posterior(self, noisy, kind, level, map_out, beta, seed):
        """The posterior with MAP's likelihood and beta, its chains started at MAP's restarts."""
        from core.denoising.posterior import single

        noise_std = float(level) if kind == "gaussian" and level > 0 else None
        mask = map_out.params.get("mask")
        if beta <= 0 or (noise_std is None and mask is None and kind == "gaussian"):
            return None  # no noise (or beta 0): nothing to be uncertain about, no likelihood to sample
        return single.for_drawing(self.denoisers, noisy, noise_level=noise_std, mask=mask,
                                  art=self.posterior_artifact, calibration=self.misfit_calibration,
                                  seed=seed, found=map_out, beta=beta)

    def _restart_images(self, out) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Every MAP restart's final objective [R] and decoded image [R,1,28,28]."""
        restart_z = getattr(out, "restart_z", None)
        if restart_z is None or self.judging is None:
            return None
        with torch.inference_mode():
            images = self.denoisers.vae.decode(restart_z[-1, :, 0].float()).float().clamp(0, 1)
        return out.restart_losses[-1, :, 0], images

    def _alternatives(self, out, best: MethodResult, clean, restarts=None, readings=None) -> list[MethodResult]:
        """The best restarts (lowest objective) that every judge surely reads as the same digit, other
        than MAP's answer (its best guess where the judges are unsure of it) and than each other.
        `restarts`, `readings`: the restarts' (objectives, images) and the judges' reading of each
        image, if already made."""
        restarts = restarts or self._restart_images(out)
        if restarts is None or best.reading is None:
            return []
        losses, images = restarts
        readings = readings or self.read(images)
        seen, alternatives = {best.reading[0]}, []
        for i in losses.argsort().tolist():
            if readings[i].sure and readings[i][0] not in seen and len(alternatives) < MAX_ALTERNATIVES - 1:
                seen.add(readings[i][0])
                alternatives.append(MethodResult(images[i:i + 1], _psnr(images[i:i + 1], clean), 0.0, readings[i]))
        return alternatives

    def compare(self, sketch, noise_type="Gaussian", level=DEFAULT_NOISE_LEVEL, seed=0, beta=None, steps=None,
                region=None, with_references: bool = True, posterior: bool = True) -> Comparison:
        """Everything for one drawing: preprocess, corrupt, run the denoisers (timed), read the outputs.
        posterior=False leaves the posterior (the slowest part, started at MAP's restarts) pending, so
        the page can show the rest first: `finish_posterior` adds it."""
        kind = noise_kind(noise_type)
        level = parse_number(level, "Noise level", 0, 1)
        seed = parse_number(seed, "Noise seed", 0, MAX_SEED, integer=True)
        beta, steps = self.check_map_settings(beta, steps, noise_type, level)
        prepared = preprocess(sketch, region if kind == "region" else None)
        clean = prepared.x
        noisy, mask = corrupt(clean, kind, level, seed, prepared.region)
        if region and kind != "region":   # painted, then another noise chosen: say so, never ignore it
            prepared.warnings.append(f"The painted region is unused: the noise is {noise_type}. Choose "
                                     "\"Painted region\" to erase what you painted.")
        results, loss_history, z_path, map_out, pending = {}, None, None, None, None
        for method in self.methods:
            start = time.perf_counter()
            if method == "map":  # needs autograd through the decoder
                out = map_out = self._map(noisy, kind, level, mask, beta, steps, int(seed))
            elif method == "posterior":
                if map_out is not None:
                    pending = {"noisy": noisy, "kind": kind, "level": level, "map_out": map_out, "beta": beta,
                               "seed": int(seed)}
                continue
            else:
                with torch.inference_mode():
                    out = self.denoisers(method, noisy)
            ms = 1000 * (time.perf_counter() - start)
            x_hat = out.x_hat.detach().float().clamp(0, 1)
            results[method] = MethodResult(x_hat, _psnr(x_hat, clean), ms)
            if out.loss_history is not None:
                loss_history = out.loss_history.detach().float()[:, 0].numpy()
            if out.z_path is not None:
                z_path = out.z_path.detach().float()[:, 0]
        if with_references:
            for name, fn in self.references.items():
                if kind not in REFERENCE_NOISES[name]:
                    continue
                start = time.perf_counter()
                with torch.inference_mode():
                    x_hat, what = fn(noisy, kind, level)
                x_hat = x_hat.float().clamp(0, 1)
                results[name] = MethodResult(x_hat, _psnr(x_hat, clean), 1000 * (time.perf_counter() - start),
                                             what=what)
        # One call per judge for everything they read: the clean input, each output, each MAP restart.
        restarts = self._restart_images(map_out) if map_out is not None else None
        batch = [clean] + [r.x_hat for r in results.values()] + ([restarts[1]] if restarts else [])
        readings = self.read(torch.cat(batch))
        clean_reading, alternatives = None, []
        if readings:
            clean_reading = readings[0]
            for r, reading in zip(results.values(), readings[1:]):
                r.reading = reading
            if restarts is not None:
                alternatives = self._alternatives(map_out, results["map"], clean, restarts,
                                                  readings[1 + len(results):])
        settings = {"noise": kind, "level": level, "seed": int(seed),
                    "beta": float(beta) if beta is not None else None, "steps": steps,
                    "restarts": self.default_restarts,
                    "map_likelihood": {"gaussian": "clipping-aware" if level > 0 else "plain",
                                       "salt_pepper": "robust (impulses as missing pixels)"}.get(kind, "masked")}
        c = Comparison(clean, noisy, mask, _psnr(noisy, clean), results, loss_history, z_path,
                       prepared.warnings, settings, clean_reading, alternatives,
                       None if self.judging is None else dict(self.judging.unsure_below), pending=pending)
        return self.finish_posterior(c) if posterior else c

    def finish_posterior(self, c: Comparison) -> Comparison:
        """Add the pending posterior to `c` (in place, and returned): its mean as a result in the
        card order, read by the judges, and its misfit warning. Nothing when none is pending."""
        job, c.pending = c.pending, None
        post = self._posterior(**job) if job is not None else None
        if post is None:
            return c
        result = MethodResult(post.mean[None], _psnr(post.mean[None], c.clean), post.ms)
        # Read beside the clean drawing, as compare's one batch reads every output (clean first).
        readings = self.read(torch.cat([c.clean, result.x_hat]))
        result.reading = readings[1] if readings else None
        results = {**c.results, "posterior": result}
        order = [*self.methods, *self.references]
        c.results = {k: results[k] for k in order if k in results}
        c.posterior = post
        if post.flagged:
            c.warnings.append(post.warning)
        return c

    def latent(self, comparison: Comparison) -> tuple[str, dict] | None:
        """Where this drawing, its noisy version, the outputs and MAP's path land on the test set's 2-D
        latent map: (SVG overlay for `latent_map.background_url()`, the positions as plain numbers)."""
        if self.latent_map is None:
            return None
        points, path = self.latent_map.positions(comparison)
        numbers = {"model": self.latent_map.name, **{k: np.round(v, 4).tolist() for k, v in points.items()},
                   "map_path": None if path is None else np.round(path, 4).tolist()}
        return self.latent_map.overlay(points, path), numbers


def _posterior_artifact() -> dict | None:
    """results/posterior.json if it is current (which digit-posterior form won its validation), else None
    (the posterior then shows the judge's softmax averaged over the draws)."""
    from core.denoising.posterior import artifact
    from core.denoising.scoreboard import StaleArtifact

    try:
        return artifact.load_artifact()
    except (StaleArtifact, OSError, ValueError):
        return None


def _misfit_calibration(denoisers) -> dict | None:
    """The posterior warning's calibration for the shipped weights, or None (no warning) with a note
    saying how to make it: it takes minutes, so it is never computed while the demo starts."""
    from core.denoising.posterior import single

    try:
        found = single.stored_calibration(denoisers)
    except Exception:  # e.g. weights outside the checkpoint folder: no calibration for them
        found = None
    if found is None:
        warnings.warn("the posterior is shown without its misfit warning: its threshold is not calibrated for "
                      "these weights (python -m core.denoising.posterior.single --ship)", stacklevel=2)
    return found


def to_uint8(x: torch.Tensor, factor: int = 1) -> np.ndarray:
    """[1,1,28,28] in [0,1] -> uint8 [28f, 28f] white on black, each pixel a f x f block."""
    img = (x.detach().float()[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return np.kron(img, np.ones((factor, factor), dtype=np.uint8)) if factor > 1 else img
