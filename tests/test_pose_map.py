"""Pose-aware MAP: the warp, the joint search on a tiny synthetic decoder, and the denoiser option."""
import math

import pytest
import torch

from core import metrics, paths
from core.denoising import pose_map
from core.denoising.denoise import map_estimate
from core.denoising.pose_map import PosePrior, pose_from_degrees_px, pose_map_estimate, verdicts, warp
from core.denoising.scoreboard import StaleArtifact
from core.models import checkpoints

from probes import assert_probe_matches


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


def _ids(value):
    """Identity per judge: one number for both judges, or a (convnet, MLP) pair."""
    a, b = value if isinstance(value, tuple) else (value, value)
    return {"judge": a, "judge_mlp": b}


def _rows(cond, level, plain, posed, se=0.05):
    """MAP and MAP + pose rows: (psnr, identity) each; identity one number or a pair per judge."""
    return [{"condition": cond, "level": level, "method": "MAP", "psnr": plain[0], "identity": _ids(plain[1])},
            {"condition": cond, "level": level, "method": "MAP + pose", "psnr": posed[0], "identity": _ids(posed[1]),
             "psnr_gain_se": se}]


def test_verdicts_compare_with_plain_map():
    rows = (_rows("shift", 0.3, (15.0, 0.70), (16.0, 0.75)) + _rows("clean", 0.3, (20.0, 0.90), (20.3, 0.88))
            + _rows("rotate", 0.3, (20.0, 0.90), (20.3, 0.90), se=0.2) + _rows("thin", 0.3, (20.0, 0.9), (19.8, 0.9)))
    v = {r["condition"]: r for r in verdicts(rows)}
    assert v["shift"]["helps"] and v["shift"]["psnr_gain"] == pytest.approx(1.0) and not v["shift"]["hurts"]
    assert not v["clean"]["helps"] and v["clean"]["hurts"]  # more PSNR but fewer digits kept
    assert not v["rotate"]["helps"] and not v["rotate"]["hurts"]  # a gain within twice its standard error
    assert v["thin"]["hurts"]


def test_a_verdict_on_identity_needs_both_judges():
    rows = _rows("shift", 0.3, (15.0, (0.70, 0.70)), (16.0, (0.75, 0.68)))
    (v,) = verdicts(rows)
    assert v["identity"] is None and not v["helps"] and not v["hurts"]
    assert pose_map.verdict_word(v) == "the judges disagree"
    (v,) = verdicts(_rows("shift", 0.3, (15.0, (0.70, 0.70)), (16.0, (0.68, 0.69))))
    assert v["identity"] == "lost" and v["hurts"] and pose_map.verdict_word(v) == "mixed"
    # An unknown pose: a disagreement anywhere is no evidence that the search does no harm.
    art = {"params": {"margin_db": 0.1}, "rows": _rows("shift", 0.3, (15.0, 0.7), (19.0, 0.9))
           + _rows("clean", 0.3, (20.0, (0.9, 0.9)), (20.05, (0.91, 0.89)))}
    assert pose_map.recommended("shift", artifact=art) and not pose_map.recommended(None, artifact=art)


ART = {"params": {"margin_db": 0.1},
       "rows": (_rows("clean", 0.3, (20.0, 0.9), (19.95, 0.9)) + _rows("clean", 0.5, (18.0, 0.9), (17.5, 0.9))
                + _rows("shift", 0.3, (15.0, 0.6), (19.0, 0.9)) + _rows("shift", 0.5, (14.0, 0.5), (18.0, 0.8))
                + _rows("rotate", 0.3, (20.0, 0.9), (21.0, 0.9)) + _rows("rotate", 0.5, (19.0, 0.9), (19.5, 0.8)))}


def test_recommended_only_where_the_artifact_says_it_helps():
    assert pose_map.recommended("shift", artifact=ART) and not pose_map.recommended("clean", artifact=ART)
    assert not pose_map.recommended("rotate", artifact=ART)           # helps at 0.3 only
    assert pose_map.recommended("rotate", 0.3, artifact=ART) and pose_map.recommended("rotate", 0.32, artifact=ART)
    assert not pose_map.recommended("rotate", 0.5, artifact=ART)
    assert not pose_map.recommended("shift", 0.8, artifact=ART)       # never measured there
    assert not pose_map.recommended(None, artifact=ART)               # unknown pose: it hurts upright digits
    with pytest.raises(ValueError, match="not measured"):
        pose_map.recommended("mirrored", artifact=ART)
    # Without the losses (upright at 0.5, rotated at 0.5) it is on: no clear help at upright 0.3 is no harm.
    kind = [r for r in ART["rows"] if r["condition"] == "shift" or r["level"] == 0.3]
    assert pose_map.recommended(None, artifact={**ART, "rows": kind})


def test_chapter_text_follows_the_verdicts():
    from core.analysis import pose as apose

    counts = {"judge": 0, "judge_mlp": 0}
    extra = {"MAP": {"ms_per_image": 1.0},
             "MAP + pose": {"ms_per_image": 2.0, "identity_gained": counts, "identity_lost": counts}}
    art = {**ART, "rows": [{**r, **extra[r["method"]]} for r in ART["rows"]]}
    rows = apose.table_rows(art)
    assert [r["verdict"] for r in rows] == ["no clear help", "hurts", "helps", "helps", "helps", "mixed"]
    assert rows[2]["identity %, MAP (convnet / MLP)"] == "60.0 / 60.0"
    text = apose.sentences(art)
    assert text["helps"].startswith("It helps for shifted 4 px digits at noise 0.3 and 0.5; and rotated")
    assert "upright" in text["rest"] and text["unknown"].startswith("off")
    assert not any("\n" in t or "`" in t for t in text.values())
    assert all(apose.claims(art).values())


def test_auto_runs_the_pose_search_only_where_recommended():
    from core.denoising.denoise import Denoisers
    from core.models import build

    den = Denoisers(build("spec_ae"), build("vae16"), trained={})
    x, kw = torch.rand(2, 1, 28, 28), dict(steps=1, restarts=1, beta=0.1, artifact=ART)
    assert pose_map.auto(den, x, condition="shift", **kw).params["pose_aware"]
    assert not pose_map.auto(den, x, condition="clean", **kw).params["pose_aware"]
    assert not pose_map.auto(den, x, **kw).params["pose_aware"]


def test_denoisers_pose_option_untrained():
    from core.denoising.denoise import Denoisers
    from core.models import build

    den = Denoisers(build("spec_ae"), build("vae16"), trained={})
    x = torch.rand(2, 1, 28, 28)
    from core.denoising.pose_map import pose_aware

    out = pose_aware(den, x, steps=2, restarts=2, beta=0.1)
    assert out.x_hat.shape == (2, 1, 28, 28) and out.params["pose_aware"] and out.z.shape == (2, 16)
    assert out.params["pose"].shape == (2, 4)
    assert not den("map", x, steps=1, restarts=1, beta=0.1).params["pose_aware"]


@pytest.mark.slow
def test_pose_map_helps_on_shifted_digits_with_the_shipped_weights():
    from core.denoising.pose_map import measure

    if not checkpoints.path("vae16").exists():
        pytest.skip("needs checkpoints/vae16.pt")
    rows = measure(n=40, levels=(0.3,), conditions=("shift",), progress=False)["rows"]
    v = verdicts(rows)[0]
    assert v["psnr_gain"] > 0.5, rows


def test_a_wild_pose_stays_finite_under_the_clip_aware_likelihood():
    # A huge trial step once made exp(log-scale) overflow: NaN pixels stopped the whole run.
    from core.denoising.pose_map import bounded
    huge = torch.tensor([[1e3, 80.0, -1e4, 50.0]])
    assert torch.isfinite(warp(blob_decoder(torch.zeros(1, 2)), bounded(huge))).all()
    x = blob_decoder(torch.zeros(2, 2))
    res = pose_map_estimate(blob_decoder, x, latent_dim=2, beta=0.0, steps=5, restarts=2, noise_std=0.5)
    assert torch.isfinite(res.x_hat).all()


# --- the shipped artifact ----------------------------------------------------------------------------

def test_the_loader_refuses_an_artifact_of_other_checkpoints(tmp_path, shipped_in_tmp):
    with pytest.raises(StaleArtifact, match="python -m core.denoising.pose_map --write"):
        pose_map.load_artifact(tmp_path / "none.json")
    shipped_in_tmp(["vae16.pt", "judge.pt", "judge_mlp.pt", "denoise_defaults.json"])
    target = tmp_path / "pose_map.json"
    checkpoints.write_json({"fingerprint": pose_map.fingerprint(), "command": pose_map.COMMAND, "rows": []}, target)
    assert pose_map.load_artifact(target)["rows"] == []
    (tmp_path / "judge_mlp.pt").unlink()  # a retrained judge: other bytes under the same name
    (tmp_path / "judge_mlp.pt").write_bytes((paths.PROJECT_ROOT / "checkpoints" / "judge_mlp.pt").read_bytes() + b"\0")
    with pytest.raises(StaleArtifact, match="judge_mlp.*python -m core.denoising.pose_map --write"):
        pose_map.load_artifact(target)
    assert pose_map.load_artifact(target, check=False)["rows"] == []


@pytest.mark.slow
def test_shipped_artifact_matches_a_recomputed_slice(mnist):
    """The first chunk of shifted digits at noise 0.5, recomputed now: the noisy input image by image,
    MAP and MAP + pose as chunk means (tests/probes.py says why), match the artifact's probe."""
    from core.denoising import scoreboard
    from core.denoising.denoise import Denoisers

    try:
        art = pose_map.load_artifact()
    except StaleArtifact as exc:
        pytest.skip(str(exc))
    clean, labels = scoreboard.test_digits(scoreboard.CHUNK, "shift")  # MAP's first chunk, as measured
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probe = pose_map.evaluate(Denoisers.load(), clean, labels, "shift", 0.5)["probe"]
    finally:
        torch.set_num_threads(threads)
    for method in pose_map.METHODS:
        key = f"shift|{method}|0.5"
        assert_probe_matches(probe[key], art["probe"][key], key, nonconvex=method != "noisy input")
