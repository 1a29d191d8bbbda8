"""Losses given arguments that do not fit: class weights of the wrong length, weights that do not broadcast,
targets of the wrong shape. Each is refused with an error naming the loss and the shapes or lengths at fault
(never a bare numpy IndexError, an error from inside `mul`, or a silent result), and where PyTorch broadcasts
(with or without a warning) we do the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

LOGITS = ag.tensor(np.random.default_rng(0).standard_normal((3, 4)))
TARGETS = ag.tensor([0, 1, 3])


# --- class weights: one per class -------------------------------------------------------------------------------
WRONG_CLASS_WEIGHTS = {
    "cross_entropy/short": (lambda w: F.cross_entropy(LOGITS, TARGETS, weight=w), 3),
    "cross_entropy/long": (lambda w: F.cross_entropy(LOGITS, TARGETS, weight=w), 5),  # was silently accepted
    "cross_entropy/ignore_index": (lambda w: F.cross_entropy(LOGITS, ag.tensor([0, -100, 3]), weight=w), 2),
    "cross_entropy/label_smoothing": (lambda w: F.cross_entropy(LOGITS, TARGETS, weight=w, label_smoothing=0.1), 5),
    "cross_entropy/probabilities": (lambda w: F.cross_entropy(LOGITS, LOGITS.softmax(1), weight=w), 3),
    "cross_entropy/spatial": (lambda w: F.cross_entropy(ag.zeros(2, 4, 5), ag.zeros(2, 5, dtype=ag.int64),
                                                        weight=w), 3),
    "cross_entropy/unbatched": (lambda w: F.cross_entropy(ag.zeros(4), ag.tensor(1), weight=w), 5),
    "nll_loss/short": (lambda w: F.nll_loss(LOGITS, TARGETS, weight=w), 3),
    "nll_loss/long": (lambda w: F.nll_loss(LOGITS, TARGETS, weight=w), 6),
    "CrossEntropyLoss/short": (lambda w: nn.CrossEntropyLoss(weight=w)(LOGITS, TARGETS), 2),
    "NLLLoss/long": (lambda w: nn.NLLLoss(weight=w, reduction="sum")(LOGITS, TARGETS), 5),
}


@pytest.mark.parametrize("case", sorted(WRONG_CLASS_WEIGHTS))
def test_class_weights_of_the_wrong_length_are_refused_naming_the_loss_and_both_lengths(case):
    call, length = WRONG_CLASS_WEIGHTS[case]
    op = {"CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss"}.get(case.split("/")[0], case.split("/")[0])
    with pytest.raises(ValueError, match=rf"{op}: weight must hold one entry per class, but it has {length} "
                                         r"entries and the input of shape \(.*\) has 4 classes"):
        call(ag.ones(length))


def test_class_weights_must_be_a_vector():
    with pytest.raises(ValueError, match=r"cross_entropy: .* it has shape \(2, 2\) and the input .* has 4 classes"):
        F.cross_entropy(LOGITS, TARGETS, weight=ag.ones(2, 2))
    with pytest.raises(ValueError, match=r"nll_loss: .* it has shape \(\) and the input"):
        F.nll_loss(LOGITS, TARGETS, weight=ag.tensor(1.0))


def test_class_weights_of_the_right_length_still_weigh_the_classes():
    w = ag.tensor([1.0, 2.0, 0.5, 4.0], dtype=LOGITS.dtype)
    per_sample = F.cross_entropy(LOGITS, TARGETS, reduction="none")
    weighted = F.cross_entropy(LOGITS, TARGETS, weight=w, reduction="sum")
    np.testing.assert_allclose(weighted.item(), (per_sample.data * w.data[TARGETS.data]).sum())


# --- elementwise weights: must broadcast to the input's shape ------------------------------------------------------
@pytest.mark.parametrize("call, name, shape", [
    (lambda w: F.binary_cross_entropy(LOGITS.sigmoid(), LOGITS.sigmoid(), weight=w), "binary_cross_entropy weight",
     (3,)),
    (lambda w: F.binary_cross_entropy(LOGITS.sigmoid(), LOGITS.sigmoid(), weight=w), "binary_cross_entropy weight",
     (2, 3, 4)),
    (lambda w: F.binary_cross_entropy_with_logits(LOGITS, LOGITS.sigmoid(), weight=w),
     "binary_cross_entropy_with_logits weight", (4, 1)),
    (lambda w: F.binary_cross_entropy_with_logits(LOGITS, LOGITS.sigmoid(), pos_weight=w),
     "binary_cross_entropy_with_logits pos_weight", (3,)),
    (lambda w: nn.BCEWithLogitsLoss(pos_weight=w)(LOGITS, LOGITS.sigmoid()),
     "binary_cross_entropy_with_logits pos_weight", (5,)),
    (lambda w: nn.BCELoss(weight=w)(LOGITS.sigmoid(), LOGITS.sigmoid()), "binary_cross_entropy weight", (2, 4)),
], ids=["bce-short", "bce-longer", "bce-logits-weight", "bce-logits-pos-weight", "BCEWithLogitsLoss", "BCELoss"])
def test_elementwise_weights_that_do_not_broadcast_to_the_input_are_refused(call: Callable, name: str, shape):
    op, argument = name.split()
    shape_text = str(shape).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"{op}: {argument} of shape {shape_text} cannot be broadcast to the "
                                         r"input's shape \(3, 4\)"):
        call(ag.ones(*shape))


def test_elementwise_weights_that_broadcast_are_accepted():
    p, y = LOGITS.sigmoid(), (LOGITS > 0).float()
    per_class = ag.tensor([1.0, 2.0, 3.0, 4.0], dtype=LOGITS.dtype)
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, weight=per_class, reduction="none").data,
                               F.binary_cross_entropy(p, y, reduction="none").data * per_class.data)
    F.binary_cross_entropy_with_logits(LOGITS, y, weight=ag.ones(3, 1), pos_weight=per_class)


# --- targets whose shape does not fit: PyTorch's choice between an error, a warning and silence -----------------
LOSSES = {
    "mse_loss": lambda m, x, y: m.mse_loss(x, y),
    "l1_loss": lambda m, x, y: m.l1_loss(x, y),
    "huber_loss": lambda m, x, y: m.huber_loss(x, y),
    "smooth_l1_loss": lambda m, x, y: m.smooth_l1_loss(x, y),
    "binary_cross_entropy": lambda m, x, y: m.binary_cross_entropy(x.sigmoid(), y),
    "binary_cross_entropy_with_logits": lambda m, x, y: m.binary_cross_entropy_with_logits(x, y),
    "cross_entropy": lambda m, x, y: m.cross_entropy(x, y),  # float targets: class probabilities
    "kl_div": lambda m, x, y: m.kl_div(x, y, reduction="sum"),
    "gaussian_nll_loss": lambda m, x, y: m.gaussian_nll_loss(x, y, x.detach() * 0 + 1),
}
TARGET_SHAPES = [(3, 4), (4,), (3, 1), (1, 4), (2, 3, 4), (), (3, 5), (5,), (2, 4)]


def _outcome(call: Callable) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception:
            return "error"
    return "warning" if caught else "silent"


def _shape(shape: tuple) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("shape", TARGET_SHAPES, ids=str)
@pytest.mark.parametrize("loss", sorted(LOSSES) + ["log_cosh_loss"])
def test_a_target_that_does_not_broadcast_is_refused_naming_the_loss_and_both_shapes(loss, shape):
    call = LOSSES.get(loss, lambda m, x, y: m.log_cosh_loss(x, y))
    target = ag.tensor(np.random.default_rng(1).uniform(0.1, 0.9, shape))
    try:
        np.broadcast_shapes((3, 4), shape)
    except ValueError:
        with pytest.raises(ValueError, match=rf"{loss}: .*{_shape((3, 4))}.*|{loss}: .*{_shape(shape)}") as info:
            call(F, LOGITS, target)
        assert str((3, 4)) in str(info.value) and str(shape) in str(info.value)
        return
    outcome = _outcome(lambda: call(F, LOGITS, target))
    if outcome == "error":  # the losses that insist on equal shapes say so, with both shapes
        with pytest.raises(ValueError, match=loss) as info:
            call(F, LOGITS, target)
        assert str((3, 4)) in str(info.value) and str(shape) in str(info.value)


@pytest.mark.parametrize("shape", TARGET_SHAPES, ids=str)
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_which_target_shapes_broadcast_follows_pytorch(loss, shape):
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(1).uniform(0.1, 0.9, shape)
    logits = np.asarray(LOGITS.data)
    ours = _outcome(lambda: LOSSES[loss](F, LOGITS, ag.tensor(values)))
    theirs = _outcome(lambda: LOSSES[loss](torch.nn.functional, torch.tensor(logits), torch.tensor(values)))
    assert ours == theirs, f"{loss} with a target of shape {shape}: ours {ours}, PyTorch's {theirs}"


def test_kl_div_with_mismatched_shapes_names_kl_div():
    with pytest.raises(ValueError, match=r"kl_div: the input of shape \(3, 4\) and the target of shape \(3, 5\) "
                                         "cannot be broadcast together"):
        F.kl_div(LOGITS, ag.rand(3, 5), reduction="batchmean")
    with pytest.raises(ValueError, match="kl_div"):
        nn.KLDivLoss(reduction="sum")(LOGITS, ag.rand(5))


def test_nll_loss_needs_a_class_dimension():
    with pytest.raises(ValueError, match="nll_loss: the input must have a class dimension, got a 0-d tensor"):
        F.nll_loss(ag.tensor(0.5), ag.tensor(0))
    with pytest.raises(TypeError, match=r"nll_loss: class-index targets must be integers, got dtype float32$"):
        F.nll_loss(LOGITS, ag.zeros(3))
