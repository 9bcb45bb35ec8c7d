"""Issue: SSL that learns on aligned radiographs. New methods (VICRegL, DenseCL, MAE), positives from the
data's structure, the validation kNN monitor, probe pooling, device-resident batches; on tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from xrayssl.augment import parse_pipeline
from xrayssl.errors import XraySSLError
from xrayssl.evaluate.features import encode
from xrayssl.metrics import embedding_std, knn_auroc
from xrayssl.models.backbones import build_backbone
from xrayssl.models.methods import Views, build_method
from xrayssl.train.batches import Batches, Partners, partner_groups
from xrayssl.train.config import PretrainConfig
from xrayssl.train.pretrain import pretrain

TINY = {"size": 32, "batch_size": 16, "budget": None, "checkpoint_every": None}


@pytest.fixture(scope="module")
def images(tiny_cache) -> torch.Tensor:
    from xrayssl.data.cache import PreparedCache, load_images

    cache = PreparedCache(tiny_cache)
    return load_images(cache, cache.indices(split="train")[:32], 32)


@pytest.mark.parametrize("name", ["vicregl", "densecl", "mae"])
@pytest.mark.slow
def test_new_methods_learn_on_a_tiny_batch(name, images):
    torch.manual_seed(0)
    backbone = build_backbone("vit-tiny" if name == "mae" else "resnet18", image_size=32)
    method = build_method(name, backbone)
    if name == "densecl":  # its loss rises while the queue of negatives fills: in-batch negatives show the learning
        method = type(method)(backbone, queue=0)
    opt = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    aug = parse_pipeline("crop(scale=0.6..1)+rotate(10)+flip")
    losses = []
    for step in range(24):
        gen = torch.Generator().manual_seed(step)
        x = images.float() / 255
        x1, w1 = aug.with_geometry(x, gen)
        x2, w2 = aug.with_geometry(x, gen)
        loss = method.loss(Views(x1, x2, w1, w2), step / 24)
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.after_step(step / 24)
        losses.append(float(loss.detach()))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


@pytest.mark.parametrize(
    ("name", "pool", "dim"),
    [
        ("resnet18", "avg", 512),
        ("resnet18", "grid2", 2048),
        ("resnet18", "multi", 64 + 128 + 256 + 512),
        ("vit-tiny", "avg", 192),
        ("vit-tiny", "grid2", 4 * 192),
        ("vit-tiny", "multi", 4 * 192),
    ],
)
def test_encoder_features_have_the_documented_shape(name, pool, dim, images):
    backbone = build_backbone(name, image_size=32)
    assert encode(backbone, images[:5], pool, device="cpu").shape == (5, dim)
    if pool == "avg":  # the probe's default equals the backbone's own output
        with torch.no_grad():
            direct = backbone.eval()(images[:5].float() / 255).numpy()
        assert np.allclose(encode(backbone, images[:5], device="cpu"), direct, atol=1e-5)


def test_method_and_backbone_that_do_not_go_together():
    with pytest.raises(XraySSLError, match=r"method mae does not work with backbone resnet18; valid pairs: .*mae: vit"):
        PretrainConfig(cache="c", out="o", method="mae", backbone="resnet18")
    PretrainConfig(cache="c", out="o", method="mae", backbone="vit-tiny")


def test_vicregl_locations_follow_the_views_geometry():
    from xrayssl.models.methods.vicregl import cell_grid

    flip = torch.diag(torch.tensor([-1.0, 1.0, 1.0])).expand(1, 3, 3)
    plain, mirrored = cell_grid(None, 2, 2, 1, "cpu"), cell_grid(flip, 2, 2, 1, "cpu")
    assert torch.allclose(plain[0, :, :, 0], torch.tensor([[-0.5, 0.5], [-0.5, 0.5]]))
    assert torch.allclose(mirrored[..., 0], -plain[..., 0]) and torch.allclose(mirrored[..., 1], plain[..., 1])


def _manifest():
    # patient A: two studies (2 images + 1 image); patient B: one study of one image; C: one study of 3 images
    return pd.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "C", "C", "C"],
            "study_id": ["A1", "A1", "A2", "B1", "C1", "C1", "C1"],
        }
    )


@pytest.mark.parametrize("positives", ["study", "patient"])
def test_positive_pairs_stay_within_their_study_or_patient(positives):
    m = _manifest()  # no label column at all: pairing never reads labels
    groups, warning = partner_groups(m, positives)
    assert warning is None
    partners = Partners(groups)
    idx = torch.arange(len(m)).repeat(200)
    other = partners.draw(idx, torch.Generator().manual_seed(0)).numpy()
    key = "study_id" if positives == "study" else "patient_id"
    same = m[key].to_numpy()
    assert (same[other] == same[idx.numpy()]).all()  # never across studies/patients
    assert (m["patient_id"].to_numpy()[other] == m["patient_id"].to_numpy()[idx.numpy()]).all()
    alone = (pd.Series(same).map(pd.Series(same).value_counts()) == 1).to_numpy()[idx.numpy()]
    assert (other[alone] == idx.numpy()[alone]).all()  # an image alone in its group pairs with itself
    assert (other[~alone] != idx.numpy()[~alone]).all()  # the others always cross images
    # every other member of a group is drawn
    drawn = {(i, o) for i, o in zip(idx.tolist(), other.tolist(), strict=True)}
    assert (1, 0) in drawn and (4, 5) in drawn and (4, 6) in drawn


def test_positives_without_ids_fall_back_to_image_with_a_warning():
    m = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "study_id": ["s1", "s2", "s3"]})
    groups, warning = partner_groups(m, "study")
    assert groups is None and "falling back to 'image'" in warning and "--positives study" in warning


def test_device_batches_cover_every_image_once_per_epoch_and_split_ranks():
    images = torch.arange(103, dtype=torch.uint8).view(-1, 1, 1, 1).expand(103, 1, 2, 2).contiguous()
    seen = []
    for rank in (0, 1):
        b = Batches(images, batch_size=10, seed=3, drop_last=False)
        b.set_rank(rank, 2)
        b.set_epoch(4)
        seen.append(torch.cat([x[:, 0, 0, 0] for x in b]).tolist())
    assert not set(seen[0]) & set(seen[1])  # disjoint across ranks
    assert len(seen[0]) == len(seen[1]) == 51 and len(set(seen[0] + seen[1])) == 102  # once each (one left over)
    b = Batches(images, batch_size=10, seed=3, drop_last=False)
    b.set_epoch(5)
    assert sorted(torch.cat(list(b))[:, 0, 0, 0].tolist()) == list(range(103))
    assert torch.cat(list(b))[:, 0, 0, 0].tolist() != seen[0]  # another epoch, another order


def test_knn_monitor_scores_separable_features_high_and_noise_near_half():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 300)
    separable = rng.normal(size=(600, 16)) + 3 * y[:, None]
    assert knn_auroc(separable[::2], y[::2], separable[1::2], y[1::2]) > 0.99
    noise = rng.normal(size=(600, 16))
    assert abs(knn_auroc(noise[::2], y[::2], noise[1::2], y[1::2]) - 0.5) < 0.08
    assert embedding_std(np.ones((50, 8))) == pytest.approx(0.0, abs=1e-6)  # collapse
    assert embedding_std(rng.normal(size=(2000, 64))) == pytest.approx(1 / 8, rel=0.1)


@pytest.mark.parametrize("name", ["vicregl", "densecl", "mae", "dcl"])
@pytest.mark.slow
def test_new_methods_run_through_pretrain(name, tiny_cache, tmp_path):
    """The training harness, not only the loss: each method's loss goes through the step, the NaN check and the
    record (VICRegL's lightly loss once came back with shape [1] and stopped the first real run)."""
    backbone = {"backbone": "vit-tiny"} if name == "mae" else {}
    config = PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / name), method=name, epochs=1, **backbone, **TINY)
    run = pretrain(config, progress_bar=False)
    record = json.loads((run / "record.json").read_text())
    assert record["steps"] > 0 and (run / "encoder.pt").is_file()
    loss = pd.read_csv(run / "metrics.csv")["loss"].dropna()
    assert len(loss) and np.isfinite(loss).all()


@pytest.mark.slow
def test_patient_positives_run_without_labels_and_record_the_crossed_share(tiny_cache, tmp_path, monkeypatch):
    import xrayssl.data.cache as cache_module

    original = cache_module.read_manifest_csv
    monkeypatch.setattr(cache_module, "read_manifest_csv", lambda *a: original(*a).assign(label=-1))  # labels gone
    config = PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / "r"), positives="patient", epochs=1, **TINY)
    with pytest.warns(UserWarning, match="kNN monitor is off"):
        run = pretrain(config, progress_bar=False)
    record = json.loads((run / "record.json").read_text())
    assert record["positives"]["kind"] == "patient" and 0.5 < record["positives"]["crossed_share"] <= 1
    assert record["monitor"] is None


@pytest.mark.slow
def test_best_knn_encoder_is_kept_and_a_failing_monitor_does_not_stop_the_run(tiny_cache, tmp_path, monkeypatch):
    import xrayssl.train.monitor as monitor

    config = PretrainConfig(
        cache=str(tiny_cache), out=str(tmp_path / "best"), epochs=3, keep="best-knn", monitor_every=5, **TINY
    )
    run = pretrain(config, progress_bar=False)
    metrics = pd.read_csv(run / "metrics.csv").dropna(subset=["knn_val_auroc"])
    record = json.loads((run / "record.json").read_text())
    best = metrics.loc[metrics["knn_val_auroc"].idxmax()]
    assert record["encoder"]["keep"] == "best-knn" and record["encoder"]["step"] == int(best["step"])
    assert record["encoder"]["knn_val_auroc"] == pytest.approx(best["knn_val_auroc"])

    def broken(*args, **kwargs):
        raise ValueError("constructed failure")

    monkeypatch.setattr(monitor, "knn_probabilities", broken)
    config = PretrainConfig(cache=str(tiny_cache), out=str(tmp_path / "nan"), epochs=1, monitor_every=5, **TINY)
    with pytest.warns(UserWarning, match="kNN monitor failed"):
        run = pretrain(config, progress_bar=False)
    knn = pd.read_csv(run / "metrics.csv")["knn_val_auroc"]
    assert knn.isna().all() and (run / "encoder.pt").is_file()


@pytest.mark.slow
def test_floors_and_runs_share_the_pooled_feature_function(tiny_run_for_pool):
    from xrayssl.evaluate.config import ProbeConfig
    from xrayssl.evaluate.run_probe import probe

    run, cache = tiny_run_for_pool
    for pool, dim in (("grid2", 2048), ("multi", 960)):
        ran = probe(ProbeConfig(source=str(run), pool=pool, n_boot=20))
        out = str(run.parent / f"floor-{pool}.json")
        floor = probe(ProbeConfig(source=str(cache), encoder="random", size=32, pool=pool, n_boot=20, out=out))
        assert ran["feature_dim"] == floor["feature_dim"] == dim and ran["pool"] == floor["pool"] == pool


@pytest.fixture(scope="module")
def tiny_run_for_pool(tiny_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "run"
    run = pretrain(PretrainConfig(cache=str(tiny_cache), out=str(out), epochs=1, monitor_every=0, **TINY), False)
    return run, tiny_cache
