"""The image modality's choice of U-Net stem from the declared (public) image size."""

from __future__ import annotations

import pytest

from synthdata.config import ModelSpec
from synthdata.modalities import get_modality
from synthdata.modalities.image.codec import ImageCodec
from synthdata.modalities.image.modality import stem_patch


@pytest.mark.parametrize(("size", "patch"), [((28, 28), 1), ((32, 32), 1), ((63, 63), 1), ((64, 64), 2),
                                             ((100, 40), 2), ((128, 128), 4), ((512, 8), 4), ((8, 8), 1)])
def test_the_stem_keeps_the_levels_at_32_pixels_or_more(size, patch) -> None:
    assert stem_patch(size) == patch


def test_the_denoiser_of_64_pixel_images_has_the_stem_and_28_pixel_images_do_not() -> None:
    modality = get_modality("image")
    for side, patch in ((28, 1), (64, 2)):
        codec = ImageCodec(size=(side, side), channels=1, window=(0.0, 255.0), condition=None, unit="record",
                           output_format="png")
        assert modality.build_denoiser(codec=codec, model=ModelSpec(unet_base=8)).patch == patch
