"""The A8 chapter's sentences about the scoreboard, computed from the artifact (a page types no
number), with every identity statement made only where both judges make it (`judge.agree`).

Each function returns inline text (no newline, no backtick) or a small dict of it."""
from __future__ import annotations

import math

from core.analysis import scoreboard as asb
from core.denoising import board_io, judge
from core.denoising import scoreboard as sb

TUNED = tuple(m for m in sb.METHODS if m not in sb.PLAIN)   # the board as read: each filter as tuned


def _levels(art: dict) -> list[float]:
    return [r["level"] for r in sb.rows(art) if r["method"] == "noisy"]


def _at(art: dict, method: str, level: float, condition: str = "clean") -> dict:
    return sb.lookup(sb.rows(art, condition), method, level)


def _per_judge(values: dict, fmt=lambda v: f"{100 * v:.1f}") -> str:
    return " / ".join(fmt(v) for v in values.values())


def identity_at(art: dict, method: str, level: float, condition: str = "clean") -> str:
    """'21.7 / 26.2 %': identity kept by `method` at `level`, per judge."""
    return _per_judge(_at(art, method, level, condition)["identity"]) + " %"


def judges_named(art: dict) -> str:
    """'convnet / MLP': the order of per-judge numbers in the text."""
    return " / ".join(asb.short(j) for j in board_io.judges(art))


def _agreed(flags: dict, yes: str, no: str, what: str) -> str:
    """`yes` or `no` where every judge says so, else 'the judges disagree on <what> (...)'."""
    v = judge.agree(flags)
    if v is None:
        per = ", ".join(f"the {asb.short(j)} judge {'yes' if f else 'no'}" for j, f in flags.items())
        return f"the judges disagree on {what} ({per})"
    return yes if v else no


def map_against_vae(art: dict) -> dict:
    """A8's two denoisers: MAP against the VAE bottleneck on PSNR and, per judge, identity."""
    lv = _levels(art)
    gap = {lv_: _at(art, "map", lv_)["psnr"] - _at(art, "vae", lv_)["psnr"] for lv_ in lv}
    more = {j: all(_at(art, "map", x)["identity"][j] > _at(art, "vae", x)["identity"][j] for x in lv)
            for j in board_io.judges(art)}
    return {"psnr": ("better than the VAE bottleneck at every level" if min(gap.values()) > 0 else
                     "not better than the VAE bottleneck at every level")
            + " on PSNR (by " + ", ".join(f"{gap[x]:.2f} dB at {x:g}" for x in lv) + ")",
            "identity": _agreed(more, "keeps the digit more often at every level, by both judges",
                                "does not keep the digit more often at every level, by either judge",
                                "whether it keeps the digit more often at every level")
            + " (" + "; ".join(f"{x:g}: {_per_judge(_at(art, 'map', x)['identity'])} % against "
                               f"{_per_judge(_at(art, 'vae', x)['identity'])} %" for x in lv) + ")"}


def best_by_psnr(art: dict) -> str:
    """Per level, the method (each filter as tuned, BM3D aside) with the best mean PSNR."""
    out = []
    for x in _levels(art):
        full = [m for m in TUNED if m != "noisy" and m not in sb.SLOW]
        best = max(full, key=lambda m: _at(art, m, x)["psnr"])
        out.append(f"{x:g}: {sb.LABELS[best]}, {_at(art, best, x)['psnr']:.2f} dB")
    return "; ".join(out)


def correction(art: dict, table: dict) -> dict:
    """What the clipping correction gives the filters on the board and how stable the tuning is."""
    lv = [x for x in _levels(art) if x >= asb.GOAL_LEVEL - 1e-9]
    gains = {(m, x): sb.paired(art, "clean", m, f"{m}_plain", x) for m in sb.FILTERS for x in lv}
    best_gain = max(gains, key=lambda k: gains[k][0])
    chosen = [(m, x) for m, per in table["gaussian"].items() for x, e in per.items() if e["params"].get("declip")]
    total = sum(len(per) for per in table["gaussian"].values())
    regret = max(e.get("regret_bound_db", 0.0) for noise in ("gaussian", "salt_pepper")
                 for per in table[noise].values() for e in per.values())
    strongest = {x: max(sb.FILTERS, key=lambda m: _at(art, m, x)["psnr_sub" if m in sb.SLOW else "psnr"]) for x in lv}
    return {"chosen": f"{len(chosen)} of the {total} choices (filter and level) for Gaussian noise",
            "gains": f"{gains[best_gain][0]:.2f} ± {gains[best_gain][1]:.2f} dB ({sb.LABELS[best_gain[0]]} at "
                     f"{best_gain[1]:g})",
            "nlm_bm3d": "; ".join(f"{x:g}: non-local means {gains[('nlm', x)][0]:+.2f} dB, BM3D "
                                  f"{gains[('bm3d', x)][0]:+.2f} dB" for x in lv),
            "regret": f"{regret:.3f} dB", "stable_db": f"{table['stable_db']:g} dB",
            "strongest": "; ".join(f"{x:g}: {sb.LABELS[m]}" for x, m in strongest.items())}


def judges_agreement(art: dict) -> dict:
    """How often the two judges read the same digit: on test digits, and over the board's outputs."""
    acc = {r["test set"]: r for r in art["judge_accuracy"]}
    rows = [r for r in sb.rows(art) if r["method"] in TUNED]
    lo, hi = min(rows, key=lambda r: r["agreement"]), max(rows, key=lambda r: r["agreement"])
    cols = [f"{asb.short(j)} judge (%)" for j in board_io.judges(art)]
    clean_cols = {k: acc["clean"][k] for k in cols}
    faint = [r for k, r in acc.items() if k.startswith("faint")]
    worst_faint = min(r[k] for r in faint for k in cols)
    return {"clean": f"{acc['clean']['judges agree (%)']:.1f} %",
            "noisy": "; ".join(f"{k.removeprefix('noise ')}: {r['judges agree (%)']:.1f} %"
                               for k, r in acc.items() if k.startswith("noise ")),
            "range": f"from {100 * lo['agreement']:.1f} % ({sb.LABELS[lo['method']]} at {lo['level']:g}) to "
                     f"{100 * hi['agreement']:.1f} % ({sb.LABELS[hi['method']]} at {hi['level']:g})",
            "clean_accuracy": _per_judge(clean_cols, lambda v: f"{v:.2f}"),
            "faint_worst": f"{worst_faint:.2f} %",
            "faint_holds": all(abs(r[k] - acc["clean"][k]) <= 1.0 for r in faint for k in cols)}


def goals_verdict(gl: list[dict]) -> str:
    met, disputed = asb.goals_met(gl)
    levels = [g["level"] for g in gl]
    text = (f"met at every level from {asb.GOAL_LEVEL:g}" if met == levels else
            f"met at noise {', '.join(f'{x:g}' for x in met)} only" if met else "not met at any level")
    if disputed:
        text += (f"; at noise {', '.join(f'{x:g}' for x in disputed)} MAP is ahead on PSNR but the judges "
                 "disagree on whether it keeps the digit as often")
    return text


def dncnn_gap(art: dict) -> dict:
    lv = _levels(art)
    best_map = {x: max(("map", "map_clip"), key=lambda m: _at(art, m, x)["psnr"]) for x in lv}
    return {"psnr": ", ".join(f"{_at(art, 'dncnn', x)['psnr'] - _at(art, best_map[x], x)['psnr']:.2f} dB" for x in lv),
            "identity": "; ".join(f"{x:g}: " + _per_judge({j: _at(art, "dncnn", x)["identity"][j]
                                                           - _at(art, best_map[x], x)["identity"][j]
                                                           for j in board_io.judges(art)},
                                                          lambda v: f"{100 * v:+.1f}") for x in lv),
            "levels": ", ".join(f"{x:g}" for x in lv)}


def changed_digits(art: dict, level: float, methods=("map", "map_clip", "median", "dncnn")) -> dict:
    """Per method: '12.3 / 11.0 %' of the digits each judge reads right in the noisy input but as
    another digit after it."""
    return {m: _per_judge(asb.changed(art, m, level)) + " %" for m in methods}


def out_of_distribution(art: dict, level: float) -> dict:
    """At `level`: the better MAP against the best classical filter in and out of distribution (PSNR),
    and where MAP keeps the digit less often than the noisy input (stated where both judges agree)."""
    rows = [r for r in asb.ood_summary(art) if math.isclose(r["noise"], level)]
    present = {r["method"] for r in sb.rows(art)}
    full = [m for m in sb.FILTERS if m not in sb.SLOW and m in present]
    margin = max(_at(art, m, level)["psnr"] for m in ("map", "map_clip")) - max(_at(art, m, level)["psnr"]
                                                                               for m in full)
    lose = [r for r in rows if r["_map"]["psnr"] < r["_classical"]["psnr"]]
    judges = board_io.judges(art)

    def verdict(r):  # per judge: MAP's identity against the noisy input's, paired over the same digits
        m = r["_map"]["method"]
        states = {j: asb.state(*sb.paired(art, r["digits"], m, "noisy", level, "identity", j)[:2]) for j in judges}
        return judge.agree(states)

    found = {r["digits"]: verdict(r) for r in rows}
    cell = lambda r: f"{r['digits']} digits ({_per_judge(r['_map']['identity'])} against {_per_judge(r['_noisy']['identity'])} %)"
    parts = []
    for word, state in (("less often than the raw noisy input, beyond noise for both judges", "behind"),
                        ("more often than the raw noisy input, beyond noise for both judges", "ahead"),
                        ("as often as the raw noisy input within noise, for both judges", "tied")):
        hit = [r for r in rows if found[r["digits"]] == state]
        if hit:
            parts.append(f"{word}, for " + ", ".join(map(cell, hit)))
    disputed = [r for r in rows if found[r["digits"]] is None]
    if disputed:
        parts.append("the judges disagree for " + ", ".join(map(cell, disputed)))
    ident = "; ".join(parts)
    return {"in": ("leads" if margin > 0 else "trails") + f" the best classical filter (BM3D aside) by {abs(margin):.2f} dB",
            "psnr": ("loses to the best classical filter on PSNR for " + ", ".join(
                f"{r['digits']} digits ({r['_classical']['psnr'] - r['_map']['psnr']:.2f} dB behind)" for r in lose)
                if lose else "still leads the best classical filter on PSNR under every transform"),
            "identity": ident}


def misread_by_all(readings: dict, labels) -> int:
    """How many images every judge reads as another digit than `labels` ({judge: labels [N]})."""
    wrong = [r != labels for r in readings.values()]
    out = wrong[0]
    for w in wrong[1:]:
        out = out & w
    return int(out.sum())


def per_judge_counts(readings: dict, labels) -> str:
    """'9 / 10': how many images each judge reads as its label."""
    return " / ".join(str(int((r == labels).sum())) for r in readings.values())
