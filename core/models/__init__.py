"""The model registry: name -> (model class, model config, training config).

Every shipped checkpoint `checkpoints/<name>.pt` is trained from its entry here by
`python -m core.train <name>`; `core.checkpoints.load(name)` rebuilds the model from it.
"""
from __future__ import annotations

from ..train_config import TrainConfig
from . import ae, classifier, colour, fc, mlp_vae, upsampling, vae
from .base import Autoencoder, LabModel

# Each family module declares MODELS = {name: (class, config, TrainConfig)}; order = EXERCISES.md.
REGISTRY: dict[str, tuple[type, object, TrainConfig]] = {
    **ae.MODELS, **classifier.MODELS, **vae.MODELS, **fc.MODELS, **upsampling.MODELS,
    **colour.MODELS, **mlp_vae.MODELS,
}


# The budget each model got and why (epochs, schedule; see core.convergence for the rule they meet).
BUDGET_WHY: dict[str, str] = {
    **ae.BUDGET_WHY, **classifier.BUDGET_WHY, **vae.BUDGET_WHY, **fc.BUDGET_WHY, **upsampling.BUDGET_WHY,
    **colour.BUDGET_WHY, **mlp_vae.BUDGET_WHY,
}


def budget_why(name: str) -> str:
    return BUDGET_WHY.get(name, "")


def _unknown(name: str) -> KeyError:
    return KeyError(f"unknown model {name!r}; valid names: {', '.join(REGISTRY)}")


def entry(name: str):
    if name not in REGISTRY:
        raise _unknown(name)
    return REGISTRY[name]


def model_class(name: str) -> type:
    return entry(name)[0]


def build(name: str, seed: int | None = None) -> LabModel:
    """A freshly initialised model `name` (weights drawn from `seed` if given)."""
    cls, cfg, train_cfg = entry(name)
    import torch

    torch.manual_seed(train_cfg.seed if seed is None else seed)
    return cls(cfg)
