"""Where the project keeps things, and the environment variables that move them (the only place
that reads them):

    AELAB_CHECKPOINTS   trained weights + MANIFEST.json + denoise_defaults.json   (checkpoints/)
    AELAB_DATA          MNIST's raw files under MNIST/raw                           (data/)
    AELAB_CACHE         cached analysis results, the demo's example drawings       (.cache/)
    AELAB_MNIST_SOURCE  a folder already holding the four raw MNIST files (e.g. another clone's
                        data/MNIST/raw), copied from before anything is downloaded  (unset)

Read once at import, as a command line sets them; code reads the module attributes at call time
(`paths.CACHE_DIR`), so a test can point one of them elsewhere with monkeypatch.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_path(var: str, default: Path | None) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else default


CHECKPOINT_DIR = _env_path("AELAB_CHECKPOINTS", PROJECT_ROOT / "checkpoints")
DATA_DIR = _env_path("AELAB_DATA", PROJECT_ROOT / "data")
CACHE_DIR = _env_path("AELAB_CACHE", PROJECT_ROOT / ".cache")
# Committed cache entries of results too slow to compute at render time (t-SNE of 10,000 codes),
# named as in CACHE_DIR: retrained weights change the name, so a stale one is never read.
SHIPPED_CACHE_DIR = PROJECT_ROOT / "results" / "cache"


def ships_results() -> bool:
    """Are the weights in use the project's own checkpoints/? Results computed from weights trained
    elsewhere (AELAB_CHECKPOINTS, `make train QUICK=1`) must never replace the shipped ones."""
    return Path(CHECKPOINT_DIR).resolve() == (PROJECT_ROOT / "checkpoints").resolve()
MNIST_SOURCE = _env_path("AELAB_MNIST_SOURCE", None)
REPORT_DIR = PROJECT_ROOT / "report"
