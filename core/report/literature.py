"""Results the chapters quote from the literature, each with its source: the only numbers a page
takes from elsewhere. The models they belong to are rebuilt here, so the text can compare their
size with ours by counting weights instead of typing a ratio."""
from __future__ import annotations

from torch import nn

PARAMETRIC_TSNE = ("van der Maaten, *Learning a Parametric Embedding by Preserving Local Structure*, "
                   "AISTATS 2009, and the t-SNE literature")
# 1-NN accuracy (%) on MNIST of a 2-D code: a deep autoencoder's, and a 2-D t-SNE map's.
DEEP_AE_KNN, TSNE_KNN = 76, 94
# The deep autoencoder's layer widths from the image to its code (the decoder mirrors them).
DEEP_AE_WIDTHS = (784, 500, 500, 2000, 2)
# Test accuracy (%) that the small convnets of the classic MNIST examples (Keras' mnist_cnn) reach.
SMALL_CNN_ACCURACY = (99.2, 99.4)


def deep_autoencoder() -> nn.Module:
    widths = DEEP_AE_WIDTHS + DEEP_AE_WIDTHS[-2::-1]
    return nn.Sequential(*(nn.Linear(a, b) for a, b in zip(widths, widths[1:])))


def small_cnn() -> nn.Module:
    """Two 3x3 conv layers (32, 64 filters), a 2x2 max-pool, a dense layer of 128, ten outputs."""
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12 * 12 * 64, 128), nn.ReLU(), nn.Linear(128, 10))
