"""The training configuration every registry entry carries (kept apart to avoid import cycles)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    # "constant", or "cosine": lr decays per step along half a cosine to 0 at the last step.
    schedule: str = "constant"
    seed: int = 0
    dataset: str = "mnist"
    # channels_last on CPU, bf16 autocast where the hardware has native bf16 (core.training.train.native_bf16).
    fast: bool = True
    # False: fast but fp32 on every machine (a model that bf16 autocast destabilises).
    bf16: bool = True
    # A collapsed run (see LabModel.health) is retried with seed+1, up to this many attempts.
    max_attempts: int = 4
    # > 0: hold this many training images out (a fixed, seeded split: core.training.train.validation_split)
    # and record validation curves beside the train and test ones. 0 keeps every image for training.
    val_size: int = 0
