"""Malformed image inputs (NPZ, PNG folders, DICOM) of the bad-input corpus."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bad_input.case import Case, Invocation
from bad_input.signals import modality_release
from helpers import DATA

IMAGE = {"size": [28, 28], "classes": ["0", "1"], "npz_splits": ["val"]}


def _npz_case(edit: Callable[[Path], tuple[Path, tuple[str, ...]]], settings: dict | None = None
              ) -> Callable[[Path], Invocation]:
    def build(root: Path) -> Invocation:
        root.mkdir(parents=True, exist_ok=True)
        npz = root / "scans.npz"
        shutil.copy(DATA / "imaging" / "breastmnist.npz", npz)
        data, names = edit(npz)
        return Invocation(modality_release(root, data, "image", {**IMAGE, **(settings or {})}), root / "out", names)

    return build


def _npz_corrupted(npz: Path) -> tuple[Path, tuple[str, ...]]:
    npz.write_bytes(npz.read_bytes()[:5000])
    return npz, (npz.name,)


def _npz_missing_split(npz: Path) -> tuple[Path, tuple[str, ...]]:
    return npz, (npz.name, "holdout_images")


def _npz_nan_pixels(npz: Path) -> tuple[Path, tuple[str, ...]]:
    images = np.full((40, 28, 28), np.nan, dtype=np.float32)
    np.savez(npz, val_images=images, val_labels=np.zeros(40, dtype=np.uint8))
    return npz, (npz.name, "val_images")


def _npz_pickled(npz: Path) -> tuple[Path, tuple[str, ...]]:
    np.savez(npz, val_images=np.array([object()] * 4, dtype=object), val_labels=np.zeros(4, dtype=np.uint8))
    return npz, (npz.name,)


def _npz_label_count(npz: Path) -> tuple[Path, tuple[str, ...]]:
    np.savez(npz, val_images=np.zeros((40, 28, 28), dtype=np.uint8), val_labels=np.zeros(39, dtype=np.uint8))
    return npz, (npz.name, "39 labels")


def _folder_case(edit: Callable[[Path], tuple[Path, tuple[str, ...], dict]]) -> Callable[[Path], Invocation]:
    def build(root: Path) -> Invocation:
        from PIL import Image

        folder = root / "scans"
        rng = np.random.default_rng(0)
        for label in ("0", "1"):
            (folder / label).mkdir(parents=True)
            for k in range(30):
                Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(folder / label / f"s{k}.png")
        data, names, settings = edit(folder)
        return Invocation(modality_release(root, data, "image", settings), root / "out", names)

    return build


def _png_truncated(folder: Path) -> tuple[Path, tuple[str, ...], dict]:
    png = folder / "1" / "s7.png"
    png.write_bytes(png.read_bytes()[:60])
    return folder, ("s7.png",), {"size": [28, 28], "classes": ["0", "1"]}


def _png_wrong_size(folder: Path) -> tuple[Path, tuple[str, ...], dict]:
    from PIL import Image

    Image.fromarray(np.zeros((32, 28), dtype=np.uint8)).save(folder / "0" / "big.png")
    return folder, ("big.png", "32x28"), {"size": [28, 28], "classes": ["0", "1"]}


def _labels_csv(folder: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    flat = folder.parent / "flat"
    flat.mkdir()
    for png in sorted(folder.rglob("*.png")):
        shutil.copy(png, flat / f"{png.parent.name}_{png.name}")
    table = folder.parent / "labels.csv"
    table.write_bytes("\n".join(["file,label", *rows]).encode(encoding) + b"\n")
    return flat


def _labels_csv_traversal(folder: Path) -> tuple[Path, tuple[str, ...], dict]:
    rows = [f"{p.parent.name}_{p.name},{p.parent.name}" for p in sorted(folder.rglob("*.png"))]
    rows.append("../labels.csv,0")
    flat = _labels_csv(folder, rows)
    return flat, ("../labels.csv",), {"size": [28, 28], "classes": ["0", "1"],
                                      "labels_csv": str(folder.parent / "labels.csv")}


def _labels_csv_utf16(folder: Path) -> tuple[Path, tuple[str, ...], dict]:
    rows = [f"{p.parent.name}_{p.name},{p.parent.name}" for p in sorted(folder.rglob("*.png"))]
    flat = _labels_csv(folder, rows, encoding="utf-16")
    return flat, ("labels.csv", "UTF-8"), {"size": [28, 28], "classes": ["0", "1"],
                                           "labels_csv": str(folder.parent / "labels.csv")}


def _label_not_declared(folder: Path) -> tuple[Path, tuple[str, ...], dict]:
    return folder, ("s0.png",), {"size": [28, 28], "classes": ["0", "2"]}  # the value itself: the hint


def _dicom_case(edit: Callable[[Path], tuple[str, ...]]) -> Callable[[Path], Invocation]:
    def build(root: Path) -> Invocation:
        folder = root / "dicom"
        folder.mkdir(parents=True)
        names = edit(folder)
        return Invocation(modality_release(root, folder, "image", {"size": [28, 28], "format": "dicom"}),
                          root / "out", names)

    return build


def _dicom_dataset(*, pixels: bool):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID = "P1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    if pixels:
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 28, 28, 1, 8, 8, 7
        ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
        ds.PixelData = np.zeros((28, 28), dtype=np.uint8).tobytes()
    return ds


def _dicom_without_pixels(folder: Path) -> tuple[str, ...]:
    _dicom_dataset(pixels=True).save_as(folder / "a.dcm", enforce_file_format=True)
    _dicom_dataset(pixels=False).save_as(folder / "empty.dcm", enforce_file_format=True)
    return ("empty.dcm",)


def _dicom_garbage(folder: Path) -> tuple[str, ...]:
    _dicom_dataset(pixels=True).save_as(folder / "a.dcm", enforce_file_format=True)
    (folder / "junk.dcm").write_bytes(b"not a dicom file at all" * 20)
    return ("junk.dcm",)


def _dicom_short_pixels(folder: Path) -> tuple[str, ...]:
    ds = _dicom_dataset(pixels=True)
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(folder / "short.dcm", enforce_file_format=True)
    return ("short.dcm",)


def _image_size_too_small(npz: Path) -> tuple[Path, tuple[str, ...]]:
    return npz, ("image.settings.yaml", "dataset.image")


def _empty_image_folder(root: Path) -> Invocation:
    folder = root / "nothing"
    folder.mkdir(parents=True)
    return Invocation(modality_release(root, folder, "image", {"size": [28, 28], "format": "folder"}),
                      root / "out", ("nothing",))


IMAGE_CASES: list[Case] = [
    Case("npz-corrupted", "image", _npz_case(_npz_corrupted), ("npz",)),
    Case("npz-missing-split", "image", _npz_case(_npz_missing_split, {"npz_splits": ["holdout"]}), ("not found",)),
    Case("npz-nan-pixels", "image", _npz_case(_npz_nan_pixels), ("nan",)),
    Case("npz-object-array", "image", _npz_case(_npz_pickled), ("npz",)),
    Case("npz-label-count", "image", _npz_case(_npz_label_count), ("labels",)),
    Case("image-size-below-8", "image", _npz_case(_image_size_too_small, {"size": [4, 4]}), ("between 8 and 512",)),
    Case("png-truncated", "image", _folder_case(_png_truncated), ("png",)),
    Case("png-wrong-size", "image", _folder_case(_png_wrong_size), ("declared size",)),
    Case("labels-csv-path-traversal", "image", _folder_case(_labels_csv_traversal), ("not found",)),
    Case("labels-csv-utf16", "image", _folder_case(_labels_csv_utf16), ("encoding",)),
    Case("image-label-not-declared", "image", _folder_case(_label_not_declared), ("declared",)),
    Case("dicom-without-pixel-data", "image", _dicom_case(_dicom_without_pixels), ("no pixel data",)),
    Case("dicom-garbage", "image", _dicom_case(_dicom_garbage), ("dicom",)),
    Case("dicom-pixel-data-too-short", "image", _dicom_case(_dicom_short_pixels), ("pixel data",)),
    Case("image-empty-folder", "image", _empty_image_folder, ("no png",)),
]
