"""What the chapters state about a model or the data, read from the objects themselves: a page
types no number into its prose (tests/chapter_runner.py checks), so a layer count, a width or a
size in the text cannot drift from the code that builds the model."""
from __future__ import annotations

import torch
from torch import nn

WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen twenty").split()


def thousands(n) -> str:
    """An integer with thousands separators: 60,000."""
    return f"{int(n):,}"


def spelled(n: int) -> str:
    """A small count in words, as prose writes it ("four layers"); digits from 21 on."""
    return WORDS[n] if 0 <= n < len(WORDS) else thousands(n)


def listed(items, last: str = "and") -> str:
    """"a, b and c"."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def convolutions(module: nn.Module) -> list[nn.Module]:
    """The module's convolutions (plain and transposed), in the order they are built."""
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def kernel(convs: list[nn.Module]) -> str:
    """The kernel size the convolutions share, as a name ("3x3"); ValueError if they differ."""
    sizes = {tuple(c.kernel_size) for c in convs}
    if len(sizes) != 1:
        raise ValueError(f"the convolutions have several kernel sizes: {sorted(sizes)}")
    return "x".join(map(str, sizes.pop()))


def hidden_widths(module: nn.Module) -> list[int]:
    """The widths of the fully-connected layers before the last one (the hidden layers)."""
    return [m.out_features for m in module.modules() if isinstance(m, nn.Linear)][:-1]


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sizes(module: nn.Module, example: torch.Tensor) -> list[str]:
    """The spatial size of the feature maps as `example` (N, C, H, W) goes through `module`, each
    time it changes: ["32x32", "16x16", ...]."""
    seen = [tuple(example.shape[2:])]

    def record(layer, inputs, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4:  # feature maps, not a Linear head's vectors
            seen.append(tuple(out.shape[2:]))

    hooks = [m.register_forward_hook(record) for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    changes = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    return ["x".join(map(str, s)) for s in changes]
