"""The supervised heads of each task: they train, their probabilities are valid, CORN's are rank-consistent; and
the kNN vote of each task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xrayssl.models.backbones import build_backbone
from xrayssl.models.classifier import Classifier, corn_loss, corn_probabilities
from xrayssl.tasks import BINARY, Task, class_weights, knn_probabilities, primary_score

GRADES = Task("ordinal", ("0", "2", "3", "4"), normal=(0,))
ORGANS = Task("multiclass", ("liver", "lung", "heart"), normal=())
FINDINGS = Task("multilabel", ("kl2", "kl3", "kl4"), normal=())


def _images(task: Task, n: int = 24, size: int = 32):
    """Images whose brightness carries the label (so a few steps learn something), and their labels."""
    gen = torch.Generator().manual_seed(0)
    grade = torch.randint(0, 4, (n,), generator=gen)
    x = torch.rand(n, 1, size, size, generator=gen) * 0.3 + grade.view(-1, 1, 1, 1) * 0.2
    if task.kind == "binary":
        return x, (grade > 0).long()
    if task.kind == "multilabel":
        y = torch.stack([grade >= 1, grade >= 2, grade == 3], 1).long()
        y[torch.rand(y.shape, generator=gen) < 0.25] = -1  # missing findings
        return x, y
    return x, grade % len(task.classes)


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return build_backbone("resnet18", small_stem=True, image_size=32).eval()


@pytest.mark.parametrize("task", [BINARY, ORGANS, GRADES, FINDINGS])
def test_each_head_trains_and_gives_valid_probabilities(task, backbone):
    model = Classifier(backbone, task).eval()
    x, y = _images(task)
    with torch.no_grad():
        features = backbone(x)
    weight = torch.tensor(class_weights(task, y.numpy()), dtype=torch.float32)
    opt = torch.optim.AdamW(model.head.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):  # the head on frozen features: its loss must fall
        logits = model.head(features)
        loss = model.loss(logits.squeeze(1) if task.kind == "binary" else logits, y, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0]
    with torch.no_grad():
        prob = model.probabilities(model(x)).numpy()
    if task.kind == "binary":
        assert prob.shape == (len(x),)
    else:
        assert prob.shape == (len(x), len(task.classes))
    assert ((prob >= 0) & (prob <= 1)).all()
    if task.single_label and task.kind != "binary":
        np.testing.assert_allclose(prob.sum(1), 1, atol=1e-5)
    assert primary_score(task, y.numpy(), prob) > task.chance  # it learnt the brightness


def test_corn_probabilities_are_rank_consistent_and_sum_to_one():
    logits = torch.randn(500, 4) * 4
    prob = corn_probabilities(logits)
    assert (prob >= 0).all() and torch.allclose(prob.sum(1), torch.ones(500), atol=1e-6)
    above = 1 - torch.cumsum(prob, 1)[:, :-1]  # P(y > k) from the class probabilities
    assert (above[:, 1:] <= above[:, :-1] + 1e-6).all()  # never increasing in k
    np.testing.assert_allclose(above.numpy(), torch.cumprod(torch.sigmoid(logits), 1).numpy(), atol=1e-6)


def test_corn_loss_reads_only_the_images_at_risk():
    """Grade 0 takes part in threshold 0 only: changing its logits at thresholds 1, 2 changes nothing."""
    y = torch.tensor([0, 0, 3])
    a = torch.zeros(3, 3)
    b = a.clone()
    b[:2, 1:] = 9.0
    assert torch.isclose(corn_loss(a, y), corn_loss(b, y))
    assert corn_loss(torch.tensor([[9.0, 9.0, 9.0]]), torch.tensor([3])) < 1e-3


def test_knn_vote_per_task():
    rng = np.random.default_rng(0)
    grade = rng.integers(0, 4, 400)
    x = rng.normal(size=(400, 8)) + 3 * np.eye(8)[grade]
    votes = knn_probabilities(GRADES, x[:300], grade[:300], x[300:])
    np.testing.assert_allclose(votes.sum(1), 1)
    assert primary_score(GRADES, grade[300:], votes) > 0.8
    findings = np.stack([grade >= 1, grade >= 2, grade == 3], 1).astype(int)
    findings[:300][rng.random((300, 3)) < 0.3] = -1
    votes = knn_probabilities(FINDINGS, x[:300], findings[:300], x[300:])
    assert votes.shape == (100, 3) and primary_score(FINDINGS, findings[300:], votes) > 0.9
    binary = knn_probabilities(BINARY, x[:300], (grade[:300] > 0).astype(int), x[300:])
    assert binary.shape == (100,)


def test_class_weights_balance_like_pos_weight():
    assert class_weights(BINARY, np.array([0, 0, 0, 1]))[0] == 3
    np.testing.assert_allclose(class_weights(GRADES, np.array([0, 0, 1, 2])), [0.5, 1, 1, 0])
    y = np.array([[1, 0, -1], [0, 0, -1], [0, 1, -1]])
    np.testing.assert_allclose(class_weights(FINDINGS, y), [2, 2, 1])
