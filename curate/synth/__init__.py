"""Synthetic augmentation: generators behind one interface (GAN + Metropolis-Hastings
sampling), joined to the subset only by the assemble stage."""

from curate.synth.base import Generator, Services
from curate.synth.registry import GENERATORS, make_generator

__all__ = ["GENERATORS", "Generator", "Services", "make_generator"]
