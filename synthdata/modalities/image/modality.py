"""Medical images as a modality: PNG/JPEG folders, MedMNIST npz, DICOM or NIfTI slices in, through the shared
DP diffusion (2-D U-Net), PNG / npz / DICOM out, each file marked synthetic.

Privacy, stated outright:

* Size, channels, the intensity window and the class list come from the spec (public); nothing is read
  from the pixels to set them.  Class proportions are declared or measured with DP (preprocessing share).
* The privacy unit is the subject (``image.privacy_unit: subject``): the person named by the input
  (DICOM PatientID, NIfTI file name, a ``subject_column`` of the labels CSV) is one DP-SGD unit holding at
  most ``max_images_per_subject`` images (picked with the public seed; the rest are never used).  With
  ``image`` each image is a unit and a person's guarantee follows from group privacy.  Inputs that name no
  person (MedMNIST, a folder without ``subject_column``) make each image its own subject, and the privacy
  unit says the guarantee protects images, not patients.
* The train/holdout split keeps each subject on one side.
* The dataset fingerprint (the ledger key) hashes the input files' bytes, so changing the declared window
  or size does not make the same data look new to the budget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from synthdata.config import DatasetSpec, ModelSpec, PrivacySpec
from synthdata.diffusion.denoisers.unet import UNetDenoiser
from synthdata.errors import BadInputError
from synthdata.modalities import grouping
from synthdata.modalities.base import Preprocessing
from synthdata.modalities.image import readers, writers
from synthdata.modalities.image.codec import ImageCodec
from synthdata.modalities.image.images import ImageFormat, ImageSet
from synthdata.modalities.image.settings import ImageSpec
from synthdata.modalities.records import RecordModality
from synthdata.views.images import ImageAuditSet, ImageSchema

#: The U-Net's space-to-depth stem halves the resolution while the longer side stays at this many pixels or more.
STEM_SIDE = 32


def stem_patch(size: tuple[int, ...]) -> int:
    """The U-Net's space-to-depth patch for the declared (public) image ``size``: the largest power of two that
    keeps the longer side at ``STEM_SIDE`` or more, so 64 x 64 images run at 32 x 32 on 2 x 2 patches and
    anything under 64 (BreastMNIST's 28 x 28) keeps full resolution.  Measured at 64 x 64 (BreastMNIST resized,
    2 cores shared): a DP step about 5x cheaper; without DP on the tuning split (``evaluation.benchmarks.
    image_tuning``, one run each) TSTR lift 0.88 [0.66, 1.03] against 0.84 [0.54, 1.08] without the stem, but a
    Fréchet distance of 21.1 against 10.8 (``docs/benchmarks.md``, Signals and images)."""
    patch = 1
    while max(size) // (2 * patch) >= STEM_SIDE and min(size) // (2 * patch) >= 2:
        patch *= 2
    return patch


@dataclass(frozen=True)
class ImageSource:
    images: ImageSet
    spec: ImageSpec
    fingerprint: str
    path: Path


def _format(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    name = path.name.lower()
    if path.is_file() and name.endswith(".npz"):
        return "npz"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if path.is_file() and path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return "dicom"
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        suffixes = {p.suffix.lower() for p in files}
        if suffixes & set(readers.PICTURE_SUFFIXES):
            return "folder"
        if any(p.name.lower().endswith((".nii", ".nii.gz")) for p in files):
            return "nifti"
        if suffixes & {".dcm", ".dicom", ".ima", ""}:
            return "dicom"
    raise BadInputError(f"{path}: cannot tell the image format (PNG/JPEG folder, .npz, DICOM, NIfTI); set "
                        "image.format")


def _input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))


def _fingerprint(path: Path) -> str:
    """SHA-256 over the sorted digests of every input file's bytes (not its name or place)."""
    digests = []
    for file in _input_files(path):
        inner = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                inner.update(block)
        digests.append(inner.digest())
    outer = hashlib.sha256(b"synthdata-image")
    for digest in sorted(digests):
        outer.update(digest)
    return outer.hexdigest()


class ImageModality(RecordModality):
    """2-D images, grey or RGB, of one declared size."""

    name = "image"
    view = ImageAuditSet
    record_type = ImageSet
    codec_type = ImageCodec
    declared_public = ("The image size, channels, intensity window, class list and any class proportions declared "
                       "in the spec are treated as public knowledge.")

    # --- input -------------------------------------------------------------------------------------------
    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> ImageSource:
        spec = dataset.settings
        if spec is None:
            raise BadInputError(f"dataset {dataset.path} has modality image but the spec has no 'image:' section "
                                "(size, channels, window, classes, privacy unit)")
        path = Path(dataset.path)
        if not path.exists():
            raise BadInputError(f"{path}: no such file or folder")
        fmt = ImageFormat(size=tuple(spec.size), channels=spec.channels, window=tuple(spec.window), resize=spec.resize)
        kind = _format(path, spec.format)
        if kind == "folder":
            images = readers.read_folder(path=path, format=fmt, labels_csv=spec.labels_csv,
                                         file_column=spec.file_column, label_column=spec.label_column,
                                         subject_column=spec.subject_column)
        elif kind == "npz":
            parts = [readers.read_npz(path=path, format=fmt, split=split) for split in spec.npz_splits]
            images = ImageSet(pixels=np.concatenate([p.pixels for p in parts]),
                              labels=np.concatenate([p.labels for p in parts]),
                              subjects=np.concatenate([p.subjects for p in parts]),
                              sources=np.concatenate([p.sources for p in parts]))
        elif kind == "dicom":
            images = readers.read_dicom(path=path, format=fmt)
        else:
            images = readers.read_nifti(path=path, format=fmt, axis=spec.nifti_axis, slices=spec.nifti_slices)
        classes = spec.declared_classes()
        if classes and images.labels is None:
            raise BadInputError(f"{path}: classes {classes} are declared but the images have no labels (use label "
                                "sub-folders or image.labels_csv)")
        if images.labels is not None and not classes:
            raise BadInputError(f"{path}: the images are labelled ({len(set(images.labels))} label values); declare "
                                "the public class list as image.classes",
                                hint=f"labels read: {sorted(set(images.labels))[:5]}")
        if images.labels is not None:
            unknown = sorted(set(images.labels) - set(classes))
            if unknown:
                where = np.flatnonzero(np.isin(images.labels, unknown))[0]
                source = images.sources[where]
                named = path / source if path.is_dir() and not Path(source).is_absolute() else source
                raise BadInputError(f"{named}: its label is not among the declared classes {classes} "
                                    f"({len(unknown)} unknown label value(s))", hint=f"label read: '{images.labels[where]}'")
        return ImageSource(images=images, spec=spec, fingerprint=_fingerprint(path), path=path)

    def fingerprint(self, *, source: ImageSource) -> str:
        return source.fingerprint

    def _per_image(self, source: ImageSource) -> bool:
        """Whether the input names no person: every image is its own subject."""
        return len(np.unique(source.images.subjects)) == len(source.images)

    def privacy_unit(self, *, source: ImageSource, privacy: PrivacySpec) -> str:
        cap = source.spec.max_images_per_subject
        if self._per_image(source):
            return ("one image (the input names no patient, so each image is its own subject: the guarantee "
                    "protects images, not patients who may have several)")
        if len(np.unique(source.images.subjects)) < 2:
            return "one image (a single patient: only image-level protection is possible)"
        if source.spec.privacy_unit == "subject":
            return f"one patient, with at most {cap} image{'s' if cap > 1 else ''} each"
        return (f"one image; a patient contributes at most {cap} images, so per patient the guarantee is group "
                f"privacy over {cap} images (ε x {cap}, δ x {cap}·e^((k-1)ε))")

    def records_of(self, source: ImageSource) -> ImageSet:
        return source.images

    def declared_unit(self, source: ImageSource) -> str:
        return source.spec.privacy_unit

    def _unit(self, source: ImageSource) -> str:
        return "subject" if source.spec.privacy_unit == "subject" else "record"

    def count_units(self, *, source: ImageSource) -> int:
        keys = grouping.unit_keys(subjects=source.images.subjects, unit=self._unit(source))
        return int(len(np.unique(keys)))

    def split(self, *, source: ImageSource, holdout_fraction: float, seed: int) -> tuple[ImageSource, ImageSource]:
        subjects = source.images.subjects
        holdout = grouping.split_by_subject(subjects=subjects, holdout_fraction=holdout_fraction, seed=seed)
        if holdout is None:  # one patient: a public-seed draw of images
            holdout = grouping.split_by_subject(subjects=np.arange(len(subjects)).astype(str),
                                                holdout_fraction=holdout_fraction, seed=seed)
        parts = [ImageSource(source.images.take(np.flatnonzero(keep)), source.spec, source.fingerprint, source.path)
                 for keep in (~holdout, holdout)]
        if min(len(p.images) for p in parts) == 0:
            raise BadInputError(f"{source.path}: too few images to split into training and holdout "
                                f"({len(source.images)} images)")
        return parts[0], parts[1]

    # --- encoding ------------------------------------------------------------------------------------------
    def needs_preprocessing(self, *, source: ImageSource) -> bool:
        """Only the class proportions can cost budget: labelled images without declared proportions."""
        return bool(source.spec.declared_classes()) and source.spec.class_proportions is None

    def _cap(self, source: ImageSource) -> int:
        """Most images one privacy unit holds (the DP sensitivity of per-image counts)."""
        if self._unit(source) == "record" or self._per_image(source) or len(np.unique(source.images.subjects)) < 2:
            return 1
        return source.spec.max_images_per_subject

    def resolve(self, *, train: ImageSource, epsilon: float, delta: float, privacy: PrivacySpec,
                rng: np.random.Generator) -> tuple[ImageCodec, Preprocessing]:
        notes = ["Image size, channels, intensity window and classes are declared in the spec; nothing was "
                 "learned from the pixels."]
        condition, pre = self.class_condition(
            records=train.images, classes=train.spec.declared_classes(), declared=train.spec.class_proportions,
            cap=train.spec.max_images_per_subject, sensitivity=self._cap(train), epsilon=epsilon, rng=rng,
            notes=notes)
        several = len(np.unique(train.images.subjects)) >= 2
        codec = ImageCodec(size=tuple(train.spec.size), channels=train.spec.channels, window=tuple(train.spec.window),
                           condition=condition, unit=self._unit(train) if several else "record",
                           output_format=train.spec.output_format)
        return codec, pre

    def records(self, *, source: ImageSource, codec: ImageCodec, privacy: PrivacySpec, seed: int) -> ImageSet:
        """At most ``max_images_per_subject`` images per subject, chosen with the public seed."""
        return source.images.take(grouping.cap_per_subject(
            subjects=source.images.subjects, cap=source.spec.max_images_per_subject, seed=seed))

    def decode(self, *, codec: ImageCodec, array: np.ndarray) -> ImageSet:
        pixels, labels = codec.decode(array)
        names = np.array([f"synthetic-{i}" for i in range(len(pixels))])
        return ImageSet(pixels=pixels, labels=labels, subjects=names, sources=names)

    def build_denoiser(self, *, codec: ImageCodec, model: ModelSpec) -> nn.Module:
        return UNetDenoiser(channels=codec.channels, shape=codec.size, classes=len(codec.classes),
                            base=int(model.resolved("unet_base")), patch=stem_patch(codec.size))

    def values(self, data: ImageSet) -> np.ndarray:
        return data.pixels

    # --- storage -------------------------------------------------------------------------------------------
    def audit_frames(self, *, data: ImageSet, codec: ImageCodec) -> ImageAuditSet:
        return ImageAuditSet(pixels=data.pixels, labels=None if data.labels is None else data.labels.astype(object))

    def audit_groups(self, *, data: ImageSet, codec: ImageCodec) -> np.ndarray | None:
        """Patients, when several images share one (the split keeps a patient's images together)."""
        subjects = np.asarray(data.subjects).astype(str)
        return subjects if len(np.unique(subjects)) < len(subjects) else None

    def audit_schema(self, *, codec: ImageCodec) -> ImageSchema:
        return ImageSchema(size=codec.size, channels=codec.channels, window=codec.window, classes=codec.classes)


    # --- release files -------------------------------------------------------------------------------------
    def write_release(self, *, data: ImageSet, codec: ImageCodec, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        """The synthetic images in the spec's ``output_format``, each marked synthetic: ``images/`` (PNG with
        tEXt chunks and ``labels.csv``), ``synthetic.npz`` (MedMNIST layout) or ``dicom/`` (Secondary Capture,
        DERIVED, no patient identifiers)."""
        prov = {**provenance, **{k: float(provenance[k]) for k in ("epsilon", "delta") if k in provenance}}
        labels = None if data.labels is None else [str(v) for v in data.labels]
        if codec.output_format == "png":
            written = writers.write_png_folder(folder=folder / "images", pixels=data.pixels, labels=labels,
                                               provenance=prov)
        elif codec.output_format == "npz":
            written = writers.write_npz(path=folder / "synthetic.npz", pixels=data.pixels, labels=labels,
                                        provenance=prov)
        else:
            written = writers.write_dicom(folder=folder / "dicom", pixels=data.pixels, labels=labels, provenance=prov)
        return [str(Path(w).relative_to(folder)) for w in written]
