"""Training throughput of the spec AE: our engine vs a textbook PyTorch loop, in one run.

    python -m bench.train_speed [--batches 60] [--batch-size 256] [--rounds 2]
    python -m bench.train_speed --parallel [--model fc128]   # what `make train --jobs 2` relies on

Textbook: torchvision MNIST with transforms.ToTensor()/Pad(2) per item, DataLoader(shuffle=True),
fp32, contiguous tensors. Engine: core.train's epoch loop (in-memory tensors, index batches,
channels_last; bf16 autocast only where the CPU has native bf16). Both train the same model with
the same optimiser; rounds alternate so machine noise hits both. Prints images/s and the ratio.

--parallel instead compares the engine on all cores in one process with one single-thread engine
per core running at the same time (summed images/s), the way `make train` trains two models at once.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from core import data, paths, train
from core.models import REGISTRY, build


def textbook(batches: int, batch_size: int) -> float:
    ds = datasets.MNIST(str(paths.DATA_DIR), train=True, download=False,
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


def engine(batches: int, batch_size: int, model_name: str = "spec_ae", threads: int | None = None) -> float:
    if threads:
        torch.set_num_threads(threads)
    tcfg = REGISTRY[model_name].train
    tcfg = replace(tcfg, batch_size=batch_size)
    tensors = data.load(tcfg.dataset, "train")
    model, opt = train._fresh(model_name, 0, tcfg, torch.device("cpu"))
    t0 = time.perf_counter()
    train._run_epoch(model, opt, tensors, tcfg, 0, 0, torch.device("cpu"), batches, progress=False)
    return batches * batch_size / (time.perf_counter() - t0)


def parallel(args) -> None:
    """All cores in one process vs one single-thread process per core, same model, alternating."""
    cores = train.cpu_count()
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.starmap(engine, [(2, args.batch_size, args.model, 1)] * cores)  # warm-up: imports, data
        single, together = [], []
        for _ in range(args.rounds):
            single.append(engine(args.batches, args.batch_size, args.model, cores))
            together.append(sum(pool.starmap(engine, [(args.batches, args.batch_size, args.model, 1)] * cores)))
    one, many = statistics.median(single), statistics.median(together)
    print(f"{args.model}, batch {args.batch_size}, {args.batches} batches x {args.rounds} rounds, {cores} cores")
    print(f"one process, {cores} threads           : {one:8.0f} img/s")
    print(f"{cores} processes, 1 thread each (summed): {many:8.0f} img/s")
    print(f"ratio parallel/single: {many / one:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallel", action="store_true", help="one process on all cores vs one per core")
    parser.add_argument("--model", default="spec_ae", help="registry name (for --parallel)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    data.ensure_mnist()
    if args.parallel:
        return parallel(args)
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
