"""MAP's validated defaults as an object, read from the folder that holds the weights they were
chosen for (`Denoisers.load(directory)` reads both from the same `directory`).

    d = MapDefaults.read()                        # checkpoints/denoise_defaults.json
    d.beta_for(0.3), d.beta_for(0.3, clip_aware=True)
    d.settings(0.3)                               # MapSettings(beta, steps, restarts), many images
    d.settings(0.3, single_image=True)            # one image at a time (the demo)

The file is written by the validation study, `python -m core.denoising.study --choose-defaults`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from core import paths

DEFAULTS_FILENAME = "denoise_defaults.json"


@dataclass(frozen=True)
class MapSettings:
    """What MAP runs with: its prior weight, optimiser iterations and restarts."""
    beta: float
    steps: int
    restarts: int


@dataclass(frozen=True)
class MapDefaults:
    """MAP's validated defaults. The field defaults hold only until the validation study has
    written its file (`read` falls back to them when there is none)."""
    beta: float = 1.0                  # for an unknown noise level
    steps: int = 30                    # many images at once: cost follows steps x restarts
    restarts: int = 4
    single_steps: int = 20             # one image at a time (the demo): latency follows the steps
    single_restarts: int = 8
    beta_by_noise: dict[float, float] = field(default_factory=dict)
    beta_by_noise_clip: dict[float, float] = field(default_factory=dict)  # for clip_aware=True
    record: dict = field(default_factory=dict)  # the whole file: the study, baselines' sizes, hashes
    source: Path | None = None

    @staticmethod
    def path(directory: Path | str | None = None) -> Path:
        return Path(directory or paths.CHECKPOINT_DIR) / DEFAULTS_FILENAME

    @classmethod
    def read(cls, directory: Path | str | None = None) -> "MapDefaults":
        """The defaults stored beside the weights in `directory` (default: the checkpoint folder);
        the fallback values when the file is missing or unreadable (`found` is then False)."""
        target = cls.path(directory)
        try:
            saved = json.loads(target.read_text())
        except (OSError, ValueError):
            return cls(source=target)
        single = saved.get("single_image") or {"steps": saved["steps"], "restarts": saved["restarts"]}
        return cls(beta=float(saved["beta"]), steps=int(saved["steps"]), restarts=int(saved["restarts"]),
                   single_steps=int(single["steps"]), single_restarts=int(single["restarts"]),
                   beta_by_noise={float(k): float(v) for k, v in saved.get("beta_by_noise", {}).items()},
                   beta_by_noise_clip={float(k): float(v) for k, v in saved.get("beta_by_noise_clip", {}).items()},
                   record=saved, source=target)

    @property
    def found(self) -> bool:
        return bool(self.record)

    def require(self) -> dict:
        """The recorded file, or an error that says how to write it."""
        if not self.found:
            raise FileNotFoundError(f"{self.source or self.path()} is missing; run "
                                    "`python -m core.denoising.study --choose-defaults`")
        return self.record

    def beta_for(self, noise_level: float | None, clip_aware: bool = False) -> float:
        """The validated beta for a noise level (log-linear interpolation between the validated
        levels, clamped to their range); `beta` when the level is unknown (None) or nothing was
        validated."""
        table = self.beta_by_noise_clip if clip_aware else self.beta_by_noise
        if noise_level is None or not table:
            return self.beta
        levels = sorted(table)
        s = min(max(float(noise_level), levels[0]), levels[-1])
        for lo, hi in zip(levels, levels[1:]):
            if lo <= s <= hi:
                t = (s - lo) / (hi - lo)
                b_lo, b_hi = (max(table[v], 1e-6) for v in (lo, hi))
                return math.exp((1 - t) * math.log(b_lo) + t * math.log(b_hi))
        return table[levels[0]]

    def settings(self, noise_level: float | None = None, *, clip_aware: bool = False,
                 single_image: bool = False) -> MapSettings:
        """The policy for a noise level (None: unknown, e.g. not Gaussian noise). single_image: the
        budget for one image at a time, with beta to 4 significant digits, the value a person sees
        on a slider and can send back (the validation grid's steps are a factor of 3 apart)."""
        beta = self.beta_for(noise_level, clip_aware)
        if single_image:
            return MapSettings(float(f"{beta:.4g}"), self.single_steps, self.single_restarts)
        return MapSettings(beta, self.steps, self.restarts)
