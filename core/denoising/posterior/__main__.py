"""python -m core.denoising.posterior --write | --show | --dry-run"""
import argparse
import sys

from core.denoising.posterior import artifact


def main(argv=None):
    parser = argparse.ArgumentParser(description="The whole posterior through the VAE prior: measured.")
    parser.add_argument("--write", action="store_true", help=f"validation study + test run -> {artifact.ARTIFACT}")
    parser.add_argument("--show", action="store_true", help="print the shipped artifact (refused if stale)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--n", type=int, default=artifact.TEST_N, help="test digits per level (--write)")
    parser.add_argument("--ood-n", type=int, default=artifact.OOD_N, help="images per OOD set and level (--write)")
    args = parser.parse_args(argv)
    if args.n % 50 or args.ood_n % 50 or args.n < args.ood_n:
        parser.error("--n and --ood-n must be multiples of 50, with --n >= --ood-n")
    from core.denoising.scoreboard import StaleArtifact
    from core.models.checkpoints import CheckpointError

    try:
        art = artifact.write(args.jobs, args.n, args.ood_n) if args.write else artifact.load_artifact()
    except (StaleArtifact, CheckpointError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")
    if args.write:
        print(f"wrote {artifact.ARTIFACT} in {art['seconds']} s")
    print(f"chosen on validation: {art['choice']['setting']}")
    print(f"{'level':>5} {'PSNR':>6} {'vs MAP':>14} {'SSIM':>6} {'id %':>5} {'cover':>6} {'+model':>6} "
          f"{'ECE post':>8} {'ECE in':>7} {'R-hat>1.1':>9} {'ms':>6}")
    first = art["params"]["judges"][0]
    for r in art["rows"]:
        if r["condition"] != "clean":
            continue
        cal = r["calibration"][first]
        print(f"{r['level']:>5} {r['psnr']:6.2f} {r['gain_vs_map']:+6.3f} ± {r['gain_vs_map_se']:.3f} {r['ssim']:6.3f} "
              f"{100 * r['identity']:5.1f} {100 * r['coverage']['posterior']:6.1f} {100 * r['coverage']['predictive']:6.1f} "
              f"{cal['posterior']['ece']:8.3f} {cal['input']['ece']:7.3f} {100 * r['diagnostics']['rhat_over_1.1']:8.0f}% "
              f"{r['ms_per_image']:6.0f}")
    for a in art["auroc"]:
        print(f"misfit AUROC, test digits vs {a['set']:8} at {a['level']}: {a['auroc']:.3f}")


if __name__ == "__main__":
    main()
