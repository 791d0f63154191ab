"""How closely a from-scratch retraining reproduces the shipped checkpoints, model by model.

    AELAB_CHECKPOINTS=/tmp/retrain make train      # retrain everything into another folder
    python -m bench.retrain_check /tmp/retrain     # compare it with checkpoints/MANIFEST.json

Prints each model's headline test metric, shipped and retrained, their relative difference, and the
recorded training seconds and threads of both runs; then the worst difference. Same code, config
and seed give bit-identical weights only with the same CPU and thread count: anything else adds the
floating-point sums in another order, which a few epochs of training amplify a little.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import paths
from core.models import checkpoints


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("retrained", type=Path, help="checkpoint folder of the retraining")
    args = parser.parse_args(argv)
    shipped, retrained = checkpoints.manifest(paths.PROJECT_ROOT / "checkpoints"), checkpoints.manifest(args.retrained)
    if not retrained:
        sys.exit(f"error: no {checkpoints.MANIFEST} in {args.retrained}")
    print(f"{'model':16s} {'metric':9s} {'shipped':>10s} {'retrained':>10s} {'diff':>7s}   train s (threads): shipped -> retrained")
    worst = 0.0
    for name in sorted(set(shipped) & set(retrained)):
        a, b = shipped[name], retrained[name]
        key = a["metric_name"]
        x, y = a["metrics"][key], b["metrics"][key]
        diff = abs(y - x) / abs(x)
        worst = max(worst, diff)
        print(f"{name:16s} {key:9s} {x:10.5g} {y:10.5g} {100 * diff:6.2f}%   "
              f"{a['train_seconds']:6.1f} ({a.get('threads') or 'all'}) -> {b['train_seconds']:6.1f} ({b.get('threads') or 'all'})")
    missing = sorted(set(shipped) - set(retrained))
    print(f"worst difference {100 * worst:.2f}%; training seconds summed: shipped "
          f"{sum(e['train_seconds'] for e in shipped.values()):.0f}, retrained {sum(e['train_seconds'] for e in retrained.values()):.0f}"
          + (f"; not retrained: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
