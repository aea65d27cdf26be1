"""Denoising networks.  Every denoiser uses only layers Opacus can clip per privacy unit."""

from synthdata.diffusion.denoisers.mlp import MLPDenoiser
from synthdata.diffusion.denoisers.unet1d import UNet1DDenoiser

__all__ = ["MLPDenoiser", "UNet1DDenoiser"]
