"""Noise-prediction networks.  Every denoiser uses only layers Opacus can clip per record."""

from synthdata.diffusion.denoisers.mlp import MLPDenoiser

__all__ = ["MLPDenoiser"]
