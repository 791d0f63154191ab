"""The scoreboard artifact's record and its readers, apart from the code that computes it
(core.denoising.scoreboard) so that other artifacts (the pose-aware MAP study, a method measured
elsewhere) write rows and per-image records of the same schema.

A row: {"method", "level", "condition", "n", "psnr", "psnr_se", "ssim", "identity": {judge: fraction},
"agreement" (fraction of outputs every judge reads as the same digit), "identity_all" (fraction
every judge reads as the true digit), "ms_per_image", and on the first `n_sub` images (BM3D's
subset, for paired comparisons) "psnr_sub", "identity_sub": {judge: fraction}}.
Per image, under the key "condition|method|level": "reads" {judge: one character per image, the
digit read}, "psnr_values" (hundredths of a dB), and the labels of each condition's test digits.
"""
from __future__ import annotations

import torch

from core.denoising import judge
from core.models import checkpoints

CHUNK = 50           # MAP runs in chunks of this many images: its seeded restarts then do not depend on n
PROBE_N = 10         # per-image values kept for the first images (the artifact's recomputable slice)


class StaleArtifact(RuntimeError):
    """A shipped artifact was computed with other weights or tuning than the current ones."""


def key(condition: str, method: str, level: float) -> str:
    return f"{condition}|{method}|{level}"


def empty_result() -> dict:
    """What a measurement returns: rows and the per-image records."""
    return {"rows": [], "reads": {}, "psnr_values": {}, "probe": {}}


def add_result(out: dict, part: dict) -> None:
    """Merge one `evaluate`-like result into `out`."""
    out["rows"] += part["rows"]
    for k in ("reads", "psnr_values", "probe"):
        out[k].update(part.get(k, {}))


def digits(labels: torch.Tensor) -> str:
    return "".join(str(int(v)) for v in labels.tolist())


def probe_entry(psnr: torch.Tensor, kept, ssim: torch.Tensor | None = None,
                objective: torch.Tensor | None = None) -> dict:
    """One method's recomputable slice: per-image values of the first PROBE_N images, and means over
    the first CHUNK (MAP's first chunk) of PSNR, SSIM, kept digits (per judge: kept is {judge: bool
    [N]}, or one bool [N]) and, for a search, its final objective: what a test compares where
    single images depend on the CPU (a non-convex search)."""
    k = min(CHUNK, len(psnr))
    bits = lambda t: "".join("1" if v else "0" for v in t[:PROBE_N].tolist())
    per_judge = isinstance(kept, dict)
    entry = {"psnr": [round(v, 4) for v in psnr[:PROBE_N].tolist()],
             "identity": {j: bits(v) for j, v in kept.items()} if per_judge else bits(kept),
             "chunk": {"n": k, "psnr": round(float(psnr[:k].mean()), 5),
                       "kept": {j: int(v[:k].sum()) for j, v in kept.items()} if per_judge else int(kept[:k].sum())}}
    if ssim is not None:
        entry["ssim"] = [round(v, 4) for v in ssim[:PROBE_N].tolist()]
        entry["chunk"]["ssim"] = round(float(ssim[:k].mean()), 5)
    if objective is not None:
        entry["chunk"]["objective"] = round(float(objective[:k].mean()), 6)
    return entry


def identity_record(readings: dict[str, torch.Tensor], labels: torch.Tensor, n_sub: int | None = None) -> dict:
    """The identity fields of a row from every judge's readings of its outputs."""
    kept = {j: (r == labels).float() for j, r in readings.items()}
    out = {"identity": {j: float(v.mean()) for j, v in kept.items()},
           "agreement": float(judge.agreement(readings).float().mean()),
           "identity_all": float(torch.stack(list(kept.values())).prod(0).mean())}
    if n_sub is not None:
        out["identity_sub"] = {j: float(v[:n_sub].mean()) for j, v in kept.items()}
    return out


def refuse_stale(saved: dict, current, target, command: str) -> None:
    """StaleArtifact naming `command` unless every input of `saved` ({name: sha256 or setting})
    equals what `current()` gives now; a missing input counts as changed."""
    try:
        now = current()
    except (checkpoints.CheckpointError, FileNotFoundError) as exc:
        raise StaleArtifact(f"{target}: an input is missing ({exc}); recompute with `{command}`") from exc
    changed = [k for k, v in saved.items() if now.get(k) != v]
    if changed:
        raise StaleArtifact(f"{target} was computed with other {', '.join(changed)} than the current "
                            f"ones: recompute it with `{command}`")


# --- reading an artifact ------------------------------------------------------------------------------

def rows(artifact: dict, condition: str = "clean") -> list[dict]:
    return [r for r in artifact["rows"] if r["condition"] == condition]


def lookup(rows_: list[dict], method: str, level: float) -> dict:
    for r in rows_:
        if r["method"] == method and abs(r["level"] - level) < 1e-9:
            return r
    raise KeyError(f"no row for {method} at {level}")


def judges(artifact_or_rows) -> list[str]:
    """The judges whose readings the rows carry, in the artifact's order."""
    if isinstance(artifact_or_rows, dict) and artifact_or_rows.get("judges"):
        return list(artifact_or_rows["judges"])
    rows_ = artifact_or_rows["rows"] if isinstance(artifact_or_rows, dict) else artifact_or_rows
    return list(rows_[0]["identity"]) if rows_ else []


def kept(artifact: dict, condition: str, method: str, level: float, judge_name: str) -> torch.Tensor:
    """bool [n]: did `judge_name` read each output as the true digit?"""
    reads = artifact["reads"][key(condition, method, level)][judge_name]
    labels = artifact["labels"][condition][:len(reads)]
    return torch.tensor([a == b for a, b in zip(reads, labels)])


def psnr_values(artifact: dict, condition: str, method: str, level: float) -> torch.Tensor:
    """Per-image PSNR (dB, to 0.01) of one row, in the order of the test subset."""
    return torch.tensor(artifact["psnr_values"][key(condition, method, level)], dtype=torch.float64) / 100


def paired(artifact: dict, condition: str, a: str, b: str, level: float, metric: str = "psnr",
           judge_name: str | None = None) -> tuple[float, float, int]:
    """(mean, standard error, n) of a - b per image, on the images both ran on (the first
    min(n_a, n_b): BM3D's subset is the first images): PSNR, or identity kept by `judge_name`."""
    if metric == "psnr":
        va, vb = psnr_values(artifact, condition, a, level), psnr_values(artifact, condition, b, level)
    else:
        va, vb = (kept(artifact, condition, m, level, judge_name).double() for m in (a, b))
    n = min(len(va), len(vb))
    d = va[:n] - vb[:n]
    return float(d.mean()), float(d.std() / n ** 0.5) if n > 1 else float("inf"), n


def spread(artifact: dict, method: str, level: float, key_: str = "psnr") -> tuple[float, float, int]:
    """(mean, sd, count) of `key_` over the seed of record and the variant checkpoints."""
    values = [lookup(rows(artifact), method, level)[key_]]
    values += [r[key_] for r in artifact.get("variant_rows", [])
               if r["method"] == method and abs(r["level"] - level) < 1e-9]
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0, len(values)
