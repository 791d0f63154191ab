"""Seed spread: the extra-seed registry entries, the spread arithmetic, and the per-seed denoisers."""
import math

import numpy as np
import pytest

from core import models, report
from core.analysis import seeds
from core.models import checkpoints


def test_extra_seeds_copy_their_base_but_the_seed():
    for base, extra in models.EXTRA_SEEDS.items():
        e = models.REGISTRY[base]
        cls, cfg, tcfg = e.cls, e.config, e.train
        for s in extra:
            e2 = models.REGISTRY[models.seed_name(base, s)]
            c2, cfg2, t2 = e2.cls, e2.config, e2.train
            assert c2 is cls and cfg2 == cfg and t2.seed == s != tcfg.seed and str(s) in e2.title
            assert {k for k in vars(t2) if getattr(t2, k) != getattr(tcfg, k)} == {"seed"}
        assert models.seed_family(base)[0] == base and len(models.seed_family(base)) == 1 + len(extra)


def test_spec_ae_and_its_extra_seeds_train_in_fp32_on_every_cpu():
    assert not models.REGISTRY["spec_ae"].train.bf16 and not models.REGISTRY["spec_ae_seed10"].train.bf16


def test_seed_entries_never_share_a_seed_after_retries():
    # A collapsed run retries with seed + 1 up to max_attempts times: ranges must not overlap.
    for base, extra in models.EXTRA_SEEDS.items():
        tcfg = models.REGISTRY[base].train
        ranges = [range(s, s + tcfg.max_attempts) for s in (tcfg.seed, *extra)]
        assert all(set(a).isdisjoint(b) for i, a in enumerate(ranges) for b in ranges[i + 1:])


def test_mean_sd_uses_the_sample_sd_and_nan_for_one_value():
    mean, sd = seeds.mean_sd([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    assert mean.tolist() == [3.0, 10.0] and sd.tolist() == [2.0, 0.0]
    assert math.isnan(float(seeds.mean_sd([4.0])[1]))


def test_gap_to_reference_in_units_of_the_spread():
    values = np.array([[40.0, 80.0], [42.0, 81.0], [44.0, 82.0]])  # sd 2 and 1
    gap = seeds.gap_to_reference(values, [43.0, 90.0])
    assert gap["within"].tolist() == [True, False]
    assert gap["gap"].tolist() == [-1.0, -9.0] and gap["in_sds"][1] == pytest.approx(9.0)
    rows = seeds.knn_rows({"per_digit": values, "mean": values.mean(0), "sd": values.std(0, ddof=1)}, [43.0, 90.0])
    assert [r["within spread"] for r in rows] == ["yes", "no"] and rows[0]["seed of record"] == 40.0


def test_aggregate_merges_rows_per_key():
    runs = [[{"method": "map", "level": 0.3, "psnr": 20.0, "note": "x"}],
            [{"method": "map", "level": 0.3, "psnr": 22.0, "note": "y"}]]
    (row,) = seeds.aggregate(runs, labels=["a", "b"])
    assert row["psnr_mean"] == 21.0 and row["psnr_sd"] == pytest.approx(math.sqrt(2))
    assert row["psnr_seeds"] == [20.0, 22.0] and row["seeds"] == ["a", "b"] and "note_mean" not in row


def test_over_seeds_without_checkpoints_says_how_to_train(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="core.training "):
        seeds.over_seeds(lambda den: [], directory=tmp_path)


def test_report_check_names_every_false_claim():
    report.check({"true": True})
    with pytest.raises(report.ClaimError, match="one; three"):
        report.check({"one": False, "two": True, "three": 0})


@pytest.mark.slow
def test_extra_seed_checkpoints_load_and_record_their_precision():
    names = [n for base in models.EXTRA_SEEDS for n in models.seed_family(base)[1:]]
    present = [n for n in names if checkpoints.path(n).exists()]
    if not present:
        pytest.skip("no extra-seed checkpoint trained yet")
    entries = checkpoints.manifest()
    for name in present:
        model = checkpoints.load(name)
        assert type(model).__name__ == entries[name]["model_class"]
        assert entries[name]["precision"] in ("bf16", "fp32")
        assert entries[name]["sha256"] == checkpoints.sha256(checkpoints.path(name))


def test_train_all_leaves_the_extra_seeds_out():
    extra = {models.seed_name(b, s) for b, ss in models.EXTRA_SEEDS.items() for s in ss}
    record = models.of_record()
    assert extra and not extra & set(record)
    assert set(record) | extra == set(models.REGISTRY)
    assert set(models.extra_seeds()) == extra


def test_train_extra_seeds_plans_exactly_the_six_seed_entries(capsys):
    from core.training import train

    train.main(["--extra-seeds", "--estimate", "--jobs", "2"])
    planned = {line.split()[0] for line in capsys.readouterr().out.splitlines() if "s/epoch" in line}
    assert planned == set(models.extra_seeds())
