"""What the A8 chapter reads from the pose-aware MAP artifact (core.denoising.pose_map): plain against
pose-aware MAP per condition and level, and where the pose search helps, as sentences."""
from __future__ import annotations

from core.denoising import pose_map

NAMES = {"clean": "upright", "rotate": "rotated ±20°", "shift": "shifted 4 px", "thin": "thin-stroke",
         "thick": "thick-stroke"}


def _verdicts(artifact: dict) -> list[dict]:
    return pose_map.verdicts(artifact["rows"], artifact["params"]["margin_db"])


def word(v: dict) -> str:
    """helps; mixed (more PSNR, fewer digits kept); hurts; no clear help (pose_map.verdicts)."""
    if v["helps"]:
        return "helps"
    if v["hurts"]:
        return "mixed" if v["psnr_gain"] > max(pose_map.MARGIN_DB, 2 * v["psnr_gain_se"]) else "hurts"
    return "no clear help"


def table_rows(artifact: dict) -> list[dict]:
    """One row per condition and level: PSNR, identity kept and ms per image of clip-aware MAP and
    of MAP + pose (its paired gain and the images whose identity it gains or loses), the verdict."""
    by = {(r["condition"], r["level"], r["method"]): r for r in artifact["rows"]}
    out = []
    for v in _verdicts(artifact):
        plain, posed = by[(v["condition"], v["level"], "MAP")], by[(v["condition"], v["level"], "MAP + pose")]
        out.append({
            "digits": NAMES.get(v["condition"], v["condition"]), "noise": v["level"],
            "PSNR dB, MAP": f"{plain['psnr']:.2f}",
            "PSNR dB, + pose (gain)": f"{posed['psnr']:.2f} ({v['psnr_gain']:+.2f} ± {v['psnr_gain_se']:.2f})",
            "identity %, MAP": f"{100 * plain['identity']:.1f}",
            "identity %, + pose (images +/−)": f"{100 * posed['identity']:.1f} "
                                                f"(+{posed['identity_gained']}/−{posed['identity_lost']})",
            "ms/image, MAP / + pose": f"{plain['ms_per_image']:.0f} / {posed['ms_per_image']:.0f}",
            "verdict": word(v)})
    return out


def _grouped(vs: list[dict], detail: bool = False) -> str:
    """'shifted 4 px at noise 0.3 and 0.5, ...' (detail: each level's verdict and gains), grouped
    by condition in the artifact's order."""
    parts = []
    for c in dict.fromkeys(v["condition"] for v in vs):
        at = [f"{v['level']:g}" + (f" ({word(v)}: {v['psnr_gain']:+.2f} dB, {100 * v['identity_gain']:+.1f} "
                                   "identity points)" if detail else "") for v in vs if v["condition"] == c]
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
                     "net loss of identity" if helps else "It helps under no measured condition"),
           "rest": (f"It does not for {_grouped(rest, detail=True)}" if rest
                    else "It helps under every measured condition")}
    unknown = pose_map.recommended(None, artifact=artifact)
    out["unknown"] = ("on, since it helps somewhere and hurts nowhere measured" if unknown else
                      "off, since " + (f"it costs PSNR or digits for {_grouped(hurts)}" if hurts
                                       else "it helps nowhere measured"))
    return out


def claims(artifact: dict) -> dict[str, bool]:
    """The chapter's qualitative sentences about the pose search, for report.check."""
    by = {c: [v for v in _verdicts(artifact) if v["condition"] == c] for c in ("shift", "clean")}
    return {"the pose search helps shifted digits at every level": bool(by["shift"])
            and all(v["helps"] for v in by["shift"]),
            "on upright digits it does not help": bool(by["clean"]) and not any(v["helps"] for v in by["clean"])}
