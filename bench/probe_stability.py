"""How far the artifacts' probes of MAP move on another CPU, against how far a real change moves them.

    python -m bench.probe_stability [--trials 6]

MAP keeps the best of several restarts of a non-convex search. Another CPU (AVX2, AVX-512, AMX)
sums in another order; those last-bit differences grow along L-BFGS's path and can send a restart
into another basin, so single images move by up to dB. This reruns the probes that the tests
recompute (scoreboard: MAP and clipping-aware MAP on the first chunk at 0.3 and 0.8; pose map:
MAP and MAP + pose on shifted digits at 0.5) with the noisy input perturbed by 1e-6 (a few float32
rounding steps, the size of such differences) and with two threads instead of one, and prints the
largest shift of each chunk mean (PSNR, SSIM, kept digits, objective) next to the shift that real
changes cause (a fifth fewer steps, one restart fewer, twice the beta). The tolerances in
tests/probes.py come from this table.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class Probe:
    name: str
    clean: torch.Tensor
    labels: torch.Tensor
    estimator: Callable  # (noisy, **settings) -> DenoiseResult
    settings: dict       # beta, steps, restarts, noise_level, clip_aware as the artifact used them


def probes(den) -> list[Probe]:
    from core.denoising import pose_map, scoreboard
    from core.denoising.denoise import VAE_NAME
    from core.models import checkpoints

    betas = scoreboard.map_betas(den, (0.3, 0.8), checkpoints.sha256(checkpoints.path(VAE_NAME)))
    clean, labels = scoreboard.test_digits(scoreboard.CHUNK)
    shifted, shifted_labels = scoreboard.test_digits(scoreboard.CHUNK, "shift")
    plain = lambda x, **kw: den("map", x, **kw)  # noqa: E731
    out = []
    for level in (0.3, 0.8):
        for method in scoreboard.NONCONVEX:
            clip = method == "map_clip"
            policy = den.defaults.settings(level, clip_aware=clip)
            out.append(Probe(f"scoreboard {method} {level}", clean, labels, plain,
                             dict(beta=betas[method][str(level)], steps=policy.steps, restarts=policy.restarts,
                                  noise_level=level, clip_aware=clip)))
    policy = den.defaults.settings(0.5, clip_aware=True)
    pose = dict(beta=policy.beta, steps=policy.steps, restarts=policy.restarts, noise_level=0.5, clip_aware=True)
    out.append(Probe("pose_map MAP 0.5", shifted, shifted_labels, plain, pose))
    out.append(Probe("pose_map MAP + pose 0.5", shifted, shifted_labels,
                     lambda x, **kw: pose_map.pose_aware(den, x, **kw), pose))
    return out


def summary(probe: Probe, noisy: torch.Tensor, **changes) -> dict:
    from core import metrics
    from core.denoising import judge, scoreboard

    res = probe.estimator(noisy, **{**probe.settings, **changes})
    entry = scoreboard.probe_entry(metrics.psnr(res.x_hat, probe.clean), judge.same_digit(res.x_hat, probe.labels),
                                   metrics.ssim(res.x_hat, probe.clean), res.loss_history[-1])
    return entry["chunk"]


def shift(a: dict, b: dict) -> dict:
    return {"psnr": abs(a["psnr"] - b["psnr"]), "ssim": abs(a["ssim"] - b["ssim"]), "kept": abs(a["kept"] - b["kept"]),
            "objective": abs(a["objective"] / b["objective"] - 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="input perturbations per probe")
    args = parser.parse_args(argv)
    from core import data
    from core.denoising.denoise import Denoisers

    torch.set_num_threads(1)
    den = Denoisers.load()
    print(f"{'probe':28} {'':26} {'PSNR dB':>8} {'SSIM':>7} {'kept':>5} {'objective':>10}")
    for probe in probes(den):
        noisy = data.add_noise(probe.clean, probe.settings["noise_level"], seed=data.NOISE_SEED)
        base = summary(probe, noisy)
        cpu = []
        for trial in range(1, args.trials + 1):
            g = torch.Generator().manual_seed(trial)
            cpu.append(shift(summary(probe, (noisy + 1e-6 * torch.randn(noisy.shape, generator=g)).clamp(0, 1)), base))
        torch.set_num_threads(2)
        cpu.append(shift(summary(probe, noisy), base))
        torch.set_num_threads(1)
        worst = {k: max(c[k] for c in cpu) for k in cpu[0]}
        s = probe.settings
        real = {"steps -20 %": dict(steps=int(s["steps"] * 0.8)), "restarts -1": dict(restarts=s["restarts"] - 1),
                "beta x2": dict(beta=2 * s["beta"])}
        rows = [("float-order noise (max)", worst)] + [(k, shift(summary(probe, noisy, **v), base)) for k, v in real.items()]
        for i, (what, s) in enumerate(rows):
            print(f"{probe.name if i == 0 else '':28} {what:26} {s['psnr']:8.4f} {s['ssim']:7.4f} {s['kept']:5d} "
                  f"{s['objective']:10.2e}", flush=True)


if __name__ == "__main__":
    main()
