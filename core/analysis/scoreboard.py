"""What the A8 chapter and the landing page read from the scoreboard artifact: tables, the goals
as measured statements, the out-of-distribution summary, the clipping correction's gain, who wins
where, and MAP's wrong-digit cases (recomputed exactly).

Identity is read by two judges (core.denoising.judge). Every identity verdict here is one value
per judge, combined by `judge.agree`: a statement holds only where both judges give it, and is
"the judges disagree" otherwise. Comparisons are paired (the same test digits, per-image values
from the artifact) and carry their standard error; "ahead" means by more than twice it.
"""
from __future__ import annotations

import torch

from core import data
from core.denoising import board_io, judge
from core.denoising import scoreboard as sb

CLASSICAL = sb.FILTERS          # each filter as tuned (the clipping correction one of its options)
GOAL_LEVEL = 0.3                # the goals hold "at noise >= 0.3"
Z = 2.0                         # "ahead" / "behind": a paired difference beyond Z standard errors


def short(j: str) -> str:
    return judge.SHORT.get(j, j)


def _label(r: dict) -> str:
    label = sb.LABELS[r["method"]]
    return f"{label} (first {r['n']})" if r["method"] in sb.SLOW else label


def pct(v: float) -> str:
    return f"{100 * v:.1f}"


def identity_cell(r: dict) -> str:
    """'88.1 / 90.2': identity kept (%) per judge, in the artifact's judge order."""
    return " / ".join(pct(v) for v in r["identity"].values())


def state(mean: float, se: float) -> str:
    """'ahead', 'behind' or 'tied' for a paired difference (mean, standard error)."""
    return "ahead" if mean > Z * se else "behind" if mean < -Z * se else "tied"


def wide_table(rows: list[dict], metrics=("psnr", "identity"), seeds: dict | None = None, methods=None) -> list[dict]:
    """One row per method: per level PSNR (dB) and identity (% per judge, "a / b") [or SSIM], and
    ms per image (median over levels). `seeds`: {(method, level): "mean ± sd"} strings replacing
    PSNR cells; `methods`: which, in that order (default: every method of the rows)."""
    out = []
    levels = sorted({r["level"] for r in rows})
    for method in methods or dict.fromkeys(r["method"] for r in rows):
        mine = {r["level"]: r for r in rows if r["method"] == method}
        if not mine:
            continue
        row = {"method": _label(next(iter(mine.values())))}
        for lvl in levels:
            r = mine[lvl]
            for m in metrics:
                if m == "identity":
                    row[f"{lvl} id %"] = identity_cell(r)
                elif m == "psnr":
                    row[f"{lvl} PSNR"] = (seeds or {}).get((method, lvl)) or round(r["psnr"], 1)
                else:
                    row[f"{lvl} SSIM"] = round(r["ssim"], 3)
        times = sorted(r["ms_per_image"] for r in mine.values())
        row["ms/image"] = float(f"{times[len(times) // 2]:.3g}")
        out.append(row)
    return out


def judge_accuracy_rows(artifact: dict) -> list[dict]:
    """The judges' accuracy table with its columns in reading order: the test set, each judge, the
    A4 classifier, the judges' agreement (the artifact's JSON stores keys sorted)."""
    first = artifact["judge_accuracy"][0]
    cols = ["test set", *[f"{short(j)} judge (%)" for j in board_io.judges(artifact)]]
    cols += [c for c in ("A4 classifier (%)", "judges agree (%)") if c in first]
    return [{c: r[c] for c in cols} for r in artifact["judge_accuracy"]]


def correction_table(artifact: dict, condition: str = "clean", filters=CLASSICAL) -> list[dict]:
    """Per classical filter and level: PSNR (dB) of its best setting without the clipping
    correction and of its tuned one (with it where it won the validation), and the paired gain."""
    rows = sb.rows(artifact, condition)
    out = []
    for m in filters:
        row = {"filter": _label(sb.lookup(rows, m, rows[0]["level"]))}
        for lvl in sorted({r["level"] for r in rows}):
            gain, se, _ = sb.paired(artifact, condition, m, f"{m}_plain", lvl)
            row[f"{lvl}: uncorrected → tuned (dB)"] = (f"{sb.lookup(rows, f'{m}_plain', lvl)['psnr']:.1f} → "
                                                       f"{sb.lookup(rows, m, lvl)['psnr']:.1f}"
                                                       + (f" ({gain:+.2f})" if gain else ""))
        out.append(row)
    return out


def goals(artifact: dict, min_level: float = GOAL_LEVEL, filters=CLASSICAL) -> list[dict]:
    """Per level >= min_level: the best MAP (plain or clipping-aware, by PSNR) against every
    classical filter (as tuned), paired on the images each filter ran on (BM3D: its subset):
    PSNR margins (mean, se), identity margins per judge (mean, se), and the verdicts:
    `wins_psnr` (ahead of every filter), `keeps_identity` per judge (no filter keeps the digit
    more often beyond noise) and `identity_verdict` (judge.agree of those: None = they disagree)."""
    rows = sb.rows(artifact)
    judges = board_io.judges(rows)
    out = []
    for level in sorted({r["level"] for r in rows if r["level"] >= min_level - 1e-9}):
        at = {r["method"]: r for r in rows if abs(r["level"] - level) < 1e-9}
        best_map = max(("map", "map_clip"), key=lambda m: at[m]["psnr"])
        fs = [m for m in filters if m in at]
        psnr = {m: sb.paired(artifact, "clean", best_map, m, level) for m in fs}
        ident = {j: {m: sb.paired(artifact, "clean", best_map, m, level, "identity", j) for m in fs} for j in judges}
        keeps = {j: all(state(*ident[j][m][:2]) != "behind" for m in fs) for j in judges}
        full = [m for m in fs if m not in sb.SLOW]
        out.append({"level": level, "map": best_map, "map_row": at[best_map], "rows": {m: at[m] for m in fs},
                    "best_psnr_filter": max(full, key=lambda m: at[m]["psnr"]),
                    "best_id_filter": {j: max(full, key=lambda m: at[m]["identity"][j]) for j in judges},
                    "psnr_margin": psnr, "id_margin": ident,
                    "wins_psnr": all(state(*psnr[m][:2]) == "ahead" for m in fs),
                    "keeps_identity": keeps, "identity_verdict": judge.agree(keeps)})
    return out


def _names(methods) -> str:
    return ", ".join(sb.LABELS[m] for m in methods)


def goal_sentence(g: dict) -> str:
    """One measured sentence per level: does the best MAP beat every classical filter?"""
    mp, name = g["map_row"], sb.LABELS[g["map"]]
    bp = g["best_psnr_filter"]
    margin = lambda m: "{:+.2f} ± {:.2f} dB".format(*g["psnr_margin"][m][:2])
    s = (f"at noise {g['level']}, {name} reaches {mp['psnr']:.2f} dB and keeps {identity_cell(mp)} % of the digits "
         f"({' / '.join(short(j) for j in mp['identity'])} judge); the best classical filter by PSNR is "
         f"{sb.LABELS[bp]} ({g['rows'][bp]['psnr']:.2f} dB, MAP {margin(bp)})")
    for m in (m for m in g["rows"] if m in sb.SLOW):
        n = g["psnr_margin"][m][2]
        s += f"; on the {n} images it ran on, {sb.LABELS[m]} has MAP {margin(m)}"
    st = {m: state(*v[:2]) for m, v in g["psnr_margin"].items()}
    behind, tied = [m for m in st if st[m] == "behind"], [m for m in st if st[m] == "tied"]
    verdict = ["MAP is ahead of every filter on PSNR" if g["wins_psnr"] else
               "on PSNR MAP is " + "; ".join(filter(None, [behind and f"behind {_names(behind)}",
                                                           tied and f"not significantly ahead of {_names(tied)}"]))]
    v = g["identity_verdict"]
    if v is None:
        per = ", ".join(f"the {short(j)} judge {'does' if ok else 'does not'}" for j, ok in g["keeps_identity"].items())
        verdict.append(f"on keeping the digit at least as often as every filter the judges disagree ({per})")
    elif v:
        verdict.append("both judges find it keeps the digit at least as often as every filter (within noise)")
    else:
        losers = sorted({m for j in g["id_margin"] for m, d in g["id_margin"][j].items() if state(*d[:2]) == "behind"})
        verdict.append(f"both judges find some filter keeps the digit more often ({_names(losers)})")
    return s + ": " + "; ".join(verdict) + "."


def goals_met(gl: list[dict]):
    """Levels where MAP is ahead of every filter on PSNR and both judges find it keeps identity;
    and the levels where the judges disagree on identity."""
    met = [g["level"] for g in gl if g["wins_psnr"] and g["identity_verdict"] is True]
    disputed = [g["level"] for g in gl if g["wins_psnr"] and g["identity_verdict"] is None]
    return met, disputed


def ood_summary(artifact: dict) -> list[dict]:
    """Per transform and level: the noisy input's identity, the best MAP, the best classical filter
    (full-size rows, by PSNR) and DnCNN, each as PSNR and identity per judge."""
    out = []
    ood = [r for r in artifact["rows"] if r["condition"] != "clean"]
    for cond in dict.fromkeys(r["condition"] for r in ood):
        for level in sorted({r["level"] for r in ood if r["condition"] == cond}):
            at = {r["method"]: r for r in ood if r["condition"] == cond and abs(r["level"] - level) < 1e-9}
            m = max(("map", "map_clip"), key=lambda k: at[k]["psnr"])
            c = max((k for k in CLASSICAL if k in at and k not in sb.SLOW), key=lambda k: at[k]["psnr"])
            cell = lambda r: f"{r['psnr']:.2f} dB, {identity_cell(r)} %"
            out.append({"digits": cond, "noise": level, "noisy input": cell(at["noisy"]),
                        "best MAP": f"{cell(at[m])} ({'clip-aware' if m == 'map_clip' else 'plain'})",
                        "best classical": f"{cell(at[c])} ({sb.LABELS[c]})", "DnCNN": cell(at["dncnn"]),
                        "_map": at[m], "_classical": at[c], "_noisy": at["noisy"]})
    return out


def below_noisy(r: dict) -> bool | None:
    """Does the MAP of an ood_summary row keep the digit less often than the noisy input? (judge.agree)"""
    return judge.agree({j: r["_map"]["identity"][j] < r["_noisy"]["identity"][j] for j in r["_map"]["identity"]})


def changed(artifact: dict, method: str, level: float, condition: str = "clean") -> dict[str, float]:
    """Per judge: the fraction of test digits it reads right in the noisy input but as another
    digit after `method`."""
    out = {}
    for j in board_io.judges(artifact):
        before = board_io.kept(artifact, condition, "noisy", level, j)
        after = board_io.kept(artifact, condition, method, level, j)
        out[j] = float((before & ~after[:len(before)]).float().mean())
    return out


def wrong_digit_cases(artifact: dict, level: float = 0.5, method: str = "map", k: int = 8,
                      search: int = 200) -> dict:
    """Up to k test images (among the first `search`) that both judges read right when noisy but
    wrong after `method` (then, if too few, any that both read wrong after it), recomputed exactly
    as scored (MAP's chunks of sb.CHUNK images), with the clipping-aware output and every judge's
    reading of both."""
    judges = board_io.judges(artifact)
    both = lambda m: torch.stack([board_io.kept(artifact, "clean", m, level, j) for j in judges]).all(0)
    wrong = torch.stack([~board_io.kept(artifact, "clean", method, level, j) for j in judges]).all(0)
    noisy_ok = both("noisy")
    n = min(search, len(wrong))
    idx = [i for i in range(n) if wrong[i] and noisy_ok[i]][:k]
    if len(idx) < k:
        idx += [i for i in range(n) if wrong[i] and i not in idx][:k - len(idx)]
    chunks = sorted({i // sb.CHUNK for i in idx})
    clean, labels = sb.test_digits((chunks[-1] + 1) * sb.CHUNK if chunks else 1)
    # The noise of image i is the i-th draw of one seeded stream: noise the whole prefix at once,
    # as the scoreboard did, then run MAP on the same chunks it ran on.
    noisy = data.add_noise(clean, level, seed=data.NOISE_SEED)
    ctx = sb.Context(betas=artifact["map_betas"])
    outs = {m: {} for m in ("map", "map_clip")}
    for c in chunks:
        part = slice(c * sb.CHUNK, (c + 1) * sb.CHUNK)
        for m in outs:
            est = ctx.run(m, noisy[part], level)
            outs[m].update({c * sb.CHUNK + j: est[j] for j in range(len(est))})
    sel = torch.tensor(idx, dtype=torch.long)
    res = {"index": idx, "clean": clean[sel], "labels": labels[sel], "noisy": noisy[sel],
           "map": torch.stack([outs["map"][i] for i in idx]), "map_clip": torch.stack([outs["map_clip"][i] for i in idx])}
    res["read"] = {m: judge.read_all(res[m], judges) for m in ("map", "map_clip")}
    return res


def neighbour_agreement(z: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of codes whose nearest OTHER code has the same digit (leave-one-out 1-NN): how
    little the classes of a latent map overlap (A7 compares the AE's and the VAE's)."""
    from sklearn.neighbors import NearestNeighbors

    z = z.detach().cpu().numpy()
    _, idx = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    labels = labels.cpu().numpy()
    return float((labels[idx[:, 1]] == labels).mean())

