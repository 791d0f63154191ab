"""Checkpoints at fixed paths `checkpoints/<name>.pt`: weights + config + history + test metrics.

Everything is written atomically (temp file + rename) and read with `weights_only=True`.
`MANIFEST.json` beside them lists, per shipped model, its configs, metrics and the command.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from core import paths

MANIFEST = "MANIFEST.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message names the file and the fix."""


def path(name: str, directory: Path | None = None) -> Path:
    return Path(directory or paths.CHECKPOINT_DIR) / f"{name}.pt"


def train_command(name: str, threads: int | None = None) -> str:
    """The command that retrains `name` to the same numbers (on the same CPU)."""
    return f"python -m core.training {name}" + (f" --threads {threads}" if threads else "")


def atomic_write(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these files are shared and committed
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_file(obj: dict, target: Path) -> None:
    atomic_write(Path(target), lambda f: torch.save(obj, f))


def write_json(obj, target: Path) -> None:
    atomic_write(Path(target), lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def read_file(target: Path, name: str | None = None) -> dict:
    target = Path(target)
    name = name or target.stem
    if not target.exists():
        raise CheckpointError(f"{target} does not exist. Train it with `{train_command(name)}`.")
    try:
        obj = torch.load(target, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or "state_dict" not in obj:
            raise ValueError("not a checkpoint of this project")
        return obj
    except Exception as exc:
        raise CheckpointError(f"{target} is corrupt or truncated ({type(exc).__name__}: "
                              f"{str(exc)[:200]}). Retrain it with `{train_command(name)} --force`.") from exc


def load_checkpoint(name: str, directory: Path | None = None) -> dict:
    return read_file(path(name, directory), name)


def build(name: str, ckpt: dict):
    """The model a checkpoint describes, weights loaded, in eval mode."""
    from core.models import REGISTRY, model_class

    cls = model_class(name) if name in REGISTRY else None
    if cls is None or cls.__name__ != ckpt["model_class"]:
        raise CheckpointError(f"checkpoint {name} holds a {ckpt['model_class']}, unknown here")
    try:
        model = cls(cls.config_from(ckpt["model_config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path(name)} holds a config the current {cls.__name__} does not take "
                              f"({exc}). Retrain it with `{train_command(name)} --force`.") from exc
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path(name)} does not fit the current {cls.__name__} code "
                              f"({str(exc)[:200]}). Retrain it with `{train_command(name)} --force`.") from exc
    return model.eval()


def load(name: str, directory: Path | None = None):
    """The trained model `name` from checkpoints/<name>.pt, in eval mode."""
    return build(name, load_checkpoint(name, directory))


def sha256(target: Path) -> str:
    return hashlib.sha256(Path(target).read_bytes()).hexdigest()


def manifest(directory: Path | None = None) -> dict:
    target = Path(directory or paths.CHECKPOINT_DIR) / MANIFEST
    return json.loads(target.read_text()) if target.exists() else {}


def record(name: str, ckpt: dict, directory: Path | None = None) -> None:
    """Add or replace `name`'s entry in the manifest (derived from its checkpoint file)."""
    directory = Path(directory or paths.CHECKPOINT_DIR)
    # Several trainings may finish at once: serialise the read-modify-write of the manifest.
    with open(directory / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = manifest(directory)
        entries[name] = _entry(name, ckpt, directory)
        write_json(entries, directory / MANIFEST)


def _entry(name: str, ckpt: dict, directory: Path) -> dict:
    return {
        "model_class": ckpt["model_class"],
        "model_config": ckpt["model_config"],
        "train_config": ckpt["train_config"],
        "metrics": ckpt["metrics"],
        "metric_name": ckpt["metric_name"],
        "epochs": ckpt["epoch"],
        "seed": ckpt["seed"],
        "attempts": ckpt["attempts"],
        "train_seconds": round(ckpt["train_seconds"], 1),
        "threads": ckpt.get("threads"),
        "precision": ckpt.get("precision"),
        "command": train_command(name, ckpt.get("threads")),
        "file": path(name, directory).name,
        "bytes": path(name, directory).stat().st_size,
        "sha256": sha256(path(name, directory)),
    }
