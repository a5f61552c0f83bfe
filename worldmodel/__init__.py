"""worldmodel: energy-based world models with JEPA perception and latent-space planning."""

__version__ = "0.1.0"
