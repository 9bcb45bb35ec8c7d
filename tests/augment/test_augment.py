"""Batched augmentations: per-image randomness, exact behaviour at p = 0 and p = 1, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_png

from xrayssl.augment import PRESETS, parse_pipeline
from xrayssl.augment.ops import OPS, load_ops
from xrayssl.augment.ops.chessboard import Chessboard
from xrayssl.errors import XraySSLError


@pytest.fixture(scope="module")
def batch(radiographs) -> torch.Tensor:
    """16 real-looking radiographs, uint8 (16, 1, 96, 96)."""
    imgs = np.stack([radiographs[i % len(radiographs)] for i in range(16)])
    return torch.from_numpy(imgs).unsqueeze(1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def all_op_names() -> list[str]:
    load_ops()
    return sorted(OPS)


def test_every_op_of_the_issue_is_registered():
    expected = {
        "blur",
        "flip",
        "rotate",
        "chessboard",
        "erase",
        "crop",
        "intensity",
        "noise",
        "grid_distortion",
        "clahe",
        "sharpen",
    }
    assert expected <= set(all_op_names())


@pytest.mark.parametrize("name", all_op_names())
def test_p0_is_identity_and_shape_dtype_range_are_kept(name, batch):
    out = parse_pipeline(f"{name}(p=0)")(batch, gen())
    assert torch.equal(out, batch)
    on = parse_pipeline(f"{name}(p=1)")(batch, gen())
    assert on.shape == batch.shape and on.dtype == torch.uint8
    f = parse_pipeline(f"{name}(p=1)")(batch.float() / 255, gen())
    assert f.dtype == torch.float32 and f.min() >= 0 and f.max() <= 1


@pytest.mark.parametrize("name", [n for n in all_op_names() if n != "flip"])
def test_images_in_one_batch_get_different_parameters(name, batch):
    same = batch[:1].repeat(8, 1, 1, 1)  # eight copies of one image
    # OpenCV rounds CLAHE's clip to whole counts per tile: small tiles on a 96 px image hide the clip
    extra = "tiles=2," if name == "clahe" else ""
    out = parse_pipeline(f"{name}({extra}p=1)")(same, gen(3))
    distinct = {out[i].numpy().tobytes() for i in range(8)}
    assert len(distinct) >= 6, f"{name}: {len(distinct)} distinct results for 8 copies"


def test_flip_is_an_exact_mirror_and_random_per_image(batch):
    out = parse_pipeline("flip(p=1)")(batch, gen())
    assert torch.equal(out, batch.flip(-1))
    v = parse_pipeline("flip(horizontal=false,vertical=true,p=1)")(batch, gen())
    assert torch.equal(v, batch.flip(-2))
    half = parse_pipeline("flip(p=0.5)")(batch[:1].repeat(64, 1, 1, 1), gen(1))
    flipped = sum(torch.equal(half[i], batch[0].flip(-1)) for i in range(64))
    assert 16 <= flipped <= 48


def test_same_seed_same_output_other_seed_other_output(batch):
    aug = parse_pipeline("seed")
    assert torch.equal(aug(batch, gen(5)), aug(batch, gen(5)))
    assert not torch.equal(aug(batch, gen(5)), aug(batch, gen(6)))


def test_erase_covers_an_area_within_its_range(batch):
    x = torch.full((64, 1, 100, 100), 200, dtype=torch.uint8)
    out = parse_pipeline("erase(area=0.01..0.1,ratio=0.5..2,p=1)")(x, gen())
    erased = (out == 0).float().mean(dim=(1, 2, 3))
    assert (erased >= 0.008).all() and (erased <= 0.11).all()
    for img in out[:, 0]:
        ys, xs = torch.nonzero(img == 0, as_tuple=True)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert h * w == len(ys)  # one solid rectangle
        assert 0.4 <= float(w / h) <= 2.5


def test_chessboard_keeps_each_cells_pixels_and_moves_within_shift():
    op = Chessboard(cell=0.1, shift=0.03, p=1)  # 10 px cells, shifts up to 3 px on 100 px
    h = w = 100
    params = op.sample(4, h, w, gen(2))
    src = op.source_index(params["offsets"], h, w).view(4, h, w)
    sy, sx = src // w, src % w
    y = torch.arange(h).view(1, h, 1).expand(4, h, w)
    x = torch.arange(w).view(1, 1, w).expand(4, h, w)
    assert torch.equal(sy // 10, y // 10) and torch.equal(sx // 10, x // 10)  # never leaves its cell
    dy, dx = (y - sy) % 10, (x - sx) % 10  # circular displacement within the cell
    assert (torch.minimum(dy, 10 - dy) <= 3).all() and (torch.minimum(dx, 10 - dx) <= 3).all()
    # each cell's pixel multiset is kept
    img = torch.randint(0, 256, (4, 1, h, w), dtype=torch.uint8)
    out = parse_pipeline("chessboard(cell=0.1,shift=0.03,p=1)")(img, gen(2))
    cells_in = img.view(4, 10, 10, 10, 10).permute(0, 1, 3, 2, 4).reshape(4, 100, 100).sort(-1).values
    cells_out = out.view(4, 10, 10, 10, 10).permute(0, 1, 3, 2, 4).reshape(4, 100, 100).sort(-1).values
    assert torch.equal(cells_in, cells_out)
    assert not torch.equal(img, out)


def test_rotation_keeps_the_image_centre():
    img = torch.zeros(8, 1, 65, 65)
    img[:, :, 30:35, 30:35] = 1.0  # a bright square around the centre pixel (32, 32)
    out = parse_pipeline("rotate(45,p=1)")(img, gen())
    assert (out[:, 0, 32, 32] > 0.99).all()
    ys, xs = torch.nonzero(out[0, 0] > 0.5, as_tuple=True)
    assert abs(float(ys.float().mean()) - 32) < 0.5 and abs(float(xs.float().mean()) - 32) < 0.5


def test_geometric_ops_are_fused_into_one_resampling(batch, monkeypatch):
    import torch.nn.functional as F

    calls = []
    original = F.grid_sample
    monkeypatch.setattr(F, "grid_sample", lambda *a, **k: calls.append(1) or original(*a, **k))
    parse_pipeline("flip(p=1)+rotate(10)+crop(0.5..1)")(batch, gen())
    assert len(calls) == 1


def test_blur_reduces_detail_and_sharpen_increases_it(batch):
    x = batch.float() / 255

    def detail(t):
        return (t[..., 1:, :] - t[..., :-1, :]).abs().mean()

    assert detail(parse_pipeline("blur(sigma=2,p=1)")(x, gen())) < detail(x)
    assert detail(parse_pipeline("sharpen(1,p=1)")(x, gen())) > detail(x)


def test_spec_round_trips_and_presets_parse():
    for name, text in PRESETS.items():
        p = parse_pipeline(name)
        assert parse_pipeline(p.spec()).spec() == p.spec()
        assert len(p.ops) == (0 if not text else text.count("+") + 1)
    p = parse_pipeline("flip+rotate(15)+chessboard(cell=0.08,shift=0.02,p=0.5)+erase(p=0.3)")
    assert [op.name for op in p.ops] == ["flip", "rotate", "chessboard", "erase"]
    assert p.ops[1].degrees == 15 and p.ops[2].cell == 0.08 and p.ops[3].p == 0.3
    assert parse_pipeline("seed").ops[2].shift == 0.0195  # the chessboard, third of the seed's five


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("flip+twist", "unknown augmentation 'twist'; valid: blur, chessboard"),
        ("rotate(angle=5)", "unknown parameter 'angle'; valid: degrees, p"),
        ("flip(p=2)", "p must be within 0..1"),
        ("rotate(5,6)", "at most 1 positional"),
        ("erase(area=0.2..0.1)", "low..high"),
        ("rotate(5", "unbalanced"),
        ("chessboard(cell=0.1,shift=0.5)", "shift <= cell"),
    ],
)
def test_bad_specs_list_what_is_valid(spec, message):
    with pytest.raises(XraySSLError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_pipeline(spec)(torch.zeros(2, 1, 32, 32), gen())


def test_augment_show_writes_a_grid(tmp_path, radiographs):
    import cv2

    from xrayssl.cli.main import main

    for i in range(4):
        write_png(tmp_path / "ds" / "normal" / f"{i}.png", radiographs[i])
    out = tmp_path / "grid.png"
    assert (
        main(
            [
                "augment",
                "show",
                str(tmp_path / "ds"),
                "--augs",
                "seed",
                "--n",
                "3",
                "--views",
                "2",
                "--size",
                "64",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 200


def test_fast_affine_grid_matches_torch():
    import torch.nn.functional as F

    from xrayssl.augment.pipeline import affine_grid

    theta = torch.randn(5, 2, 3, generator=gen(4))
    expected = F.affine_grid(theta, [5, 1, 17, 23], align_corners=False)
    torch.testing.assert_close(affine_grid(theta, 17, 23), expected, atol=1e-6, rtol=1e-5)
