"""One on-disk cache for every expensive result (analyses, the demo's latent map).

    from core.cache import cached
    res = cached("a6-denoise", compute, depends_on=["spec_ae"], params={"level": 0.5, "seed": 0})

An entry is <cache dir>/<tag>-<weights key>-<params key>.pt: the weights key hashes the sha256 of
every checkpoint the result depends on, the params key the parameters (JSON), so retrained weights
or other parameters never hit a stale entry. When the weights change, the tag's entry for the same
parameters is replaced (older weights' entries are deleted); other parameters' entries are kept.
Writes are atomic; a damaged entry is recomputed, never trusted.

`shipped=True` first reads a committed copy of the entry (paths.SHIPPED_CACHE_DIR, written by
`ship`) for results too slow to compute when a chapter renders; its name carries the same weights
key, so after a retraining it is simply not found and the result is computed.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import torch

from core import paths
from core.models import checkpoints

T = TypeVar("T")
FORMATS = ("pt", "pickle")  # pt: tensors/numbers/lists, read with weights_only; pickle: any object


def _weights_key(depends_on: Iterable[str | Path], checkpoint_dir: Path | None) -> str:
    digests = []
    for dep in depends_on:
        # A name is a checkpoint of the registry; a Path is any file whose content the result reads.
        target = Path(dep) if isinstance(dep, Path) else checkpoints.path(dep, checkpoint_dir)
        if not target.exists():
            raise checkpoints.CheckpointError(f"{target} does not exist. Train it with "
                                              f"`{checkpoints.train_command(target.stem)}`.")
        digests.append(f"{target.stem}:{checkpoints.sha256(target)}")
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


def _params_key(params: dict | None) -> str:
    blob = json.dumps(params or {}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def entry(tag: str, depends_on: Iterable[str | Path] = (), params: dict | None = None, *,
          directory: Path | None = None, checkpoint_dir: Path | None = None, fmt: str = "pt") -> Path:
    """The file that holds (or will hold) this result."""
    if not re.fullmatch(r"[\w.-]+", tag):
        raise ValueError(f"cache tag must be letters, digits, '_', '-' or '.', not {tag!r}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    suffix = ".pt" if fmt == "pt" else ".pkl"
    name = f"{tag}-{_weights_key(depends_on, checkpoint_dir)}-{_params_key(params)}{suffix}"
    return Path(directory or paths.CACHE_DIR) / name


def cached(tag: str, compute: Callable[[], T], *, depends_on: Iterable[str | Path] = (),
           params: dict | None = None, directory: Path | None = None,
           checkpoint_dir: Path | None = None, fmt: str = "pt", shipped: bool = False) -> T:
    """compute()'s value, computed once per (checkpoints it depends on, params) and then read back.

    depends_on: checkpoint names (resolved in `checkpoint_dir`, default the checkpoint folder) or
    file paths; a missing one raises CheckpointError with the command that trains it.
    fmt "pt" (default) stores dicts of tensors/numbers/lists; "pickle" any object (e.g. a fitted
    sklearn model), only ever read back from this project's own cache folder. `shipped` (fmt "pt"
    only): a committed copy in paths.SHIPPED_CACHE_DIR is read first."""
    target = entry(tag, depends_on, params, directory=directory, checkpoint_dir=checkpoint_dir, fmt=fmt)
    copy = Path(paths.SHIPPED_CACHE_DIR) / target.name
    if shipped and fmt == "pt" and copy.exists():
        try:
            return torch.load(copy, map_location="cpu", weights_only=True)
        except Exception:  # a damaged committed copy: compute, as if it were absent
            pass
    if target.exists():
        try:
            if fmt == "pt":
                return torch.load(target, map_location="cpu", weights_only=True)
            return pickle.loads(target.read_bytes())
        except Exception:  # a damaged entry (e.g. a half-written file from an old version) is recomputed
            target.unlink(missing_ok=True)
    value = compute()
    if fmt == "pt":
        checkpoints.save_file(value, target)
    else:
        checkpoints.atomic_write(target, lambda f: f.write(pickle.dumps(value)))
    _drop_stale(target, tag)
    return value


def stored(tag: str, *, depends_on: Iterable[str | Path] = (), params: dict | None = None,
           directory: Path | None = None, checkpoint_dir: Path | None = None):
    """The value `cached` would read back (the committed copy first, then this machine's cache), or
    None when neither holds it: for results too slow to compute where they are read (fmt "pt")."""
    target = entry(tag, depends_on, params, directory=directory, checkpoint_dir=checkpoint_dir)
    for candidate in (Path(paths.SHIPPED_CACHE_DIR) / target.name, target):
        if candidate.exists():
            try:
                return torch.load(candidate, map_location="cpu", weights_only=True)
            except Exception:  # a damaged copy counts as absent
                continue
    return None


def may_ship(what: str) -> bool:
    """Are the weights in use the project's own checkpoints/ (paths.ships_results)? If not, says
    that `what` is not shipped: results of weights trained elsewhere never replace the shipped ones."""
    if paths.ships_results():
        return True
    print(f"not shipping {what}: the weights in {paths.CHECKPOINT_DIR} are not the project's checkpoints/")
    return False


def ship(tag: str, compute: Callable[[], T], *, depends_on: Iterable[str | Path] = (),
         params: dict | None = None, checkpoint_dir: Path | None = None) -> Path:
    """Compute (or read from the cache) a result and commit-ready copy it into
    paths.SHIPPED_CACHE_DIR, where `cached(..., shipped=True)` finds it; the copies of this tag
    and parameters made from older weights are removed. Returns the copy's path."""
    value = cached(tag, compute, depends_on=depends_on, params=params, checkpoint_dir=checkpoint_dir)
    copy = Path(paths.SHIPPED_CACHE_DIR) / entry(tag, depends_on, params, checkpoint_dir=checkpoint_dir).name
    copy.parent.mkdir(parents=True, exist_ok=True)
    checkpoints.save_file(value, copy)
    _drop_stale(copy, tag)
    return copy


def _drop_stale(target: Path, tag: str) -> None:
    """Delete this tag's entries for the same parameters computed from other weights."""
    weights, params_suffix = target.name[len(tag) + 1:].split("-", 1)
    pattern = re.compile(re.escape(tag) + r"-[0-9a-f]{16}-" + re.escape(params_suffix))
    for other in target.parent.glob(f"{tag}-*-{params_suffix}"):
        if other != target and pattern.fullmatch(other.name):
            other.unlink(missing_ok=True)
