"""MedMNIST arrays and DICOM files (MONOCHROME1/2, 16-bit, rescale and window)."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from xrayssl.data.formats import ReadOptions, detect_format, read_dataset
from xrayssl.data.imageio import read_gray


def write_npz(path, n=(6, 2, 3), labels_shape=1, **extra):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 255, (k, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(k * labels_shape).reshape(k, labels_shape) % 2).astype(np.uint8)
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def test_medmnist_splits_labels_and_pixels(tmp_path):
    f = write_npz(tmp_path / "pneumoniamnist.npz")
    assert detect_format(f) == "medmnist" and detect_format(tmp_path) == "medmnist"
    m = read_dataset(f).manifest
    assert m.groupby("split").size().to_dict() == {"train": 6, "val": 2, "test": 3}
    assert list(m[m["split"] == "train"]["label"]) == [0, 1, 0, 1, 0, 1]
    assert set(m["body_part"]) == {"chest"}
    with np.load(f) as z:
        np.testing.assert_array_equal(read_gray(m["path"].iat[7]), z["val_images"][1])


def test_breastmnist_class_one_is_normal(tmp_path):
    m = read_dataset(write_npz(tmp_path / "breastmnist.npz")).manifest
    assert list(m[m["split"] == "train"]["label"]) == [1, 0, 1, 0, 1, 0]
    m2 = read_dataset(tmp_path / "breastmnist.npz", options=ReadOptions(normal_classes=(0,))).manifest
    assert list(m2[m2["split"] == "train"]["label"]) == [0, 1, 0, 1, 0, 1]


def test_multilabel_any_finding_is_abnormal(tmp_path):
    m = read_dataset(write_npz(tmp_path / "chestmnist.npz", labels_shape=3)).manifest
    assert list(m[m["split"] == "val"]["label"]) == [1, 1]


def write_dicom(path, pixels, photometric="MONOCHROME2", patient="P1", study=None, part="KNEE", **tags):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientID, ds.StudyInstanceUID, ds.BodyPartExamined = patient, study or generate_uid(), part
    ds.Modality, ds.PhotometricInterpretation = "DX", photometric
    ds.SamplesPerPixel, ds.Rows, ds.Columns = 1, *pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


RAMP = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (48, 1))


def test_dicom_monochrome2_and_monochrome1(tmp_path):
    m2 = read_gray(write_dicom(tmp_path / "m2.dcm", RAMP))
    m1 = read_gray(write_dicom(tmp_path / "m1.dcm", RAMP, photometric="MONOCHROME1"))
    assert m2.dtype == np.uint8 and m2.shape == (48, 64)
    assert m2[0, 0] == 0 and m2[0, -1] == 255
    np.testing.assert_array_equal(m1, 255 - m2)  # MONOCHROME1 stores bone dark: inverted


def test_dicom_rescale_and_window(tmp_path):
    # rescale to -1000..3095, window 1000 +- 500: everything below 500 is black, above 1500 white
    path = write_dicom(
        tmp_path / "w.dcm", RAMP, RescaleSlope=1, RescaleIntercept=-1000, WindowCenter=1000, WindowWidth=1000
    )
    g = read_gray(path)
    values = np.linspace(0, 4095, 64) - 1000
    assert (g[0, values < 480] == 0).all() and (g[0, values > 1520] == 255).all()
    inside = (values > 600) & (values < 1400)
    assert np.all(np.diff(g[0, inside].astype(int)) > 0)


def test_dicom_reader_takes_ids_from_header(tmp_path):
    study = generate_uid()
    write_dicom(tmp_path / "ds/train/abnormal/a.dcm", RAMP, patient="PAT-7", study=study)
    write_dicom(tmp_path / "ds/train/abnormal/b", RAMP, patient="PAT-7", study=study)  # no extension
    write_dicom(tmp_path / "ds/test/normal/c.dcm", RAMP, patient="PAT-8", part="HAND")
    assert detect_format(tmp_path / "ds") == "dicom"
    scan = read_dataset(tmp_path / "ds")
    m = scan.manifest.assign(name=[p.rsplit("/", 1)[1] for p in scan.manifest["path"]]).sort_values("name")
    assert list(m["patient_id"]) == ["PAT-7", "PAT-7", "PAT-8"]
    assert m["study_id"].iat[0] == m["study_id"].iat[1] == study
    assert list(m["label"]) == [1, 1, 0] and list(m["split"]) == ["train", "train", "test"]
    assert list(m["body_part"]) == ["knee", "knee", "hand"]


@pytest.mark.parametrize("broken", [b"", b"DICM" * 10])
def test_broken_dicom_is_an_image_error(tmp_path, broken):
    from xrayssl.data.imageio import ImageError

    p = tmp_path / "bad.dcm"
    p.write_bytes(broken)
    with pytest.raises(ImageError):
        read_gray(p)
