"""Training throughput of the spec AE: our engine vs a textbook PyTorch loop, in one run.

    python bench/train_speed.py [--batches 60] [--batch-size 256] [--rounds 2]

Textbook: torchvision MNIST with transforms.ToTensor()/Pad(2) per item, DataLoader(shuffle=True),
fp32, contiguous tensors. Engine: core.train's epoch loop (in-memory tensors, index batches,
channels_last; bf16 autocast only where the CPU has native bf16). Both train the same model with
the same optimiser; rounds alternate so machine noise hits both. Prints images/s and the ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from core import data, train
from core.models import REGISTRY, build


def textbook(batches: int, batch_size: int) -> float:
    ds = datasets.MNIST(str(data.DATA_ROOT), train=True, download=False,
                        transform=transforms.Compose([transforms.ToTensor(), transforms.Pad(2)]))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True)
    model = build("spec_ae")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    seen, t0 = 0, time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if i == batches:
            break
        out = model.decoder(model.encoder(x))
        loss = loss_fn(out, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(x)
    return seen / (time.perf_counter() - t0)


def engine(batches: int, batch_size: int) -> float:
    _, _, tcfg = REGISTRY["spec_ae"]
    tcfg = replace(tcfg, batch_size=batch_size)
    tensors = data.load("mnist", "train")
    model, opt = train._fresh("spec_ae", 0, tcfg, torch.device("cpu"))
    t0 = time.perf_counter()
    train._run_epoch(model, opt, tensors, tcfg, 0, 0, torch.device("cpu"), batches, progress=False)
    return batches * batch_size / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    data.ensure_mnist()
    data.load("mnist", "train")  # loading once is part of the engine's design, not its epoch time
    results = {"textbook": [], "engine": []}
    for _ in range(args.rounds):
        results["textbook"].append(textbook(args.batches, args.batch_size))
        results["engine"].append(engine(args.batches, args.batch_size))
    tb, en = statistics.median(results["textbook"]), statistics.median(results["engine"])
    print(f"threads {torch.get_num_threads()}, batch {args.batch_size}, {args.batches} batches x {args.rounds} rounds; "
          f"native bf16: {train.native_bf16('cpu')}")
    print(f"textbook loop : {tb:8.0f} img/s  (epoch of 60k: {60000 / tb:5.1f} s)")
    print(f"engine        : {en:8.0f} img/s  (epoch of 60k: {60000 / en:5.1f} s)")
    print(f"ratio engine/textbook: {en / tb:.2f}x")


if __name__ == "__main__":
    main()
