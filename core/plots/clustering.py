"""Part D figure: a 2-D latent scatter with the fitted GMM's ellipses and centres (D2)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from core.plots import DIGIT_COLORS, latent_scatter


def _ellipse(mean, cov, n_std: float, **kwargs) -> Ellipse:
    """The n_std-sigma contour of a 2-D Gaussian: axes along the covariance's eigenvectors."""
    values, vectors = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(values[::-1])
    return Ellipse(mean, width, height, angle=angle, fill=False, **kwargs)


def gmm_scatter(z, labels, means, covariances, mapping, n_std: float = 2.0, ax=None, title: str = ""):
    """Test latents coloured by TRUE digit; each GMM component drawn as its 2-sigma ellipse and
    centre, in the colour of the digit the Hungarian assignment gave it (a mismatch shows)."""
    z, means, covariances = (np.asarray(a, dtype=float) for a in (z, means, covariances))
    if z.shape[1] != 2:
        raise ValueError(f"gmm_scatter draws 2-D latents, got {z.shape[1]}-D")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 6))
    latent_scatter(z, labels, ax=ax, s=2, alpha=0.35)
    for c, (mean, cov) in enumerate(zip(means, covariances)):
        colour = DIGIT_COLORS(int(mapping[c]))
        ax.add_patch(_ellipse(mean, cov, n_std, edgecolor="black", lw=2.4))
        ax.add_patch(_ellipse(mean, cov, n_std, edgecolor=colour, lw=1.4))
        ax.plot(*mean, marker="X", ms=11, color=colour, mec="black", mew=1.2)
        ax.annotate(str(int(mapping[c])), mean, xytext=(6, 6), textcoords="offset points",
                    fontsize=11, fontweight="bold")
    lo, hi = np.percentile(z, [0.5, 99.5], axis=0)
    pad = 0.1 * (hi - lo)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0]), ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    if title:
        ax.set_title(title)
    return fig
