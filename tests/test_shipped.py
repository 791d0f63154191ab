"""Every shipped checkpoint loads, matches its manifest entry, and re-earns its test metric."""
import pytest

from core import data, models, paths
from core.models import checkpoints

ENTRIES = checkpoints.manifest()


def test_manifest_lists_every_checkpoint_file_and_only_registered_models():
    files = {p.stem for p in paths.CHECKPOINT_DIR.glob("*.pt")}
    assert files == set(ENTRIES), "checkpoints/ and MANIFEST.json disagree"
    assert set(ENTRIES) <= set(models.REGISTRY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_shipped_checkpoint_rechecks_its_test_metric(name, mnist):
    entry = ENTRIES[name]
    assert checkpoints.sha256(checkpoints.path(name)) == entry["sha256"], "file changed since recorded"
    ckpt = checkpoints.load_checkpoint(name)
    model = checkpoints.build(name, ckpt)
    test = data.load(ckpt["train_config"]["dataset"], "test")
    measured = model.metrics(*test)[entry["metric_name"]]
    # fp32 inference on the same data: only summation order (thread count) can differ.
    assert measured == pytest.approx(entry["metrics"][entry["metric_name"]], rel=1e-3, abs=1e-6)
    assert not ckpt["attempts"] or ckpt["seed"] != ckpt["attempts"][-1]["seed"]


@pytest.mark.slow
def test_cheapest_shipped_model_retrains_from_scratch_to_its_recorded_metric(mnist):
    """Reproducibility: same code, config and seed -> the manifest's number (within 2 %)."""
    from core.training import train

    name = min(ENTRIES, key=lambda n: ENTRIES[n]["train_seconds"])
    result = train.verify(name, rel_tol=0.02)
    assert result["ok"], result
