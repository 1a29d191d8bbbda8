"""Learning-rate schedulers: sequences against closed forms and against PyTorch, resuming, misuse warnings."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nn
from nn.optim import SGD, Adam
from nn.optim import lr_scheduler as S


def make_opt(lr=0.1, groups=1, cls=SGD, **options):
    params = [{"params": [nn.Parameter(np.zeros(2))], "lr": lr * (i + 1)} for i in range(groups)]
    return cls(params, lr=lr, **options)


def lrs(opt, sched, epochs, metric=None):
    """The lr of each group at every epoch: the value used during epoch e, before sched.step()."""
    out = []
    for e in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(e))
    return np.array(out)


# --------------------------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------------------------
def test_step_lr():
    opt = make_opt(0.05)
    got = lrs(opt, S.StepLR(opt, step_size=3, gamma=0.1), 8)[:, 0]
    np.testing.assert_allclose(got, [0.05 * 0.1 ** (e // 3) for e in range(8)], rtol=1e-12)


def test_multistep_and_exponential_lr():
    opt = make_opt(1.0)
    got = lrs(opt, S.MultiStepLR(opt, milestones=[2, 5], gamma=0.5), 7)[:, 0]
    np.testing.assert_allclose(got, [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    opt = make_opt(1.0)
    got = lrs(opt, S.ExponentialLR(opt, gamma=0.9), 6)[:, 0]
    np.testing.assert_allclose(got, 0.9 ** np.arange(6), rtol=1e-12)


def test_cosine_annealing_follows_the_closed_form_for_a_half_period():
    opt = make_opt(0.1)
    got = lrs(opt, S.CosineAnnealingLR(opt, T_max=10, eta_min=0.001), 11)[:, 0]
    expected = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(11)]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-15)


def test_linear_warmup():
    opt = make_opt(0.1)
    got = lrs(opt, S.LinearLR(opt, start_factor=0.25, total_iters=3), 6)[:, 0]
    np.testing.assert_allclose(got, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-12)


def test_constant_lr_and_lambda_lr():
    opt = make_opt(0.1)
    got = lrs(opt, S.ConstantLR(opt, factor=0.5, total_iters=2), 4)[:, 0]
    np.testing.assert_allclose(got, [0.05, 0.05, 0.1, 0.1], rtol=1e-12)
    opt = make_opt(0.1, groups=2)
    got = lrs(opt, S.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5 ** e]), 3)
    np.testing.assert_allclose(got, [[0.1, 0.2], [0.05, 0.1], [0.1 / 3, 0.05]], rtol=1e-12)


def test_sequential_warmup_then_decay():
    opt = make_opt(1.0)
    warmup = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = S.ExponentialLR(opt, gamma=0.5)
    got = lrs(opt, S.SequentialLR(opt, [warmup, decay], milestones=[2]), 6)[:, 0]
    np.testing.assert_allclose(got, [0.5, 0.75, 1.0, 0.5, 0.25, 0.125], rtol=1e-12)


def test_cyclic_lr_triangular_and_momentum():
    opt = make_opt(0.1, momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2, step_size_down=2)
    seen = []
    for _ in range(6):
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        opt.step()
        sched.step()
    np.testing.assert_allclose([s[0] for s in seen], [0.1, 0.3, 0.5, 0.3, 0.1, 0.3], rtol=1e-12)
    np.testing.assert_allclose([s[1] for s in seen], [0.9, 0.85, 0.8, 0.85, 0.9, 0.85], rtol=1e-12)


def test_cyclic_lr_cycles_adams_beta1():
    opt = make_opt(0.1, cls=Adam)
    sched = S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=1)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["betas"] == (pytest.approx(0.8), 0.999)


def test_reduce_on_plateau():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    got = lrs(opt, sched, len(losses), metric=lambda e: losses[e])[:, 0]
    # two bad epochs (> patience=1) halve the lr; the cooldown epoch after a reduction does not count
    np.testing.assert_allclose(got, [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])
    assert sched.get_last_lr() == [0.2]  # 0.125 is below min_lr


# --------------------------------------------------------------------------------------------------------------
# Against PyTorch
# --------------------------------------------------------------------------------------------------------------
def build(lib, name, opt):
    """The same schedule built from either library's lr_scheduler module."""
    m = lib
    if name == "step":
        return m.StepLR(opt, step_size=4, gamma=0.3)
    if name == "multistep":
        return m.MultiStepLR(opt, milestones=[3, 3, 7], gamma=0.5)
    if name == "exponential":
        return m.ExponentialLR(opt, gamma=0.93)
    if name == "cosine":
        return m.CosineAnnealingLR(opt, T_max=7, eta_min=0.002)  # runs past T_max: the recursive rise
    if name == "linear":
        return m.LinearLR(opt, start_factor=0.1, end_factor=0.9, total_iters=6)
    if name == "constant":
        return m.ConstantLR(opt, factor=0.25, total_iters=4)
    if name == "lambda":
        return m.LambdaLR(opt, lambda e: 1.0 / (1.0 + 0.3 * e))
    if name == "sequential":
        return m.SequentialLR(opt, [m.LinearLR(opt, start_factor=0.2, total_iters=4),
                                    m.CosineAnnealingLR(opt, T_max=10)], milestones=[4])
    if name == "sequential3":
        return m.SequentialLR(opt, [m.ConstantLR(opt, factor=0.5, total_iters=3), m.ExponentialLR(opt, gamma=0.8),
                                    m.StepLR(opt, step_size=2)], milestones=[3, 8])
    if name == "cyclic":
        return m.CyclicLR(opt, base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=5)
    if name == "cyclic2":
        return m.CyclicLR(opt, base_lr=[0.01, 0.02], max_lr=0.3, step_size_up=2, mode="triangular2")
    if name == "cyclic_exp":
        return m.CyclicLR(opt, base_lr=0.01, max_lr=0.2, step_size_up=3, mode="exp_range", gamma=0.9)
    if name == "plateau":
        return m.ReduceLROnPlateau(opt, factor=0.5, patience=2, threshold=0.05, cooldown=1, min_lr=[1e-3, 1e-2])
    if name == "plateau_max":
        return m.ReduceLROnPlateau(opt, mode="max", factor=0.3, patience=0, threshold=0.1, threshold_mode="abs")
    raise AssertionError(name)


SCHEDULES = ["step", "multistep", "exponential", "cosine", "linear", "constant", "lambda", "sequential",
             "sequential3", "cyclic", "cyclic2", "cyclic_exp", "plateau", "plateau_max"]
METRIC = [1.0, 0.9, 0.95, 0.97, 0.96, 0.5, 0.6, 0.55, 0.7, 0.8, 0.4, 0.45, 0.5, 0.5, 0.5, 0.3, 0.9, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("name", SCHEDULES)
def test_sequence_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    epochs = 20
    ours_opt = SGD([{"params": [nn.Parameter(np.zeros(1))]}, {"params": [nn.Parameter(np.zeros(1))], "lr": 0.3}],
                   lr=0.1, momentum=0.9)
    torch_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                                 {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1, momentum=0.9)
    ours, theirs = build(S, name, ours_opt), build(torch.optim.lr_scheduler, name, torch_opt)
    for epoch in range(epochs):
        for o, t in zip(ours_opt.param_groups, torch_opt.param_groups):
            assert o["lr"] == pytest.approx(t["lr"], rel=1e-12, abs=1e-15), (epoch, o["lr"], t["lr"])
            assert o["momentum"] == pytest.approx(t["momentum"], rel=1e-12)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15)
        ours_opt.step()
        torch_opt.step()
        if "plateau" in name:
            ours.step(METRIC[epoch])
            theirs.step(METRIC[epoch])
        else:
            ours.step()
            theirs.step()


def test_cyclic_betas_match_pytorch():
    torch = pytest.importorskip("torch")
    ours_opt = Adam([nn.Parameter(np.zeros(1))], lr=0.1)
    torch_opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
    ours = S.CyclicLR(ours_opt, base_lr=0.001, max_lr=0.01, step_size_up=4, base_momentum=0.85, max_momentum=0.95)
    theirs = torch.optim.lr_scheduler.CyclicLR(torch_opt, base_lr=0.001, max_lr=0.01, step_size_up=4,
                                               base_momentum=0.85, max_momentum=0.95)
    for _ in range(12):
        assert ours_opt.param_groups[0]["betas"] == pytest.approx(torch_opt.param_groups[0]["betas"], rel=1e-12)
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(torch_opt.param_groups[0]["lr"], rel=1e-12)
        ours_opt.step()
        torch_opt.step()
        ours.step()
        theirs.step()


# --------------------------------------------------------------------------------------------------------------
# Resuming, misuse
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["step", "cosine", "linear", "sequential", "cyclic", "plateau", "lambda"])
def test_state_dict_resumes_the_sequence(name, tmp_path):
    def fresh():
        return SGD([{"params": [nn.Parameter(np.zeros(1))]}, {"params": [nn.Parameter(np.zeros(1))], "lr": 0.3}],
                   lr=0.1, momentum=0.9)

    def advance(opt, sched, start, stop):
        seen = []
        for e in range(start, stop):
            seen.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step(METRIC[e]) if "plateau" in name else sched.step()
        return seen

    opt = fresh()
    sched = build(S, name, opt)
    straight = advance(opt, sched, 0, 14)

    opt1 = fresh()
    sched1 = build(S, name, opt1)
    advance(opt1, sched1, 0, 6)
    nn.save({"optimizer": opt1.state_dict(), "scheduler": sched1.state_dict()}, tmp_path / "checkpoint")
    checkpoint = nn.load(tmp_path / "checkpoint")  # through a file: plain data only, no pickle
    opt_state, sched_state = checkpoint["optimizer"], checkpoint["scheduler"]

    opt2 = fresh()
    sched2 = build(S, name, opt2)  # build first, then load: as PyTorch's docs prescribe
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    resumed = advance(opt2, sched2, 6, 14)
    np.testing.assert_allclose(resumed, straight[6:], rtol=1e-12)


def test_scheduler_step_before_optimizer_step_warns():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        sched.step()
    opt2 = make_opt()
    sched2 = S.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_get_lr_outside_step_warns():
    opt = make_opt()
    sched = S.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


@pytest.mark.parametrize("make, error, message", [
    (lambda opt: S.StepLR("not an optimizer", step_size=1), TypeError, "is not an Optimizer"),
    (lambda opt: S.StepLR(opt, step_size=0), ValueError, "positive integer"),
    (lambda opt: S.LinearLR(opt, start_factor=0), ValueError, "start_factor"),
    (lambda opt: S.LambdaLR(opt, [lambda e: 1, lambda e: 1]), ValueError, "one per parameter group"),
    (lambda opt: S.SequentialLR(opt, [S.StepLR(opt, 1)], milestones=[3]), ValueError, "one milestone fewer"),
    (lambda opt: S.ReduceLROnPlateau(opt, mode="up"), ValueError, "'min' or 'max'"),
    (lambda opt: S.ReduceLROnPlateau(opt, factor=2), ValueError, "factor must be < 1.0"),
    (lambda opt: S.CyclicLR(opt, 0.1, 1.0, mode="square"), ValueError, "mode must be"),
    (lambda opt: S.CyclicLR(Adam([nn.Parameter(np.zeros(1))]), 0.1, [1.0, 2.0]), ValueError, "one value per"),
    (lambda opt: S.StepLR(opt, step_size=2, last_epoch=3), KeyError, "initial_lr"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make(make_opt(momentum=0.9))


def test_cyclic_lr_needs_momentum_or_betas():
    from nn.optim import Adagrad
    opt = Adagrad([nn.Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        S.CyclicLR(opt, 0.01, 0.1)
    S.CyclicLR(opt, 0.01, 0.1, cycle_momentum=False)
