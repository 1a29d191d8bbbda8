"""Optimisers: update rules against closed forms, trajectories against PyTorch, groups, state, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
from nn.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop, Rprop

# --------------------------------------------------------------------------------------------------------------
# Closed forms: a linear loss L(θ) = Σ c·θ has the constant gradient c, so each rule's trajectory is a formula.
# --------------------------------------------------------------------------------------------------------------
C = np.array([0.5, -2.0, 3.0])
THETA0 = np.array([1.0, -1.0, 0.25])


def run_constant_gradient(opt_cls, steps, grad=C, theta0=THETA0, **options):
    p = nn.Parameter(theta0.copy())
    opt = opt_cls([p], **options)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (p * autograd.tensor(grad)).sum().backward()
        opt.step()
        trajectory.append(p.data.copy())
    return np.array(trajectory), opt, p


def test_sgd_plain_is_gradient_descent():
    traj, _, _ = run_constant_gradient(SGD, 3, lr=0.1)
    expected = [THETA0 - 0.1 * C * t for t in (1, 2, 3)]
    np.testing.assert_allclose(traj, expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(65537,), (300, 229), (3, 32768)])
@pytest.mark.parametrize("lr", [0.01, np.float64(0.01), 1])
def test_sgd_large_parameters_update_exactly_as_the_plain_expression(dtype, shape, lr):
    # large contiguous parameters are updated block by block (nn/optim/optimizers.py, _subtract_scaled): the
    # result must be p - lr * g to the bit, across block edges and for every kind of learning rate
    rng = np.random.default_rng(0)
    theta0, grad = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    p = nn.Parameter(theta0.copy())
    p.grad = autograd.tensor(grad)
    SGD([p], lr=lr).step()
    expected = theta0.copy()
    expected -= lr * grad  # (in place: with a numpy float64 lr the product is float64, the parameter stays)
    assert p.data.dtype == dtype
    np.testing.assert_array_equal(p.data, expected)
    np.testing.assert_array_equal(p.grad.data, grad)  # the gradient is left alone


def test_sgd_momentum_and_dampening_closed_form():
    lr, mu, d = 0.1, 0.9, 0.25
    traj, _, _ = run_constant_gradient(SGD, 4, lr=lr, momentum=mu, dampening=d)
    buf, theta, expected = None, THETA0.copy(), []
    for _ in range(4):
        buf = C.copy() if buf is None else mu * buf + (1 - d) * C  # the first step takes g undamped
        theta = theta - lr * buf
        expected.append(theta)
    np.testing.assert_allclose(traj, expected, rtol=1e-14)


def test_sgd_nesterov_closed_form():
    lr, mu = 0.05, 0.8
    traj, _, _ = run_constant_gradient(SGD, 3, lr=lr, momentum=mu, nesterov=True)
    b1, b2, b3 = C, mu * C + C, mu * (mu * C + C) + C
    steps = [C + mu * b for b in (b1, b2, b3)]
    expected = THETA0 - lr * np.cumsum(steps, axis=0)
    np.testing.assert_allclose(traj, expected, rtol=1e-14)


def test_sgd_weight_decay_shrinks_geometrically():
    traj, _, _ = run_constant_gradient(SGD, 5, grad=np.zeros(3), lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(traj[-1], THETA0 * (1 - 0.1 * 0.5) ** 5, rtol=1e-14)


def test_maximize_climbs():
    traj, _, _ = run_constant_gradient(SGD, 2, lr=0.1, maximize=True)
    np.testing.assert_allclose(traj[-1], THETA0 + 0.2 * C, rtol=1e-14)


def test_adam_constant_gradient_moves_lr_per_step():
    # m_t = (1-β1^t)c and v_t = (1-β2^t)c², so the bias-corrected step is lr·c/(|c| + eps) every time
    lr, eps = 0.01, 1e-8
    traj, opt, p = run_constant_gradient(Adam, 5, lr=lr, eps=eps)
    expected = [THETA0 - t * lr * C / (np.abs(C) + eps) for t in range(1, 6)]
    np.testing.assert_allclose(traj, expected, rtol=1e-12)
    state = opt.state[p]
    assert state["step"] == 5 and list(state) == ["step", "exp_avg", "exp_avg_sq"]
    np.testing.assert_allclose(state["exp_avg"].data, (1 - 0.9 ** 5) * C, rtol=1e-12)
    np.testing.assert_allclose(state["exp_avg_sq"].data, (1 - 0.999 ** 5) * C * C, rtol=1e-12)


def test_adam_l2_versus_adamw_decoupled_decay():
    # With a zero gradient Adam's L2 term goes through the adaptive scaling (a step of ~lr per coordinate);
    # AdamW's decay does not: θ ← θ(1 - lr·λ), and m = v = 0 contribute nothing.
    traj_w, _, _ = run_constant_gradient(AdamW, 3, grad=np.zeros(3), lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(traj_w[-1], THETA0 * (1 - 0.05) ** 3, rtol=1e-14)
    traj_l2, _, _ = run_constant_gradient(Adam, 1, grad=np.zeros(3), lr=0.1, weight_decay=0.5)
    g = 0.5 * THETA0
    np.testing.assert_allclose(traj_l2[0], THETA0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_amsgrad_keeps_the_largest_second_moment():
    p = nn.Parameter(np.array([0.0]))
    opt = Adam([p], lr=0.1, amsgrad=True)
    for g in (3.0, 0.0):  # v decays after the zero gradient; max_exp_avg_sq keeps the first value
        p.grad = autograd.tensor(np.array([g]))
        opt.step()
    state = opt.state[p]
    np.testing.assert_allclose(state["max_exp_avg_sq"].data, [0.001 * 9], rtol=1e-12)
    assert state["exp_avg_sq"].data[0] < state["max_exp_avg_sq"].data[0]


def test_adagrad_constant_gradient():
    lr, eps = 0.5, 1e-10
    traj, _, _ = run_constant_gradient(Adagrad, 4, lr=lr)
    steps = [lr * C / (np.sqrt(t) * np.abs(C) + eps) for t in range(1, 5)]
    np.testing.assert_allclose(traj, THETA0 - np.cumsum(steps, axis=0), rtol=1e-12)


def test_adagrad_lr_decay_and_initial_accumulator():
    traj, _, _ = run_constant_gradient(Adagrad, 2, lr=1.0, lr_decay=0.5, initial_accumulator_value=1.0)
    s1, s2 = 1 + C ** 2, 1 + 2 * C ** 2
    expected2 = THETA0 - C / (np.sqrt(s1) + 1e-10) - (1 / 1.5) * C / (np.sqrt(s2) + 1e-10)
    np.testing.assert_allclose(traj[-1], expected2, rtol=1e-12)


def test_adagrad_state_exists_before_the_first_step():
    p = nn.Parameter(np.ones(2))
    opt = Adagrad([p], initial_accumulator_value=0.1)
    assert opt.state_dict()["state"][0]["step"] == 0
    np.testing.assert_array_equal(opt.state[p]["sum"].data, [0.1, 0.1])


def test_rmsprop_constant_gradient():
    lr, alpha, eps = 0.01, 0.9, 1e-8
    traj, _, _ = run_constant_gradient(RMSprop, 3, lr=lr, alpha=alpha)
    steps = [lr * C / (np.sqrt((1 - alpha ** t) * C ** 2) + eps) for t in (1, 2, 3)]
    np.testing.assert_allclose(traj, THETA0 - np.cumsum(steps, axis=0), rtol=1e-12)


def test_rmsprop_centered_first_step():
    # v = (1-α)c², ḡ = (1-α)c, so the centred denominator is sqrt((1-α)c² - (1-α)²c²) = |c|sqrt(α(1-α))
    alpha = 0.9
    traj, _, _ = run_constant_gradient(RMSprop, 1, lr=0.01, alpha=alpha, centered=True)
    denom = np.abs(C) * np.sqrt(alpha * (1 - alpha)) + 1e-8
    np.testing.assert_allclose(traj[0], THETA0 - 0.01 * C / denom, rtol=1e-10)


def test_adadelta_first_two_steps():
    rho, eps = 0.9, 1e-6
    traj, _, _ = run_constant_gradient(Adadelta, 2, rho=rho, eps=eps)
    v1 = (1 - rho) * C ** 2
    d1 = np.sqrt(eps) / np.sqrt(v1 + eps) * C
    u1 = (1 - rho) * d1 ** 2
    v2 = rho * v1 + (1 - rho) * C ** 2
    d2 = np.sqrt(u1 + eps) / np.sqrt(v2 + eps) * C
    np.testing.assert_allclose(traj, [THETA0 - d1, THETA0 - d1 - d2], rtol=1e-12)


def test_rprop_step_sizes_grow_while_the_sign_holds():
    traj, _, _ = run_constant_gradient(Rprop, 4, lr=0.01)
    sizes = 0.01 * 1.2 ** np.arange(4)  # first step: no previous gradient, so the size stays at lr
    np.testing.assert_allclose(traj, THETA0 - np.sign(C) * np.cumsum(sizes)[:, None], rtol=1e-12)


def test_rprop_sign_change_shrinks_and_pauses():
    p = nn.Parameter(np.array([0.0]))
    opt = Rprop([p], lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
    for g, expected in ((1.0, -0.1), (1.0, -0.22), (-1.0, -0.22)):  # the sign flip: size halves, no move
        p.grad = autograd.tensor(np.array([g]))
        opt.step()
        np.testing.assert_allclose(p.data, [expected], rtol=1e-12)
    np.testing.assert_allclose(opt.state[p]["step_size"].data, [0.06], rtol=1e-12)
    np.testing.assert_array_equal(opt.state[p]["prev"].data, [0.0])


# --------------------------------------------------------------------------------------------------------------
# Mechanics: in place, no graph, skipping, groups, zero_grad
# --------------------------------------------------------------------------------------------------------------
def test_step_updates_in_place_without_building_a_graph():
    p = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    array = p.data
    opt = Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert p.data is array and p.dtype == np.float32
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert opt.state[p]["exp_avg"].grad_fn is None


def test_step_on_a_0d_parameter():
    p = nn.Parameter(autograd.tensor(2.0))
    opt = SGD([p], lr=0.25)
    (p * p).backward()
    opt.step()
    assert p.item() == pytest.approx(1.0) and p.shape == ()


def test_parameters_without_grad_are_skipped():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert b not in opt.state or not opt.state[b]
    assert list(opt.state_dict()["state"]) == [0]


def test_zero_grad_set_to_none_and_to_zero():
    p = nn.Parameter(np.ones(3))
    opt = SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad()
    assert p.grad is None
    (p * 2).sum().backward()
    grad_object = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad_object
    np.testing.assert_array_equal(p.grad.data, [0, 0, 0])


def test_param_groups_have_their_own_options():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 1.0
    assert opt.param_groups[1]["momentum"] == 0.0
    a.grad, b.grad = autograd.tensor(np.ones(1)), autograd.tensor(np.ones(1))
    opt.step()
    assert (a.item(), b.item()) == (pytest.approx(-0.1), pytest.approx(-1.0))
    opt.param_groups[0]["lr"] = 0.5  # editing a group's lr takes effect at the next step
    opt.step()
    assert a.item() == pytest.approx(-0.6)


def test_named_parameters_and_add_param_group():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(2))
    opt = Adam([("a", a)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["a"]
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["betas"] == (0.9, 0.999)
    assert "Parameter Group 1" in repr(opt) and "lr: 0.01" in repr(opt)


def test_defaults_are_pytorchs():
    p = [nn.Parameter(np.zeros(1))]
    assert SGD(p).defaults["lr"] == 1e-3
    assert Adam(p).defaults == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                "amsgrad": False, "maximize": False, "decoupled_weight_decay": False}
    assert AdamW(p).defaults["weight_decay"] == 1e-2 and AdamW(p).defaults["decoupled_weight_decay"]
    assert Adagrad(p).defaults["lr"] == 1e-2 and Adagrad(p).defaults["eps"] == 1e-10
    assert RMSprop(p).defaults["alpha"] == 0.99 and RMSprop(p).defaults["lr"] == 1e-2
    assert Adadelta(p).defaults["lr"] == 1.0 and Adadelta(p).defaults["rho"] == 0.9
    assert Rprop(p).defaults["etas"] == (0.5, 1.2) and Rprop(p).defaults["step_sizes"] == (1e-6, 50)


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD(p, lr=0.1), "not a single tensor"),
    (lambda p: SGD([p], lr=-1), "invalid learning rate"),
    (lambda p: SGD([p], lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: SGD([p], lr=0.1, momentum=-0.5), "invalid momentum"),
    (lambda p: SGD([p, p], lr=0.1), "more than once"),
    (lambda p: SGD([{"params": [p]}, {"params": [p]}], lr=0.1), "more than one parameter group"),
    (lambda p: SGD([p * 2], lr=0.1), "non-leaf"),
    (lambda p: SGD({p}, lr=0.1), "not a set"),
    (lambda p: Adam([p], betas=(0.9, 1.0)), "beta parameter at index 1"),
    (lambda p: Adam([p], weight_decay=-1), "invalid weight_decay"),
    (lambda p: Rprop([p], etas=(1.5, 1.2)), "invalid eta"),
    (lambda p: Adagrad([p], lr_decay=-1), "invalid lr_decay"),
    (lambda p: SGD([autograd.tensor([1, 2])], lr=0.1), "only floating-point"),
])
def test_bad_options_raise_clear_errors(make, message):
    p = nn.Parameter(np.zeros(2))
    with pytest.raises((ValueError, TypeError), match=message):
        make(p)


def test_gradient_of_the_wrong_shape_is_reported():
    p = nn.Parameter(np.zeros((2, 2)))
    opt = SGD([p], lr=0.1)
    p.grad = autograd.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"parameter 0 of group 0 has shape \(2, 2\) but its .grad has shape"):
        opt.step()


def test_a_backward_through_values_changed_by_step_fails_loudly():
    p = nn.Parameter(np.ones(3))
    opt = SGD([p], lr=0.1)
    loss = (p * p).sum()  # saves p's array for the backward
    p.grad = autograd.tensor(np.ones(3))
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place by 'SGD.step'"):
        loss.backward()


def test_closure_is_evaluated_with_grad_enabled():
    p = nn.Parameter(np.array([3.0]))
    opt = SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with autograd.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == pytest.approx(3.0 - 0.1 * 6.0)


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------
CONFIGS = [
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    (SGD, {"lr": 0.1, "momentum": 0.5, "dampening": 0.1}),
    (SGD, {"lr": 0.05, "maximize": True}),
    (Adam, {"lr": 0.05}),
    (Adam, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    (Adam, {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6, "maximize": True}),
    (AdamW, {"lr": 0.05, "weight_decay": 0.1}),
    (AdamW, {"lr": 0.05, "amsgrad": True}),
    (Adagrad, {"lr": 0.1}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1}),
    (RMSprop, {"lr": 0.01}),
    (RMSprop, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    (RMSprop, {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
    (Adadelta, {}),
    (Adadelta, {"lr": 0.5, "rho": 0.95, "weight_decay": 0.1}),
    (Rprop, {"lr": 0.01}),
    (Rprop, {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)}),
]
CONFIG_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for cls, kw in CONFIGS]


def make_problem(dtype=np.float64, seed=0):
    """A small two-layer regression problem: parameters and a loss closure for our engine."""
    rng = np.random.default_rng(seed)
    arrays = {"w1": rng.normal(0, 0.5, (3, 4)), "b1": rng.normal(0, 0.1, 4), "w2": rng.normal(0, 0.5, (4, 2)),
              "b2": np.zeros(2)}
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    return {k: v.astype(dtype) for k, v in arrays.items()}, x.astype(dtype), y.astype(dtype)


def our_loss(params, x, y):
    h = autograd.tanh(autograd.tensor(x) @ params["w1"] + params["b1"])
    return ((h @ params["w2"] + params["b2"] - autograd.tensor(y)) ** 2).mean()


def train_ours(opt, params, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        our_loss(params, x, y).backward()
        opt.step()


@pytest.mark.parametrize("opt_cls, options", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_resume_continues_identically(opt_cls, options):
    arrays, x, y = make_problem()
    straight = {k: nn.Parameter(v.copy()) for k, v in arrays.items()}
    opt = opt_cls(list(straight.values()), **options)
    train_ours(opt, straight, x, y, 12)

    first = {k: nn.Parameter(v.copy()) for k, v in arrays.items()}
    opt1 = opt_cls(list(first.values()), **options)
    train_ours(opt1, first, x, y, 6)
    saved, saved_params = opt1.state_dict(), {k: p.data.copy() for k, p in first.items()}
    train_ours(opt1, first, x, y, 3)  # later steps must not change the snapshot

    resumed = {k: nn.Parameter(saved_params[k]) for k in arrays}
    opt2 = opt_cls(list(resumed.values()), lr=123.0)  # the saved groups overwrite these options
    opt2.load_state_dict(saved)
    train_ours(opt2, resumed, x, y, 6)
    for k in arrays:
        np.testing.assert_array_equal(resumed[k].data, straight[k].data)


def test_state_dict_layout_is_pytorchs():
    a, b, c = (nn.Parameter(np.ones(2)) for _ in range(3))
    opt = SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, b, c):
        p.grad = autograd.tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sorted(sd["state"]) == [0, 1, 2] and list(sd["state"][2]) == ["momentum_buffer"]
    assert isinstance(sd["state"][0]["momentum_buffer"], autograd.Tensor)


def test_load_state_dict_accepts_string_keys_and_lists_and_casts_dtype():
    p = nn.Parameter(np.zeros(2, dtype=np.float32))
    opt = Adam([p], lr=0.1)
    saved = {"state": {"0": {"step": autograd.tensor(3.0), "exp_avg": np.ones(2), "exp_avg_sq": np.ones(2)}},
             "param_groups": [{"lr": 0.2, "betas": [0.5, 0.6], "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
                               "maximize": False, "decoupled_weight_decay": False, "params": ["0"]}]}
    opt.load_state_dict(saved)
    assert opt.state[p]["step"] == 3 and opt.state[p]["exp_avg"].dtype == np.float32
    assert opt.param_groups[0]["betas"] == (0.5, 0.6) and opt.param_groups[0]["lr"] == 0.2


@pytest.mark.parametrize("mutate, message", [
    (lambda sd: sd["param_groups"].append({"params": []}), "2 parameter groups"),
    (lambda sd: sd["param_groups"][0]["params"].append(5), "has 1 parameters here but 2"),
    (lambda sd: sd["state"][0].update(exp_avg=np.ones(3)), r"has shape \(3,\), but the parameter has shape \(2,\)"),
    (lambda sd: sd.pop("state"), "expected a dict with 'state' and 'param_groups'"),
])
def test_load_state_dict_rejects_mismatches(mutate, message):
    p = nn.Parameter(np.zeros(2))
    opt = Adam([p])
    p.grad = autograd.tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    mutate(sd)
    with pytest.raises(ValueError, match=message):
        Adam([nn.Parameter(np.zeros(2))]).load_state_dict(sd)


def test_state_dict_survives_nn_save_and_load(tmp_path):
    if not hasattr(nn, "save"):
        pytest.skip("nn.save is not available yet")
    arrays, x, y = make_problem(np.float32)
    params = {k: nn.Parameter(v.copy()) for k, v in arrays.items()}
    opt = Adam(list(params.values()), lr=0.01, amsgrad=True)
    train_ours(opt, params, x, y, 4)
    path = tmp_path / "opt.npz"
    nn.save(opt.state_dict(), path)
    opt2 = Adam([nn.Parameter(v.copy()) for v in arrays.values()])
    opt2.load_state_dict(nn.load(path))
    sd1, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd1["param_groups"] == sd2["param_groups"]
    for i, s in sd1["state"].items():
        assert sd2["state"][i]["step"] == s["step"]
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            np.testing.assert_array_equal(sd2["state"][i][key].data, s[key].data)


# --------------------------------------------------------------------------------------------------------------
# Against PyTorch: the same start, the same data, many steps
# --------------------------------------------------------------------------------------------------------------
def torch_trajectory(torch, opt_name, options, arrays, x, y, steps):
    params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in arrays.items()}
    opt = getattr(torch.optim, opt_name)(list(params.values()), foreach=False, **options)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        h = torch.tanh(xt @ params["w1"] + params["b1"])
        ((h @ params["w2"] + params["b2"] - yt) ** 2).mean().backward()
        opt.step()
    return {k: p.detach().numpy() for k, p in params.items()}, opt


@pytest.mark.parametrize("opt_cls, options", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trajectory_matches_pytorch(opt_cls, options, dtype):
    torch = pytest.importorskip("torch")
    arrays, x, y = make_problem(dtype)
    # float32 rounding differs between any two engines in the last bit; sign-like rules (RMSprop with small
    # v, Rprop) and a diverging maximize run amplify it, so float32 runs are compared over fewer steps
    steps = 60 if dtype == np.float64 else 30
    ours = {k: nn.Parameter(v.copy()) for k, v in arrays.items()}
    opt = opt_cls(list(ours.values()), **options)
    train_ours(opt, ours, x, y, steps)
    theirs, torch_opt = torch_trajectory(torch, opt_cls.__name__, options, arrays, x, y, steps)
    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == np.float64 else {"rtol": 2e-4, "atol": 2e-5}
    # state such as g/√v amplifies the last-bit differences of the two engines' gradients a little
    state_tol = {"rtol": 1e-7, "atol": 1e-9} if dtype == np.float64 else {"rtol": 1e-3, "atol": 1e-4}
    for k in arrays:
        assert ours[k].dtype == dtype
        np.testing.assert_allclose(ours[k].data, theirs[k], **tol, err_msg=f"parameter {k}")
    # the same state, under the same names
    torch_state = torch_opt.state_dict()["state"]
    our_state = opt.state_dict()["state"]
    assert sorted(our_state) == sorted(torch_state)
    for i, s in our_state.items():
        assert list(s) == list(torch_state[i]), f"state keys of parameter {i}"
        for key, value in s.items():
            expected = torch_state[i][key]
            if key == "step":
                assert value == int(expected)
            else:
                np.testing.assert_allclose(value.data, expected.numpy(), **state_tol, err_msg=key)
    our_groups = opt.state_dict()["param_groups"]
    for ours_g, theirs_g in zip(our_groups, torch_opt.state_dict()["param_groups"]):
        for key, value in ours_g.items():
            assert theirs_g[key] == value, key


def test_param_groups_match_pytorch():
    torch = pytest.importorskip("torch")
    arrays, x, y = make_problem()
    ours = {k: nn.Parameter(v.copy()) for k, v in arrays.items()}
    opt = RMSprop([{"params": [ours["w1"], ours["b1"]], "momentum": 0.9},
                   {"params": [ours["w2"], ours["b2"]], "lr": 0.05, "centered": True}], lr=0.01)
    train_ours(opt, ours, x, y, 40)
    theirs = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in arrays.items()}
    topt = torch.optim.RMSprop([{"params": [theirs["w1"], theirs["b1"]], "momentum": 0.9},
                                {"params": [theirs["w2"], theirs["b2"]], "lr": 0.05, "centered": True}], lr=0.01)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(40):
        topt.zero_grad()
        h = torch.tanh(xt @ theirs["w1"] + theirs["b1"])
        ((h @ theirs["w2"] + theirs["b2"] - yt) ** 2).mean().backward()
        topt.step()
    for k in arrays:
        np.testing.assert_allclose(ours[k].data, theirs[k].detach().numpy(), rtol=1e-9, atol=1e-11)
