"""The whole posterior through the VAE prior (see sampler.py)."""
