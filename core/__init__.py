"""Autoencoder Lab: data, models, training and analyses of (variational) autoencoders on MNIST."""
