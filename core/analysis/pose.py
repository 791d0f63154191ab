"""What the A8 chapter reads from the pose-aware MAP artifact (core.denoising.pose_map): plain against
pose-aware MAP per condition and level, and where the pose search helps, as sentences."""
from __future__ import annotations

from core.denoising import pose_map

NAMES = {"clean": "upright", "rotate": "rotated ±20°", "shift": "shifted 4 px", "thin": "thin-stroke",
         "thick": "thick-stroke"}


def _verdicts(artifact: dict) -> list[dict]:
    return pose_map.verdicts(artifact["rows"], artifact["params"]["margin_db"])


def word(v: dict) -> str:
    """helps; mixed (more PSNR, fewer digits kept by both judges); hurts; the judges disagree; no
    clear help (pose_map.verdicts, pose_map.verdict_word)."""
    return pose_map.verdict_word(v)


def _per_judge(values: dict, f) -> str:
    return " / ".join(f(v) for v in values.values())


def table_rows(artifact: dict) -> list[dict]:
    """One row per condition and level: PSNR, identity kept per judge and ms per image of clip-aware
    MAP and of MAP + pose (its paired gain and the images whose identity it gains or loses, per
    judge), the verdict."""
    from core.denoising.judge import SHORT

    by = {(r["condition"], r["level"], r["method"]): r for r in artifact["rows"]}
    judges = " / ".join(SHORT.get(j, j) for j in artifact["rows"][0]["identity"])
    out = []
    for v in _verdicts(artifact):
        plain, posed = by[(v["condition"], v["level"], "MAP")], by[(v["condition"], v["level"], "MAP + pose")]
        gained, lost = posed["identity_gained"], posed["identity_lost"]
        out.append({
            "digits": NAMES.get(v["condition"], v["condition"]), "noise": v["level"],
            "PSNR dB, MAP": f"{plain['psnr']:.2f}",
            "PSNR dB, + pose (gain)": f"{posed['psnr']:.2f} ({v['psnr_gain']:+.2f} ± {v['psnr_gain_se']:.2f})",
            f"identity %, MAP ({judges})": _per_judge(plain["identity"], lambda x: f"{100 * x:.1f}"),
            f"identity %, + pose ({judges}; images +/−)": _per_judge(posed["identity"], lambda x: f"{100 * x:.1f}")
            + " (" + " / ".join(f"+{gained[j]}/−{lost[j]}" for j in gained) + ")",
            "ms/image, MAP / + pose": f"{plain['ms_per_image']:.0f} / {posed['ms_per_image']:.0f}",
            "verdict": word(v)})
    return out


def _grouped(vs: list[dict], detail: bool = False) -> str:
    """'shifted 4 px at noise 0.3 and 0.5, ...' (detail: each level's verdict and gains), grouped
    by condition in the artifact's order."""
    parts = []
    for c in dict.fromkeys(v["condition"] for v in vs):
        at = [f"{v['level']:g}" + (f" ({word(v)}: {v['psnr_gain']:+.2f} dB, "
                                   + _per_judge(v["identity_gain"], lambda d: f"{100 * d:+.1f}")
                                   + " identity points by the two judges)" if detail else "")
              for v in vs if v["condition"] == c]
        parts.append(f"{NAMES.get(c, c)} digits at noise {' and '.join(at)}")
    if not parts:
        return "none"
    return parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]


def sentences(artifact: dict) -> dict[str, str]:
    """Inline text (no newlines): where the pose search helps, where it does not, and whether it is
    on for a digit of unknown pose (as pose_map.recommended decides from the same artifact)."""
    vs = _verdicts(artifact)
    helps = [v for v in vs if v["helps"]]
    rest = [v for v in vs if not v["helps"]]
    hurts = [v for v in vs if v["hurts"]]
    gains = [v["psnr_gain"] for v in helps]
    out = {"helps": (f"It helps for {_grouped(helps)}: by {min(gains):.2f} to {max(gains):.2f} dB, with no "
                     "net loss of identity under either judge" if helps else "It helps under no measured condition"),
           "rest": (f"It does not for {_grouped(rest, detail=True)}" if rest
                    else "It helps under every measured condition")}
    unknown = pose_map.recommended(None, artifact=artifact)
    disputed = [v for v in vs if v["identity"] is None]
    out["unknown"] = ("on, since it helps somewhere and hurts nowhere measured" if unknown else
                      "off, since " + (f"it costs PSNR or digits for {_grouped(hurts)}" if hurts else
                                       f"the judges disagree on whether it costs digits for {_grouped(disputed)}"
                                       if disputed else "it helps nowhere measured"))
    return out


def claims(artifact: dict) -> dict[str, bool]:
    """The chapter's qualitative sentences about the pose search, for report.check."""
    by = {c: [v for v in _verdicts(artifact) if v["condition"] == c] for c in ("shift", "clean")}
    return {"the pose search helps shifted digits at every level": bool(by["shift"])
            and all(v["helps"] for v in by["shift"]),
            "on upright digits it does not help": bool(by["clean"]) and not any(v["helps"] for v in by["clean"])}
