"""One training loop for every model of the registry.

    python -m core.training spec_ae            # train (or resume) one model -> checkpoints/spec_ae.pt
    python -m core.training --all --missing    # every registered model that has no checkpoint yet
    python -m core.training spec_ae --dry-run  # 1 epoch of 2 batches into a temp dir: checks the plumbing
    python -m core.training --all --jobs 2     # two at a time, one thread each (core/training/pool.py; `make train`)

Adam, shuffled index batches from in-memory tensors (moved to the device once), bf16 autocast +
channels_last on CPU (they help there; measured in bench/train_speed.py), per-epoch train/test
history (and validation, on a seeded held-out part of the training images, where the config asks), a resume file after
every epoch (an interrupted run continues where it stopped), and a health check that retries a
collapsed run with the next seed and records it.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import math
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from core import data, models, paths
from core.models import REGISTRY, build, checkpoints, entry
from core.models.train_config import TrainConfig
from core.training import pool
from core.training.plan import _Overall, print_estimate


class TrainingError(RuntimeError):
    pass


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=None)
def native_bf16(dev_type: str) -> bool:
    """bf16 pays only with hardware support: emulated on AVX-512 without BF16 it is ~1.8x slower
    than fp32 for the spec AE (measured here, bench/train_speed.py), with AMX/AVX512_BF16 faster."""
    if dev_type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(dev: torch.device, enabled: bool):
    """bf16 autocast where the hardware does bf16 natively; a no-op context otherwise."""
    if not (enabled and native_bf16(dev.type)):
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)


def precision(dev: torch.device, tcfg: TrainConfig) -> str:
    """'bf16' where training autocasts (see `autocast`), else 'fp32'."""
    return "bf16" if tcfg.fast and tcfg.bf16 and native_bf16(dev.type) else "fp32"


VAL_SEED = 401


def validation_split(n: int, size: int, seed: int = VAL_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(fit, validation) sorted indices into a training split of n items: `size` of them, drawn
    with a fixed seed, are held out for validation and never trained on."""
    if not 0 < size < n:
        raise TrainingError(f"a validation split of {size} out of {n} training items leaves nothing to train or check")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[size:].sort().values, perm[:size].sort().values


def _resume_path(name: str, directory: Path) -> Path:
    return directory / ".resume" / f"{name}.pt"


def _to_device(tensors, dev: torch.device) -> list[torch.Tensor]:
    """A split's tensors on the training device, once per training: on a GPU every epoch then
    indexes device memory (no per-batch host copy, so no pinned memory is needed; MNIST-sized
    splits fit easily); on the CPU .to() returns the same tensors."""
    return [t.to(dev) for t in tensors]


def _mean_logs(sums: dict, n: int) -> dict:
    return {k: v / n for k, v in sums.items()}


def _append(history: dict, logs: dict) -> None:
    for k, v in logs.items():
        history.setdefault(k, []).append(float(v))


def learning_rate(tcfg: TrainConfig, step: int, total_steps: int) -> float:
    """The lr for optimiser step `step` of `total_steps`. A pure function of the step (no scheduler
    state), so a resumed run follows exactly the schedule of an uninterrupted one."""
    if tcfg.schedule == "constant":
        return tcfg.lr
    if tcfg.schedule == "cosine":
        return tcfg.lr * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    raise TrainingError(f"unknown lr schedule {tcfg.schedule!r}; use 'constant' or 'cosine'")


def _run_epoch(model, opt, tensors, tcfg, epoch, seed, dev, limit_batches, progress):
    model.train()
    n = len(tensors[0])
    order = data.batches(n, tcfg.batch_size, seed=seed * 100_003 + epoch)
    if limit_batches:
        order = order[:limit_batches]
    total_steps = tcfg.epochs * len(order)
    sums, count = {}, 0
    bar = tqdm(order, desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False, disable=not progress,
               unit="batch")
    for step, idx in enumerate(bar, start=epoch * len(order)):
        for group in opt.param_groups:
            group["lr"] = learning_rate(tcfg, step, total_steps)
        batch = [t[idx.to(t.device)] for t in tensors]  # the tensors already live on `dev`
        if tcfg.fast and dev.type == "cpu" and batch[0].dim() == 4:
            batch[0] = batch[0].contiguous(memory_format=torch.channels_last)
        with autocast(dev, tcfg.fast and tcfg.bf16):
            loss, logs = model.loss(*batch)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {float(loss)} at epoch {epoch + 1}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
        count += len(idx)
        bar.set_postfix(loss=f"{float(logs['loss']):.4f}")
    return _mean_logs(sums, count)


def _trained_with(cls, saved: dict, tcfg: TrainConfig, model_cfg) -> bool:
    """Whether a checkpoint (or resume file) holds these configs; renamed config fields of older
    checkpoints count under their new names (LabModel.config_aliases). Compared as dataclasses, so
    a config field added later with a default leaves older checkpoints up to date."""
    try:
        # How many retries a run was allowed does not change the weights of the one that succeeded
        # (its seed is recorded): raising the limit leaves a trained checkpoint current.
        return (replace(TrainConfig(**saved["train_config"]), max_attempts=tcfg.max_attempts) == tcfg
                and type(model_cfg)(**cls.upgrade_config(saved["model_config"])) == model_cfg)
    except TypeError:  # a field this code no longer knows
        return False


def _fresh(name, seed, tcfg, dev):
    model = build(name, seed=seed).to(dev)
    if tcfg.fast and dev.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    return model, opt


def train(name: str, epochs: int | None = None, force: bool = False, limit_batches: int | None = None,
          directory: Path | None = None, progress: bool = True, position: int | None = None,
          on_epoch=None) -> dict:
    """Train `name` to checkpoints/<name>.pt (resuming if interrupted) and return the checkpoint.

    `position`: the terminal line of this run's progress bar when several run at once (then the
    per-batch bar is left out, so parallel bars do not overwrite each other). `on_epoch(name,
    epochs_done)` is called whenever that count changes (after each epoch, on resume, on a retry),
    for an overall progress bar."""
    torch.set_flush_denormal(True)  # denormals make CPU convs crawl late in training
    e = entry(name)
    cls, model_cfg, tcfg = e.cls, e.config, e.train
    if epochs is not None:
        tcfg = replace(tcfg, epochs=epochs)
    directory = Path(directory or paths.CHECKPOINT_DIR)
    final = checkpoints.path(name, directory)
    if final.exists() and not force:
        ckpt = checkpoints.read_file(final, name)
        if _trained_with(cls, ckpt, tcfg, model_cfg):
            tqdm.write(f"{name}: up to date ({final})")
            return ckpt
        raise TrainingError(f"{final} was trained with another config; pass --force to retrain it")

    dev = device()
    train_t = data.load(tcfg.dataset, "train")
    val_t = None
    if tcfg.val_size:
        fit_idx, val_idx = validation_split(len(train_t[0]), tcfg.val_size)
        train_t, val_t = [t[fit_idx] for t in train_t], [t[val_idx] for t in train_t]
    test_t = data.load(tcfg.dataset, "test")
    train_t, test_t = _to_device(train_t, dev), _to_device(test_t, dev)
    val_t = _to_device(val_t, dev) if val_t is not None else None
    probe = [t[:512] for t in train_t]
    empty = lambda: {"train": {}, "test": {}, **({"val": {}} if val_t is not None else {})}  # noqa: E731

    state = {"epoch": 0, "history": empty(), "attempts": [], "seed": tcfg.seed,
             "train_seconds": 0.0, "snapshots": []}
    model, opt = _fresh(name, tcfg.seed, tcfg, dev)
    resume = _resume_path(name, directory)
    if resume.exists():
        saved = checkpoints.read_file(resume, name)
        if _trained_with(cls, saved, tcfg, model_cfg):
            model, opt = _fresh(name, saved["seed"], tcfg, dev)
            model.load_state_dict(saved["state_dict"])
            opt.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng"])
            state = {k: saved[k] for k in state}
            tqdm.write(f"{name}: resuming after epoch {state['epoch']} from {resume}")
            if on_epoch:
                on_epoch(name, state["epoch"])
        else:
            tqdm.write(f"{name}: ignoring {resume} (another config)")

    bar = tqdm(total=tcfg.epochs, initial=state["epoch"], desc=name, unit="epoch", disable=not progress,
               position=position, leave=position is None)
    batch_bars = progress and position is None
    while state["epoch"] < tcfg.epochs:
        epoch, t0 = state["epoch"], time.perf_counter()
        if epoch == 0:
            torch.manual_seed(state["seed"])
        train_logs = _run_epoch(model, opt, train_t, tcfg, epoch, state["seed"], dev, limit_batches, batch_bars)
        with autocast(dev, tcfg.fast and tcfg.bf16):
            cut = (lambda ts: [t[: limit_batches * tcfg.batch_size] for t in ts]) if limit_batches else (lambda ts: ts)
            test_logs = model.metrics(*cut(test_t))
            val_logs = model.metrics(*cut(val_t)) if val_t is not None else None
        state["train_seconds"] += time.perf_counter() - t0

        # A health verdict needs a real epoch behind it; a few-batch plumbing run is not judged.
        judged = not limit_batches and (epoch == 0 or epoch == tcfg.epochs - 1)
        problem = model.health(*probe) if judged else None
        if problem:
            state["attempts"].append({"seed": state["seed"], "epoch": epoch + 1, "problem": problem})
            if len(state["attempts"]) >= tcfg.max_attempts:
                raise TrainingError(f"{name}: every attempt failed: {state['attempts']}")
            state.update(epoch=0, seed=state["seed"] + 1, history=empty(), snapshots=[])
            tqdm.write(f"{name}: {problem} (seed {state['attempts'][-1]['seed']}); "
                       f"retrying with seed {state['seed']}")
            model, opt = _fresh(name, state["seed"], tcfg, dev)
            bar.reset()
            if on_epoch:
                on_epoch(name, 0)
            continue

        _append(state["history"]["train"], train_logs)
        _append(state["history"]["test"], test_logs)
        if val_logs is not None:
            _append(state["history"]["val"], val_logs)
        if hasattr(model, "snapshot"):  # e.g. outputs at several epochs (C4), saved with the weights
            state["snapshots"].append(model.snapshot(*test_t).cpu())
        state["epoch"] += 1
        checkpoints.save_file({**state, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                               "rng": torch.get_rng_state(), "train_config": asdict(tcfg),
                               "model_config": asdict(model_cfg)}, resume)
        bar.update(1)
        bar.set_postfix(train=f"{train_logs['loss']:.4f}", test=f"{test_logs['loss']:.4f}")
        if on_epoch:
            on_epoch(name, state["epoch"])
    bar.close()

    model = model.float().to(memory_format=torch.contiguous_format)
    metrics = model.metrics(*test_t)  # fp32, deterministic: what the tests re-check
    ckpt = {
        "model_class": cls.__name__, "model_config": asdict(model_cfg), "train_config": asdict(tcfg),
        "state_dict": {k: v.cpu().contiguous() for k, v in model.state_dict().items()},
        "history": state["history"], "metrics": metrics, "metric_name": cls.metric_name,
        "epoch": state["epoch"], "seed": state["seed"], "attempts": state["attempts"],
        "train_seconds": state["train_seconds"], "snapshots": state["snapshots"],
        "torch_version": str(torch.__version__),
        # Thread count changes floating-point summation order, hence the weights: recorded so that
        # a retraining can use the same (core.training.train.verify, `--threads`).
        "threads": torch.get_num_threads(),
        "images_per_epoch": min(len(train_t[0]), limit_batches * tcfg.batch_size) if limit_batches else len(train_t[0]),
        "precision": precision(dev, tcfg),  # the training's compute precision (the weights are fp32)
        "device": dev.type,
    }
    checkpoints.save_file(ckpt, final)
    checkpoints.record(name, ckpt, directory)
    resume.unlink(missing_ok=True)
    tqdm.write(f"{name}: test {cls.metric_name} {metrics[cls.metric_name]:.5f} after {state['epoch']} epochs "
               f"({state['train_seconds']:.0f} s, {ckpt['threads']} thread(s)) -> {final}")
    return ckpt


def verify(name: str, rel_tol: float = 0.02) -> dict:
    """Retrain `name` from scratch into a temp folder and compare its test metric with the
    manifest's. Same code, config, seed and thread count give the same numbers on the same CPU; a
    different CPU (or thread count) changes the summation order, hence a tolerance. Returns
    {"recorded", "retrained", "ok"}."""
    entry = checkpoints.manifest().get(name)
    if entry is None:
        raise TrainingError(f"{name} is not in {paths.CHECKPOINT_DIR / checkpoints.MANIFEST}")
    threads = torch.get_num_threads()
    torch.set_num_threads(entry.get("threads") or threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = train(name, force=True, directory=Path(tmp))
    finally:
        torch.set_num_threads(threads)
    key = entry["metric_name"]
    recorded, retrained = entry["metrics"][key], ckpt["metrics"][key]
    ok = abs(retrained - recorded) <= rel_tol * abs(recorded)
    print(f"{name}: recorded {key} {recorded:.5f}, retrained {retrained:.5f} "
          f"({'within' if ok else 'OUTSIDE'} {rel_tol:.0%})")
    return {"recorded": recorded, "retrained": retrained, "ok": ok}


def train_many(names: list[str], jobs: int = 1, threads: int | None = None, **kwargs) -> None:
    """Train `names` (keyword arguments as for `train`), `jobs` at a time in worker processes with
    `threads` torch threads each (default cpu_count() // jobs), longest first; an overall progress
    bar counts the models. A model that fails does not stop the others; all failures are raised
    together at the end."""
    jobs = min(jobs, len(names))
    overall = _Overall(names, jobs, kwargs.get("epochs"), kwargs.get("directory"), kwargs.get("limit_batches"),
                       disable=len(names) < 2 or not kwargs.get("progress", True))
    if jobs <= 1:
        if threads:
            torch.set_num_threads(threads)
        for name in names:
            overall.bar.set_postfix_str(name)
            try:
                train(name, on_epoch=overall.epoch, **kwargs)
            finally:
                overall.finished(name)
        overall.close()
        return
    # `train` of the importable module, not of __main__ (`python -m core.training`), so that spawned
    # workers unpickle it by importing core.training.train.
    failures = pool.run_many(importlib.import_module("core.training.train").train, names, jobs,
                                   threads or max(1, pool.cpu_count() // jobs), overall, kwargs)
    overall.close()
    if failures:
        raise TrainingError("; ".join(f"{n}: {why}" for n, why in failures.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train lab models into checkpoints/<name>.pt.")
    parser.add_argument("names", nargs="*", help=f"models to train: {', '.join(REGISTRY)}")
    parser.add_argument("--all", action="store_true", help="every model of record (not the extra-seed entries)")
    parser.add_argument("--extra-seeds", action="store_true",
                        help="the extra-seed entries of the seed-spread study (A3, A4, A8)")
    parser.add_argument("--epochs", type=int, help="override the registered number of epochs")
    parser.add_argument("--force", action="store_true", help="retrain even if a checkpoint exists")
    parser.add_argument("--missing", action="store_true", help="skip models that have a checkpoint")
    parser.add_argument("--limit-batches", type=int, help="train on at most N batches per epoch")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train this many models at once, in processes sharing the cores")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores; with --jobs, cores/jobs)")
    parser.add_argument("--dry-run", action="store_true",
                        help="1 epoch of 2 batches per model, into a temporary folder (for CI)")
    parser.add_argument("--checkpoints", type=Path, help="checkpoint folder (default checkpoints/)")
    parser.add_argument("--verify", action="store_true",
                        help="retrain from scratch in a temp folder; compare with the manifest")
    parser.add_argument("--estimate", action="store_true",
                        help="print the planned time per model and the schedule estimate; train nothing")
    args = parser.parse_args(argv)
    names = (models.of_record() if args.all else args.names) + (models.extra_seeds() if args.extra_seeds else [])
    if args.missing:
        names = [n for n in names if not checkpoints.path(n, args.checkpoints).exists()]
        if not names:
            print("every checkpoint is present; nothing to train")
            return
    if not names:
        parser.error("name at least one model, or pass --all or --extra-seeds")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; valid names: {', '.join(REGISTRY)}")
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--jobs and --threads must be at least 1")
    if args.estimate:
        print_estimate(names, args.jobs, args.epochs, args.checkpoints)
        return
    try:
        data.ensure_mnist()
        if args.verify:  # with the thread count each model was recorded with
            results = [verify(name) for name in names]
            if not all(r["ok"] for r in results):
                sys.exit("error: a retrained metric differs from the manifest beyond tolerance")
            return
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) if args.dry_run else args.checkpoints
            epochs, limit = (1, 2) if args.dry_run else (args.epochs, args.limit_batches)
            train_many(names, jobs=args.jobs, threads=args.threads, epochs=epochs, force=args.force or args.dry_run,
                       limit_batches=limit, directory=directory)
    except (data.DataError, checkpoints.CheckpointError, TrainingError) as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        sys.exit("interrupted: every finished epoch is saved; run the same command again to resume")


if __name__ == "__main__":
    main()
