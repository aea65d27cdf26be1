"""Denoising networks.  Every denoiser uses only layers Opacus can clip per privacy unit."""

from synthdata.diffusion.denoisers.mlp import MLPDenoiser
from synthdata.diffusion.denoisers.unet import UNetDenoiser

__all__ = ["MLPDenoiser", "UNetDenoiser"]
