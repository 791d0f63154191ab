"""The lab's denoising finding, from the scoreboard artifact: which denoiser wins by PSNR and by
identity at each noise level, in and out of distribution, for the landing page.

A winner is the method with the best mean; every method whose paired difference to it (same test
digits) is within twice its standard error is "within noise" of it. BM3D ran on the first images
only, so it is compared with the leader on those. Identity is read by each judge; the landing page
names an identity winner only where both judges name the same one ("the judges disagree" otherwise).
"""
from __future__ import annotations

from core.analysis.scoreboard import Z, identity_cell, short
from core.denoising import board_io, judge
from core.denoising import scoreboard as sb

CANDIDATES = tuple(m for m in sb.METHODS if m != "noisy" and m not in sb.PLAIN)


def leader(artifact: dict, condition: str, level: float, metric: str = "psnr", judge_name: str | None = None,
           methods=CANDIDATES) -> dict:
    """{"winner", "value", "tied": [methods within noise of it], "margins": {method: (mean, se, n)}}
    by mean PSNR or identity kept by `judge_name`, on `condition` at `level`."""
    rows = {r["method"]: r for r in sb.rows(artifact, condition) if abs(r["level"] - level) < 1e-9 and r["method"] in methods}
    value = (lambda r: r["psnr"]) if metric == "psnr" else (lambda r: r["identity"][judge_name])
    full = [m for m in rows if m not in sb.SLOW]
    best = max(full, key=lambda m: value(rows[m]))
    margins = {m: sb.paired(artifact, condition, m, best, level, metric, judge_name) for m in rows if m != best}
    # A method on a subset (BM3D) that is ahead of the full-size leader on the images it ran on leads.
    ahead = [m for m, (d, se, _) in margins.items() if d > Z * se]
    if ahead:
        best = max(ahead, key=lambda m: margins[m][0])
        margins = {m: sb.paired(artifact, condition, m, best, level, metric, judge_name) for m in rows if m != best}
    tied = [m for m, (d, se, _) in margins.items() if d >= -Z * se]
    return {"winner": best, "value": value(rows[best]), "tied": tied, "margins": margins, "row": rows[best]}


def _named(lead: dict, unit: str) -> str:
    name = sb.LABELS[lead["winner"]]
    if lead["winner"] in sb.SLOW:
        name += f" (first {lead['row']['n']} digits)"
    tied = f"; within noise: {', '.join(sb.LABELS[m] for m in lead['tied'])}" if lead["tied"] else ""
    return f"{name}, {unit}{tied}"


def rows(artifact: dict) -> list[dict]:
    """One row per setting (in distribution per noise level, then each transform and level):
    the PSNR winner and the identity winner, named only where both judges name the same method."""
    judges = board_io.judges(artifact)
    settings = [(r["condition"], r["level"]) for r in artifact["rows"] if r["method"] == "noisy"]
    out = []
    for condition, level in settings:
        p = leader(artifact, condition, level)
        ids = {j: leader(artifact, condition, level, "identity", j) for j in judges}
        winner = judge.agree({j: v["winner"] for j, v in ids.items()})
        groups = {j: {v["winner"], *v["tied"]} for j, v in ids.items()}
        common = set.intersection(*groups.values())
        first = ids[judges[0]]
        if winner is not None:
            tied = sorted(common - {winner}, key=CANDIDATES.index)
            ident = _named({**first, "tied": tied}, f"{identity_cell(first['row'])} %")
            agreement = first["row"]["agreement"]
        elif all(v["winner"] in common for v in ids.values()):
            # Each judge's best is within noise of the other's: a tie both judges see, not a disagreement.
            ident = "no single best, within noise for both judges: " + ", ".join(
                sb.LABELS[m] for m in sorted(common, key=CANDIDATES.index))
            agreement = None
        else:
            ident = "the judges disagree: " + "; ".join(
                f"{short(j)} judge {sb.LABELS[v['winner']]} ({100 * v['value']:.1f} %)" for j, v in ids.items())
            agreement = None
        out.append({"digits": "as drawn" if condition == "clean" else condition, "noise": level,
                    "best by PSNR": _named(p, f"{p['value']:.2f} dB"),
                    "best by identity (% kept, " + " / ".join(short(j) for j in judges) + " judge)": ident,
                    "judges read the same digit (%)": "–" if agreement is None else f"{100 * agreement:.1f}",
                    "_psnr": p, "_identity": ids, "_identity_winner": winner,
                    "_identity_tie": winner is None and not ident.startswith("the judges disagree")})
    return out


def sentence(found: list[dict]) -> str:
    """The finding in one sentence (inline text): who wins by PSNR at light and at heavy noise,
    and where the judges agree on identity."""
    clean = [r for r in found if r["digits"] == "as drawn"]
    lo, hi = clean[0], clean[-1]
    agreed = [r for r in found if r["_identity_winner"] is not None]
    ties = [r for r in found if r["_identity_tie"]]
    disputed = len(found) - len(agreed) - len(ties)
    return (f"By PSNR, {sb.LABELS[lo['_psnr']['winner']]} wins at the lightest noise ({lo['noise']:g}) and "
            f"{sb.LABELS[hi['_psnr']['winner']]} at the heaviest ({hi['noise']:g}); by identity the two judges "
            f"name the same best denoiser in {len(agreed)} of the {len(found)} settings, see several tied within "
            f"noise in {len(ties)}, and disagree in {disputed}")


def judges_phrase(artifact: dict) -> str:
    """'two judges of different families (a convnet and a multilayer perceptron), each trained in
    its own run': how the page names the judges, from the models."""
    from core.models import checkpoints

    kinds = [checkpoints.load(j).kind for j in board_io.judges(artifact)]
    article = lambda k: ("an " if k[0] in "aeiou" else "a ") + k
    count = {2: "two", 3: "three"}.get(len(kinds), str(len(kinds)))
    return f"{count} judges of different families ({' and '.join(map(article, kinds))}), each trained in its own run"
