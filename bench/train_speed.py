"""Training throughput of the spec AE: our engine vs a textbook PyTorch loop, in one run.

    python -m bench.train_speed [--batches 60] [--batch-size 256] [--rounds 2]
    python -m bench.train_speed --parallel [--model fc128]   # what `make train --jobs 2` relies on
    python -m bench.train_speed --flops [--threads 1] [--batches 30]   # engine vs the machine's limit

Textbook: torchvision MNIST with transforms.ToTensor()/Pad(2) per item, DataLoader(shuffle=True),
fp32, contiguous tensors. Engine: core.training.train's epoch loop (in-memory tensors, index batches,
channels_last; bf16 autocast only where the CPU has native bf16). Both train the same model with
the same optimiser; rounds alternate so machine noise hits both. Prints images/s and the ratio.

--flops instead measures, for the spec AE and c_ae (each at its registered batch size), the
engine's achieved GFLOP/s (FLOPs of one forward+backward counted by torch.utils.flop_counter)
against the peak of a large fp32 torch.mm measured in the same run with the same threads, in fp32
and, where the CPU has native bf16, also with the engine's bf16 autocast against a bf16 torch.mm.

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

from core import data, paths
from core.models import REGISTRY, build
from core.training import pool, train


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


def flops_per_image(model_name: str, batch_size: int = 64) -> float:
    """FLOPs of one training step (forward + backward of `model.loss`) per image, fp32."""
    from torch.utils.flop_counter import FlopCounterMode

    tcfg = REGISTRY[model_name].train
    tensors = [t[:batch_size] for t in data.load(tcfg.dataset, "train")]
    model = build(model_name).train()
    with FlopCounterMode(display=False) as counter:
        loss, _ = model.loss(*tensors)
        loss.backward()
    return counter.get_total_flops() / batch_size


def matmul_peak(dtype=torch.float32, n: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP/s of a large square torch.mm (the machine's practical GEMM limit at these threads)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: oneDNN/MKL picks its kernel
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        reps += 1
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def engine_rate(model_name: str, batches: int, bf16: bool, batch_size: int | None = None,
                fused: bool = False, compiled: bool = False) -> float:
    """Engine images/s of `model_name` at its registered batch size, fp32 or bf16 autocast;
    `compiled`: its loss (forward and, through AOTAutograd, backward) by torch.compile."""
    tcfg = REGISTRY[model_name].train
    tcfg = replace(tcfg, batch_size=batch_size or tcfg.batch_size)
    tensors = data.load(tcfg.dataset, "train")
    real = train.native_bf16
    train.native_bf16 = lambda dev_type: bf16
    try:
        model, opt = train._fresh(model_name, 0, tcfg, torch.device("cpu"))
        if fused:
            opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay, fused=True)
        if compiled:  # the warm-up batches below pay for the compilation
            model.loss = torch.compile(model.loss)
        train._run_epoch(model, opt, tensors, tcfg, 0, 0, torch.device("cpu"), 3, progress=False)  # warm-up
        t0 = time.perf_counter()
        train._run_epoch(model, opt, tensors, tcfg, 0, 0, torch.device("cpu"), batches, progress=False)
        return batches * tcfg.batch_size / (time.perf_counter() - t0)
    finally:
        train.native_bf16 = real


def flops(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = train.native_bf16("cpu")
    models = ("spec_ae", "c_ae")
    per_image = {m: flops_per_image(m) for m in models}
    peaks, rates = {"fp32": [], "bf16": []}, {(m, p): [] for m in models for p in ("fp32", "bf16")}
    variants = {}  # options tried on top of the engine's defaults, fp32
    for _ in range(args.rounds):  # interleaved, so machine noise hits every figure alike
        peaks["fp32"].append(matmul_peak(torch.float32))
        if bf16:
            peaks["bf16"].append(matmul_peak(torch.bfloat16))
        for m in models:
            rates[(m, "fp32")].append(engine_rate(m, args.batches, bf16=False))
            if bf16:
                rates[(m, "bf16")].append(engine_rate(m, args.batches, bf16=True))
            if args.variants:
                bs = REGISTRY[m].train.batch_size
                for label, kw in ((f"batch {bs * 2}", {"batch_size": bs * 2}), ("fused Adam", {"fused": True}),
                                  ("torch.compile", {"compiled": True})):
                    variants.setdefault((m, label), []).append(engine_rate(m, args.batches, bf16=False, **kw))
    med = statistics.median
    print(f"threads {torch.get_num_threads()}, {args.batches} batches x {args.rounds} rounds, native bf16: {bf16}")
    for p in ("fp32", "bf16") if bf16 else ("fp32",):
        peak = med(peaks[p])
        print(f"{p} torch.mm 2048^2 peak: {peak:7.1f} GFLOP/s")
        for m in models:
            rate = med(rates[(m, p)])
            gflops = rate * per_image[m] / 1e9
            print(f"  {m:8s} {per_image[m] / 1e6:6.1f} MFLOP/image  engine {rate:7.0f} img/s = "
                  f"{gflops:6.1f} GFLOP/s = {100 * gflops / peak:4.1f} % of the {p} peak")
    for (m, label), values in variants.items():
        print(f"  {m:8s} fp32 with {label:11s}: {med(values):7.0f} img/s "
              f"({med(values) / med(rates[(m, 'fp32')]):.2f}x the engine's default)")


def parallel(args) -> None:
    """All cores in one process vs one single-thread process per core, same model, alternating."""
    cores = pool.cpu_count()
    with multiprocessing.get_context("spawn").Pool(cores) as workers:
        workers.starmap(engine, [(2, args.batch_size, args.model, 1)] * cores)  # warm-up: imports, data
        single, together = [], []
        for _ in range(args.rounds):
            single.append(engine(args.batches, args.batch_size, args.model, cores))
            together.append(sum(workers.starmap(engine, [(args.batches, args.batch_size, args.model, 1)] * cores)))
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
    parser.add_argument("--flops", action="store_true", help="GFLOP/s of spec_ae and c_ae vs a torch.mm peak")
    parser.add_argument("--variants", action="store_true", help="with --flops: also try a doubled batch, fused Adam, torch.compile")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    data.ensure_mnist()
    if args.flops:
        return flops(args)
    if args.threads:
        torch.set_num_threads(args.threads)
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
