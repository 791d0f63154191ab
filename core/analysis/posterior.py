"""What the posterior chapter reads: results/posterior.json beside the scoreboard, as tables and
measured sentences, and a few examples sampled live (inference only, seconds).

    art, board = load()                          # both artifacts (stale ones refused)
    board_table(art, board), goals(art, board), coverage_table(art), calibration_table(art), ...
"""
from __future__ import annotations

import torch

from core.analysis import scoreboard as asb
from core.denoising import scoreboard as sb
from core.denoising.posterior import artifact as part
from core.denoising.posterior import study
from core.denoising.posterior.diagnostics import RHAT_LIMIT
from core.denoising.posterior.sampler import SamplerSettings

COVER_GOAL, COVER_TOL = 0.90, 0.03
ECE_GOAL, ECE_LEVELS = 0.05, (0.5, 0.8)
AUROC_GOAL = 0.9
DNCNN_FROM = 0.5           # the goal: reach DnCNN at noise >= 0.5


def load() -> tuple[dict, dict]:
    return part.load_artifact(), sb.load_artifact()


def rows(art: dict, condition: str = "clean") -> list[dict]:
    return [r for r in art["rows"] if r["condition"] == condition]


def first_judge(art: dict) -> str:
    return art["params"]["judges"][0]


def settings(art: dict) -> SamplerSettings:
    return SamplerSettings(**art["params"]["settings"])


def board_table(art: dict, board: dict) -> list[dict]:
    """Posterior mean beside clipping-aware MAP and DnCNN (and the noisy input) from the board:
    PSNR, SSIM and identity by each judge, one row per level and method, on the same test digits
    and noise."""
    board_rows = sb.rows(board)
    judges = art["params"]["judges"]
    out = []
    for r in rows(art):
        lv = r["level"]
        for method, label in (("noisy", "noisy input"), ("map_clip", sb.LABELS["map_clip"]),
                              ("posterior_mean", "posterior mean"), ("dncnn", sb.LABELS["dncnn"])):
            src = r if method == "posterior_mean" else sb.lookup(board_rows, method, lv)
            ids = r["identity_by_judge"] if method == "posterior_mean" else src["identity"]
            row = {"noise": lv, "method": label, "PSNR": round(src["psnr"], 2), "SSIM": round(src["ssim"], 3)}
            row |= {f"id % ({asb.short(j)})": round(100 * ids[j], 1) for j in judges}
            out.append(row)
    return out


def goals(art: dict, board: dict) -> list[dict]:
    """Per level: the posterior mean against the MAP it started from (paired, same images), the
    board's clipping-aware MAP row and DnCNN's, in dB."""
    out = []
    for r in rows(art):
        lv = r["level"]
        dn = sb.lookup(sb.rows(board), "dncnn", lv)["psnr"]
        mp = sb.lookup(sb.rows(board), "map_clip", lv)["psnr"]
        out.append({"level": lv, "psnr": r["psnr"], "gain": r["gain_vs_map"], "se": r["gain_vs_map_se"],
                    "better_share": r["better_than_map"], "vs_board_map": r["psnr"] - mp,
                    "vs_dncnn": r["psnr"] - dn, "dncnn": dn,
                    "beats_map": r["gain_vs_map"] > 2 * r["gain_vs_map_se"] and r["psnr"] > mp,
                    "reaches_dncnn": r["psnr"] >= dn})
    return out


def coverage_table(art: dict) -> list[dict]:
    lvl = int(round(100 * art["params"]["interval_level"]))
    return [{"noise": r["level"], f"posterior {lvl} % interval, all pixels": pct(r["coverage"]["posterior"]),
             "ink pixels": pct(r["coverage"]["posterior_ink"]),
             "with model error, all pixels": pct(r["coverage"]["predictive"]),
             "with model error, ink pixels": pct(r["coverage"]["predictive_ink"])} for r in rows(art)]


def pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f} %"


def coverage_goal(art: dict) -> dict:
    """Levels where the predictive (model error included) interval covers 90 +- 3 % of the clean
    pixels, and of the ink pixels (clean > 0) alone."""
    cov = {r["level"]: r["coverage"]["predictive"] for r in rows(art)}
    ink = {r["level"]: r["coverage"]["predictive_ink"] for r in rows(art)}
    ok = [lv for lv, c in cov.items() if abs(c - COVER_GOAL) <= COVER_TOL]
    ink_ok = [lv for lv, c in ink.items() if abs(c - COVER_GOAL) <= COVER_TOL]
    return {"coverage": cov, "met": ok, "missed": [lv for lv in cov if lv not in ok],
            "ink": ink, "ink_met": ink_ok, "ink_missed": [lv for lv in ink if lv not in ink_ok],
            "posterior": {r["level"]: r["coverage"]["posterior"] for r in rows(art)}}


def background_coverage(art: dict) -> dict:
    """Coverage of the background pixels (clean exactly 0) per level, from the all-pixel and
    ink-pixel figures and the ink share of the same test digits (recomputed: it is data, no model)."""
    clean, _ = sb.test_digits(art["params"]["n"])
    f = float((clean > 0).float().mean())
    return {r["level"]: (r["coverage"]["predictive"] - f * r["coverage"]["predictive_ink"]) / (1 - f) for r in rows(art)}


def calibration_table(art: dict, judge: str | None = None) -> list[dict]:
    j = judge or first_judge(art)
    out = []
    for r in rows(art):
        c = r["calibration"][j]
        out.append({"noise": r["level"],
                    "posterior: accuracy": pct(c["posterior"]["accuracy"]),
                    "mean confidence": pct(c["posterior"]["confidence"]), "ECE": round(c["posterior"]["ece"], 3),
                    "share of draws: ECE": round(c["vote"]["ece"], 3),
                    "noisy input: accuracy": pct(c["input"]["accuracy"]),
                    "its confidence": pct(c["input"]["confidence"]), "its ECE": round(c["input"]["ece"], 3)})
    return out


def ece_goal(art: dict, judge: str | None = None) -> list[dict]:
    j = judge or first_judge(art)
    form = art["choice"]["digit_posterior"]
    out = []
    for r in rows(art):
        if r["level"] not in ECE_LEVELS:
            continue
        c = r["calibration"][j]
        out.append({"level": r["level"], "ece": c[form]["ece"], "input": c["input"]["ece"],
                    "met": c[form]["ece"] <= ECE_GOAL and c[form]["ece"] < c["input"]["ece"]})
    return out


def auroc_table(art: dict) -> list[dict]:
    names = {"rotate": "rotated ±20°", "shift": "shifted 4 px", "thin": "thinned strokes",
             "thick": "thickened strokes", "letters": "letters (not digits)", "patches": "photo patches (not digits)"}
    by = {}
    for a in art["auroc"]:
        by.setdefault(a["set"], {"against": names.get(a["set"], a["set"]), "n": a["n"]})[f"AUROC at {a['level']}"] = \
            round(a["auroc"], 3)
    return list(by.values())


def auroc_goal(art: dict) -> dict:
    non = [a for a in art["auroc"] if a["set"] in part.NON_DIGITS]
    return {"worst": min(non, key=lambda a: a["auroc"]), "met": all(a["auroc"] >= AUROC_GOAL for a in non),
            "missed": [a for a in non if a["auroc"] < AUROC_GOAL]}


def validation_table(art: dict) -> list[dict]:
    """The budget study: per setting, the posterior mean's gain over MAP per level and its cost."""
    val = art["validation"]
    by = {}
    for r in val["rows"]:
        row = by.setdefault(r["setting"], {"setting": r["setting"], "decoder rows / image": r["cost"]})
        row[f"gain at {r['level']} (dB)"] = round(r["gain_vs_map"], 3)
    for row in by.values():
        mine = [r for r in val["rows"] if r["setting"] == row["setting"]]
        row["ms / image"] = round(sum(r["ms_per_image"] for r in mine) / len(mine))
        row["median ESS"] = round(sum(r["ess_median"] for r in mine) / len(mine))
        row["ESS / s"] = round(sum(r["ess_per_s_median"] for r in mine) / len(mine))
        row[f"R-hat > {RHAT_LIMIT}"] = pct(sum(r["rhat_over_1.1"] for r in mine) / len(mine), 0)
    return list(by.values())


def diagnostics_table(art: dict) -> list[dict]:
    return [{"noise": r["level"], "median worst R-hat": round(r["diagnostics"]["rhat_median"], 2),
             f"R-hat > {RHAT_LIMIT}": pct(r["diagnostics"]["rhat_over_1.1"], 0),
             "median worst ESS": round(r["diagnostics"]["ess_median"]),
             "ESS per second": round(r["diagnostics"]["ess_per_s_median"]),
             "ms / image": round(r["ms_per_image"])} for r in rows(art)]


def examples(art: dict, level: float = 0.5, k: int = 6, samples: int = 4) -> dict:
    """The first k board test digits at `level`: noisy, MAP, posterior mean, sd, a few draws."""
    from core import data
    from core.denoising.denoise import Denoisers
    from core.denoising.posterior import claims, estimate

    den = Denoisers.load()
    clean, labels = sb.test_digits(k)
    noisy = data.add_noise(clean, level, seed=data.NOISE_SEED)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = estimate.posterior(den, noisy, noise_level=level, settings=settings(art))
    finally:
        torch.set_num_threads(threads)
    draws = res.draws(den.vae.decode, 64)
    probs = claims.digit_probabilities(draws)[0 if art["choice"]["digit_posterior"] == "posterior" else 1]
    pick = torch.linspace(0, len(draws) - 1, samples).round().long()
    return {"clean": clean, "labels": labels, "noisy": noisy, "map": res.map.x_hat, "mean": res.mean,
            "std": res.std, "samples": draws[pick], "probs": probs,
            "misfit": claims.misfit(noisy, draws, noise_std=level), "seconds": res.seconds, "level": level}


def chosen_label(art: dict) -> str:
    return art["choice"]["setting"]


def budget_cost(art: dict) -> int:
    return study.cost(settings(art))


def digit_like_letters(art: dict, level: float = 0.5, k: int = 8) -> list[str]:
    """The k letters with the lowest mean misfit at `level` (the ones the prior explains best)."""
    from core.denoising.posterior.nondigits import LETTERS

    values = art["misfit"][f"letters|{level}"]
    by = {}
    for i, v in enumerate(values):
        by.setdefault(LETTERS[i % len(LETTERS)], []).append(v)
    return sorted(by, key=lambda c: sum(by[c]) / len(by[c]))[:k]


def share_flagged_below_digits(art: dict, name: str, level: float = 0.5, quantile: float = 0.95) -> float:
    """Share of a set's images whose misfit exceeds the `quantile` of the test digits' (a threshold
    that flags 5 % of real digits)."""
    digits = sorted(art["misfit"][f"clean|{level}"])
    cut = digits[min(len(digits) - 1, int(quantile * len(digits)))]
    values = art["misfit"][f"{name}|{level}"]
    return sum(v > cut for v in values) / len(values)


# --- the chapter's sentences: computed from the artifacts, so they follow the numbers ----------------

def _levels(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sentences(art: dict, board: dict) -> dict[str, str]:
    """Every verdict sentence of the chapter, each decided by the measured numbers."""
    out = {}
    gs = goals(art, board)
    beat = [g["level"] for g in gs if g["beats_map"]]
    missed = [g["level"] for g in gs if not g["beats_map"]]
    out["map"] = ("It beats MAP at every level." if not missed else
                  f"It beats MAP (by more than twice the standard error) at {_levels(beat)} but not at {_levels(missed)}."
                  if beat else "It beats MAP at no level.")
    high = [g for g in gs if g["level"] >= DNCNN_FROM]
    short = [g for g in high if not g["reaches_dncnn"]]
    reach = [g["level"] for g in high if g["reaches_dncnn"]]
    if not short:
        out["dncnn"] = f"it reaches DnCNN at every level from {DNCNN_FROM} on."
    else:
        out["dncnn"] = ((f"it reaches DnCNN at {_levels(reach)} but falls short" if reach else "it falls short")
                        + " at " + ", ".join(f"{g['level']} by {-g['vs_dncnn']:.2f} dB" for g in short)
                        + ": the decoder cannot draw every test digit exactly (its model error, below), and a "
                          "prior that never saw noise cannot learn what DnCNN learned from noisy pairs.")
    cg = coverage_goal(art)
    if not cg["missed"]:
        out["coverage"] = "They meet the goal of 90 ± 3 % at every level."
    else:
        met = f"within it at {_levels(cg['met'])} and " if cg["met"] else ""
        out["coverage"] = (f"Against the goal of 90 ± 3 % they are {met}outside it at "
                           + ", ".join(f"{lv} ({pct(cg['coverage'][lv])})" for lv in cg["missed"]) + ".")
    out["coverage_ink"] = (("within 90 ± 3 % at every level" if not cg["ink_missed"] else
                            (f"within 90 ± 3 % at {_levels(cg['ink_met'])} and " if cg["ink_met"] else "")
                            + "outside it at " + ", ".join(f"{lv} ({pct(cg['ink'][lv])})" for lv in cg["ink_missed"])))
    eg = ece_goal(art)
    lv_text = _levels(ECE_LEVELS)
    if all(g["met"] for g in eg):
        out["ece"] = f"The goal, an ECE of at most {ECE_GOAL} and below the judge's own at noise {lv_text}, is met."
    else:
        why = lambda g: f"above {ECE_GOAL}" if g["ece"] > ECE_GOAL else "not below the judge's own"  # noqa: E731
        out["ece"] = (f"The goal (an ECE of at most {ECE_GOAL}, below the judge's own, at noise {lv_text}) is missed at "
                      + ", ".join(f"{g['level']} ({why(g)})" for g in eg if not g["met"]) + ".")
    ag = auroc_goal(art)
    if ag["met"]:
        out["auroc"] = f"The goal, an AUROC of at least {AUROC_GOAL} against the non-digits, is met."
    else:
        bad = {a["set"] for a in ag["missed"]}
        good = sorted(set(NON_DIGIT_SETS) - bad)
        out["auroc"] = (f"The goal (at least {AUROC_GOAL} against the non-digits) is "
                        + (f"met for {', '.join(good)} but " if good else "")
                        + "missed for " + ", ".join(f"{a['set']} at {a['level']} by {AUROC_GOAL - a['auroc']:.2f}"
                                                    for a in ag["missed"]) + ".")
        if "letters" in bad:
            out["auroc"] += (" Letters set in MNIST's format are strokes of a digit's width, and the decoder explains "
                             "some of them about as well as real digits (lowest misfit at noise 0.5: "
                             + ", ".join(digit_like_letters(art)) + ").")
    diag = {r["level"]: r["diagnostics"] for r in rows(art)}
    mixed = [lv for lv, d in diag.items() if d["rhat_over_1.1"] > 0.1]
    val = art["validation"]["rows"]
    longest = max(val, key=lambda r: r["cost"])["setting"]
    share = lambda name: sum(r["rhat_over_1.1"] for r in val if r["setting"] == name) / len(  # noqa: E731
        [r for r in val if r["setting"] == name])
    gain = lambda name: sum(r["gain_vs_map"] for r in val if r["setting"] == name) / len(  # noqa: E731
        [r for r in val if r["setting"] == name])
    chosen = art["choice"]["setting"]
    out["mixing"] = ("The chains agree on most images at every level." if not mixed else
                     f"At {_levels(mixed)} the chains of many images disagree: {art['params']['settings']['keep']} kept "
                     "steps are short against the chains' autocorrelation (the effective sample sizes below). On the "
                     f"validation images the longest budget ({longest}) has R-hat above {RHAT_LIMIT} for {pct(share(longest), 0)} "
                     f"of the images against {pct(share(chosen), 0)} for the chosen one, while its mean gains "
                     f"{gain(longest) - gain(chosen):+.3f} dB more over MAP: "
                     + ("the posterior mean, what the board scores, is settled before the chains have mixed."
                        if gain(longest) - gain(chosen) <= art["validation"]["tolerance_db"] else
                        "longer chains would still improve the mean."))
    pairs = {}
    for r in val:
        pairs.setdefault((r["cost"], r["level"]), {})[r.get("mode_weights", "laplace")] = r["gain_vs_map"]
    diffs = {lv: w["equal"] - w["laplace"] for (cost, lv), w in sorted(pairs.items()) if len(w) == 2
             and cost == max(c for (c, lv2), w2 in pairs.items() if len(w2) == 2)}
    out["weights"] = ("" if not diffs else "Splitting the chains evenly over MAP's restarts instead (the same "
                      "budget) changes the mean's gain by " + ", ".join(f"{d:+.3f} dB at {lv}" for lv, d in diffs.items())
                      + " on the validation images.")
    out["adds"] = ("better than MAP at every level" if not missed else
                   f"better than MAP at {_levels(beat)}" if beat else "no better than MAP")
    out["adds_cover"] = ("pixel intervals that cover what they claim once the decoder's own error is added"
                         if not cg["missed"] else
                         "pixel intervals that, with the decoder's own error added, cover "
                         + ", ".join(f"{pct(c)} at {lv}" for lv, c in cg["ink"].items())
                         + f" of the ink pixels for a claimed {pct(art['params']['interval_level'], 0)} (and more of the "
                           "background, whose exact 0 they contain)")
    out["adds_digit"] = ("a probability for each digit, calibrated to an ECE of "
                         + " and ".join(f"{g['ece']:.3f} at {g['level']}" for g in eg)
                         + " (the judge on the noisy input: " + " and ".join(f"{g['input']:.3f}" for g in eg) + ")")
    non = [a for a in art["auroc"] if a["set"] in NON_DIGIT_SETS]
    out["adds_flag"] = ("a statistic that flags images the prior cannot explain (AUROC "
                        + ", ".join(f"{a['auroc']:.2f} against {a['set']} at {a['level']}" for a in non) + ")")
    return out


NON_DIGIT_SETS = ("letters", "patches")


def coverage_claims(art: dict) -> dict[str, bool]:
    """The coverage paragraph's qualitative sentences, for report.check."""
    level = art["params"]["interval_level"]
    cg = coverage_goal(art)
    return {"the posterior's own intervals cover far less than their level (10 points or more)":
            all(c < level - 0.1 for c in cg["posterior"].values()),
            "the model error brings the coverage closer to the level at every noise level":
            all(abs(cg["coverage"][lv] - level) < abs(cg["posterior"][lv] - level) for lv in cg["coverage"]),
            "over all pixels the predictive intervals cover more than claimed": all(c > level for c in cg["coverage"].values())}
