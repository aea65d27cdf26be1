"""Read private images into an :class:`ImageSet`: PNG/JPEG folders, MedMNIST ``.npz``, DICOM and NIfTI.

Every reader takes the declared :class:`ImageFormat` and nothing about the encoding is measured on the
data: grey/RGB conversion, size and intensity window follow the declaration, and an image that does not
fit it is an error (or resampled, with ``resize=True``).  Errors are :class:`BadInputError` naming the
file, key or column; they never quote pixel values.

Privacy: the returned ``subjects`` and ``sources`` can be identifiers (file names, DICOM PatientID).  They
exist to split by person and to name files in errors; keep them out of anything that is released.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthdata.errors import BadInputError, reader_hint
from synthdata.modalities.declared_range import to_unit_range
from synthdata.modalities.image.images import ImageFormat, ImageSet

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's "L" conversion


def _fit(where: str, raw: np.ndarray, fmt: ImageFormat) -> np.ndarray:
    """Turn one ``(H, W)`` or ``(H, W, 3)`` image into ``(C, H, W)`` float32 in [-1, 1] per ``fmt``."""
    raw = np.asarray(raw)
    if raw.dtype.kind not in "uifb":
        raise BadInputError(f"{where}: pixel data is not numeric (dtype {raw.dtype})")
    raw = raw.astype(np.float64)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim == 2:
        chans = raw[None] if fmt.channels == 1 else np.repeat(raw[None], 3, axis=0)
    elif raw.ndim == 3 and raw.shape[2] == 3:
        chans = (raw @ _LUMA)[None] if fmt.channels == 1 else np.moveaxis(raw, 2, 0)
    else:
        raise BadInputError(f"{where}: expected a 2-D grey or (H, W, 3) colour image, got shape {raw.shape}")
    if not np.isfinite(chans).all():
        raise BadInputError(f"{where}: pixel data contains NaN or infinite values")
    height, width = chans.shape[1:]
    if (height, width) != fmt.size:
        if not fmt.resize:
            raise BadInputError(
                f"{where}: image is {height}x{width} (HxW) but the declared size is {fmt.size[0]}x{fmt.size[1]}; "
                "declare resize=True to resample")
        from PIL import Image

        chans = np.stack([np.asarray(Image.fromarray(c.astype(np.float32)).resize(
            (fmt.size[1], fmt.size[0]), Image.Resampling.BILINEAR)) for c in chans])
    scaled, _ = to_unit_range(chans, window=fmt.window)
    return scaled


def _set(where: str, images: list[np.ndarray], labels: list[str] | None, subjects: list[str],
         sources: list[str]) -> ImageSet:
    if not images:
        raise BadInputError(f"{where}: no images found")
    return ImageSet(pixels=np.stack(images).astype(np.float32), labels=None if labels is None else labels,
                    subjects=subjects, sources=sources)


# --------------------------------------------------------------------------------------------- PNG/JPEG
def _picture(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            if img.mode in ("P", "PA"):
                img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
            if img.mode in ("RGBA", "LA"):
                img = img.convert(img.mode[:-1])
            if img.mode == "CMYK" or img.mode == "YCbCr":
                img = img.convert("RGB")
            if img.mode == "1":
                img = img.convert("L")
            return np.asarray(img)
    except UnidentifiedImageError:
        raise BadInputError(f"{file}: not a readable PNG/JPEG image (its content is another format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(f"{file}: not a readable PNG/JPEG image (truncated or damaged)",
                            hint=reader_hint(exc)) from None


def _csv_rows(labels_csv: Path, file_column: str, label_column: str,
              subject_column: str | None) -> dict[str, tuple[str, str | None]]:
    try:
        with open(labels_csv, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            wanted = [file_column, label_column] + ([subject_column] if subject_column else [])
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise BadInputError(f"{labels_csv}: column(s) {missing} not found; columns present: {columns}")
            rows: dict[str, tuple[str, str | None]] = {}
            for line, row in enumerate(reader, start=2):
                name = (row.get(file_column) or "").strip().replace("\\", "/")
                label = (row.get(label_column) or "").strip()
                subject = (row.get(subject_column) or "").strip() if subject_column else None
                if not name:
                    raise BadInputError(f"{labels_csv}: line {line} has an empty '{file_column}'")
                if not label:
                    raise BadInputError(f"{labels_csv}: line {line} ({name}) has an empty '{label_column}'")
                if subject_column and not subject:
                    raise BadInputError(f"{labels_csv}: line {line} ({name}) has an empty '{subject_column}'")
                if name in rows:
                    raise BadInputError(f"{labels_csv}: '{name}' is listed twice in column '{file_column}'")
                rows[name] = (label, subject)
    except UnicodeDecodeError:
        raise BadInputError(f"{labels_csv}: the labels CSV is not UTF-8 text (another encoding, such as UTF-16 or "
                            "Latin-1?): save it as UTF-8") from None
    except (OSError, csv.Error) as exc:
        raise BadInputError(f"{labels_csv}: not a readable labels CSV file", hint=reader_hint(exc)) from None
    return rows


def read_folder(*, path: Path, format: ImageFormat, labels_csv: Path | None = None, file_column: str = "file",
                label_column: str = "label", subject_column: str | None = None) -> ImageSet:
    """Read every PNG/JPEG under ``path`` (recursively, hidden files skipped, sorted by relative path).

    Labels come from ``labels_csv`` when given (``file_column`` holds paths relative to ``path``; every image
    must be listed and every listed file must exist), otherwise from the first sub-folder name
    (``path/<label>/...``); with neither, images directly in ``path`` get no labels.  Mixing top-level images
    with labelled sub-folders is an error.  Subjects come from ``subject_column`` when given, else each
    image is its own subject (so a person with several images could land on both sides of a split: give
    ``subject_column`` when that can happen).
    """
    root = Path(path)
    if not root.is_dir():
        raise BadInputError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise BadInputError(f"{root}: no PNG/JPEG images found")
    rel = [p.relative_to(root).as_posix() for p in files]
    labels: list[str] | None
    subjects = list(rel)
    if labels_csv is not None:
        rows = _csv_rows(Path(labels_csv), file_column, label_column, subject_column)
        unlisted = [r for r in rel if r not in rows]
        if unlisted:
            raise BadInputError(f"{root / unlisted[0]}: not listed in {labels_csv} column '{file_column}' "
                                f"({len(unlisted)} image(s) unlisted)")
        absent = [name for name in rows if name not in set(rel)]
        if absent:
            raise BadInputError(f"{root / absent[0]}: listed in {labels_csv} but not found (or not PNG/JPEG)")
        labels = [rows[r][0] for r in rel]
        if subject_column:
            subjects = [str(rows[r][1]) for r in rel]
    else:
        nested = [len(Path(r).parts) > 1 for r in rel]
        if any(nested) and not all(nested):
            loose = rel[nested.index(False)]
            raise BadInputError(f"{root / loose}: image outside the label sub-folders; move it into one or "
                                "give labels_csv")
        labels = [Path(r).parts[0] for r in rel] if all(nested) else None
    images = [_fit(str(f), _picture(f), format) for f in files]
    return _set(str(root), images, labels, subjects, rel)


# --------------------------------------------------------------------------------------------- MedMNIST
def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    if not Path(path).is_file():
        raise BadInputError(f"{path}: file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInputError(f"{path}: not a readable .npz file (not a zip archive of .npy arrays, or truncated)",
                            hint=reader_hint(exc)) from None


def npz_splits(*, path: Path) -> list[str]:
    """Return the splits (``train``, ``val``, ``test``, ...) that have an ``<split>_images`` array."""
    with _open_npz(Path(path)) as data:
        keys = list(data.files)
    found = [k[: -len("_images")] for k in keys if k.endswith("_images")]
    order = {"train": 0, "val": 1, "test": 2}
    return sorted(found, key=lambda s: (order.get(s, 3), s))


def read_npz(*, path: Path, format: ImageFormat, split: str = "train") -> ImageSet:
    """Read one split of a MedMNIST-style ``.npz`` (``<split>_images`` and ``<split>_labels``).

    Images are ``(n, H, W)`` or ``(n, H, W, 3)``; labels ``(n,)`` or ``(n, 1)`` (multi-label ``(n, k)`` is
    refused).  MedMNIST carries no patient key, so each image is its own subject: a patient with several
    images may end up on both sides of a split.
    """
    path = Path(path)
    try:
        with _open_npz(path) as data:
            keys = list(data.files)
            want = [f"{split}_images", f"{split}_labels"]
            missing = [k for k in want if k not in keys]
            if missing:
                raise BadInputError(f"{path}: key(s) {missing} not found; keys present: {sorted(keys)}")
            images, labels = data[want[0]], data[want[1]]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInputError(f"{path}: the arrays of split '{split}' cannot be read (damaged, or object arrays, which "
                            "are never unpickled)", hint=reader_hint(exc)) from None
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] in (1, 3))):
        raise BadInputError(f"{path}: '{split}_images' must be (n, H, W) or (n, H, W, 3), got {images.shape}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise BadInputError(f"{path}: '{split}_labels' must be (n,) or (n, 1), got {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise BadInputError(f"{path}: '{split}_images' has {images.shape[0]} images but '{split}_labels' has "
                            f"{labels.shape[0]} labels")
    if images.dtype.kind not in "uif":
        raise BadInputError(f"{path}: '{split}_images' is not numeric (dtype {images.dtype})")
    pixels = [_fit(f"{path}[{split}_images][{i}]", img, format) for i, img in enumerate(images)]
    label_text = [str(v.item()) if hasattr(v, "item") else str(v) for v in labels]
    ids = [f"{path.name}#{split}[{i}]" for i in range(images.shape[0])]
    return _set(f"{path}[{split}_images]", pixels, label_text, ids, ids)


# --------------------------------------------------------------------------------------------- DICOM
def _dicom_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise BadInputError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.upper() != "DICOMDIR"
                  and not any(part.startswith(".") for part in p.relative_to(root).parts)
                  and p.suffix.lower() in ("", ".dcm", ".dicom", ".ima"))


def read_dicom(*, path: Path, format: ImageFormat) -> ImageSet:
    """Read one DICOM file or every DICOM file under a folder (``.dcm``/``.dicom``/``.ima`` or no suffix).

    Stored values go through RescaleSlope/RescaleIntercept (e.g. to Hounsfield units) and then the
    *declared* window; the file's own WindowCenter/Width are ignored.  MONOCHROME1 images are inverted so
    that high values are bright.  Multi-frame files give one image per frame.  ``subjects`` is the
    PatientID (the file name when absent), used only as a split key and never written out.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    root = Path(path)
    files = _dicom_files(root)
    if not files:
        raise BadInputError(f"{root}: no DICOM files found")
    images, subjects, sources = [], [], []
    for file in files:
        try:
            ds = pydicom.dcmread(file)
        except InvalidDicomError:
            raise BadInputError(f"{file}: not a readable DICOM file (no DICM preamble: another kind of file)") from None
        except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
            raise BadInputError(f"{file}: not a readable DICOM file (truncated or damaged)",
                                hint=reader_hint(exc)) from None
        if "PixelData" not in ds:
            raise BadInputError(f"{file}: DICOM file has no pixel data")
        try:
            array = np.asarray(ds.pixel_array)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError, TypeError, KeyError) as exc:
            raise BadInputError(f"{file}: cannot decode its pixel data (transfer syntax "
                                f"{getattr(ds.file_meta, 'TransferSyntaxUID', '?')}: too short for its rows and "
                                "columns, or compressed with a codec that is not installed)",
                                hint=reader_hint(exc)) from None
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if frames == 1:
            array = array[None]
        if array.ndim != (4 if samples > 1 else 3):
            raise BadInputError(f"{file}: unexpected pixel array shape {array.shape}")
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        invert = str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
        subject = str(ds.get("PatientID", "") or "").strip() or file.name
        for k, frame in enumerate(array):
            where = str(file) if frames == 1 else f"{file}#frame{k}"
            img = _fit(where, frame.astype(np.float64) * slope + intercept, format)
            images.append(-img if invert else img)
            subjects.append(subject)
            sources.append(where)
    return _set(str(root), images, None, subjects, sources)


# --------------------------------------------------------------------------------------------- NIfTI
def _nifti_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise BadInputError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and (p.name.lower().endswith(".nii") or p.name.lower().endswith(".nii.gz")))


def _stem(file: Path) -> str:
    name = file.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return file.stem


def read_nifti(*, path: Path, format: ImageFormat, axis: int = 2,
               slices: str | int | Sequence[int] = "middle") -> ImageSet:
    """Take 2-D slices across ``axis`` of each 3-D NIfTI volume (a ``.nii``/``.nii.gz`` file or a folder).

    ``slices`` is ``"middle"``, ``"all"``, one index or a list of indices.  Values are the scaled voxel
    values (scl_slope/scl_inter applied), then the declared window.  Slices are taken as stored, without
    reorientation to a standard view.  A volume with a trailing axis of length 1 counts as 3-D; other
    dimensionalities are refused.  ``subjects`` is the file name without ``.nii``/``.nii.gz``: name files
    per person (several volumes of one person should share the name prefix you split on).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    root = Path(path)
    if axis not in (0, 1, 2):
        raise BadInputError(f"{root}: slice axis must be 0, 1 or 2, got {axis!r}")
    files = _nifti_files(root)
    if not files:
        raise BadInputError(f"{root}: no .nii or .nii.gz files found")
    images, subjects, sources = [], [], []
    for file in files:
        try:
            volume = np.asarray(nib.load(file).get_fdata(dtype=np.float32))
        except (ImageFileError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise BadInputError(f"{file}: not a readable NIfTI file (truncated or damaged)",
                                hint=reader_hint(exc)) from None
        while volume.ndim > 3 and volume.shape[-1] == 1:
            volume = volume[..., 0]
        if volume.ndim != 3:
            raise BadInputError(f"{file}: expected a 3-D volume, got {volume.ndim}-D shape {volume.shape}; "
                                "split 4-D series into 3-D volumes first")
        depth = volume.shape[axis]
        if isinstance(slices, str):
            if slices not in ("middle", "all"):
                raise BadInputError(f"{file}: slices must be 'middle', 'all' or indices, got {slices!r}")
            picks = [depth // 2] if slices == "middle" else list(range(depth))
        else:
            picks = [int(slices)] if isinstance(slices, (int, np.integer)) else [int(s) for s in slices]
            bad = [s for s in picks if not 0 <= s < depth]
            if bad:
                raise BadInputError(f"{file}: slice index {bad[0]} outside 0..{depth - 1} on axis {axis}")
        for k in picks:
            where = f"{file}#axis{axis}[{k}]"
            images.append(_fit(where, np.take(volume, k, axis=axis), format))
            subjects.append(_stem(file))
            sources.append(where)
    return _set(str(root), images, None, subjects, sources)


__all__ = ["PICTURE_SUFFIXES", "npz_splits", "read_dicom", "read_folder", "read_nifti", "read_npz"]
