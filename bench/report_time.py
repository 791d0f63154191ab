"""Seconds to execute each report chapter from the shipped weights, as `quarto render` would.

    python -m bench.report_time [--clear-cache] [--slowest N]

Each chapter runs in a fresh Jupyter kernel (tests/chapter_runner.py), as under Quarto, so the time
includes starting the kernel and importing torch once per page. Target: all chapters together
<= 5 minutes on a 2-core CPU. --clear-cache removes .cache/ first (a cold render, as after a fresh
clone); without it, cached analyses (t-SNE, GMM, denoising tables) are reused.
"""
from __future__ import annotations

import argparse
import shutil
import time

from core import paths
from tests import chapter_runner as qmd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clear-cache", action="store_true")
    parser.add_argument("--slowest", type=int, default=3, help="also list each chapter's N slowest cells")
    args = parser.parse_args()
    if args.clear_cache:
        shutil.rmtree(paths.CACHE_DIR, ignore_errors=True)
    total = 0.0
    for chapter in qmd.chapters():
        t0 = time.perf_counter()
        runs = qmd.run_chapter(chapter)["cells"]
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"{chapter.name:32s} {seconds:7.1f} s", flush=True)
        for run in sorted(runs, key=lambda r: r.seconds, reverse=True)[:args.slowest]:
            if run.seconds >= 1:
                first = next((l for l in run.cell.source.splitlines() if not l.startswith("#|")), "")
                print(f"    {run.seconds:6.1f} s  line {run.cell.line:4d}  {first[:70]}", flush=True)
    print(f"{'all chapters':32s} {total:7.1f} s  ({'within' if total <= 300 else 'OVER'} the 5-minute target)")


if __name__ == "__main__":
    main()
