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
