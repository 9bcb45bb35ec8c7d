"""The dataset root is a boundary: label files that point outside it, links to the same file, and files that
are not regular files (a FIFO would block a reader forever) are reported, never silently followed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import write_png

from xrayssl.data.formats import ReadOptions, read_dataset
from xrayssl.data.synthetic import SynthConfig, write_dataset


def _problems(scan) -> str:
    return "\n".join(f"{p.path}: {p.problem}" for p in scan.problems)


def test_aihub_filepath_outside_the_root_is_not_followed(tmp_path, radiographs):
    from test_formats_aihub import LAB, SRC

    outside = write_png(tmp_path / "elsewhere" / "secret.png", radiographs[0])
    root = tmp_path / "aihub"
    for split in ("Train", "Validation"):
        for cls in ("Foot_Normal", "Foot_Abnormal"):
            name = f"{cls}_{split}"
            write_png(root / split / SRC / cls / f"{name}.png", radiographs[1])
            info = {"filename": f"{name}.png", "label": cls.split("_")[1]}
            if (split, cls) == ("Train", "Foot_Normal"):
                info = {"filepath": str(outside.parent), "filename": outside.name, "label": "Normal"}
            (root / split / LAB / cls).mkdir(parents=True)
            (root / split / LAB / cls / f"{name}.json").write_text(json.dumps(info))
    scan = read_dataset(root, "aihub")
    assert str(outside) not in set(scan.manifest["path"])
    assert "outside the dataset root" in _problems(scan)
    allowed = read_dataset(root, "aihub", ReadOptions(allow_outside_root=True))
    assert str(outside) in set(allowed.manifest["path"])


def _csv_dataset(tmp_path, radiographs, rows: list[str]):
    root = tmp_path / "csvset"
    for i in range(4):
        write_png(root / f"img{i}.png", radiographs[i])
    write_png(tmp_path / "outside.png", radiographs[5])
    (root / "labels.csv").write_text("path,label,patient_id\n" + "\n".join(rows) + "\n")
    return root


def test_csv_rows_outside_the_folder_are_skipped_unless_allowed(tmp_path, radiographs):
    rows = [f"img{i}.png,{i % 2},p{i}" for i in range(4)] + ["../outside.png,1,p9", f"{tmp_path}/outside.png,0,p8"]
    root = _csv_dataset(tmp_path, radiographs, rows)
    scan = read_dataset(root, "csv")
    assert len(scan.manifest) == 4
    assert _problems(scan).count("outside the dataset folder") == 2
    allowed = read_dataset(root, "csv", ReadOptions(allow_outside_root=True))
    # both rows name the same file with different labels: dropped, as any file labelled two ways
    assert len(allowed.manifest) == 4 and "labels this file two ways" in _problems(allowed)


def test_a_link_to_a_listed_file_is_the_same_file(tmp_path, radiographs):
    root = _csv_dataset(tmp_path, radiographs, [f"img{i}.png,{i % 2},p{i}" for i in range(4)] + ["link.png,1,p0"])
    os.symlink(root / "img0.png", root / "link.png")  # img0 is labelled normal, the link abnormal
    scan = read_dataset(root, "csv")
    assert not scan.manifest["path"].str.endswith(("img0.png", "link.png")).any()
    assert "labels this file two ways" in _problems(scan)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_named_pipe_is_skipped_by_inspect_and_prepare(tmp_path):
    root = write_dataset(tmp_path / "syn", SynthConfig(n_patients=12, size=32, seed=1), layout="mura", workers=1)
    folder = next(p.parent for p in root.rglob("*.png"))
    os.mkfifo(folder / "pipe.png")
    os.mkfifo(folder / "pipe.dcm")
    for args in (["inspect", str(root)], ["prepare", str(root), "--out", str(tmp_path / "c"), "--size", "16"]):
        done = subprocess.run(
            [sys.executable, "-m", "xrayssl", "data", *args, "--workers", "1", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "not a regular file" in done.stdout + done.stderr


def test_npz_images_are_sized_from_their_header_before_decompressing(tmp_path):
    """A small .npz of two 20000x20000 zero images must be refused by --max-pixels without being unpacked."""
    import resource
    import zipfile

    from xrayssl.data.imageio import ImageError, npz_shapes, read_gray

    big = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 1), np.uint8))
    header["shape"] = (2, 20000, 20000)
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("train_images.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(1 << 24)
            for _ in range(2 * 20000 * 20000 // len(chunk) + 1):
                f.write(chunk)
        with z.open("train_labels.npy", "w") as f:
            np.lib.format.write_array(f, np.zeros((2, 1), np.uint8))
    assert big.stat().st_size < 5_000_000
    assert npz_shapes(big)["train_images"] == (2, 20000, 20000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scan = read_dataset(big, "medmnist")
    assert len(scan.manifest) == 2
    with pytest.raises(ImageError, match="too large"):
        read_gray(scan.manifest["path"].iat[0], max_pixels=50_000_000)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: far below 1.2 GB


def test_a_huge_sparse_png_is_refused_from_its_first_bytes(tmp_path, radiographs):
    import resource

    from xrayssl.data.imageio import ImageError, read_gray

    buf = cv2.imencode(".png", np.zeros((1, 600), np.uint8))[1]
    path = tmp_path / "huge.png"
    data = bytearray(buf.tobytes())
    data[16:24] = (60000).to_bytes(4, "big") * 2  # IHDR says 60000 x 60000
    path.write_bytes(bytes(data))
    with open(path, "r+b") as f:
        f.truncate(3 * 1024**3)  # sparse: 3 GB on paper, nothing on disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError, match="too large"):
        read_gray(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000


def test_a_dicom_header_that_disagrees_with_its_pixels_is_refused(tmp_path):
    import pydicom
    from test_formats_medmnist_dicom import write_dicom

    from xrayssl.data.imageio import ImageError, read_gray

    path = write_dicom(tmp_path / "a.dcm", np.random.default_rng(0).integers(0, 4095, (64, 64)))
    assert read_gray(path).shape == (64, 64)
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 32, 32  # pydicom would read a quarter of the pixels as the image
    ds.save_as(path)
    with pytest.raises(ImageError, match="does not describe its pixels"):
        read_gray(path)


def test_a_latin1_csv_names_its_encoding(tmp_path, radiographs):
    from xrayssl.errors import XraySSLError

    root = tmp_path / "set"
    write_png(root / "caf\u00e9.png", radiographs[0])
    (root / "labels.csv").write_bytes("path,label\ncaf\u00e9.png,normal\n".encode("latin-1"))
    with pytest.raises(XraySSLError, match="not UTF-8"):
        read_dataset(root)


def test_prepare_never_writes_into_its_dataset(tmp_path, capsys):
    from xrayssl.cli.main import main

    root = write_dataset(tmp_path / "syn", SynthConfig(n_patients=8, size=32, seed=2), workers=1)
    (root / "manifest.csv").write_text("path,label,mine\nx.png,0,keep me\n")  # the user's own file
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for out in (root, root / "cache", tmp_path):  # the dataset itself, inside it, around it
        assert main(["data", "prepare", str(root), "--out", str(out), "--quiet", "--workers", "1"]) == 2
        assert "overlaps the dataset" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert not (root / "cache").exists()


def test_a_dataset_of_no_usable_image_writes_no_cache(tmp_path, capsys):
    from conftest import write_corrupt

    from xrayssl.cli.main import main

    root = tmp_path / "bad"
    for i in range(3):
        write_corrupt(root / "train" / "normal" / f"{i}.png")
        write_corrupt(root / "train" / "abnormal" / f"{i}.png")
    out = tmp_path / "cache"
    assert main(["data", "prepare", str(root), "--out", str(out), "--quiet", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "none of its 6 images could be used" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["data", "prepare", str(root), "--out", str(out), "--quiet", "--workers", "1", "--allow-empty"]) == 0


@pytest.mark.parametrize("where", ["under a file", "read-only", "too long"])
def test_an_out_that_cannot_be_made_is_one_line(tmp_path, capsys, tiny_cache, where):
    from xrayssl.cli.main import main

    if where == "under a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    elif where == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir(mode=0o500)
        out = tmp_path / "ro" / "run"
    else:
        out = tmp_path / ("x" * 300)
    commands = [
        ["pretrain", str(tiny_cache), "--out", str(out), "--size", "32", "--batch-size", "16", "--epochs", "1"],
        ["supervised", str(tiny_cache), "--out", str(out), "--size", "32", "--batch-size", "16", "--epochs", "1"],
        ["study", str(tiny_cache), "--out", str(out), "--methods", "simclr", "--seeds", "1", "--size", "32"],
    ]
    for args in commands:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("xrayssl: error:") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "text", ['{"format_version": 2, "files": {"images.npy": 5}}', '{"format_version": 2, "files": {}, "process": "x"}']
)
def test_a_cache_json_of_the_wrong_shape_is_repaired_by_prepare(tmp_path, capsys, text):
    from xrayssl.cli.main import main

    root = write_dataset(tmp_path / "syn", SynthConfig(n_patients=8, size=32, seed=4), workers=1)
    out = tmp_path / "cache"
    args = ["data", "prepare", str(root), "--out", str(out), "--size", "16", "--quiet", "--workers", "1"]
    assert main(args) == 0
    (out / "cache.json").write_text(text)
    assert main(["data", "verify", str(out)]) == 2
    assert "run 'xrayssl data prepare' again" in capsys.readouterr().err
    assert main(args) == 0  # its own repair advice works
    assert main(["data", "verify", str(out)]) == 0


def test_terminal_escapes_from_the_data_are_not_printed_raw(tmp_path, radiographs, capsys):
    from xrayssl.cli.main import main

    root = tmp_path / "set"
    for i in range(4):
        write_png(root / f"img{i}.png", radiographs[i])
    rows = [f"img{i}.png,{i % 2},p{i},knee\x1b[2J" for i in range(4)] + ["gone\x1b[31m.png,0,p9,knee"]
    (root / "labels.csv").write_text("path,label,patient_id,body_part\n" + "\n".join(rows) + "\n")
    main(["data", "inspect", str(root), "--quick", "--workers", "1"])
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err
