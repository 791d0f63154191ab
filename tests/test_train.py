"""The training engine and checkpoints, on a tiny synthetic model (fast), plus one CLI check."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core import models
from core.models import checkpoints
from core.training import plan, train

import tiny

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def registered():
    saved_models, saved_data = dict(models.REGISTRY), dict(train.data.DATASETS)
    tiny.register()
    yield
    models.REGISTRY.clear(), models.REGISTRY.update(saved_models)
    train.data.DATASETS.clear(), train.data.DATASETS.update(saved_data)


def test_train_writes_loadable_checkpoint_with_history_and_manifest(registered, tmp_path):
    ckpt = train.train("tiny_ae", directory=tmp_path, progress=False)
    assert len(ckpt["history"]["train"]["loss"]) == 3 == len(ckpt["history"]["test"]["loss"])
    assert ckpt["history"]["train"]["loss"][-1] < ckpt["history"]["train"]["loss"][0]
    model = checkpoints.load("tiny_ae", tmp_path)
    x, y = tiny.synthetic("test")
    assert model.metrics(x, y)["mse"] == pytest.approx(ckpt["metrics"]["mse"], rel=1e-5)
    entry = checkpoints.manifest(tmp_path)["tiny_ae"]
    assert entry["sha256"] == checkpoints.sha256(tmp_path / "tiny_ae.pt")
    assert entry["threads"] == torch.get_num_threads()
    assert entry["command"] == f"python -m core.training tiny_ae --threads {torch.get_num_threads()}"
    assert not (tmp_path / ".resume" / "tiny_ae.pt").exists()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_same_seed_same_numbers(registered, tmp_path):
    a = train.train("tiny_ae", directory=tmp_path / "a", progress=False)
    b = train.train("tiny_ae", directory=tmp_path / "b", progress=False)
    assert a["history"] == b["history"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_cosine_schedule_decays_from_lr_to_zero_and_rejects_unknown_names():
    cfg = train.TrainConfig(lr=0.5, schedule="cosine")
    lrs = [train.learning_rate(cfg, step, 10) for step in range(11)]
    assert lrs[0] == 0.5 and lrs[5] == pytest.approx(0.25) and lrs[10] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert train.learning_rate(train.TrainConfig(lr=0.5), 7, 10) == 0.5
    with pytest.raises(train.TrainingError, match="unknown lr schedule 'linear'"):
        train.learning_rate(train.TrainConfig(schedule="linear"), 0, 10)


@pytest.mark.slow
def test_cosine_schedule_is_applied_and_survives_an_interruption(registered, tmp_path, monkeypatch):
    constant = train.train("tiny_ae", directory=tmp_path / "constant", progress=False)
    whole = train.train("tiny_cosine", directory=tmp_path / "whole", progress=False)
    assert whole["history"]["train"]["loss"] != constant["history"]["train"]["loss"]

    real_run_epoch, calls = train._run_epoch, []

    def crash_in_epoch_2(model, opt, tensors, tcfg, epoch, *args):
        calls.append(epoch)
        if epoch == 1 and calls.count(1) == 1:
            raise KeyboardInterrupt  # like Ctrl-C after epoch 1 was saved
        return real_run_epoch(model, opt, tensors, tcfg, epoch, *args)

    monkeypatch.setattr(train, "_run_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train.train("tiny_cosine", directory=tmp_path / "resumed", progress=False)
    resumed = train.train("tiny_cosine", directory=tmp_path / "resumed", progress=False)
    assert calls == [0, 1, 1, 2]  # epoch 0 was not redone
    assert resumed["history"] == whole["history"]


def test_existing_checkpoint_is_kept_unless_forced(registered, tmp_path):
    first = train.train("tiny_ae", directory=tmp_path, progress=False)
    again = train.train("tiny_ae", directory=tmp_path, progress=False)
    assert again["train_seconds"] == first["train_seconds"]  # not retrained
    with pytest.raises(train.TrainingError, match="another config.*--force"):
        train.train("tiny_ae", epochs=5, directory=tmp_path, progress=False)


def test_collapsed_run_is_retried_with_next_seed_and_recorded(registered, tmp_path):
    ckpt = train.train("flaky_ae", directory=tmp_path, progress=False)
    assert ckpt["seed"] == 1
    assert [a["seed"] for a in ckpt["attempts"]] == [0]
    assert "collapsed" in ckpt["attempts"][0]["problem"]
    assert checkpoints.manifest(tmp_path)["flaky_ae"]["attempts"] == ckpt["attempts"]


def test_run_that_always_collapses_fails_loudly(registered, tmp_path, monkeypatch):
    monkeypatch.setattr(tiny.FlakyAE, "health", lambda self, *b: "collapsed: always")
    with pytest.raises(train.TrainingError, match="every attempt failed"):
        train.train("flaky_ae", directory=tmp_path, progress=False)
    assert not (tmp_path / "flaky_ae.pt").exists()


def test_corrupt_or_truncated_checkpoint_names_file_and_fix(registered, tmp_path):
    train.train("tiny_ae", directory=tmp_path, progress=False)
    target = tmp_path / "tiny_ae.pt"
    target.write_bytes(target.read_bytes()[:200])
    with pytest.raises(checkpoints.CheckpointError) as err:
        checkpoints.load("tiny_ae", tmp_path)
    assert str(target) in str(err.value) and "python -m core.training tiny_ae --force" in str(err.value)


def test_missing_checkpoint_says_how_to_train(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="python -m core.training spec_ae"):
        checkpoints.load("spec_ae", tmp_path)


def test_unknown_model_lists_valid_names():
    with pytest.raises(KeyError, match="spec_ae"):
        models.build("no_such_model")
    result = subprocess.run([sys.executable, "-m", "core.training", "no_such_model"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "valid names" in result.stderr and "spec_ae" in result.stderr


SUBPROCESS = """
from tests import tiny; tiny.register(epochs=40)
from core.training.train import main; main(["tiny_ae", "--checkpoints", {ckpts!r}])
"""


@pytest.mark.slow
def test_sigkill_mid_training_resumes_and_disk_state_is_always_loadable(tmp_path):
    script = SUBPROCESS.format(ckpts=str(tmp_path))
    resume = tmp_path / ".resume" / "tiny_ae.pt"
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline, loads = time.time() + 120, 0
    while time.time() < deadline and proc.poll() is None:
        if resume.exists():
            state = checkpoints.read_file(resume)  # must never see a half-written file
            loads += 1
            if state["epoch"] >= 3:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert loads > 0, "training never wrote its resume state"
    done = checkpoints.read_file(resume)["epoch"]
    assert 0 < done < 40

    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"resuming after epoch {done}" in out.stdout
    final = checkpoints.read_file(tmp_path / "tiny_ae.pt")
    assert final["epoch"] == 40 and len(final["history"]["train"]["loss"]) == 40
    assert not resume.exists()


@pytest.mark.slow
def test_dry_run_touches_no_checkpoint(tmp_path, mnist):
    env = {**os.environ, "AELAB_CHECKPOINTS": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "core.training", "spec_ae", "--dry-run"], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "spec_ae: test mse" in out.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_parallel_training_gives_the_numbers_of_a_one_thread_run_and_records_how(tmp_path, mnist):
    """`make train` trains two models at a time in worker processes with one thread each: each
    model's weights are exactly those of a one-thread training here, and the manifest says so."""
    names = ["fc64", "sparse_ae"]
    train.train_many(names, jobs=2, threads=1, epochs=1, limit_batches=3, force=True,
                     directory=tmp_path / "parallel", progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = train.train("fc64", epochs=1, limit_batches=3, directory=tmp_path / "alone", progress=False)
    finally:
        torch.set_num_threads(threads)
    entries = checkpoints.manifest(tmp_path / "parallel")
    assert set(entries) == set(names) and all(e["threads"] == 1 for e in entries.values())
    assert entries["fc64"]["command"] == "python -m core.training fc64 --threads 1"
    parallel = checkpoints.load_checkpoint("fc64", tmp_path / "parallel")
    assert parallel["history"] == alone["history"]
    assert all(torch.equal(parallel["state_dict"][k], alone["state_dict"][k]) for k in alone["state_dict"])


# --- validation split, config comparison, progress/ETA, device -------------------------------------

def test_validation_split_is_held_out_of_training_and_recorded(registered, tmp_path, monkeypatch):
    fit, val = train.validation_split(512, 128)
    assert len(fit) == 384 and len(val) == 128 and not set(fit.tolist()) & set(val.tolist())
    assert torch.equal(val, train.validation_split(512, 128)[1])  # fixed by its seed
    with pytest.raises(train.TrainingError, match="validation split"):
        train.validation_split(10, 10)
    seen = []
    real_epoch = train._run_epoch
    monkeypatch.setattr(train, "_run_epoch", lambda model, opt, tensors, *a: seen.append(len(tensors[0]))
                        or real_epoch(model, opt, tensors, *a))
    ckpt = train.train("tiny_val", directory=tmp_path, progress=False)
    assert seen == [384] * 3  # the 128 validation images are never trained on
    h = ckpt["history"]
    assert len(h["val"]["mse"]) == len(h["test"]["mse"]) == len(h["train"]["mse"]) == 3
    model = checkpoints.load("tiny_val", tmp_path)
    x, y = tiny.synthetic("train")
    assert model.metrics(x[val], y[val])["mse"] == pytest.approx(h["val"]["mse"][-1], rel=1e-5)
    assert ckpt["images_per_epoch"] == 384 and ckpt["precision"] == "fp32"
    assert "val" not in train.train("tiny_ae", directory=tmp_path, progress=False)["history"]


def test_a_config_field_added_later_with_a_default_keeps_checkpoints_up_to_date(registered, tmp_path, capsys):
    train.train("tiny_ae", directory=tmp_path, progress=False)
    ckpt = checkpoints.load_checkpoint("tiny_ae", tmp_path)
    del ckpt["train_config"]["val_size"]  # as written before the field existed
    checkpoints.save_file(ckpt, tmp_path / "tiny_ae.pt")
    e = models.REGISTRY["tiny_ae"]
    cls, mcfg, tcfg = e.cls, e.config, e.train
    assert train._trained_with(cls, ckpt, tcfg, mcfg)
    train.train("tiny_ae", directory=tmp_path, progress=False)
    assert "up to date" in capsys.readouterr().out
    assert not train._trained_with(cls, {**ckpt, "train_config": {**ckpt["train_config"], "epochs": 4}}, tcfg, mcfg)
    assert not train._trained_with(cls, {**ckpt, "train_config": {**ckpt["train_config"], "gone": 1}}, tcfg, mcfg)
    # more retries allowed than when it was trained: the weights it produced are still current
    assert train._trained_with(cls, {**ckpt, "train_config": {**ckpt["train_config"], "max_attempts": 99}}, tcfg, mcfg)


def test_schedule_estimate_is_longest_first_over_free_slots():
    assert plan.schedule_estimate({"a": 10, "b": 6, "c": 5}, jobs=2) == 11  # a | b then c
    assert plan.schedule_estimate({"a": 10, "b": 6, "c": 5}, jobs=1) == 21
    assert plan.schedule_estimate({"a": 10, "b": 6, "c": 5}, jobs=5) == 10


def test_overall_progress_counts_every_epoch_and_uses_recorded_costs(registered, tmp_path):
    train.train("tiny_ae", directory=tmp_path, progress=False)  # a record: its cost per epoch
    per_epoch = checkpoints.manifest(tmp_path)["tiny_ae"]["train_seconds"] / 3
    assert plan.epoch_seconds("tiny_ae", tmp_path) == pytest.approx(per_epoch, rel=1e-3)
    assert plan.planned_seconds(["tiny_ae"], epochs=6, directory=tmp_path)["tiny_ae"] == pytest.approx(
        6 * per_epoch, rel=1e-3)
    calls = []
    train.train("tiny_val", directory=tmp_path, progress=False, on_epoch=lambda n, d: calls.append((n, d)))
    assert calls == [("tiny_val", 1), ("tiny_val", 2), ("tiny_val", 3)]
    overall = plan._Overall(["tiny_ae", "flaky_ae"], jobs=2, directory=tmp_path, disable=True)
    overall.epoch("tiny_ae", 2)
    assert overall.done == pytest.approx(overall.planned["tiny_ae"] * 2 / 3)
    overall.epoch("tiny_ae", 0)  # a collapsed run starts over
    assert overall.done == pytest.approx(0, abs=1e-9)
    overall.finished("tiny_ae"), overall.finished("flaky_ae")
    assert overall.done == pytest.approx(sum(overall.planned.values()))


def test_cuda_is_selected_when_present_and_data_moves_to_the_device_once(registered, tmp_path, monkeypatch):
    """No GPU here: fake the selection path. Where CUDA is present the engine selects it and asks
    it (not the CPU flags) about bf16; every split then moves to the device once per training."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert train.device() == torch.device("cuda")
    assert not train.native_bf16.__wrapped__("cuda")
    assert train.precision(torch.device("cuda"), train.TrainConfig()) == "fp32"
    monkeypatch.undo()  # torch itself would now try to initialise the (absent) GPU
    monkeypatch.setattr(train, "device", lambda: torch.device("cpu"))  # the rest runs on the CPU
    moves = []
    real = train._to_device
    monkeypatch.setattr(train, "_to_device", lambda ts, dev: moves.append(len(ts[0])) or real(ts, dev))
    train.train("tiny_val", directory=tmp_path, progress=False)
    assert moves == [384, 128, 128]  # train, test, validation: once each, not per epoch or batch


def test_bf16_false_keeps_fp32_where_the_cpu_has_native_bf16(monkeypatch):
    # spec_ae collapses under bf16 autocast: `bf16=False` must hold on every machine, and
    # `fast` (channels_last) must not switch it back on.
    monkeypatch.setattr(train, "native_bf16", lambda dev_type: True)
    cpu = torch.device("cpu")
    assert train.precision(cpu, train.TrainConfig()) == "bf16"
    assert train.precision(cpu, train.TrainConfig(bf16=False)) == "fp32"
    assert train.precision(cpu, train.TrainConfig(fast=False)) == "fp32"
    assert isinstance(train.autocast(cpu, True), torch.autocast)
    assert models.REGISTRY["spec_ae"].train.fast and not models.REGISTRY["spec_ae"].train.bf16


def test_a_run_plans_with_the_reference_costs_of_a_full_make_train(tmp_path, monkeypatch):
    # AELAB_CHECKPOINTS=/empty make train, or make train over the shipped weights (whose records
    # were made on loaded machines): both plan with results/train_costs.json, which has every model
    # of record, so "longest first" and the first ETA follow measured costs, not one guess.
    from core import paths

    reference = plan.reference_costs()["models"]
    assert set(models.of_record()) | set(models.extra_seeds()) <= set(reference)
    r = reference["c_ae"]
    expected = r["train_seconds"] / r["epochs"]  # c_ae trains on as many images per epoch as then
    assert expected != plan.UNKNOWN_EPOCH_SECONDS
    monkeypatch.setattr(paths, "CHECKPOINT_DIR", tmp_path)
    assert plan.epoch_seconds("c_ae", tmp_path) == pytest.approx(expected)
    monkeypatch.setattr(paths, "CHECKPOINT_DIR", paths.PROJECT_ROOT / "checkpoints")
    assert plan.epoch_seconds("c_ae") == pytest.approx(expected)
    # without the reference file, the shipped manifest plans
    monkeypatch.setattr(plan, "COSTS_FILE", tmp_path / "missing.json")
    shipped = checkpoints.manifest(paths.PROJECT_ROOT / "checkpoints")["c_ae"]
    assert plan.epoch_seconds("c_ae") == pytest.approx(shipped["train_seconds"] / shipped["epochs"])


def test_recorded_costs_of_a_run_become_the_plan(registered, tmp_path, monkeypatch):
    train.train("tiny_ae", directory=tmp_path / "run", progress=False)
    costs = plan.record_costs(tmp_path / "run", wall_seconds=12.5, target=tmp_path / "costs.json")
    assert costs["measured"]["wall_seconds"] == 12.5 and "tiny_ae" in costs["models"]
    monkeypatch.setattr(plan, "COSTS_FILE", tmp_path / "costs.json")
    recorded = checkpoints.manifest(tmp_path / "run")["tiny_ae"]
    assert plan.epoch_seconds("tiny_ae") == pytest.approx(recorded["train_seconds"] / recorded["epochs"])
    monkeypatch.setattr(plan, "COSTS_FILE", tmp_path / "missing.json")
    assert plan.reference_costs() == {}
    with pytest.raises(FileNotFoundError, match="core.training.plan --record"):
        plan.reference_costs(required=True)
    with pytest.raises(FileNotFoundError, match="no MANIFEST.json"):
        plan.record_costs(tmp_path / "empty", target=tmp_path / "other.json")
