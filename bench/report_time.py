"""Seconds to execute each report chapter from the shipped weights (the cell runner, no Quarto).

    python bench/report_time.py [--clear-cache] [--slowest N]

Target: all chapters together <= 5 minutes on a 2-core CPU. --clear-cache removes .cache/ first
(a cold render); without it, cached analyses (t-SNE, GMM, denoising tables) are reused.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import qmd  # noqa: E402
from core.data import PROJECT_ROOT  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clear-cache", action="store_true")
    parser.add_argument("--slowest", type=int, default=3, help="also list each chapter's N slowest cells")
    args = parser.parse_args()
    if args.clear_cache:
        shutil.rmtree(PROJECT_ROOT / ".cache", ignore_errors=True)
    total = 0.0
    for chapter in qmd.chapters():
        t0 = time.perf_counter()
        per_cell = qmd.run_chapter(chapter)["seconds"]
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"{chapter.name:32s} {seconds:7.1f} s", flush=True)
        cells = qmd.cells(chapter.read_text())
        for i in sorted(range(len(cells)), key=per_cell.__getitem__, reverse=True)[:args.slowest]:
            if per_cell[i] >= 1:
                first = next((l for l in cells[i].source.splitlines() if not l.startswith("#|")), "")
                print(f"    {per_cell[i]:6.1f} s  line {cells[i].line:4d}  {first[:70]}", flush=True)
    print(f"{'all chapters':32s} {total:7.1f} s  ({'within' if total <= 300 else 'OVER'} the 5-minute target)")


if __name__ == "__main__":
    main()
