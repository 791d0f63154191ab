"""The index page's summary: every reference value of the assignment beside the value we measure."""
from __future__ import annotations

from ..analysis import colour, companion, latent
from ..reference import MARK, REFERENCE, verdict

# The analyses whose `summary()` measures the reference values (each reads only shipped checkpoints).
SUMMARY_MODULES = (latent, companion, colour)


def measured() -> dict[str, float]:
    """Our value for every reference key that some part's `summary()` measures."""
    values = {}
    for module in SUMMARY_MODULES:
        values.update(module.summary())
    return values


def comparison_rows(ours: dict[str, float]) -> list[dict]:
    """Rows (exercise, quantity, reference, ours, ours vs reference) for the index page's table."""
    rows = []
    for key, (exercise, what, ref, unit) in REFERENCE.items():
        # The reference as EXERCISES.md writes it (a str: never rounded by the table's formatting).
        rows.append({"exercise": exercise, "quantity": what + (f" ({unit})" if unit else ""),
                     "reference": f"{ref:g}", "ours": ours.get(key, "not measured"),
                     "ours vs reference": MARK[verdict(key, ours.get(key))]})
    return rows
