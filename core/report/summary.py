"""The index page's summary: every reference value of the assignment beside the value we measure."""
from __future__ import annotations

from core.analysis import colour, companion, latent
from core.analysis.reference import MARK, REFERENCE, verdict

# The analyses whose `summary()` measures the reference values (each reads only shipped checkpoints).
SUMMARY_MODULES = (latent, companion, colour)


def measured() -> dict[str, float]:
    """Our value for every reference key that some part's `summary()` measures."""
    values = {}
    for module in SUMMARY_MODULES:
        values.update(module.summary())
    return values


def measured_notes() -> dict[str, str]:
    """{reference key: the condition our value was measured under}, from the analyses' optional
    `summary_notes()` (e.g. C3's noise level, which the reference leaves unstated)."""
    notes = {}
    for module in SUMMARY_MODULES:
        if hasattr(module, "summary_notes"):
            notes.update(module.summary_notes())
    return notes


def comparison_rows(ours: dict[str, float], notes: dict[str, str] | None = None) -> list[dict]:
    """Rows (exercise, quantity, reference, ours) for the index page's summary table; `notes`
    (by key) are appended to the quantity."""
    rows = []
    for key, (exercise, what, ref, unit) in REFERENCE.items():
        note = (notes or {}).get(key)
        # The reference as EXERCISES.md writes it (a str: never rounded by the table's formatting).
        rows.append({"exercise": exercise, "quantity": what + (f" ({unit})" if unit else "") + (f"; {note}" if note else ""),
                     "reference": f"{ref:g}", "ours": ours.get(key, "not measured"),
                     "ours vs reference": MARK[verdict(key, ours.get(key))]})
    return rows
