"""What a steward declares about medical images (the spec's ``dataset.image`` section) and the model presets
for images.  Everything here is public: nothing is read from the pixels to set it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from synthdata.config import ModalitySettings, check_class_proportions

# Measured on 409 images of BreastMNIST's train split, TSTR scored on the other 137 (never the benchmark's
# holdout), one run each: the fast model trained without DP keeps TSTR lift 0.18 after 40 epochs and 1.01 after
# 100 (280 -> 700 steps); at epsilon 10, 100 epochs of batch 64 reached 0.67 where batch 128 (400 steps) did
# not learn (-0.15).  Guidance 3 against 1: lift 0.47 against 0.18 (40 epochs), 1.05 against 0.88 (100); 10
# DDIM steps against 20: 1.01 against 1.05, at twice the speed.  (Those DP runs clipped at 1.0; releases clip
# at model.max_grad_norm, 0.05 by default.)  On the benchmark's split (all 780 images, one run): without DP lift
# 0.646 against 0.545 for the 40-epoch preset; at epsilon 10 a median of 0.156 over 3 runs [0.044, 0.452]
# against 0.21 [-0.12, 0.52] in one run before: not a measured gain under DP (docs/benchmarks.md).
PRESETS: dict[str, dict[str, float | int]] = {
    "fast": {"epochs": 100, "batch_size": 64, "lr": 2e-3, "augmentation": 2, "unet_base": 16, "guidance": 3.0,
             "sample_steps": 10},
    "standard": {"epochs": 150, "batch_size": 128, "lr": 2e-3, "augmentation": 2, "unet_base": 32, "guidance": 3.0,
                 "sample_steps": 10},
}


class ImageSpec(ModalitySettings):
    """How image files become training images.  Everything here is DECLARED by the steward and treated as
    public; nothing is read from the pixels to set it (rule 1 of the privacy rules).

    ``size`` (height, width) and ``channels`` are the model's image shape; an image of another size is an
    error unless ``resize`` (bilinear, aspect ratio not kept).  ``window`` is the intensity range in the
    file's units (after DICOM rescale or NIfTI scaling) mapped onto [-1, 1]; values outside are clipped.
    ``privacy_unit``: ``subject`` protects a person with all their images (one DP-SGD unit of at most
    ``max_images_per_subject`` images); ``image`` protects single images, and a person's guarantee follows
    from group privacy.  Inputs that name no patient (MedMNIST, a folder without ``subject_column``) make
    every image its own subject: the report then says the guarantee is per image.
    """

    section: ClassVar[str] = "image"
    paths: ClassVar[tuple[str, ...]] = ("labels_csv",)

    format: Literal["auto", "folder", "npz", "dicom", "nifti"] = "auto"
    size: tuple[int, int]
    channels: Literal[1, 3] = 1
    window: tuple[float, float] = (0.0, 255.0)
    resize: bool = False
    labels_csv: Path | None = Field(default=None, description="folder input: CSV of file -> label (and subject)")
    file_column: str = "file"
    label_column: str = "label"
    subject_column: str | None = None
    npz_splits: list[str] = Field(default_factory=lambda: ["train"], description="MedMNIST splits to read")
    nifti_axis: int = Field(default=2, ge=0, le=2)
    nifti_slices: Literal["middle", "all"] | list[int] = "middle"
    classes: list[str] | None = Field(default=None, description="the declared classes (labelled inputs)")
    class_proportions: dict[str, float] | None = Field(
        default=None, description="declared class proportions of the synthetic images (default: measured "
                                  "with DP from the preprocessing share)")
    privacy_unit: Literal["subject", "image"] = "subject"
    max_images_per_subject: int = Field(default=8, ge=1, le=4096)
    output_format: Literal["png", "npz", "dicom"] = "png"

    @model_validator(mode="after")
    def _consistent(self) -> ImageSpec:
        if min(self.size) < 8 or max(self.size) > 512:
            raise ValueError(f"size must be between 8 and 512 pixels per side, got {list(self.size)}")
        low, high = self.window
        if not low < high:
            raise ValueError(f"window must be [low, high] with low < high, got [{low}, {high}]")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct, got {self.classes}")
        check_class_proportions(self.class_proportions, self.declared_classes())
        if self.output_format == "npz" and not self.classes:
            raise ValueError("output_format npz (the MedMNIST layout) needs labelled images: declare classes")
        return self

    def declared_classes(self) -> list[str]:
        return list(self.classes or [])
