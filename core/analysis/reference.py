"""Reference values from EXERCISES.md (what earlier course submissions reported).

These are the only numbers typed into the project: the report shows each beside the value we
measure. Keys are stable; each part's analysis module provides `summary() -> {key: our value}`, and
`core.report.summary` puts them side by side.
"""
from __future__ import annotations

# key: (exercise id, what, reference value, unit)
REFERENCE: dict[str, tuple[str, str, float, str]] = {
    **{f"a3_knn_acc_{d}": ("A3", f"latent 1-NN accuracy, digit {d}", v, "%")
       for d, v in enumerate([81, 82, 34, 45, 41, 26, 36, 35, 20, 28])},
    "a3_knn_mean": ("A3", "latent 1-NN accuracy, unweighted mean over digits", 42.7, "%"),
    "a4_test_accuracy": ("A4", "encoder-as-classifier test accuracy", 97.8, "%"),
    "b1_pca30_mse": ("B1", "PCA (30 components) test MSE", 0.0593, ""),
    "b1_ae_mse": ("B1", "autoencoder test MSE", 0.00723, ""),
    "b3_mean_act_sparse": ("B3", "mean hidden activation, sparse AE", 0.037, ""),
    "b3_mean_act_64": ("B3", "mean hidden activation, AE hidden 64", 1.16, ""),
    "b3_mean_act_128": ("B3", "mean hidden activation, AE hidden 128", 0.82, ""),
    "b3_mean_act_256": ("B3", "mean hidden activation, AE hidden 256", 0.61, ""),
    "b6_mse_unpool": ("B6", "test MSE, unpooling decoder", 0.00355, ""),
    "b6_mse_unpool_tconv": ("B6", "test MSE, unpooling + transposed conv", 0.00467, ""),
    "b6_mse_tconv": ("B6", "test MSE, transposed conv only", 0.0802, ""),
    "c3_ae_snr": ("C3", "conv AE denoising SNR", 10.27, "dB"),
    "c3_ae_mse": ("C3", "conv AE denoising MSE", 0.003709, ""),
    "c3_dropout_snr": ("C3", "conv AE with dropout, SNR", 7.08, "dB"),
    "c3_dropout_mse": ("C3", "conv AE with dropout, MSE", 0.00833, ""),
}


def reference(key: str) -> float:
    return REFERENCE[key][2]


def goal(key: str) -> int:
    """Which side of the reference is better: +1 higher (accuracy, SNR), -1 lower (MSE), 0 neither
    (a mean activation describes a model; it is not a score)."""
    what = REFERENCE[key][1]
    if "accuracy" in what or "SNR" in what:
        return 1
    return -1 if "MSE" in what else 0


def improvement(key: str, ours: float) -> float:
    """How many times better (> 1) or worse (< 1) our value is than the reference: the ratio of
    the values (inverted where lower is better); for dB, the ratio of the powers, 10^(diff/10)."""
    exercise, what, ref, unit = REFERENCE[key]
    if not goal(key):
        raise ValueError(f"{key} has no better side")
    if unit == "dB":
        return 10 ** (goal(key) * (ours - ref) / 10)
    return (ours / ref) ** goal(key)


def verdict(key: str, ours) -> str:
    """Our value against the reference: "better", "worse", "same" (equal at the precision the
    reference is written with), "no better side" or "not measured"."""
    if not isinstance(ours, (int, float)):
        return "not measured"
    if not goal(key):
        return "no better side"
    written = f"{reference(key):g}"
    decimals = len(written.split(".")[1]) if "." in written else 0
    if round(ours, decimals) == float(written):
        return "same"
    return "better" if improvement(key, ours) > 1 else "worse"


MARK = {"better": "✓ better", "worse": "✗ worse", "same": "= same", "no better side": "–",
        "not measured": "not measured"}
