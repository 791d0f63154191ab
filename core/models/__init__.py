"""The model registry: name -> `Entry(cls, config, train, title, budget_why)`.

Every shipped checkpoint `checkpoints/<name>.pt` is trained from its entry here by
`python -m core.train <name>`; `core.checkpoints.load(name)` rebuilds the model from it.
"""
from __future__ import annotations

from . import ae, classifier, colour, fc, mlp_vae, upsampling, vae
from .base import Autoencoder, Entry, LabModel, evaluating, kl_divergence, reparameterise

__all__ = ["REGISTRY", "Entry", "LabModel", "Autoencoder", "entry", "model_class", "title", "build",
           "evaluating", "reparameterise", "kl_divergence"]

# Each family module declares MODELS = {name: Entry(...)}; order = EXERCISES.md.
REGISTRY: dict[str, Entry] = {
    **ae.MODELS, **classifier.MODELS, **vae.MODELS, **fc.MODELS, **upsampling.MODELS,
    **colour.MODELS, **mlp_vae.MODELS,
}


def _unknown(name: str) -> KeyError:
    return KeyError(f"unknown model {name!r}; valid names: {', '.join(REGISTRY)}")


def entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise _unknown(name)
    found = REGISTRY[name]
    if not isinstance(found, Entry):  # e.g. an old-style (class, config, train config) tuple
        raise TypeError(f"registry entry {name!r} is a {type(found).__name__}, not a core.models.Entry")
    return found


def model_class(name: str) -> type:
    return entry(name).cls


def title(name: str) -> str:
    """How figures, tables and the demo name model `name`."""
    return entry(name).title


def build(name: str, seed: int | None = None) -> LabModel:
    """A freshly initialised model `name` (weights drawn from `seed` if given)."""
    e = entry(name)
    import torch

    torch.manual_seed(e.train.seed if seed is None else seed)
    return e.cls(e.config)
