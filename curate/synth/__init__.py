"""Synthetic augmentation: GAN samples filtered by Metropolis-Hastings (MH-GAN)."""
