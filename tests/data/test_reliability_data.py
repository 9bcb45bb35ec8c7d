"""Fault injection on the data layer (issue 20): every fault is built in a temporary folder, and each
either works or gives one line naming the file and the problem; nothing is lost or silently wrong."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from xrayssl.cli.main import main
from xrayssl.data.cache import PreparedCache
from xrayssl.data.formats import read_dataset
from xrayssl.data.imageio import ImageError, jpeg_reduction, read_gray
from xrayssl.data.prepare import prepare
from xrayssl.data.process import ProcessConfig
from xrayssl.data.synthetic import SynthConfig, write_dataset
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.config import GradCamConfig
from xrayssl.paths import safe_name

SRC = Path(__file__).resolve().parents[2] / "src"
P32 = ProcessConfig(size=32)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A small synthetic CSV dataset and a reference cache of it that nobody damages."""
    root = write_dataset(tmp_path_factory.mktemp("synth"), SynthConfig(n_patients=10, size=64, seed=4))
    ref = prepare(root, tmp_path_factory.mktemp("ref") / "c", process=P32, workers=1, progress=False).cache
    return root, ref


def fresh_cache(synth, tmp_path) -> Path:
    _root, ref = synth
    out = tmp_path / "c"
    shutil.copytree(ref, out)
    return out


def assert_same_cache(a: Path, b: Path) -> None:
    """Same pixels row by row and the same manifest: what a clean prepare gives."""
    ca, cb = PreparedCache(a, verify=True), PreparedCache(b, verify=True)
    np.testing.assert_array_equal(ca.images, cb.images)
    pd.testing.assert_frame_equal(ca.manifest, cb.manifest)


# ---- 1. a cache is a set of files checked together ---------------------------------------------------


def drop_manifest_row(c: Path) -> None:
    lines = (c / "manifest.csv").read_text().splitlines(keepends=True)
    (c / "manifest.csv").write_text("".join(lines[:3] + lines[4:]))


def relabel_first_row(c: Path) -> None:
    """Same length, other label: only the digest can tell."""
    df = pd.read_csv(c / "manifest.csv", dtype=str, keep_default_na=False)
    df.loc[0, "label"] = "1" if df.loc[0, "label"] == "0" else "0"
    df.to_csv(c / "manifest.csv", index=False)


def truncate_images(c: Path) -> None:
    with open(c / "images.npy", "r+b") as f:
        f.truncate((c / "images.npy").stat().st_size // 2)


def images_at_16px(c: Path) -> None:
    n = json.loads((c / "cache.json").read_text())["n_images"]
    np.save(c / "images.npy", np.zeros((n, 16, 16), np.uint8))


DAMAGE = {
    "manifest row deleted": (drop_manifest_row, "manifest.csv: "),
    "manifest label edited": (relabel_first_row, "manifest.csv: content differs"),
    "manifest missing": (lambda c: (c / "manifest.csv").unlink(), "manifest.csv: missing"),
    "images truncated": (truncate_images, "images.npy: "),
    "images 16 px": (images_at_16px, "images.npy: array ({n}, 16, 16) uint8, cache.json records ({n}, 32, 32)"),
    "rows garbage": (lambda c: (c / "rows.npy").write_bytes(b"\x93NUMPY garbage"), "rows.npy: "),
    "problems missing": (lambda c: (c / "problems.csv").unlink(), "problems.csv: missing"),
    "cache.json garbage": (lambda c: (c / "cache.json").write_text("{not json"), "cache.json: unreadable"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_cache_is_refused_in_one_line_and_prepare_repairs_it(damage, synth, tmp_path):
    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    n = json.loads((out / "cache.json").read_text())["n_images"]
    corrupt, message = DAMAGE[damage]
    message = message.format(n=n)
    corrupt(out)
    with pytest.raises(XraySSLError, match="prepare") as err:
        PreparedCache(out)
    assert message in str(err.value) and "\n" not in str(err.value)
    result = prepare(root, out, process=P32, workers=1, progress=False)
    assert not result.up_to_date and result.repaired  # never "(up to date)" on a damaged cache
    assert_same_cache(out, ref)
    assert prepare(root, out, process=P32, workers=1, progress=False).up_to_date


def test_deleted_manifest_row_is_repaired_from_row_identities(synth, tmp_path):
    """The issue's reproduction: rows used to be reused by position, so every row after the deleted one
    got the next image. Identities in rows.npy keep every image with its own row, without decoding."""
    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    drop_manifest_row(out)
    result = prepare(root, out, process=P32, workers=1, progress=False)
    assert (result.n_processed, result.n_reused) == (0, len(PreparedCache(ref)))
    assert_same_cache(out, ref)


def test_identity_not_position_when_the_dataset_changes(synth, tmp_path):
    """A source file removed from the dataset: the rows after it shift, and each keeps its own image."""
    root, ref = synth
    ds = tmp_path / "ds"
    shutil.copytree(root, ds)
    labels = pd.read_csv(ds / "labels.csv")
    labels.drop(index=3).to_csv(ds / "labels.csv", index=False)
    out = tmp_path / "c"
    prepare(ds, out, process=P32, workers=1, progress=False)
    labels.to_csv(ds / "labels.csv", index=False)  # the row comes back, now in the middle
    again = prepare(ds, out, process=P32, workers=1, progress=False)
    assert (again.n_processed, again.n_reused) == (1, len(PreparedCache(ref)) - 1)
    cache, reference = PreparedCache(out), PreparedCache(ref)
    by_path = dict(zip(reference.manifest["path"].map(lambda p: Path(p).relative_to(root)), reference.images))
    for path, image in zip(cache.manifest["path"], cache.images, strict=True):
        np.testing.assert_array_equal(image, by_path[Path(path).relative_to(ds)])


def test_flipped_pixel_bytes_need_verify(synth, tmp_path):
    """Same length, damaged pixels: the cheap check on open cannot see it, --verify can and repairs it."""
    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    with open(out / "images.npy", "r+b") as f:
        f.seek(-100, os.SEEK_END)
        f.write(b"\xff" * 10)
    PreparedCache(out)  # cheap: lengths and shape only for the big file
    assert main(["data", "verify", str(out)]) == 2
    result = prepare(root, out, process=P32, workers=1, progress=False, verify=True)
    assert not result.up_to_date and "checksum mismatch" in result.repaired[0]
    assert main(["data", "verify", str(out)]) == 0
    assert_same_cache(out, ref)


def test_stale_temporary_files_of_dead_processes_are_removed(synth, tmp_path):
    root, _ = synth
    out = fresh_cache(synth, tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = [out / f".images.npy.{int(dead.stdout)}.tmp", out / ".manifest.csv.tmp"]  # the second: format 1
    live = out / f".images.npy.{os.getppid()}.tmp"  # a running process's: left alone
    for p in [*stale, live]:
        p.write_bytes(b"x" * 1000)
    result = prepare(root, out, process=P32, workers=1, progress=False)
    assert result.up_to_date and not any(p.exists() for p in stale) and live.exists()
    assert sum("temporary file" in r for r in result.repaired) == 2


@pytest.mark.parametrize("renames", [1, 2, 3, 4])
def test_a_kill_between_renames_never_passes_for_a_whole_cache(renames, synth, tmp_path, monkeypatch):
    """Killed after some of the renames that put a new cache in place: the mix of old and new files is
    refused on open (never read with the wrong rows), and the next prepare repairs it."""
    from xrayssl.data import cache_write

    root, _ = synth
    out = fresh_cache(synth, tmp_path)
    ds = tmp_path / "ds"
    shutil.copytree(root, ds)
    labels = pd.read_csv(ds / "labels.csv")
    labels.drop(index=[0, 5]).to_csv(ds / "labels.csv", index=False)  # the new cache has other rows
    real, done = os.replace, []

    def killed_after(src, dst):
        if len(done) == renames:
            raise KeyboardInterrupt  # stands for kill -9: nothing after this point runs
        done.append(dst)
        real(src, dst)

    monkeypatch.setattr(cache_write.os, "replace", killed_after)
    with pytest.raises(KeyboardInterrupt):
        prepare(ds, out, process=P32, workers=1, progress=False)
    monkeypatch.setattr(cache_write.os, "replace", real)
    reference = prepare(ds, tmp_path / "ref", process=P32, workers=1, progress=False).cache
    # the mix is a whole new cache exactly when every file still to be renamed has the same bytes in both: here
    # only after 4 renames (problems.csv, the last, is the same: dropping two rows adds no problem)
    pending = cache_write.COMMIT_ORDER[renames:]
    whole = all((out / name).read_bytes() == (reference / name).read_bytes() for name in pending)
    assert whole == (renames == 4)
    if renames < 4:
        with pytest.raises(XraySSLError, match="prepare' again to repair"):
            PreparedCache(out)
    else:
        assert_same_cache(out, reference)
    result = prepare(ds, out, process=P32, workers=1, progress=False)
    assert not list(out.glob(".*tmp"))  # the interrupted run's temporary files are gone
    damage = [r for r in result.repaired if "temporary file of a stopped run" not in r]
    assert result.up_to_date == (renames == 4) and bool(damage) == (renames < 4), (result.up_to_date, damage)
    assert_same_cache(out, reference)


def test_disk_full_leaves_the_previous_cache_and_no_temporary_files(synth, tmp_path, monkeypatch):
    from xrayssl.data import cache_write

    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    calls = []

    def full(self, row):
        calls.append(1)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.file.write(row)

    monkeypatch.setattr(cache_write.ImageWriter, "add", full)
    with pytest.raises(XraySSLError, match="No space left on device") as err:
        prepare(root, out, process=ProcessConfig(size=32, clahe=False), workers=1, progress=False)
    assert str(out) in str(err.value) and "previous cache is left as it was" in str(err.value)
    assert not list(out.glob(".*tmp"))
    assert_same_cache(out, ref)


def test_file_size_limit_is_one_line_exit_2(synth, tmp_path):
    """A real write failure, not a mock: the kernel refuses to grow a file past RLIMIT_FSIZE (EFBIG)."""
    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        from xrayssl.cli.main import main
        sys.exit(main(["data", "prepare", {str(root)!r}, "--out", {str(out)!r}, "--size", "64", "--quiet",
                       "--workers", "1"]))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot write the cache (File too large)" in proc.stderr
    assert not list(out.glob(".*tmp"))
    assert_same_cache(out, ref)


def test_cache_user_mistakes_are_one_line_exit_2(synth, tmp_path, capsys):
    root, _ = synth
    out = fresh_cache(synth, tmp_path)
    (out / "manifest.csv").unlink()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for argv, message in [
        (["data", "verify", str(out)], "manifest.csv: missing"),
        (["data", "prepare", str(root), "--out", str(a_file / "c")], "file.txt is a file"),
        (["data", "prepare", str(root), "--out", str(a_file)], "is not a folder"),
        (["data", "prepare", str(root), "--out", str(out), "--size", "100000"], "between 16 and 2048 px"),
        (["data", "prepare", str(root), "--out", str(out), "--body-part", "elbow"], "valid body parts: "),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)


def test_a_non_numeric_label_in_a_vouched_manifest_is_one_line(synth, tmp_path):
    """Even with cache.json updated to match (a hand-made cache), a bad label is one line, not a traceback."""
    from xrayssl.data.cache import file_record

    out = fresh_cache(synth, tmp_path)
    text = (out / "manifest.csv").read_text().splitlines(keepends=True)
    first = text[1].split(",")
    first[1] = "x"
    text[1] = ",".join(first)
    (out / "manifest.csv").write_text("".join(text))
    info = json.loads((out / "cache.json").read_text())
    info["files"]["manifest.csv"] = file_record(out / "manifest.csv")
    (out / "cache.json").write_text(json.dumps(info))
    with pytest.raises(XraySSLError, match=r"manifest.csv line 2: label 'x' is not -1 to 1"):
        PreparedCache(out)


def test_old_format_asks_for_a_rebuild_and_prepare_rebuilds(synth, tmp_path):
    root, ref = synth
    out = fresh_cache(synth, tmp_path)
    info = json.loads((out / "cache.json").read_text())
    info["format_version"] = 1
    (out / "cache.json").write_text(json.dumps(info))
    with pytest.raises(XraySSLError, match=r"version 1, this xrayssl reads version 2; .*rebuild"):
        PreparedCache(out)
    assert prepare(root, out, process=P32, workers=1, progress=False).n_processed == len(PreparedCache(ref))
    assert_same_cache(out, ref)


# ---- 2. nothing from the data becomes a path --------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["../../x", "/etc/passwd", "..", ".", "", "a/b", "a\\b", "CON", "x" * 300, "무릎", "Knee", "knee\n"]
)
def test_safe_name_is_one_plain_file_name(text, tmp_path):
    name = safe_name(text)
    assert name and name not in {".", ".."} and not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\0" not in name and "\n" not in name
    assert len(name.encode()) <= 80 and safe_name(text) == name
    assert (tmp_path / name).parent == tmp_path
    (tmp_path / name).write_text("ok")  # the file system takes it


def test_safe_name_keeps_plain_names_and_never_merges_two():
    assert safe_name("knee") == "knee" and safe_name("xr_shoulder") == "xr_shoulder"
    names = ["knee", "Knee", "KNEE", "../knee", "knee/", "a b", "a-b", "a_b", "x" * 300, "x" * 301, "", "name"]
    assert len({safe_name(t) for t in names}) == len(names)


def test_traversal_body_part_writes_nothing_outside_out(tmp_path, radiographs, monkeypatch):
    """A body part from a CSV column names the Grad-CAM files: they land inside --out, under safe names."""
    from xrayssl.evaluate import gradcam as gc
    from xrayssl.models.backbones import Backbone
    from xrayssl.models.classifier import Classifier

    root = tmp_path / "work" / "ds"
    rows = []
    for i, image in enumerate(radiographs):
        write_png(root / f"{i}.png", image)
        part = ["../../escaped", str(tmp_path / "abs")][i % 2]
        rows.append({"path": f"{i}.png", "label": i % 2 if i < 6 else (i + 1) % 2, "body_part": part,
                     "patient_id": f"p{i}", "split": "test"})  # fmt: skip
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    cache = prepare(root, tmp_path / "work" / "c", process=P32, workers=1, progress=False).cache
    assert set(PreparedCache(cache).manifest["body_part"]) == {"../../escaped", str(tmp_path / "abs").lower()}
    model = gc._Logit(Classifier(Backbone("resnet18"))).eval()
    config = {"cache": str(cache), "size": 32, "body_part": None}
    monkeypatch.setattr(gc, "load_model", lambda run: (model, config, 0.5))
    from xrayssl.data.selection import LabelledSplits

    labelled = LabelledSplits(
        {s: PreparedCache(cache).manifest.assign(index=range(12)) for s in ("train", "val", "test")}
    )
    monkeypatch.setattr(gc, "labelled_splits", lambda *a: labelled)
    # the maps and their faithfulness do not decide any file name: skip their cost
    monkeypatch.setattr(gc, "grad_cam_maps", lambda model, layer, x, *a: np.full((len(x), 32, 32), 0.5, np.float32))
    monkeypatch.setattr(gc, "deletion_auc", lambda model, x, order, pred: np.zeros(len(x)))
    before = set(tmp_path.rglob("*"))
    out = tmp_path / "work" / "out" / "cams"
    result = gc.gradcam(GradCamConfig(run="run", out=str(out), n=1))
    created = set(tmp_path.rglob("*")) - before
    assert created and all(p.resolve().is_relative_to(out.resolve()) or p in out.parents for p in created)
    assert all(Path(f).parent == out for f in result["images"])


# ---- 3. bounded decoding ------------------------------------------------------------------------------


def adler32_zeros(adler: int, n: int) -> int:
    """adler32 continued over n zero bytes, without making them."""
    a, b = adler & 0xFFFF, adler >> 16
    return ((b + a * n) % 65521) << 16 | a


def write_big_png(path: Path, width: int, height: int, depth: int = 8, block_bytes: int = 1 << 24) -> Path:
    """A grey PNG of any size without holding its pixels: row 0 is a ramp, every other row repeats the one
    above (PNG filter 'Up', so its bytes are zero). Deflate blocks ended by a full flush do not depend on
    what came before, so one block of zero rows is compressed once and repeated."""
    bpp = depth // 8
    ramp = np.linspace(0, 2**depth - 1, width).astype(">u2" if depth == 16 else np.uint8).tobytes()
    first, row = b"\x00" + ramp, b"\x02" + bytes(width * bpp)
    c = zlib.compressobj(9)
    block_rows = max(1, min(height - 1, block_bytes // len(row)))
    head = c.compress(first) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(row * block_rows) + c.flush(zlib.Z_FULL_FLUSH)
    n_blocks, rest = divmod(height - 1, block_rows)
    tail = c.compress(row * rest) + c.flush(zlib.Z_FINISH)
    adler = zlib.adler32(first)
    for _ in range(height - 1):
        adler = adler32_zeros(zlib.adler32(b"\x02", adler), width * bpp)
    data = head + block * n_blocks + tail[:-4] + struct.pack(">I", adler)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_big_png_writer_writes_valid_pngs(tmp_path):
    for depth in (8, 16):
        img = cv2.imread(str(write_big_png(tmp_path / f"s{depth}.png", 300, 200, depth, 1000)), cv2.IMREAD_UNCHANGED)
        assert img.shape == (200, 300) and (img == img[0]).all() and img[0, 0] == 0 and img[0, -1] == 2**depth - 1


def peak_rss_delta(path: Path, max_pixels: int) -> dict:
    """Decode ``path`` in a fresh process; its peak resident memory above the baseline after imports."""
    script = textwrap.dedent(f"""
        import json, resource
        from xrayssl.data.process import ProcessConfig, load_and_process
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        image, _, error = load_and_process({str(path)!r}, ProcessConfig(size=64, max_pixels={max_pixels}))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"mb": (after - before) / 1024, "error": error, "shape": getattr(image, "shape", None)}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_png_bomb_is_refused_from_its_header_within_the_memory_bound(tmp_path):
    bomb = write_big_png(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 2_000_000  # 900 MP in under 2 MB
    run = peak_rss_delta(bomb, ProcessConfig().max_pixels)
    assert "image too large: 30000x30000 px (900 MP)" in run["error"] and "--max-pixels" in run["error"]
    assert run["mb"] < 1024, run


def test_16_bit_image_under_the_limit_decodes_in_bounded_memory(tmp_path):
    """36 MP at 16 bit: whole-image float64 temporaries needed ~26 bytes a pixel (~900 MB); bands of rows
    keep it near the 2-byte decode plus the 1-byte result."""
    deep = write_big_png(tmp_path / "deep.png", 6000, 6000, depth=16)
    run = peak_rss_delta(deep, ProcessConfig().max_pixels)
    assert run["error"] == "" and run["shape"] == [64, 64]
    assert run["mb"] < 300, run
    refused = peak_rss_delta(deep, 30_000_000)  # the limit is a setting
    assert "above the limit of 30 MP" in refused["error"]


def test_dicom_above_the_limit_is_refused_from_its_header(tmp_path):
    from test_formats_medmnist_dicom import write_dicom

    path = write_dicom(tmp_path / "big.dcm", np.zeros((8, 8), np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 20000  # the header claims 400 MP; the pixel data is never decoded
    ds.save_as(path)
    with pytest.raises(ImageError, match="image too large: 20000x20000 px"):
        read_gray(path)


def test_large_jpeg_is_decoded_at_reduced_resolution(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 1600).astype(np.uint8), (1200, 1))
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), ramp)
    assert jpeg_reduction(1600, 1200, (64, "pad")) == 8 and jpeg_reduction(1600, 1200, (224, "pad")) == 2
    assert jpeg_reduction(1600, 1200, (600, "crop")) == 1 and jpeg_reduction(1600, 1200, None) == 1
    small = read_gray(path, target=(64, "pad"))
    assert small.shape == (150, 200)  # libjpeg decoded 1/8 of each side
    full = read_gray(path)
    assert full.shape == (1200, 1600)
    shrunk = cv2.resize(full, (200, 150), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - shrunk).mean() < 2  # the same picture


# ---- 4. symlinked folders -----------------------------------------------------------------------------


def test_symlinked_class_folder_is_read_and_loops_are_reported(tmp_path, radiographs):
    elsewhere = tmp_path / "elsewhere" / "abnormal"
    for i in range(3):
        write_png(elsewhere / f"a{i}.png", radiographs[i])
    root = tmp_path / "ds"
    for i in range(3, 6):
        write_png(root / "normal" / f"n{i}.png", radiographs[i])
    (root / "abnormal").symlink_to(elsewhere, target_is_directory=True)
    (root / "normal" / "loop").symlink_to(root, target_is_directory=True)
    scan = read_dataset(root, "folder")
    m = scan.manifest
    assert sorted(m["label"]) == [0, 0, 0, 1, 1, 1]  # the linked class is read under its link's name
    assert all(p.startswith(str(root)) for p in m["path"])
    loops = [p for p in scan.problems if "already read" in p.problem]
    assert len(loops) == 1 and loops[0].path.endswith("loop") and "link back" in loops[0].problem


# ---- 5. CSV duplicates and conflicts ------------------------------------------------------------------


def test_csv_duplicates_kept_once_and_conflicts_dropped(tmp_path, radiographs):
    root = tmp_path / "ds"
    for i in range(3):
        write_png(root / f"{i}.png", radiographs[i])
    pd.DataFrame(
        {
            "path": ["0.png", "1.png", "./0.png", "2.png", "1.png", "2.png"],
            "label": ["normal", "abnormal", "0", "normal", "abnormal", "abnormal"],
            "patient_id": ["a", "b", "a", "c", "z", "c"],
        }
    ).to_csv(root / "labels.csv", index=False)
    scan = read_dataset(root / "labels.csv")
    assert sorted(Path(p).name for p in scan.manifest["path"]) == ["0.png", "1.png"]
    text = {Path(p.path).name: p.problem for p in scan.problems}
    assert text["0.png"] == "labels.csv line 4 repeats line 2; kept once, as line 2"
    assert text["1.png"] == "labels.csv line 6 repeats line 3 with a different patient_id; kept once, as line 3"
    assert "labels this file two ways (line 5: normal, line 7: abnormal); all its rows dropped" in text["2.png"]


# ---- 6. raw failures ----------------------------------------------------------------------------------


def test_jpeg_named_png_is_decoded_or_called_what_it_is(tmp_path, radiographs):
    jpeg = tmp_path / "real.jpg"
    assert cv2.imwrite(str(jpeg), radiographs[0])
    named_png = tmp_path / "photo.png"
    named_png.write_bytes(jpeg.read_bytes())
    np.testing.assert_array_equal(read_gray(named_png), read_gray(jpeg))
    broken = tmp_path / "broken.png"
    broken.write_bytes(jpeg.read_bytes()[:300])
    with pytest.raises(ImageError, match=r"^JPEG content with \.png extension; not a decodable image"):
        read_gray(broken)
