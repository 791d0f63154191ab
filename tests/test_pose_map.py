"""Pose-aware MAP: the warp, the joint search on a tiny synthetic decoder, and the denoiser option."""
import math

import pytest
import torch

from core import checkpoints, metrics
from core.pose_map import (PosePrior, pose_from_degrees_px, pose_map_estimate, transform_set, verdicts,
                           warp)
from core.denoise import map_estimate


def dot(row=10, col=14):
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, row, col] = 1
    return x


def peak(x):
    return divmod(int(x[0, 0].argmax()), 28)


def test_warp_identity_is_exact():
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(warp(x, torch.zeros(3, 4)), x, atol=1e-5)  # float rounding of the grid


@pytest.mark.parametrize("pose, where", [((0, 4, 0), (10, 18)), ((0, 0, 4), (14, 14)), ((0, -4, 0), (10, 10))])
def test_warp_shifts_right_and_down_in_pixels(pose, where):
    assert peak(warp(dot(), pose_from_degrees_px(*pose))) == where


def test_warp_rotates_counter_clockwise_as_displayed():
    # A dot above the centre goes to the left of it under a 90-degree counter-clockwise turn.
    row, col = peak(warp(dot(), pose_from_degrees_px(90, 0, 0)))
    assert col < 13 and abs(row - 13.5) <= 1


def blob_decoder(z):
    """A tiny 'decoder': a centred Gaussian blob whose width follows z[:, 0] (z is 2-D)."""
    r = torch.arange(28.0) - 13.5
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    width = 2.5 + 0.5 * torch.tanh(z[:, :1])[..., None]          # [B,1,1]
    img = torch.exp(-(xx ** 2 + yy ** 2)[None] / (2 * width ** 2))
    return img[:, None] + 0 * z[:, 1:2, None, None]


def test_pose_map_finds_a_shift_that_plain_map_cannot_explain():
    clean = warp(blob_decoder(torch.zeros(4, 2)), pose_from_degrees_px(torch.zeros(4), 4.0, -3.0))
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    kw = dict(beta=0.01, steps=40, restarts=3, seed=0)
    plain = map_estimate(blob_decoder, noisy, latent_dim=2, **kw)
    posed = pose_map_estimate(blob_decoder, noisy, latent_dim=2, **kw)
    gain = metrics.psnr(posed.x_hat, clean).mean() - metrics.psnr(plain.x_hat, clean).mean()
    assert gain > 5
    shift = posed.params["pose_deg_px"][:, 2:]
    assert torch.allclose(shift, torch.tensor([4.0, -3.0]).expand(4, 2), atol=0.5)
    assert posed.z.shape == (4, 2) and posed.z_path.shape[-1] == 2


def test_restart_zero_starts_at_the_init_with_the_identity_pose():
    x = blob_decoder(torch.full((2, 2), 0.3))
    init = torch.tensor([[0.3, 0.0], [-1.0, 0.5]])
    res = pose_map_estimate(blob_decoder, x, latent_dim=2, init=init, beta=0.0, steps=0, restarts=1)
    assert torch.allclose(res.params["pose"], torch.zeros(2, 4))
    assert torch.allclose(res.x_hat, blob_decoder(init).clamp(0, 1), atol=1e-6)


def test_prior_widths_are_in_normalised_units():
    s = PosePrior(angle_deg=10, log_scale=0.2, shift_px=7).sigmas(28)
    assert torch.allclose(s, torch.tensor([math.radians(10), 0.2, 0.5, 0.5]))


def test_transform_set_conditions():
    x = blob_decoder(torch.zeros(6, 2))
    assert torch.equal(transform_set(x, "upright"), x)
    moved = transform_set(x, "shifted", seed=1)
    assert not torch.allclose(moved, x) and torch.allclose(moved.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.02)
    assert torch.equal(transform_set(x, "rotated", seed=3), transform_set(x, "rotated", seed=3))
    with pytest.raises(ValueError, match="condition"):
        transform_set(x, "mirrored")


def test_verdicts_compare_with_plain_map():
    rows = [{"condition": "shifted", "level": 0.3, "method": "MAP", "psnr": 15.0, "identity": 70.0},
            {"condition": "shifted", "level": 0.3, "method": "MAP + pose", "psnr": 16.0, "identity": 75.0},
            {"condition": "upright", "level": 0.3, "method": "MAP", "psnr": 20.0, "identity": 90.0},
            {"condition": "upright", "level": 0.3, "method": "MAP + pose", "psnr": 20.3, "identity": 88.0}]
    v = {r["condition"]: r for r in verdicts(rows)}
    assert v["shifted"]["helps"] and v["shifted"]["psnr gain dB"] == pytest.approx(1.0)
    assert not v["upright"]["helps"]  # more PSNR but fewer digits kept


def test_denoisers_pose_option_untrained():
    from core.denoise import Denoisers
    from core.models import build

    den = Denoisers(build("spec_ae"), build("vae16"), trained={})
    x = torch.rand(2, 1, 28, 28)
    from core.pose_map import pose_aware

    out = pose_aware(den, x, steps=2, restarts=2, beta=0.1)
    assert out.x_hat.shape == (2, 1, 28, 28) and out.params["pose_aware"] and out.z.shape == (2, 16)
    assert out.params["pose"].shape == (2, 4)
    assert not den("map", x, steps=1, restarts=1, beta=0.1).params["pose_aware"]


@pytest.mark.slow
def test_pose_map_helps_on_shifted_digits_with_the_shipped_weights():
    from core.pose_map import measure

    if not checkpoints.path("vae16").exists():
        pytest.skip("needs checkpoints/vae16.pt")
    rows = measure(n=40, levels=(0.3,), conditions=("shifted",), progress=False)
    v = verdicts(rows)[0]
    assert v["psnr gain dB"] > 0.5, rows


def test_a_wild_pose_stays_finite_under_the_clip_aware_likelihood():
    # A huge trial step once made exp(log-scale) overflow: NaN pixels stopped the whole run.
    from core.pose_map import bounded
    huge = torch.tensor([[1e3, 80.0, -1e4, 50.0]])
    assert torch.isfinite(warp(blob_decoder(torch.zeros(1, 2)), bounded(huge))).all()
    x = blob_decoder(torch.zeros(2, 2))
    res = pose_map_estimate(blob_decoder, x, latent_dim=2, beta=0.0, steps=5, restarts=2, noise_std=0.5)
    assert torch.isfinite(res.x_hat).all()
