"""Image modality file side: readers, declared-window scaling, writers read back with their own libraries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from synthdata.errors import BadInputError
from synthdata.modalities.declared_range import to_unit_range
from synthdata.modalities.image.images import ImageFormat, ImageSet, from_unit_range
from synthdata.modalities.image.readers import (
    npz_splits,
    read_dicom,
    read_folder,
    read_nifti,
    read_npz,
)
from synthdata.modalities.image.writers import write_dicom, write_npz, write_png_folder

BREAST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "imaging" / "breastmnist.npz"
GREY8 = ImageFormat(size=(6, 5), channels=1, window=(0, 255))
PROV = {"epsilon": 2.5, "delta": 1e-5, "run": "r1"}
STEP = 2 / 255 + 1e-6  # one 8-bit quantisation step in [-1, 1]


def _png(path: Path, size: tuple[int, int] = (6, 5), mode: str = "L", value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    arr = (np.arange(h * w).reshape(h, w) * 7 + value) % 256
    arr = arr.astype(np.uint8) if mode == "L" else np.stack([arr] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _dicom(path: Path, *, pixels: bool = True, patient: str = "MRN123") -> np.ndarray:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.Modality = patient, "Doe^Jane", "CT"
    stored = (np.arange(30).reshape(6, 5) * 40).astype(np.int16)
    if pixels:
        ds.Rows, ds.Columns, ds.SamplesPerPixel = 6, 5, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return stored.astype(np.float64) - 1024


# --------------------------------------------------------------------------------------------- format/scaling
def test_window_round_trip_and_clip_count() -> None:
    raw = np.arange(256, dtype=np.uint8)
    scaled, clipped = to_unit_range(raw, window=(0, 255))
    assert scaled.dtype == np.float32 and scaled.min() == -1 and scaled.max() == 1 and clipped == 0
    assert np.array_equal(from_unit_range(scaled), raw)
    _, clipped = to_unit_range(np.array([-5.0, 0.0, 300.0]), window=(0, 255))
    assert clipped == 2
    assert from_unit_range(np.array([-3.0, 3.0]), bits=16).tolist() == [0, 65535]


def test_format_is_validated() -> None:
    with pytest.raises(BadInputError, match="channels"):
        ImageFormat(size=(4, 4), channels=2, window=(0, 1))
    with pytest.raises(BadInputError, match="window"):
        ImageFormat(size=(4, 4), channels=1, window=(1, 1))
    with pytest.raises(BadInputError, match="size"):
        ImageFormat(size=(0, 4), channels=1, window=(0, 1))


def test_image_set_take() -> None:
    s = ImageSet(pixels=np.zeros((3, 1, 2, 2)), labels=["a", "b", "c"], subjects=["s1", "s2", "s3"],
                 sources=["f1", "f2", "f3"])
    t = s.take([2, 0])
    assert len(t) == 2 and t.labels.tolist() == ["c", "a"] and t.subjects.tolist() == ["s3", "s1"]
    assert t.pixels.dtype == np.float32


# --------------------------------------------------------------------------------------------- folders
def test_folder_labels_from_subfolders_and_rgb_to_grey(tmp_path: Path) -> None:
    _png(tmp_path / "benign" / "a.png")
    _png(tmp_path / "malignant" / "b.png", mode="RGB")
    _png(tmp_path / "malignant" / "c.jpg", mode="RGB")
    (tmp_path / "notes.txt").write_text("ignored")
    s = read_folder(path=tmp_path, format=GREY8)
    assert s.pixels.shape == (3, 1, 6, 5)
    assert s.labels.tolist() == ["benign", "malignant", "malignant"]
    assert s.sources.tolist() == ["benign/a.png", "malignant/b.png", "malignant/c.jpg"]
    expected, _ = to_unit_range(np.asarray(Image.open(tmp_path / "benign" / "a.png")), window=(0, 255))
    assert np.allclose(s.pixels[0, 0], expected)
    assert np.abs(s.pixels[1] - s.pixels[0]).max() <= STEP  # RGB grey -> L
    rgb = read_folder(path=tmp_path, format=ImageFormat(size=(6, 5), channels=3, window=(0, 255)))
    assert rgb.pixels.shape == (3, 3, 6, 5)


def test_folder_labels_and_subjects_from_csv(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "x1.png")
    _png(tmp_path / "img" / "x2.png", value=3)
    table = tmp_path / "labels.csv"
    table.write_text("path,dx,pid\nx2.png,1,P9\nx1.png,0,P9\n")
    s = read_folder(path=tmp_path / "img", format=GREY8, labels_csv=table, file_column="path",
                    label_column="dx", subject_column="pid")
    assert s.labels.tolist() == ["0", "1"] and s.subjects.tolist() == ["P9", "P9"]
    with pytest.raises(BadInputError, match=r"labels\.csv.*'diagnosis'"):
        read_folder(path=tmp_path / "img", format=GREY8, labels_csv=table, label_column="diagnosis")
    table.write_text("file,label\nx1.png,0\n")
    with pytest.raises(BadInputError, match=r"x2\.png: not listed"):
        read_folder(path=tmp_path / "img", format=GREY8, labels_csv=table)
    table.write_text("file,label\nx1.png,0\nx2.png,1\nx3.png,1\n")
    with pytest.raises(BadInputError, match=r"x3\.png: listed .* not found"):
        read_folder(path=tmp_path / "img", format=GREY8, labels_csv=table)


def test_folder_sizes_resize_and_errors(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", size=(8, 9))
    with pytest.raises(BadInputError, match=r"b\.png: image is 8x9 .* declared size is 6x5"):
        read_folder(path=tmp_path, format=GREY8)
    s = read_folder(path=tmp_path, format=ImageFormat(size=(6, 5), channels=1, window=(0, 255), resize=True))
    assert s.pixels.shape == (2, 1, 6, 5) and s.labels is None and np.abs(s.pixels).max() <= 1
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(BadInputError, match=r"c\.png: not a readable"):
        read_folder(path=tmp_path, format=ImageFormat(size=(6, 5), channels=1, window=(0, 255), resize=True))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="empty: no PNG/JPEG"):
        read_folder(path=empty, format=GREY8)
    mixed = tmp_path / "mixed"
    _png(mixed / "loose.png")
    _png(mixed / "lbl" / "in.png")
    with pytest.raises(BadInputError, match=r"loose\.png: image outside"):
        read_folder(path=mixed, format=GREY8)


# --------------------------------------------------------------------------------------------- npz
def test_npz_reader_shapes_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "m.npz"
    rng = np.random.default_rng(0)
    np.savez(good, train_images=rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8),
             train_labels=np.array([[0], [1], [1], [0]]), test_images=np.zeros((2, 6, 5), np.uint8),
             test_labels=np.array([3, 4]))
    assert npz_splits(path=good) == ["train", "test"]
    s = read_npz(path=good, format=GREY8)
    assert s.pixels.shape == (4, 1, 6, 5) and s.labels.tolist() == ["0", "1", "1", "0"]
    assert len(set(s.subjects)) == 4
    assert read_npz(path=good, format=GREY8, split="test").pixels.min() == -1
    with pytest.raises(BadInputError, match=r"m\.npz: key\(s\) \['val_images', 'val_labels'\] .*train_images"):
        read_npz(path=good, format=GREY8, split="val")
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((3, 6, 5), np.uint8), train_labels=np.zeros((3, 2)))
    with pytest.raises(BadInputError, match=r"bad\.npz: 'train_labels' must be"):
        read_npz(path=bad, format=GREY8)
    np.savez(bad, train_images=np.zeros((3, 6), np.uint8), train_labels=np.zeros(3))
    with pytest.raises(BadInputError, match=r"bad\.npz: 'train_images' must be"):
        read_npz(path=bad, format=GREY8)
    np.savez(bad, train_images=np.zeros((3, 6, 5), np.uint8), train_labels=np.zeros(2))
    with pytest.raises(BadInputError, match=r"bad\.npz: .*3 images .* 2 labels"):
        read_npz(path=bad, format=GREY8)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(BadInputError, match=r"broken\.npz"):
        read_npz(path=broken, format=GREY8)


@pytest.mark.skipif(not BREAST.is_file(), reason="shared/data/imaging/breastmnist.npz not present")
def test_breastmnist_sample() -> None:
    fmt = ImageFormat(size=(28, 28), channels=1, window=(0, 255))
    assert npz_splits(path=BREAST) == ["train", "val", "test"]
    s = read_npz(path=BREAST, format=fmt, split="val")
    assert s.pixels.shape == (78, 1, 28, 28) and set(s.labels) == {"0", "1"}
    assert -1 <= s.pixels.min() and s.pixels.max() <= 1


# --------------------------------------------------------------------------------------------- DICOM
def test_dicom_rescale_window_subject_and_errors(tmp_path: Path) -> None:
    hu = _dicom(tmp_path / "series" / "a.dcm", patient="MRN123")
    _dicom(tmp_path / "series" / "b.dcm", patient="MRN456")
    fmt = ImageFormat(size=(6, 5), channels=1, window=(-1000, 200))
    s = read_dicom(path=tmp_path / "series", format=fmt)
    assert s.pixels.shape == (2, 1, 6, 5) and s.labels is None
    assert s.subjects.tolist() == ["MRN123", "MRN456"]
    expected, clipped = to_unit_range(hu, window=(-1000, 200))
    assert clipped > 0 and np.allclose(s.pixels[0, 0], expected)
    assert len(read_dicom(path=tmp_path / "series" / "a.dcm", format=fmt)) == 1
    _dicom(tmp_path / "nopix.dcm", pixels=False)
    with pytest.raises(BadInputError, match=r"nopix\.dcm: DICOM file has no pixel data"):
        read_dicom(path=tmp_path / "nopix.dcm", format=fmt)
    (tmp_path / "junk.dcm").write_bytes(b"hello")
    with pytest.raises(BadInputError, match=r"junk\.dcm: not a readable DICOM"):
        read_dicom(path=tmp_path / "junk.dcm", format=fmt)


# --------------------------------------------------------------------------------------------- NIfTI
def test_nifti_slices_and_dimensionality(tmp_path: Path) -> None:
    vol = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "sub-01.nii.gz")
    fmt = ImageFormat(size=(6, 5), channels=1, window=(0, 119))
    s = read_nifti(path=tmp_path / "sub-01.nii.gz", format=fmt)
    assert s.pixels.shape == (1, 1, 6, 5) and s.subjects.tolist() == ["sub-01"]
    assert np.allclose(s.pixels[0, 0], to_unit_range(vol[:, :, 2], window=(0, 119))[0])
    assert len(read_nifti(path=tmp_path, format=fmt, slices="all")) == 4
    side = read_nifti(path=tmp_path, format=ImageFormat(size=(5, 4), channels=1, window=(0, 119)), axis=0,
                      slices=[0, 5])
    assert side.pixels.shape == (2, 1, 5, 4)
    with pytest.raises(BadInputError, match=r"sub-01\.nii\.gz: slice index 9"):
        read_nifti(path=tmp_path, format=fmt, slices=9)
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4, 3), np.float32), np.eye(4)), tmp_path / "sub-02.nii")
    with pytest.raises(BadInputError, match=r"sub-02\.nii: expected a 3-D volume, got 4-D"):
        read_nifti(path=tmp_path / "sub-02.nii", format=fmt)


# --------------------------------------------------------------------------------------------- writers
def _synthetic(channels: int = 1, n: int = 3) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, channels, 6, 5)).astype(np.float32)


def test_write_png_folder_read_back(tmp_path: Path) -> None:
    px = _synthetic(3)
    out = tmp_path / "png"
    written = write_png_folder(folder=out, pixels=px, labels=["a", "b", "a"], provenance=PROV)
    assert len(written) == 4 and all(Path(p).is_file() for p in written)
    with Image.open(out / "synthetic_00001.png") as img:
        assert img.size == (5, 6) and img.mode == "RGB"
        assert img.text["synthetic"] == "true" and json.loads(img.text["provenance"])["epsilon"] == 2.5
        back = np.asarray(img)
    assert np.abs(to_unit_range(back, window=(0, 255))[0] - np.moveaxis(px[1], 0, -1)).max() <= STEP
    with open(out / "labels.csv", newline="") as fh:
        assert list(csv.reader(fh)) == [["file", "label"], ["synthetic_00000.png", "a"],
                                        ["synthetic_00001.png", "b"], ["synthetic_00002.png", "a"]]
    s = read_folder(path=out, format=ImageFormat(size=(6, 5), channels=3, window=(0, 255)),
                    labels_csv=out / "labels.csv")
    assert s.labels.tolist() == ["a", "b", "a"] and np.abs(s.pixels - px).max() <= STEP
    grey = write_png_folder(folder=tmp_path / "grey", pixels=_synthetic(1), labels=None, provenance=PROV)
    with Image.open(grey[0]) as img:
        assert img.mode == "L"


def test_write_npz_read_back(tmp_path: Path) -> None:
    px = _synthetic(1, n=4)
    path = tmp_path / "out" / "synthetic.npz"
    assert write_npz(path=path, pixels=px, labels=["0", "1", "1", "0"], provenance=PROV) == [str(path)]
    with np.load(path) as data:
        assert set(data.files) == {"train_images", "train_labels", "synthetic_provenance"}
        assert data["train_images"].dtype == np.uint8 and data["train_images"].shape == (4, 6, 5)
        assert data["train_labels"].shape == (4, 1) and data["train_labels"][:, 0].tolist() == [0, 1, 1, 0]
        prov = json.loads(str(data["synthetic_provenance"]))
    assert prov["synthetic"] is True and prov["delta"] == 1e-5 and prov["run"] == "r1"
    s = read_npz(path=path, format=GREY8)
    assert np.abs(s.pixels - px).max() <= STEP
    rgb = tmp_path / "rgb.npz"
    write_npz(path=rgb, pixels=_synthetic(3, n=2), labels=["x", "y"], provenance=PROV)
    with np.load(rgb) as data:
        assert data["train_images"].shape == (2, 6, 5, 3) and data["train_labels"][:, 0].tolist() == ["x", "y"]


def test_write_dicom_read_back(tmp_path: Path) -> None:
    px = _synthetic(1)
    out = tmp_path / "dcm"
    written = write_dicom(folder=out, pixels=px, labels=["0", "1", "0"], provenance=PROV)
    assert len(written) == 3
    uids = set()
    for i, file in enumerate(written):
        ds = pydicom.dcmread(file)
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"] and ds.BurnedInAnnotation == "NO"
        assert "SYNTHETIC" in ds.SeriesDescription and "2.5" in ds.SeriesDescription
        assert "SYNTHETIC" in ds.ImageComments and "delta=1e-05" in ds.ImageComments
        assert ds.PatientID == "SYNTHETIC" and str(ds.PatientName) == "SYNTHETIC^DATA"
        assert ds.pixel_array.shape == (6, 5)
        assert np.abs(to_unit_range(ds.pixel_array, window=(0, 255))[0] - px[i, 0]).max() <= STEP
        uids.add(ds.SOPInstanceUID)
    assert len(uids) == 3
    rgb = write_dicom(folder=tmp_path / "rgb", pixels=_synthetic(3), labels=None, provenance=PROV)
    back = read_dicom(path=Path(rgb[0]).parent, format=ImageFormat(size=(6, 5), channels=3, window=(0, 255)))
    assert np.abs(back.pixels - _synthetic(3)).max() <= STEP and set(back.subjects) == {"SYNTHETIC"}


def test_writers_copy_no_input_identifiers(tmp_path: Path) -> None:
    _dicom(tmp_path / "in.dcm", patient="MRN123")
    real = read_dicom(path=tmp_path / "in.dcm", format=ImageFormat(size=(6, 5), channels=1, window=(-1024, 200)))
    written = write_dicom(folder=tmp_path / "out", pixels=real.pixels, labels=None, provenance=PROV)
    raw = Path(written[0]).read_bytes()
    assert b"MRN123" not in raw and b"Doe" not in raw


@pytest.mark.parametrize("writer", ["png", "npz", "dicom"])
def test_writers_refuse_bad_input_and_write_nothing(tmp_path: Path, writer: str) -> None:
    target = tmp_path / ("out.npz" if writer == "npz" else "out")

    def call(pixels: np.ndarray, labels: list[str] | None, provenance: dict) -> None:
        if writer == "png":
            write_png_folder(folder=target, pixels=pixels, labels=labels, provenance=provenance)
        elif writer == "npz":
            write_npz(path=target, pixels=pixels, labels=labels, provenance=provenance)
        else:
            write_dicom(folder=target, pixels=pixels, labels=labels, provenance=provenance)

    nan = _synthetic()
    nan[0, 0, 0, 0] = np.nan
    cases = [(nan, ["0", "1", "0"], PROV, "finite"),
             (_synthetic()[:, 0], ["0", "1", "0"], PROV, "must be"),
             (_synthetic(), ["0"], PROV, "3 images but 1 labels"),
             (_synthetic(), ["0", "1", "0"], {"delta": 1e-5}, "epsilon")]
    for pixels, labels, provenance, message in cases:
        with pytest.raises(BadInputError, match=message) as err:
            call(pixels, labels, provenance)
        assert target.name in err.value.message
    assert list(tmp_path.iterdir()) == []
