"""What reading every output with each judge costs the demo: the judges' reading of one request's
batch (the clean drawing, each output, each MAP restart) by each judge alone and by `Judging` (every
judge, combined), against the whole `Engine.compare` of that drawing, one thread as in the app.

    python -m bench.demo_judges [--repeats 200]

Prints the median ms of each and its ratio to the whole request (medians over `repeats`, the judges
and the request interleaved so a change of load hits both).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from demo.testing import drawing


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20, help="whole requests timed (each ~0.3 s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from core.denoising import judge
    from demo.engine import Engine

    engine = Engine.load()
    if engine.judging is None:
        raise SystemExit("a judge is not shipped: the demo reads nothing")
    sketch = {"background": None, "layers": [drawing("seven")], "composite": drawing("seven")}
    c = engine.compare(sketch, "Gaussian", 0.5, 0)
    restarts = engine._restart_images(engine._map(c.noisy, "gaussian", 0.5, None, *engine.check_map_settings(
        None, None, "Gaussian", 0.5), 0))
    batch = torch.cat([c.clean] + [r.x_hat for r in c.results.values()] + [restarts[1]]).float()
    load0 = os.getloadavg()[0]
    times = {f"{judge.SHORT.get(n, n)} judge alone": [] for n in engine.judging.names}
    times["Judging.read (every judge, combined)"] = []
    with torch.inference_mode():
        for _ in range(args.repeats):
            for name, model in engine.judging.models.items():
                times[f"{judge.SHORT.get(name, name)} judge alone"].append(timed(lambda m=model: m.read(batch)))
            times["Judging.read (every judge, combined)"].append(timed(lambda: engine.judging.read(batch)))
    request = [timed(lambda: engine.compare(sketch, "Gaussian", 0.5, i)) for i in range(args.requests)]
    whole = float(np.median(request))
    print(f"the judges on one request's batch of {len(batch)} images, one thread, {args.repeats} repeats; "
          f"the whole Engine.compare (Gaussian 0.5, a drawn 7) over {args.requests} requests "
          f"(load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"{'':40s} {'median ms':>10s} {'of a request':>13s}")
    for name, v in times.items():
        print(f"{name:40s} {np.median(v):10.2f} {100 * np.median(v) / whole:12.1f} %")
    print(f"{'Engine.compare (whole request)':40s} {whole:10.2f} {100.0:12.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
